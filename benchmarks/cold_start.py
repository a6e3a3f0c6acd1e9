"""Cold start of every function against a floor, in fresh interpreters: `make bench-cold`.

A function's start is the import of its handler module plus what its first request costs beyond a
warm one (lazy imports, clients, the cursor secret): what Lambda's Init phase and the first Invoke
add to a learner's request. Each function runs in a Lambda-like environment, as the template
configures it, with tracing on (LAMBDA_TASK_ROOT, _X_AMZN_TRACE_ID and an X-Ray daemon address, as
on AWS) and every AWS call answered by a stub endpoint on 127.0.0.1.

The floors, measured in the same run: a fresh interpreter that imports botocore and creates a
DynamoDB client (what any function that reads the table must do), and one that imports jwt (the
authorizer's). Runs are interleaved in a shuffled order, BENCH_COLD_RUNS (>= 7) rounds; times are
the probe process's CPU time (wall time is printed too), every figure is a median, and a ratio is
the median of the ratios to the floor within each round. `--breakdown` adds a route function's
layers one at a time; `--importtime get_course` prints where one function's imports go
(`python -X importtime`).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.config import LocalConfig
from local.loader import LAYER_PATH, ROOT

RUNS = max(7, int(os.environ.get("BENCH_COLD_RUNS", "11")))
INIT_RATIO_TARGET = 1.3
AUTHORIZER_RATIO_TARGET = 1.1
RESULTS_PATH = ROOT / "benchmarks" / "results.json"
PROBE = ROOT / "benchmarks" / "cold_probe.py"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
RUNTIME_PROVIDED = "snapshot-restore-py=="
RESULT_MARKER = "COLD-PROBE "
AUTHORIZER = "AuthorizerFunction"
# A function whose sample event is not events/<code dir name>.json.
EVENT_FILES = {
    "authorizer": "authorizer_valid_token.json",
    "summarize_progress": "summarize_progress_modify.json",
    "publish_events": "publish_events_course_completed.json",
}
# Every field any stubbed call reads: DynamoDB (nothing found, nothing unprocessed) and Secrets Manager;
# EventBridge's PutEvents gets an answer of its own.
STUB_ANSWER = json.dumps(
    {"Items": [], "Count": 0, "ScannedCount": 0, "Responses": {}, "UnprocessedKeys": {}, "SecretString": "bench"}
).encode()


class _StubAws(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = STUB_ANSWER
        if self.headers.get("X-Amz-Target", "").endswith(".PutEvents"):  # every entry accepted
            entries = [{"EventId": "bench"} for _ in json.loads(request)["Entries"]]
            answer = json.dumps({"FailedEntryCount": 0, "Entries": entries}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("x-amzn-RequestId", "bench")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: thousands of stubbed calls are not news."""


class _StubServer(ThreadingHTTPServer):
    # A run's parallel calls (the expiry reads its 16 index shards at once) never wait on a full
    # listen backlog (5 by default), where a connection would outlast the 1 s connect timeout.
    request_queue_size = 64


@contextmanager
def stub_aws() -> Iterator[tuple[str, str, Path]]:
    """An HTTP endpoint answering every AWS JSON call, a UDP port standing in for the X-Ray daemon,
    and a directory for the events the probes read."""
    events_dir = tempfile.TemporaryDirectory()
    server = _StubServer(("127.0.0.1", 0), _StubAws)
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        yield endpoint, f"127.0.0.1:{daemon.getsockname()[1]}", Path(events_dir.name)
    finally:
        events_dir.cleanup()
        server.shutdown()
        server.server_close()
        daemon.close()


