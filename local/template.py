"""Read template.yaml: CloudFormation short-form tags, parameters, and the table definitions.

The local runtime and the tests derive everything from the template, so it is the only schema.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from local.loader import ROOT

TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps `!Ref x` as {"Ref": x} and `!Sub s` as {"Fn::Sub": s}, and so on."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def resolve(value: Any, parameters: dict[str, str], resources: dict[str, str] | None = None) -> Any:
    """Resolve the few intrinsics that matter locally: Ref and Sub over parameters and named resources."""
    names = {**parameters, **(resources or {})}
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref":
            return names.get(argument, argument)
        if key == "Fn::Sub" and isinstance(argument, str):
            text = argument
            for name, replacement in names.items():
                text = text.replace("${" + name + "}", replacement)
            return text
    if isinstance(value, dict):
        return {k: resolve(v, parameters, resources) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters, resources) for v in value]
    return value


def table_definitions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    """CreateTable arguments for every AWS::DynamoDB::Table, keyed by logical id."""
    tables: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resolve(resource["Properties"], parameters)
        definition: dict[str, Any] = {
            "TableName": props.get("TableName", logical_id),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        tables[logical_id] = definition
    return tables


def table_names(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    """Logical id -> physical table name."""
    return {lid: d["TableName"] for lid, d in table_definitions(template, parameters).items()}
