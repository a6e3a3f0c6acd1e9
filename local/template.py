"""What the local runtime reads from the stack template.yaml creates (tools.template.Stack, expanded
and resolved by SAM CLI's own tools): the functions as Lambda runs them and the tables to create."""

from dataclasses import dataclass
from typing import Any

from tools.template import Stack


@dataclass(frozen=True)
class FunctionSpec:
    """One function as Lambda would run it (the SAM transform merged the Globals in)."""

    logical_id: str
    name: str
    code_uri: str
    handler: str
    memory_mb: int
    timeout_seconds: int
    environment: dict[str, str]
    log_level: str | None
    events: dict[str, dict[str, Any]]  # its SAM events (HttpApi, DynamoDB), resolved
    snap_start: bool = False  # SnapStart ApplyOn PublishedVersions: the worker runs the runtime hooks
    log_group: str | None = None  # LoggingConfig.LogGroup; None: Lambda's own /aws/lambda/<name>

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


def function_specs(stack: Stack) -> dict[str, FunctionSpec]:
    """Every function the stack creates, keyed by logical id."""
    specs: dict[str, FunctionSpec] = {}
    deployed = stack.of_type("AWS::Lambda::Function")
    for logical_id in stack.of_type("AWS::Serverless::Function"):  # in the template's order
        props = deployed[logical_id]
        name = props.get("FunctionName", logical_id)
        logging = props.get("LoggingConfig", {})
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code_uri=props["Code"]["S3Key"],  # the code's path (see tools/sam_transform.py)
            handler=props["Handler"],
            memory_mb=int(props.get("MemorySize", 128)),
            timeout_seconds=int(props.get("Timeout", 3)),
            environment={k: _env_value(k, v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            log_level=logging.get("ApplicationLogLevel"),
            events=stack.serverless.get(logical_id, {}).get("Properties", {}).get("Events", {}),
            snap_start=props.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
            log_group=logging.get("LogGroup"),
        )
    return specs


def _env_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    # An intrinsic SAM's resolver left as it was: fail loudly rather than pass a dict on.
    raise ValueError(f"environment variable {name} cannot be resolved locally: {value!r}")


def table_definitions(stack: Stack) -> dict[str, dict[str, Any]]:
    """CreateTable arguments for every AWS::DynamoDB::Table, keyed by logical id."""
    tables: dict[str, dict[str, Any]] = {}
    for logical_id, props in stack.of_type("AWS::DynamoDB::Table").items():
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


def table_names(stack: Stack) -> dict[str, str]:
    """Logical id -> physical table name."""
    return {lid: d["TableName"] for lid, d in table_definitions(stack).items()}
