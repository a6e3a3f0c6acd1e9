"""Build the OpenAPI 3.1 document of the whole API from the handlers' routes and models.

Every function has its own resolver; Powertools' OpenAPIMerge joins their schemas. Errors are
documented once, as RFC 9457 problem details. `make openapi` writes openapi.json; a unit test fails
when the checked-in file drifts from the code.
"""

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = ROOT / "openapi.json"
LAYER_PATH = ROOT / "layers" / "common"

# Importing a handler builds its clients; these make that possible without any AWS configuration.
_IMPORT_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "lms",
    "IDEMPOTENCY_TABLE_NAME": "lms-idempotency",
    "EVENT_BUS_NAME": "lms",
    "CURSOR_SECRET": "openapi",
    "ERASURE_KEY": "openapi",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Validation failures list one entry per bad field in `errors`.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "enrollmentId": {"type": "string", "description": "On a duplicate enrollment (409)"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "enum": ["body", "query", "path", "header"]},
                    "field": {"type": "string"},
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_RESPONSE = {
    "description": "Problem details (RFC 9457): 400, 403, 404, 409, 413, 415 or 422",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def build() -> dict[str, Any]:
    for name, value in _IMPORT_ENV.items():
        os.environ.setdefault(name, value)
    # The layer's package, as on Lambda (/opt/python); each handler under its own package name.
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    merge = OpenAPIMerge(
        title="LMS Enrollments and Progress API",
        version="1.0.0",
        description="Course catalog, enrollments and learner progress. See README.md.",
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
        security=[{"bearerAuth": []}],
        on_conflict="error",
    )
    for handler_file in sorted(ROOT.glob("functions/*/app.py")):
        module = importlib.import_module(f"functions.{handler_file.parent.name}.app")
        resolver = getattr(module, "app", None)
        if isinstance(resolver, APIGatewayHttpResolver):
            merge.add_schema(json.loads(resolver.get_openapi_json_schema()))
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _document_problems(document)
    return document


def _document_problems(document: dict[str, Any]) -> None:
    """Replace Powertools' default 422 body with the problem details every error uses."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path_item in document["paths"].values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = _PROBLEM_RESPONSE
            if "204" in responses:
                responses["204"].pop("content", None)


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
