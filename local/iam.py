"""IAM, locally: each function may do only what its execution role in template.yaml allows.

The parent reads the roles from the template as `sam deploy` creates them (tools.template: the SAM
translator's policy templates, the managed policies SAM attaches, the event source and destination
policies it adds), every resource a local ARN (account 000000000000, the local region), and hands
each worker its role's statements. The worker registers a botocore hook on every session it creates: each AWS call
is turned into the IAM actions and resources AWS would authorize (one per part of a transaction or
batch), and a call the statements do not allow fails as AWS fails it: ClientError
AccessDeniedException, HTTP 400, never sent.

Evaluated: Allow/Deny with Action/NotAction and Resource/NotResource, `*` and `?` wildcards,
explicit deny wins. Not evaluated: Condition blocks (a statement with conditions is taken as
applying), resource policies, permission boundaries, SCPs.
"""

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tools.template import ACCOUNT_ID, SECRET_SUFFIX, Stack

# The AWS managed policies SAM attaches, as AWS publishes them (only the statements that matter).
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
}
# What an event source mapping reads from a DynamoDB stream with the function's role, and sends to
# an SQS on-failure destination.
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")
DESTINATION_SEND_ACTION = "sqs:SendMessage"


# ---------------------------------------------------------------------- policy evaluation


def _pattern(glob: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> "Statement":
        return cls(
            effect=str(raw["Effect"]),
            actions=tuple(_as_list(raw.get("Action", []))),
            not_actions=tuple(_as_list(raw["NotAction"])) if "NotAction" in raw else (),
            resources=tuple(_as_list(raw.get("Resource", []))),
            not_resources=tuple(_as_list(raw["NotResource"])) if "NotResource" in raw else (),
        )

    def applies(self, action: str, resource: str) -> bool:
        if self.not_actions:
            action_ok = not _any_match(self.not_actions, action, case_sensitive=False)
        else:
            action_ok = _any_match(self.actions, action, case_sensitive=False)
        if self.not_resources:
            resource_ok = not _any_match(self.not_resources, resource, case_sensitive=True)
        else:
            resource_ok = _any_match(self.resources, resource, case_sensitive=True)
        return action_ok and resource_ok


def _any_match(globs: Iterable[str], value: str, *, case_sensitive: bool) -> bool:
    return any(_compiled(glob, case_sensitive).fullmatch(value) for glob in globs)


@cache
def _compiled(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    return _pattern(glob, case_sensitive=case_sensitive)


@dataclass(frozen=True)
class Policy:
    """The statements of one function's execution role."""

    function: str
    role: str
    statements: tuple[Statement, ...] = field(default_factory=tuple)

    def allows(self, action: str, resource: str) -> bool:
        """IAM's order: an explicit Deny wins, then any Allow; nothing allowed is denied."""
        applicable = [s.effect for s in self.statements if s.applies(action, resource)]
        return "Deny" not in applicable and "Allow" in applicable

    def denial(self, action: str, resource: str) -> str:
        """AWS's AccessDenied message for an identity-based refusal."""
        return (
            f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.role}/{self.function} is not authorized to perform:"
            f" {action} on resource: {resource} because no identity-based policy allows the {action} action"
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "function": self.function,
                "role": self.role,
                "statements": [s.__dict__ for s in self.statements],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        data = json.loads(text)
        statements = tuple(
            Statement(
                effect=s["effect"],
                actions=tuple(s["actions"]),
                not_actions=tuple(s["not_actions"]),
                resources=tuple(s["resources"]),
                not_resources=tuple(s["not_resources"]),
            )
            for s in data["statements"]
        )
        return cls(data["function"], data["role"], statements)


# ---------------------------------------------------------------------- the template's roles


def function_policies(stack: Stack) -> dict[str, Policy]:
    """Every function's role statements, keyed by the function's logical id, as deployed."""
    resources = stack.resources
    attached = _attached_policies(stack)
    policies: dict[str, Policy] = {}
    for logical_id, props in stack.of_type("AWS::Lambda::Function").items():
        role_id = stack.logical_id(props["Role"])
        role = resources[role_id]["Properties"]
        raw_statements = [
            *(s for p in role.get("Policies", []) for s in _as_statements(p["PolicyDocument"])),
            *(s for arn in role.get("ManagedPolicyArns", []) for s in _managed(str(arn))),
            *(s for p in attached.get(role_id, []) for s in _as_statements(p)),
        ]
        role_name = str(role.get("RoleName", f"local-{role_id}"))
        policies[logical_id] = Policy(logical_id, role_name, tuple(Statement.parse(s) for s in raw_statements))
    return policies


def _managed(arn: str) -> list[dict[str, Any]]:
    name = arn.rsplit("/", 1)[-1]
    if name not in MANAGED_POLICIES:
        raise ValueError(f"managed policy {arn} is unknown locally: add its statements to local/iam.py")
    return MANAGED_POLICIES[name]


def _as_statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return statements if isinstance(statements, list) else [statements]


def _attached_policies(stack: Stack) -> dict[str, list[Any]]:
    """AWS::IAM::Policy and ManagedPolicy resources, by the roles they attach to."""
    attached: dict[str, list[Any]] = {}
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for props in stack.of_type(kind).values():
            for role in props.get("Roles", []):
                attached.setdefault(stack.logical_id(role), []).append(props["PolicyDocument"])
    return attached


def secret_arn(name: str, region: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}{SECRET_SUFFIX}"


# ---------------------------------------------------------------------- what a call asks IAM for

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_STREAM_ARN = re.compile(r"arn:aws:dynamodb:[^:]*:[0-9]*:table/[^/|]+/stream/[^|]+")


def requested(prefix: str, operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    """(action, resource ARN) pairs IAM authorizes for one API call: `prefix` is the service's IAM
    prefix (its signing name). Unknown shapes ask for the operation on `*`."""
    action = f"{prefix}:{operation}"
    if prefix == "dynamodb":
        yield from _dynamodb(operation, params, region)
    elif prefix == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        yield action, secret if secret.startswith("arn:") else secret_arn(secret, region)
    elif prefix == "ssm" and {"Name", "Names", "Path"} & params.keys():
        names = params.get("Names") or [params.get("Name") or params["Path"]]
        for name in names:
            yield action, f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/{str(name).lstrip('/')}"
    elif prefix == "sqs" and ("QueueUrl" in params or "QueueName" in params):
        queue = str(params.get("QueueName") or str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])
        yield action, f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}"
    elif prefix == "events" and operation == "PutEvents":
        for bus in {str(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])}:
            yield action, bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{bus}"
    elif prefix == "sns" and ("TopicArn" in params or "TargetArn" in params):
        yield action, str(params.get("TopicArn") or params["TargetArn"])
    elif prefix == "lambda" and "FunctionName" in params:
        function = str(params["FunctionName"])
        yield (
            action,
            function if function.startswith("arn:") else f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function}",
        )
    else:
        yield action, "*"


