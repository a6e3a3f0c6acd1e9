"""template.yaml as `sam deploy` would create it, offline, by SAM CLI's own tools:
`.venv-sam/bin/python -I tools/sam_transform.py < request.json > stack.json` (tools.template runs it).

Runs in the SAM CLI's venv (the SAM translator pins its own pydantic, which the layer's cannot share)
and knows nothing of the rest of the repository. Three steps, none of them ours:
1. the language extensions, by SAM CLI's `process_template` (what `sam build --language-extensions`
   runs): Fn::ForEach expanded, conditions evaluated, Ref/Sub/If of parameters and pseudo parameters;
2. the SAM transform, by the translator `sam deploy` runs: the CloudFormation resources;
3. the intrinsics left (Ref, GetAtt and Sub of resources), by the resolver `sam local` uses, each
   resource standing for its local name or ARN (`LOCAL_NAMES`).

Request: {"template": dict or null (then template.yaml), "parameters", "region", "account",
"secretSuffix", "managedPolicies"}. Answer: {"source": the template as SAM parses it, "parameters":
every value, "conditions", "names": what each resource's Ref and attributes stand for, "serverless":
step 1's resources, "resources": step 3's}; both resource maps resolved as in step 3 and holding only
the resources these parameters create.

`python tools/sam_transform.py --expanded template.yaml [Name=Value ...]` prints step 1 alone, for
checkov (which cannot read Fn::ForEach).
"""

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

# What `Ref` and `Fn::GetAtt` give for each kind of resource locally: the property naming it, then
# formats of its Ref and attributes ({name}, {region}, {account}, {suffix}: a secret's random suffix).
# Any other kind stands for its logical id.
_AT = "{region}:{account}"
LOCAL_NAMES: dict[str, tuple[str, str, dict[str, str]]] = {
    "AWS::DynamoDB::Table": (
        "TableName",
        "{name}",
        {
            "Arn": f"arn:aws:dynamodb:{_AT}:table/{{name}}",
            # The stream's label (a timestamp) exists only once the table does: any label of this table.
            "StreamArn": f"arn:aws:dynamodb:{_AT}:table/{{name}}/stream/*",
        },
    ),
    "AWS::SQS::Queue": (
        "QueueName",
        "https://sqs.{region}.amazonaws.com/{account}/{name}",
        {"QueueName": "{name}", "Arn": f"arn:aws:sqs:{_AT}:{{name}}"},
    ),
    "AWS::SecretsManager::Secret": ("Name", f"arn:aws:secretsmanager:{_AT}:secret:{{name}}{{suffix}}", {}),
    "AWS::SNS::Topic": ("TopicName", f"arn:aws:sns:{_AT}:{{name}}", {}),
    "AWS::Events::EventBus": ("Name", "{name}", {"Arn": f"arn:aws:events:{_AT}:event-bus/{{name}}"}),
    "AWS::Events::Connection": ("Name", "{name}", {"Arn": f"arn:aws:events:{_AT}:connection/{{name}}"}),
    "AWS::Events::ApiDestination": ("Name", "{name}", {"Arn": f"arn:aws:events:{_AT}:api-destination/{{name}}"}),
    "AWS::Lambda::Function": ("FunctionName", "{name}", {"Arn": f"arn:aws:lambda:{_AT}:function:{{name}}"}),
    "AWS::Logs::LogGroup": ("LogGroupName", "{name}", {"Arn": f"arn:aws:logs:{_AT}:log-group:{{name}}:*"}),
    "AWS::IAM::Role": ("RoleName", "{name}", {"Arn": "arn:aws:iam::{account}:role/{name}"}),
}
# SAM CLI 1.170's partial resolution leaves a Fn::Sub naming a resource (`${Table.Arn}/index/gsi1`)
# as its bare text, placeholders kept: such a string is a Fn::Sub again.
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z0-9:.]+\}")


def parse(path: str) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    document: dict[str, Any] = yaml_parse(Path(path).read_text(encoding="utf-8"))
    return document


def expand(
    template: dict[str, Any], parameters: dict[str, str], region: str, account: str
) -> tuple[dict[str, Any], dict[str, bool]]:
    """Step 1: the template with its language extensions expanded, and the conditions' values."""
    from samcli.lib.cfn_language_extensions.api import create_default_pipeline
    from samcli.lib.cfn_language_extensions.models import (
        PseudoParameterValues,
        ResolutionMode,
        TemplateProcessingContext,
    )

    # process_template's own steps, keeping the context for the conditions it evaluated.
    context = TemplateProcessingContext(
        fragment=copy.deepcopy(template),
        parameter_values=parameters,
        pseudo_parameters=PseudoParameterValues(region=region, account_id=account, stack_name="local"),
        resolution_mode=ResolutionMode.PARTIAL,
    )
    expanded = create_default_pipeline(context).process_template(context)
    expanded["Resources"] = _as_sub(expanded["Resources"])
    return expanded, dict(context.resolved_conditions)


