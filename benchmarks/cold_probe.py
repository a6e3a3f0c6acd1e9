"""One cold start, in the fresh interpreter benchmarks/cold_start.py runs it in; prints its figures as JSON.

    python benchmarks/cold_probe.py floor                      import botocore, create a DynamoDB client
    python benchmarks/cold_probe.py jwt                        import jwt (the authorizer's floor)
    python benchmarks/cold_probe.py function CODE_DIR EVENT    import CODE_DIR/app.py as Lambda does, then
                                                               invoke it on EVENT once cold and a few times warm
    python benchmarks/cold_probe.py steps N                    the first N of STEPS, a route function's layers

It is run as a script, not a module: nothing but what a Python Lambda runtime has loaded before it
imports the handler (the modules imported below) may be imported before the clock starts. It runs with
`python -S`, so only the layer's packages are importable, as on Lambda (no dev dependency such as
requests changes what, say, the X-Ray SDK patches).
"""

# What Lambda's Python runtime (awslambdaric's bootstrap) has imported before it imports the handler.
import concurrent.futures  # noqa: F401
import importlib  # noqa: F401
import json
import logging  # noqa: F401
import os
import sys
import time
import traceback  # noqa: F401

WARM_INVOCATIONS = 3
RESULT_MARKER = "COLD-PROBE "


class Context:
    """The LambdaContext attributes Powertools reads."""

    def __init__(self, request: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "probe")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.aws_request_id = f"00000000-0000-4000-8000-{request:012d}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "probe"
        self._deadline = time.monotonic() + 10

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Clock:
    """Wall time and this process's CPU time: on a shared machine the CPU time is what the code
    itself costs, the wall time also counts waiting for a core."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def elapsed(self) -> tuple[float, float]:
        return (time.perf_counter() - self.wall) * 1000, (time.process_time() - self.cpu) * 1000


def _figures(**phases: tuple[float, float]) -> dict[str, float]:
    figures = {}
    for name, (wall_ms, cpu_ms) in phases.items():
        figures[f"{name}_ms"] = wall_ms
        figures[f"{name}_cpu_ms"] = cpu_ms
    return figures


def floor() -> dict[str, float]:
    clock = Clock()
    import botocore.session

    botocore.session.get_session().create_client("dynamodb")
    return _figures(init=clock.elapsed())


def jwt_floor() -> dict[str, float]:
    clock = Clock()
    import jwt  # noqa: F401

    return _figures(init=clock.elapsed())


# The layers of a route function's start, each on top of the ones before (`cold_start.py --breakdown`).
STEPS = (
    "import botocore.session; botocore.session.get_session().create_client('dynamodb')",
    "import pydantic\nclass Model(pydantic.BaseModel):\n    name: str",
    "from aws_lambda_powertools import Logger, Metrics; Logger(); Metrics()",
    "from aws_lambda_powertools import Tracer; Tracer(patch_modules=['botocore'])",
    "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
    "from aws_lambda_powertools.event_handler.middlewares import openapi_validation\n"
    "APIGatewayHttpResolver(enable_validation=True)",
)


def steps(count: int) -> dict[str, float]:
    clock = Clock()
    for step in STEPS[:count]:
        exec(step, {})  # noqa: S102 - our own fixed statements
    return _figures(init=clock.elapsed())


def _invoke(handler: object, event: dict[str, object], request: int) -> tuple[float, float]:
    clock = Clock()
    handler(event, Context(request))  # type: ignore[operator]
    return clock.elapsed()


def function(code_dir: str, event_path: str) -> dict[str, float]:
    with open(event_path, encoding="utf-8") as handle:
        event = json.load(handle)
    sys.path.insert(0, code_dir)  # Lambda's order: the function's code, then the layer
    clock = Clock()
    import app  # type: ignore[import-not-found]

    imported = clock.elapsed()
    handler = getattr(app, os.environ.get("_HANDLER", "app.lambda_handler").rsplit(".", 1)[1])
    first = _invoke(handler, event, 1)
    warm = [_invoke(handler, event, request) for request in range(2, 2 + WARM_INVOCATIONS)]
    # What the first request costs beyond a warm one is its own setup (lazy imports, clients, secrets).
    setup = (max(0.0, first[0] - min(w[0] for w in warm)), max(0.0, first[1] - min(w[1] for w in warm)))
    return _figures(
        **{"import": imported},
        first_request_setup=setup,
        warm=(min(w[0] for w in warm), min(w[1] for w in warm)),
        init=(imported[0] + setup[0], imported[1] + setup[1]),
    )


def main(argv: list[str]) -> None:
    # Run with -S: no site-packages but the layer's (/opt/python on Lambda), as listed here.
    sys.path[:0] = os.environ["PROBE_LAYER_PATH"].split(os.pathsep)
    mode = argv[0]
    if mode == "steps":
        figures = steps(int(argv[1]))
    else:
        figures = floor() if mode == "floor" else jwt_floor() if mode == "jwt" else function(argv[1], argv[2])
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