def _table_arn(table: str, region: str) -> str:
    return table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"


def _dynamodb(operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", []):
            for kind, part in item.items():
                yield f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(str(part["TableName"]), region)
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params.get("RequestItems", {}):
            yield f"dynamodb:{operation}", _table_arn(str(table), region)
    elif "TableName" in params:
        arn = _table_arn(str(params["TableName"]), region)
        yield f"dynamodb:{operation}", f"{arn}/index/{params['IndexName']}" if params.get("IndexName") else arn
    else:
        # Streams: the ARN is a parameter, or inside the shard iterator; DynamoDB Local's region is its own.
        found = _STREAM_ARN.search(str(params.get("StreamArn") or params.get("ShardIterator") or ""))
        arn = re.sub(r"^arn:aws:dynamodb:[^:]*:", f"arn:aws:dynamodb:{region}:", found.group()) if found else "*"
        yield f"dynamodb:{operation}", arn


# ---------------------------------------------------------------------- enforcement in a worker


@dataclass
class Enforcer:
    """The botocore hook of one execution environment, with counts of what it checked."""

    policy: Policy
    region: str
    checked: int = 0
    denied: int = 0

    def install(self) -> None:
        """Register on every botocore session created from now on (boto3's and Powertools' too)."""
        import botocore.handlers

        botocore.handlers.BUILTIN_HANDLERS.extend(self._handlers())

    def uninstall(self) -> None:
        """Sessions created from now on are unchecked (those created before keep the hook)."""
        import botocore.handlers

        for handler in self._handlers():
            botocore.handlers.BUILTIN_HANDLERS.remove(handler)

    def _handlers(self) -> list[tuple[str, Any]]:
        return [("before-parameter-build", self.check), ("before-call", self.refuse)]

    def check(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        prefix = str(model.service_model.signing_name)
        for action, resource in requested(prefix, model.name, params, self.region):
            self.checked += 1
            if not self.policy.allows(action, resource):
                self.denied += 1
                message = self.policy.denial(action, resource)
                print(f"local IAM: AccessDenied: {message}", file=sys.stderr)  # what CloudTrail would record
                context["local_iam_denial"] = message
                return

    @staticmethod
    def refuse(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        """Answer a refused call without sending it, as AWS answers it (HTTP 400, not retried)."""
        message = context.get("local_iam_denial")
        if message is None:
            return None
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        http = AWSResponse("https://iam.local/", 400, HTTPHeaders(), None)
        parsed = {
            "Error": {"Code": "AccessDeniedException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return http, parsed

    def take_counts(self) -> dict[str, int]:
        counts, self.checked, self.denied = {"checked": self.checked, "denied": self.denied}, 0, 0
        return counts