@dataclass(frozen=True)
class Probe:
    name: str
    args: tuple[str, ...]
    env: dict[str, str]

    def run(self, *python_options: str) -> tuple[dict[str, float], str]:
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-S", *python_options, str(PROBE), *self.args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARKER)]
        if result.returncode != 0 or not lines:
            raise RuntimeError(f"cold probe {self.name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        figures: dict[str, float] = json.loads(lines[-1].removeprefix(RESULT_MARKER))
        return figures, result.stderr


def layer_packages() -> Path:
    """The layer's pinned packages alone, installed for this machine (once per requirements file),
    with what Lambda's Python runtime itself provides (snapshot-restore-py, pinned for development)."""
    requirements = LAYER_PATH / "requirements.txt"
    runtime_provided = [line for line in DEV_REQUIREMENTS.read_text().splitlines() if line.startswith(RUNTIME_PROVIDED)]
    digest = hashlib.sha256(requirements.read_bytes() + "".join(runtime_provided).encode()).hexdigest()[:12]
    target = ROOT / ".local" / f"cold-start-layer-{digest}"
    if not (target / ".installed").exists():
        shutil.rmtree(target, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run(  # noqa: S603 - pip from our own venv, our pinned files
            [*pip, "--target", str(target), "--requirement", str(requirements), *runtime_provided],
            check=True,
            capture_output=True,
        )
        (target / ".installed").touch()
    return target


def lambda_environment(endpoint: str, xray_daemon: str) -> tuple[LocalConfig, dict[str, str]]:
    """What every probe sees on top of its function's own variables: AWS-like, tracing on."""
    config = LocalConfig(ddb_endpoint=endpoint, parameter_overrides={"AWS::Region": "us-east-1"})
    extra = {
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_SESSION_TOKEN": "bench",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_XRAY_DAEMON_ADDRESS": xray_daemon,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1",
        "PROBE_LAYER_PATH": os.pathsep.join([str(LAYER_PATH), str(layer_packages())]),
    }
    return config, extra


def probes(endpoint: str, xray_daemon: str, events_dir: Path) -> dict[str, Probe]:
    config, extra = lambda_environment(endpoint, xray_daemon)
    found = {
        "floor": Probe("floor", ("floor",), {**extra, "PATH": os.environ.get("PATH", "")}),
        "jwt": Probe("jwt", ("jwt",), {**extra, "PATH": os.environ.get("PATH", "")}),
    }
    for logical_id, spec in config.functions.items():
        code_dir = (ROOT / spec.code_uri).resolve()
        env = {**config.function_environment(spec), **extra}
        # As on AWS: X-Ray on, the cursor key fetched from Secrets Manager, bytecode cached as in a built layer.
        for local_only in ("POWERTOOLS_TRACE_DISABLED", "CURSOR_SECRET", "PYTHONDONTWRITEBYTECODE"):
            env.pop(local_only, None)
        event = ROOT / "events" / EVENT_FILES.get(code_dir.name, f"{code_dir.name}.json")
        if "CURSOR_SECRET_ARN" in env:
            event = _with_cursor(event, events_dir)
        found[logical_id] = Probe(code_dir.name, ("function", str(code_dir), str(event)), env)
    return found


def _with_cursor(event_file: Path, events_dir: Path) -> Path:
    """A list request that carries a cursor, so the first request fetches the signing key, as the
    first request for a second page does on AWS (the stub answers no page with a next one)."""
    event = json.loads(event_file.read_text(encoding="utf-8"))
    event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "cursor": "YmVuY2g.YmVuY2g"}
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in event["queryStringParameters"].items())
    copy = events_dir / event_file.name
    copy.write_text(json.dumps(event), encoding="utf-8")
    return copy


def interleaved(every: dict[str, Probe], runs: int) -> dict[str, list[dict[str, float]]]:
    """`runs` rounds over every probe, each round in a new random order, after one discarded round
    (bytecode compiled, files in the page cache)."""
    for probe in every.values():
        probe.run()
    samples: dict[str, list[dict[str, float]]] = {key: [] for key in every}
    order = list(every)
    for _ in range(runs):
        random.shuffle(order)
        for key in order:
            samples[key].append(every[key].run()[0])
    return samples


def measure(runs: int = RUNS) -> dict[str, list[dict[str, float]]]:
    with stub_aws() as stubs:
        return interleaved(probes(*stubs), runs)


def median_of(samples: list[dict[str, float]], figure: str = "init_cpu_ms") -> float:
    return statistics.median(sample[figure] for sample in samples)


def paired_ratio(runs: list[dict[str, float]], floors: list[dict[str, float]], figure: str = "init_cpu_ms") -> float:
    """The median over rounds of a start divided by its floor's in the same round: the load on a
    shared machine drifts between rounds much more than within one."""
    return round(statistics.median(run[figure] / floor[figure] for run, floor in zip(runs, floors, strict=True)), 3)


