"""`make invoke FN=get_course EVENT=events/get_course.json`: one function, one event, like
`sam local invoke`: in a fresh execution environment of local.lambdas (the function's environment and
IAM role from template.yaml), against the DynamoDB in DDB_ENDPOINT (default http://127.0.0.1:8000,
i.e. a running `make dev`). FN is a logical id (GetCourseFunction) or a code directory name
(get_course); EVENT a file, or - for stdin. The result is printed as JSON on stdout, the function's
logs go to stderr; the exit status is 1 when the function fails.
"""

import json
import os
import sys
from pathlib import Path

from local.config import LocalConfig
from local.lambdas import InvocationError, LambdaService


def main(function: str, event_path: str) -> int:
    config = LocalConfig.from_env(os.environ.get("DDB_ENDPOINT", "http://127.0.0.1:8000"))
    found = [lid for lid, spec in config.functions.items() if function in (lid, Path(spec.code_uri).name)]
    if not found:
        raise SystemExit(f"unknown function {function!r}; one of: {', '.join(config.functions)}")
    event = json.loads(sys.stdin.read() if event_path == "-" else Path(event_path).read_text(encoding="utf-8"))
    with LambdaService(config) as lambdas:
        try:
            print(json.dumps(lambdas.invoke(found[0], event), indent=2))
        except InvocationError as error:
            print(error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
