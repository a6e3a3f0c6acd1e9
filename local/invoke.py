"""`make invoke FN=get_course EVENT=events/get_course.json`: one function, one event, like
`sam local invoke`: in this process, with only the function's environment from template.yaml,
against the DynamoDB in DDB_ENDPOINT (default http://127.0.0.1:8000, i.e. a running `make dev`).

FN is a logical id (GetCourseFunction) or a code directory name (get_course). The result is printed
as JSON on stdout; the function's logs go to stderr. Exit status 1 when the function fails.
"""

import argparse
import json
import os
import sys
import uuid
from contextlib import redirect_stdout
from pathlib import Path

from local.config import LocalConfig
from local.template import FunctionSpec
from local.worker import ExecutionEnvironment


def find_function(name: str, specs: dict[str, FunctionSpec]) -> FunctionSpec:
    for spec in specs.values():
        if name in (spec.logical_id, Path(spec.code_uri).name):
            return spec
    known = ", ".join(sorted(Path(s.code_uri).name for s in specs.values()))
    raise SystemExit(f"unknown function {name!r}; one of: {known}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("function", help="logical id or code directory name")
    parser.add_argument("event", help="path to an event JSON file, or - for stdin")
    args = parser.parse_args(argv)
    config = LocalConfig.from_env(os.environ.get("DDB_ENDPOINT", "http://127.0.0.1:8000"))
    spec = find_function(args.function, config.functions)
    try:
        event_text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
    except OSError as exc:
        parser.error(f"cannot read the event: {exc}")
    # The function sees its own environment only, as in a fresh execution environment.
    environment = config.function_environment(spec)
    os.environ.clear()
    os.environ.update(environment)
    runtime = ExecutionEnvironment(spec, config.function_policy(spec))
    runtime.isolate_sys_path()
    with redirect_stdout(sys.stderr):  # handler prints and logs are logs, not the result
        line = runtime.invoke_to_line(json.loads(event_text), str(uuid.uuid4()))
    message = json.loads(line)
    print(json.dumps(message.get("result", message.get("error")), indent=2))
    return 1 if "error" in message else 0


if __name__ == "__main__":
    sys.exit(main())
