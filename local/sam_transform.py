"""The SAM transform, offline: `.venv-sam/bin/python local/sam_transform.py < request.json`.

Runs in the SAM CLI's venv (the SAM translator pins its own pydantic, which the layer's cannot share)
and knows nothing of the rest of `local`. Reads {"template", "parameters", "region", "managedPolicies"}
as JSON on stdin and writes the CloudFormation template `sam deploy` would create, as JSON.
"""

import json
import sys
from typing import Any


def transform(request: dict[str, Any]) -> dict[str, Any]:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = request["template"]
    for resource in document["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://local/code.zip"  # where the code lives does not matter here
    # The translator asks its session for the region only; it never calls AWS.
    session = boto3.session.Session(
        region_name=request["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - a dummy, never sent
    )
    translator = Translator(request["managedPolicies"], Parser(), boto_session=session)
    translated: dict[str, Any] = translator.translate(document, request["parameters"])
    return translated


if __name__ == "__main__":
    json.dump(transform(json.load(sys.stdin)), sys.stdout)
