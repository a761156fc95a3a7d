"""``make env STACK=<name>``: what ``sam local invoke`` needs to run a function against a deployed stack.

    python -m tools.local_env --stack picr [--region eu-west-1] [--out .aws-sam/local]

``sam local invoke`` gives a function the environment the template declares, with every ``!Ref`` left as the
logical id it names (``PICR_BUCKET=ImagesBucket``), and the sample events name no real bucket. This reads
the stack's outputs and parameters (``aws cloudformation describe-stacks``) and writes

* ``env.json``: for each function the stack has, its variables with the stack's real names and values,
  resolved from template.yaml exactly as CloudFormation resolved them (``--env-vars``);
* ``events/<name>.json``: the sample events naming the stack's bucket, region, account and app name.

Values only your data knows (a photo's version, a job id, a link's token) stay as ``${...}`` in the events;
the command lists each with the way to look one up. The function then runs on your machine with your AWS
credentials against the real bucket, table and queues.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tools.cfn import Resolver, load_template
from tools.sample_events import DATA_PLACEHOLDERS, event_files, fill, function_of_event, placeholders

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"
DEFAULT_OUT = REPO / ".aws-sam" / "local"


class MissingOutput(KeyError):
    """The function environment needs a value the deployed stack does not export."""


def deployed_stack(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return stack


def stack_resolver(template: Mapping[str, Any], stack: Mapping[str, Any]) -> Resolver:
    """Intrinsic functions as this stack resolved them: its parameter values, and the physical values the
    template's Outputs export (an output ``!Ref X`` gives X's Ref, ``!GetAtt X.Y`` gives X.Y)."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    exported: dict[tuple[str, str | None], str] = {}
    for name, output in template.get("Outputs", {}).items():
        value = output["Value"]
        if isinstance(value, dict) and "Ref" in value:
            exported[(value["Ref"], None)] = name
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            exported[(logical_id, attribute)] = name

    def physical(logical_id: str, attribute: str | None) -> str:
        name = exported.get((logical_id, attribute))
        if name is None or name not in outputs:
            what = logical_id + (f".{attribute}" if attribute else "")
            raise MissingOutput(f"stack {stack['StackName']} exports no output for {what} "
                                f"(was it deployed from an older template.yaml? sam deploy it again)")
        return outputs[name]

    _, _, _, region, account, _ = stack["StackId"].split(":", 5)
    partition = stack["StackId"].split(":")[1]
    parameters = {p["ParameterKey"]: p.get("ResolvedValue", p["ParameterValue"]) for p in stack.get("Parameters", [])}
    return Resolver(template, parameters, physical, {
        "AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": partition,
        "AWS::StackName": stack["StackName"], "AWS::URLSuffix": "amazonaws.com",
    })


def function_environments(template: Mapping[str, Any], resolver: Resolver) -> dict[str, dict[str, str]]:
    """Logical id -> the environment CloudFormation gave that function (Globals, then its own)."""
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    environments = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function" or not resolver.enabled(resource):
            continue
        own = resource["Properties"].get("Environment", {}).get("Variables", {})
        variables = {**resolver.resolve(shared), **resolver.resolve(own)}
        environments[logical_id] = {name: str(value) for name, value in variables.items()}
    return environments


def stack_names(resolver: Resolver) -> dict[str, str]:
    return {"ImagesBucketName": resolver.resolve({"Ref": "ImagesBucket"}), "AppName": resolver.parameters["AppName"],
            "AWS::Region": resolver.resolve({"Ref": "AWS::Region"}),
            "AWS::AccountId": resolver.resolve({"Ref": "AWS::AccountId"})}


def shown(path: Path) -> str:
    """A path as the user would type it: relative to where they are, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write(stack_name: str, region: str, out: Path, cloudformation: Any = None) -> str:
    """Write env.json and events/ for ``stack_name`` under ``out``; returns what to tell the user."""
    import boto3

    template = load_template(TEMPLATE)
    stack = deployed_stack(cloudformation or boto3.client("cloudformation", region_name=region), stack_name)
    resolver = stack_resolver(template, stack)
    environments = function_environments(template, resolver)
    (out / "events").mkdir(parents=True, exist_ok=True)
    (out / "env.json").write_text(json.dumps(environments, indent=2, sort_keys=True) + "\n")
    names = stack_names(resolver)
    functions = function_of_event(template)
    env_file, events = shown(out / "env.json"), shown(out / "events")
    lines = [f"wrote {env_file}: the environment of {len(environments)} functions of stack {stack_name}",
             f"wrote {events}/: the sample events, naming bucket {names['ImagesBucketName']}", ""]
    to_fill: dict[str, list[str]] = {}
    invocations = []
    for path in event_files():
        filled = fill(path.read_text(), names)
        (out / "events" / path.name).write_text(filled)
        for name in sorted(placeholders(filled)):
            to_fill.setdefault(name, []).append(path.name)
        if functions.get(path.stem) in environments:
            invocations.append(f"  sam local invoke {functions[path.stem]} --region {names['AWS::Region']} "
                               f"--env-vars {env_file} -e {events}/{path.name}")
    hints = {"bucket": names["ImagesBucketName"], "jobs_table": environments["IngestFunction"]["PICR_JOBS_TABLE"],
             "upload_url": resolver.resolve({"Fn::GetAtt": ["UploadFunctionUrl", "FunctionUrl"]}),
             "shop_url": resolver.resolve({"Fn::GetAtt": ["ShopFunctionUrl", "FunctionUrl"]})}
    if to_fill:
        lines.append("Before invoking, put your own values where these events still say ${...}:")
        for name, files in to_fill.items():
            meaning, how = DATA_PLACEHOLDERS[name].meaning, DATA_PLACEHOLDERS[name].how.format(**hints)
            lines.append(f"  ${{{name}}} ({', '.join(files)}): {meaning}; {how}")
        lines.append("")
    lines.append("Then, after sam build (the cutout needs Docker for its image, every function Docker to run):")
    return "\n".join([*lines, *invocations])


def default_region() -> str | None:
    """The region samconfig.toml deploys to (what `sam deploy` used, unless told otherwise)."""
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    return config.get("default", {}).get("global", {}).get("parameters", {}).get("region")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the deployed stack's name (samconfig.toml: picr)")
    parser.add_argument("--region", default=default_region(), help="its region (default: samconfig.toml's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        print(write(args.stack, args.region, args.out))
    except MissingOutput as missing:
        print(missing.args[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
