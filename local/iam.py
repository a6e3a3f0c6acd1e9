"""IAM, locally: each function may do only what its execution role in template.yaml allows.

The parent reads the roles from the translated template (tools.template: policy templates, the
managed policies SAM attaches, event source and destination policies), every resource a local ARN,
and hands each worker its role's statements. The worker's botocore hook turns each AWS call into the
IAM actions and resources AWS would authorize (one per part of a transaction or batch), and a call
the statements do not allow fails as on AWS: ClientError AccessDeniedException, HTTP 400, never sent.
The statements are evaluated by moto's IAM policy evaluator (moto.iam.access_control); resource
policies, permission boundaries and SCPs are not.
"""

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult

from tools.template import ACCOUNT_ID, SECRET_SUFFIX, Stack

# moto reads a policy's strings as regular expressions with `*` widened (a `.` then matches any one
# character: more lenient than IAM, never stricter). A `?` wildcard, another regex character, a
# NotResource, a condition or a principal would be evaluated otherwise than IAM does, so a role using
# one is refused when it is read (the template uses none of them).
_NOT_EVALUATED_KEYS = frozenset({"NotResource", "Condition", "Principal", "NotPrincipal"})
_NOT_EVALUATED_CHARACTERS = re.compile(r"[?+()\[\]{}|^$\\]")


def statement(raw: dict[str, Any]) -> dict[str, Any]:
    """One statement of an identity-based policy, as written, if moto evaluates it as IAM does."""
    values = [v for key in ("Action", "NotAction", "Resource") for v in _as_list(raw.get(key, []))]
    evaluated = raw.get("Effect") in ("Allow", "Deny") and "Resource" in raw and not _NOT_EVALUATED_KEYS & raw.keys()
    if not evaluated or any(map(_NOT_EVALUATED_CHARACTERS.search, values)):
        raise ValueError(f"statement not evaluated locally (see local/iam.py): {raw}")
    return raw


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass(frozen=True)
class Policy:
    """The statements of one function's execution role, evaluated by moto's IAM policy evaluator."""

    function: str
    role: str
    statements: tuple[dict[str, Any], ...] = ()

    @cached_property
    def _evaluator(self) -> IAMPolicy:
        # IAM matches actions case-insensitively, moto exactly: both sides are lower-cased.
        statements = [
            {**s, **{key: [a.lower() for a in _as_list(s[key])] for key in ("Action", "NotAction") if key in s}}
            for s in self.statements
        ]
        return IAMPolicy(json.dumps({"Statement": statements}))

    def allows(self, action: str, resource: str) -> bool:
        """IAM's order: an explicit Deny wins, then any Allow; nothing allowed is denied."""
        return bool(self._evaluator.is_action_permitted(action.lower(), resource) == PermissionResult.PERMITTED)

    def denial(self, action: str, resource: str) -> str:
        """AWS's AccessDenied message for an identity-based refusal."""
        return (
            f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.role}/{self.function} is not authorized to perform:"
            f" {action} on resource: {resource} because no identity-based policy allows the {action} action"
        )


# ---------------------------------------------------------------------- the template's roles


def function_policies(stack: Stack) -> dict[str, Policy]:
    """Every function's role statements, keyed by the function's logical id, as deployed."""
    attached = [  # AWS::IAM::Policy and ManagedPolicy resources, by the roles they attach to
        (stack.logical_id(role), props["PolicyDocument"])
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for props in stack.of_type(kind).values()
        for role in props.get("Roles", [])
    ]
    policies: dict[str, Policy] = {}
    for logical_id, props in stack.of_type("AWS::Lambda::Function").items():
        role_id = stack.logical_id(props["Role"])
        role = stack.resources[role_id]["Properties"]
        raw_statements = [
            *(s for p in role.get("Policies", []) for s in _as_statements(p["PolicyDocument"])),
            *(s for arn in role.get("ManagedPolicyArns", []) for s in _managed(str(arn))),
            *(s for attached_to, document in attached if attached_to == role_id for s in _as_statements(document)),
        ]
        role_name = str(role.get("RoleName", f"local-{role_id}"))
        policies[logical_id] = Policy(logical_id, role_name, tuple(statement(s) for s in raw_statements))
    return policies


@cache
def _aws_managed_policies() -> dict[str, Any]:
    """AWS's managed policies as moto ships them (read in the parent only: workers get statements)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies: dict[str, Any] = json.loads(aws_managed_policies_data)
    return policies


def _managed(arn: str) -> list[dict[str, Any]]:
    policy = _aws_managed_policies().get(arn.rsplit("/", 1)[-1])
    if policy is None:
        raise ValueError(f"managed policy {arn} is not among the AWS managed policies moto ships")
    return _as_statements(policy["Document"])


def _as_statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return statements if isinstance(statements, list) else [statements]


def secret_arn(name: str, region: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}{SECRET_SUFFIX}"


# ---------------------------------------------------------------------- what a call asks IAM for

_STREAM_ARN = re.compile(r"arn:aws:dynamodb:[^:]*:[0-9]*:table/[^/|]+/stream/[^|]+")


def requested(prefix: str, operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    """(action, resource ARN) pairs IAM authorizes for one API call: `prefix` is the service's IAM
    prefix (its signing name). The services the functions call are mapped; any other call asks for its
    operation on `*`."""
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
    else:
        yield action, "*"


def _table_arn(table: str, region: str) -> str:
    return table if table.startswith("arn:") else f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"


def _dynamodb(operation: str, params: dict[str, Any], region: str) -> Iterator[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        for item in params.get("TransactItems", []):
            for kind, part in item.items():
                action = "ConditionCheckItem" if kind == "ConditionCheck" else f"{kind}Item"  # Put, Update, ...
                yield f"dynamodb:{action}", _table_arn(str(part["TableName"]), region)
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
