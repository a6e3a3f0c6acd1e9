"""What the local runtime derives from template.yaml (read by tools.template): parameters,
conditions, intrinsics, the table definitions and the functions.

The local runtime and the tests derive everything from the template, so it is the only schema.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


# What the pseudo parameters stand for locally (LocalConfig sets AWS::Region to its region).
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::Partition": "aws",
    "AWS::StackName": "local",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()
_CONDITION_FUNCTIONS = frozenset({"Fn::If", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"})


class UnknownConditionError(KeyError):
    """A condition referenced before it was evaluated (or not defined at all)."""


def resolve(
    value: Any,
    parameters: dict[str, str],
    resources: dict[str, str] | None = None,
    conditions: dict[str, bool] | None = None,
) -> Any:
    """Resolve the intrinsics that matter locally: Ref, Sub, Join, Select and Split over parameters
    and named resources and, given the evaluated `conditions`, If, Equals, Not, And, Or and Condition.
    `!Ref AWS::NoValue` removes its key or list item. Other intrinsics are kept as they are."""
    names = {**PSEUDO_PARAMETERS, **parameters, **(resources or {})}
    return _resolve(value, names, conditions)


def _resolve(value: Any, names: dict[str, str], conditions: dict[str, bool] | None) -> Any:
    if isinstance(value, list):
        return [item for item in (_resolve(v, names, conditions) for v in value) if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key in _INTRINSICS and (conditions is not None or key not in _CONDITION_FUNCTIONS):
            return _INTRINSICS[key](argument, names, conditions or {})
    resolved = {k: _resolve(v, names, conditions) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def _ref(argument: str, names: dict[str, str], conditions: dict[str, bool]) -> Any:
    return NO_VALUE if argument == "AWS::NoValue" else names.get(argument, argument)


def _get_att(argument: list[str], names: dict[str, str], conditions: dict[str, bool]) -> Any:
    # Attributes are known only where the caller named them ("Table.Arn"); others stay as they are.
    return names.get(".".join(argument), {"Fn::GetAtt": argument})


def _sub(argument: Any, names: dict[str, str], conditions: dict[str, bool]) -> Any:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    for name, replacement in {**names, **_resolve(variables, names, conditions)}.items():
        text = text.replace("${" + name + "}", str(replacement))
    return text


def _condition(name: str, conditions: dict[str, bool]) -> bool:
    if name not in conditions:
        raise UnknownConditionError(name)
    return conditions[name]


def _if(argument: list[Any], names: dict[str, str], conditions: dict[str, bool]) -> Any:
    name, when_true, when_false = argument
    return _resolve(when_true if _condition(name, conditions) else when_false, names, conditions)


def _equals(left: Any, right: Any) -> bool:
    return bool(left == right)


def _all(argument: list[Any], names: dict[str, str], conditions: dict[str, bool]) -> list[Any]:
    resolved: list[Any] = _resolve(argument, names, conditions)
    return resolved


_INTRINSICS: dict[str, Callable[[Any, dict[str, str], dict[str, bool]], Any]] = {
    "Ref": _ref,
    "Fn::Sub": _sub,
    "Fn::GetAtt": _get_att,
    "Fn::Join": lambda a, n, c: str(a[0]).join(str(x) for x in _resolve(a[1], n, c)),
    "Fn::Select": lambda a, n, c: _resolve(a[1], n, c)[int(_resolve(a[0], n, c))],
    "Fn::Split": lambda a, n, c: str(_resolve(a[1], n, c)).split(a[0]),
    "Fn::If": _if,
    "Fn::Equals": lambda a, n, c: _equals(*_all(a, n, c)),
    "Fn::Not": lambda a, n, c: not _all(a, n, c)[0],
    "Fn::And": lambda a, n, c: all(_all(a, n, c)),
    "Fn::Or": lambda a, n, c: any(_all(a, n, c)),
    "Condition": lambda a, n, c: _condition(a, c),
}


def evaluate_conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """Every entry of `Conditions`, in dependency order (a condition may use `Condition: other`)."""
    pending = dict(template.get("Conditions", {}))
    results: dict[str, bool] = {}
    while pending:
        progressed = False
        for name, definition in list(pending.items()):
            try:
                results[name] = bool(resolve(definition, parameters, conditions=results))
            except UnknownConditionError:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise ValueError(f"conditions that cannot be evaluated: {sorted(pending)}")
    return results


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


def resource_refs(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    """What `!Ref <resource>` stands for locally: a table's name, otherwise the resource's own name.

    Secrets, queues and functions have no local counterpart; their name is enough to tell them apart.
    """
    refs: dict[str, str] = {}
    conditions = evaluate_conditions(template, parameters)
    for logical_id, resource in template["Resources"].items():
        props = resolve(resource.get("Properties", {}), parameters, conditions=conditions)
        name = next((props[k] for k in _NAME_PROPERTIES if isinstance(props.get(k), str)), logical_id)
        refs[logical_id] = name
    return refs


_NAME_PROPERTIES = ("TableName", "Name", "QueueName", "FunctionName", "LayerName")


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function with the Globals merged in, as Lambda would run it."""

    logical_id: str
    name: str
    code_uri: str
    handler: str
    memory_mb: int
    timeout_seconds: int
    environment: dict[str, str]
    log_level: str | None
    events: dict[str, dict[str, Any]]
    snap_start: bool = False  # SnapStart ApplyOn PublishedVersions: the worker runs the runtime hooks

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "FunctionSpec":
        return cls(**json.loads(text))


def function_specs(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, FunctionSpec]:
    """Every serverless function, keyed by logical id."""
    refs = resource_refs(template, parameters)
    conditions = evaluate_conditions(template, parameters)
    defaults = template.get("Globals", {}).get("Function", {})
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not conditions[resource["Condition"]]:
            continue  # not created with these parameters
        own = resource["Properties"]
        props = resolve({**defaults, **own}, parameters, refs, conditions)
        variables = {
            **resolve(defaults.get("Environment", {}).get("Variables", {}), parameters, refs, conditions),
            **resolve(own.get("Environment", {}).get("Variables", {}), parameters, refs, conditions),
        }
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=props.get("FunctionName", logical_id),
            code_uri=props["CodeUri"],
            handler=props["Handler"],
            memory_mb=int(props.get("MemorySize", 128)),
            timeout_seconds=int(props.get("Timeout", 3)),
            environment={name: _env_value(name, value) for name, value in variables.items()},
            log_level=props.get("LoggingConfig", {}).get("ApplicationLogLevel"),
            events=props.get("Events", {}),
            snap_start=props.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
        )
    return specs


def _env_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    # An intrinsic the local resolver does not know: fail loudly rather than pass a dict on.
    raise ValueError(f"environment variable {name} cannot be resolved locally: {value!r}")
