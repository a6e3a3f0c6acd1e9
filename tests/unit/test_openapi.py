"""The checked-in OpenAPI document is generated from the handlers and must not drift from them."""

import json
import re

from tools.openapi import OPENAPI_PATH, render
from tools.template import expand

# A route as docs/API.md writes it in its tables: `GET /courses/{courseId}`.
CONTRACT_ROUTE = re.compile(r"`(GET|POST|PATCH|PUT|DELETE) (/[^`\s]*)`")


def test_checked_in_openapi_document_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(), "run `make openapi` and commit openapi.json"


def test_every_route_in_the_template_is_documented_and_nothing_else() -> None:
    routed = {
        (event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        for resource in expand().serverless.values()
        for event in resource.get("Properties", {}).get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    documented = {(method, path) for path, item in document["paths"].items() for method in item}

    assert documented == routed
    assert len(routed) == 22


def test_errors_are_documented_as_problem_details() -> None:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    for item in document["paths"].values():
        for operation in item.values():
            problem = operation["responses"]["4XX"]["content"]["application/problem+json"]
            assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_the_contract_document_and_openapi_name_the_same_routes() -> None:
    contract = (OPENAPI_PATH.parent / "docs" / "API.md").read_text(encoding="utf-8")
    in_contract = {(method.lower(), path) for method, path in CONTRACT_ROUTE.findall(contract)}
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    in_openapi = {(method, path) for path, item in document["paths"].items() for method in item}

    assert in_contract == in_openapi, "docs/API.md and openapi.json must document the same routes"