def _as_sub(value: Any) -> Any:
    """`value` with each string still holding a placeholder back inside a Fn::Sub."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) == "Fn::Sub":
            return value
        return {key: _as_sub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_sub(item) for item in value]
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        return {"Fn::Sub": value}
    return value


def translate(expanded: dict[str, Any], request: dict[str, Any], symbols: dict[str, Any]) -> dict[str, Any]:
    """Step 2: the SAM transform. A code path becomes `s3://local/<path>`, so the translator takes it
    and gives it back as the function's Code.S3Key."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(expanded)
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str):
                properties[uri] = f"s3://local/{properties[uri]}"
    # The translator asks its session for the region only; it never calls AWS.
    session = boto3.session.Session(
        region_name=request["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - a dummy, never sent
    )
    translator = Translator(request["managedPolicies"], Parser(), boto_session=session)
    translated: dict[str, Any] = translator.translate(document, symbols)
    return translated


def local_names(resources: dict[str, Any], request: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What `Ref` and each attribute of a resource stand for locally."""
    names: dict[str, dict[str, str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] not in LOCAL_NAMES:
            continue
        name_property, ref, attributes = LOCAL_NAMES[resource["Type"]]
        name = resource.get("Properties", {}).get(name_property)
        fields = {
            "name": name if isinstance(name, str) else logical_id,
            "region": request["region"],
            "account": request["account"],
            "suffix": request["secretSuffix"],
        }
        names[logical_id] = {"Ref": ref.format(**fields)} | {k: v.format(**fields) for k, v in attributes.items()}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Alias":  # Ref: its function's ARN, qualified by the alias
            properties = resource["Properties"]
            function = names[properties["FunctionName"]["Ref"]]["Arn"]
            names[logical_id] = {"Ref": f"{function}:{properties['Name']}"}
    return names


def resolve(document: dict[str, Any], symbols: dict[str, Any]) -> dict[str, Any]:
    """Step 3: every intrinsic left in the resources, by the resolver `sam local` uses; as there,
    what it cannot resolve (a Version's attributes) stays as it is. Resource by resource: its
    `resolve_template` would also rename each resource to what its Ref stands for."""
    from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
    from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable

    document = copy.deepcopy(document)
    table = IntrinsicsSymbolTable(template=document, logical_id_translator=copy.deepcopy(symbols))
    resolver = IntrinsicResolver(template=document, symbol_resolver=table)
    return {
        logical_id: resolver.intrinsic_property_resolver(resource, ignore_errors=True, parent_function=logical_id)
        for logical_id, resource in document["Resources"].items()
    }


def stack(request: dict[str, Any]) -> dict[str, Any]:
    source = request["template"] or parse(request["path"])
    declared = source.get("Parameters", {})
    parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()} | request["parameters"]
    expanded, conditions = expand(source, request["parameters"], request["region"], request["account"])
    symbols: dict[str, Any] = {
        **parameters,
        "AWS::Region": request["region"],
        "AWS::AccountId": request["account"],
        "AWS::Partition": "aws",
        "AWS::StackName": "local",
        "AWS::URLSuffix": "amazonaws.com",
    }
    translated = translate(expanded, request, symbols)
    names = local_names(translated["Resources"], request)
    symbols |= names

    def created(resources: dict[str, Any]) -> dict[str, Any]:
        return {
            logical_id: resource
            for logical_id, resource in resources.items()
            if "Condition" not in resource or conditions[resource["Condition"]]
        }

    # Globals stay out of step 3: SAM merged them into the functions in step 2.
    serverless = {"Resources": created(expanded["Resources"]), "Conditions": expanded.get("Conditions", {})}
    return {
        "source": source,
        "parameters": parameters,
        "conditions": conditions,
        "names": names,
        "serverless": resolve(serverless, symbols),
        "resources": resolve({**translated, "Resources": created(translated["Resources"])}, symbols),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--expanded"]:
        overrides = dict(argument.split("=", 1) for argument in sys.argv[3:])
        document, _ = expand(parse(sys.argv[2]), overrides, "us-east-1", "000000000000")
        json.dump(document, sys.stdout, indent=1)
    else:
        json.dump(stack(json.load(sys.stdin)), sys.stdout)