def summarize(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    floors, jwt_floors = samples["floor"], samples["jwt"]
    functions = {key: runs for key, runs in sorted(samples.items()) if key not in ("floor", "jwt", AUTHORIZER)}
    ratios = {key: paired_ratio(runs, floors) for key, runs in functions.items()}
    return {
        "init_floor_ms": round(median_of(floors), 1),
        "init_ms": {key: round(median_of(runs), 1) for key, runs in functions.items()},
        "init_ratio": ratios,
        "init_ratio_max": max(ratios.values()),
        "init_ratio_wall_max": max(paired_ratio(runs, floors, "init_ms") for runs in functions.values()),
        "authorizer_init_floor_ms": round(median_of(jwt_floors), 1),
        "authorizer_init_ms": round(median_of(samples[AUTHORIZER]), 1),
        "authorizer_init_ratio": paired_ratio(samples[AUTHORIZER], jwt_floors),
        "init_runs": len(floors),
    }


def print_report(samples: dict[str, list[dict[str, float]]], summary: dict[str, Any]) -> None:
    print(
        f"\nCold start in a fresh interpreter, Lambda-like environment, tracing on: CPU ms, "
        f"median of {summary['init_runs']} interleaved runs (wall ms in brackets); ratio: median of the "
        f"ratios to the floor in the same round"
    )
    for label, key in (("import botocore + DynamoDB client", "floor"), ("import jwt", "jwt")):
        print(f"  floor: {label:<36} {median_of(samples[key]):7.1f}  ({median_of(samples[key], 'init_ms'):.1f})")
    print(f"  {'function':<30} {'import':>7} {'1st req':>7} {'start':>7}  ratio")
    for key in [*summary["init_ratio"], AUTHORIZER]:
        runs = samples[key]
        ratio = summary["init_ratio"].get(key, summary["authorizer_init_ratio"])
        target = AUTHORIZER_RATIO_TARGET if key == AUTHORIZER else INIT_RATIO_TARGET
        print(
            f"  {key:<30} {median_of(runs, 'import_cpu_ms'):7.1f} {median_of(runs, 'first_request_setup_cpu_ms'):7.1f}"
            f" {median_of(runs):7.1f}  {ratio:.2f}x ({median_of(runs, 'init_ms'):.0f})"
            f"{'' if ratio <= target else f'  over the {target}x target'}"
        )
    print(
        f"  init_ratio_max {summary['init_ratio_max']:.2f} (target {INIT_RATIO_TARGET}; wall clock "
        f"{summary['init_ratio_wall_max']:.2f}), authorizer_init_ratio {summary['authorizer_init_ratio']:.2f} "
        f"(target {AUTHORIZER_RATIO_TARGET})"
    )


def write_results(summary: dict[str, Any], path: Path = RESULTS_PATH) -> None:
    """Update this benchmark's keys only: other phases keep theirs in the same file."""
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results.update(summary)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def heaviest_imports(function: str, top: int = 15) -> list[tuple[float, str]]:
    """`python -X importtime` for one function's probe: the modules with the largest cumulative time."""
    with stub_aws() as stubs:
        every = probes(*stubs)
        probe = next(p for key, p in every.items() if function in (key, p.name))
        probe.run()
        _, stderr = probe.run("-X", "importtime")
    entries = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        entries.append((int(cumulative) / 1000, name))
    return sorted(entries, reverse=True)[:top]


BREAKDOWN = (
    "import botocore, create a DynamoDB client (the floor)",
    "+ pydantic and a first model",
    "+ Powertools Logger and Metrics",
    "+ Powertools Tracer: X-Ray SDK, botocore patched",
    "+ APIGatewayHttpResolver with validation",
)


def breakdown(function: str = "GetCourseFunction", runs: int = RUNS) -> None:
    """Where a route function's start goes beyond the floor: each layer's median CPU time on top of
    the ones before, interleaved like the main measurement."""
    with stub_aws() as stubs:
        every = probes(*stubs)
        layered = {
            f"steps {count}": Probe(f"steps {count}", ("steps", str(count)), every[function].env)
            for count in range(1, len(BREAKDOWN) + 1)
        }
        layered[function] = every[function]
        samples = interleaved(layered, runs)
    medians = [median_of(samples[f"steps {count}"]) for count in range(1, len(BREAKDOWN) + 1)]
    medians.append(median_of(samples[function]))
    print(f"\nWhere {function}'s start goes: CPU ms, median of {runs} interleaved runs")
    labels = [*BREAKDOWN, f"+ lms, the route, its first request ({function})"]
    for index, (label, total) in enumerate(zip(labels, medians, strict=True)):
        added = total - medians[index - 1] if index else total
        print(f"  {label:<62} {added:+7.1f}  (total {total:6.1f}, {total / medians[0]:.2f}x)")


def run() -> dict[str, Any]:
    """Measure, print, and record the figures in benchmarks/results.json."""
    samples = measure()
    summary = summarize(samples)
    print_report(samples, summary)
    write_results(summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--importtime", metavar="FUNCTION", help="where this function's import time goes")
    parser.add_argument("--breakdown", action="store_true", help="a route function's start, layer by layer")
    arguments = parser.parse_args()
    if arguments.breakdown:
        breakdown()
        return
    if arguments.importtime:
        for milliseconds, name in heaviest_imports(arguments.importtime):
            print(f"  {milliseconds:7.1f} ms  {name}")
        return
    run()


if __name__ == "__main__":
    main()
