"""``make env STACK=…`` against a stack in moto's CloudFormation (served over HTTP, as the AWS CLI would reach
AWS): the env file it writes gives ``sam local invoke`` the stack's real names, which SAM's own environment
code is asked to confirm, and the events it writes name the stack's bucket.

moto cannot deploy the SAM template, so the stack here is a plain one with template.yaml's parameters and
one output for each of template.yaml's outputs, each holding the value a deployment would have.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

from tools.cfn import load_template
from tools.sample_events import event_files, placeholders

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = f"picr-images-{ACCOUNT}-{REGION}"
QUEUE = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/picr-"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:picr/"
DEPLOYED_OUTPUTS = {  # what sam deploy of template.yaml leaves as the stack's outputs
    "ImagesBucketName": BUCKET, "InboxUploadPath": f"s3://{BUCKET}/inbox/",
    "WorkQueueUrl": f"{QUEUE}work", "CutoutQueueUrl": f"{QUEUE}cutout", "VariantsQueueUrl": f"{QUEUE}variants",
    "CutoutFunctionName": "picr-cutout",
    "PublishQueueUrl": f"{QUEUE}publish", "DeadLetterQueueUrl": f"{QUEUE}dlq", "MailQueueUrl": f"{QUEUE}mail",
    "ExportQueueUrl": f"{QUEUE}export",
    "JobsTableName": "picr-jobs", "IdempotencyTableName": "picr-idempotency",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:picr-alarms",
    "DriveSecretArn": f"{SECRET}drive-key-AbCdEf",
    "ReviewUrl": "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/",
    "ReviewLinkKeyArn": f"{SECRET}review-link-key-GhIjKl",
    "UploadLinkKeyArn": f"{SECRET}upload-link-key-MnOpQr",
    "UploadUrl": "https://zyxwvutsrqponmlkjihgfedcba543210.lambda-url.eu-west-1.on.aws/",
    "ShopUrl": "https://shopshopshopshopshopshopshop0123.lambda-url.eu-west-1.on.aws/",
    "OwnerLinkKeyArn": f"{SECRET}owner-link-key-StUvWx",
    "InboundRuleSetName": "picr-inbound",
}
PARAMETERS = {"SenderEmail": "shop@example.com", "OwnerEmail": "owner@example.com", "DriveFolderId": "1AbCdEf",
              "InboundRecipient": "photos@in.example.com", "AllowedSenders": "owner@example.com",
              "CutoutModel": "u2netp"}


def deploy_in_moto(endpoint: str) -> None:
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()  # moto keeps state per process
    template = {
        "Parameters": {name: {"Type": "String", "Default": str(spec.get("Default", ""))}
                       for name, spec in TEMPLATE["Parameters"].items()},
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": DEPLOYED_OUTPUTS[name]} for name in TEMPLATE["Outputs"]
                    if name in DEPLOYED_OUTPUTS},
    }
    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
    cloudformation.create_stack(StackName="picr", TemplateBody=json.dumps(template), Parameters=[
        {"ParameterKey": key, "ParameterValue": value} for key, value in PARAMETERS.items()])


@pytest.fixture
def made_env(moto_server: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    deploy_in_moto(moto_server)
    out = tmp_path / "local"
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "env", "STACK=picr", f"REGION={REGION}", f"ENV_OUT={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ),
    )
    return result, out


def test_the_env_file_gives_every_function_the_stacks_real_names(made_env) -> None:
    result, out = made_env
    assert result.returncode == 0, result.stdout + result.stderr
    environments = json.loads((out / "env.json").read_text())
    # the stack's lanes: the Drive and email lanes are on
    assert set(environments) == {"IngestFunction", "CutoutFunction", "VariantsFunction", "PublishFunction",
                                 "SweepFunction", "ReviewFunction", "UploadFunction", "ShopFunction", "ExportFunction",
                                 "DriveSyncFunction", "MailIntakeFunction"}
    for name, variables in environments.items():
        assert variables["PICR_BUCKET"] == BUCKET
        assert variables.get("PICR_JOBS_TABLE", "picr-jobs") == "picr-jobs"  # every function that reads jobs
        assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
        if name not in ("MailIntakeFunction", "DriveSyncFunction"):
            assert variables["PICR_JOBS_TABLE"] == "picr-jobs", name
    assert environments["IngestFunction"]["PICR_CUTOUT_QUEUE_URL"] == f"{QUEUE}cutout"
    assert environments["CutoutFunction"]["PICR_MODEL"] == "u2netp"  # the stack's own parameter value
    assert environments["CutoutFunction"]["PICR_HOSTED_SECRET_ARN"] == ""  # no hosted engine on this stack
    assert environments["PublishFunction"]["PICR_REVIEW_URL"] == DEPLOYED_OUTPUTS["ReviewUrl"]
    assert environments["ReviewFunction"]["PICR_REVIEW_SECRET_ARN"] == DEPLOYED_OUTPUTS["ReviewLinkKeyArn"]
    assert environments["ReviewFunction"]["PICR_FIX_FUNCTION"] == "picr-cutout"  # the fix page's tools run there
    assert environments["DriveSyncFunction"]["PICR_DRIVE_SECRET_ARN"] == DEPLOYED_OUTPUTS["DriveSecretArn"]
    assert environments["MailIntakeFunction"]["PICR_ALLOWED_SENDERS"] == PARAMETERS["AllowedSenders"]


def test_sam_local_invoke_gives_the_function_the_env_files_values_not_logical_ids(made_env) -> None:
    """SAM's own environment code (what ``sam local invoke --env-vars`` runs) with and without the file."""
    _, out = made_env
    stacks, _ = SamLocalStackProvider.get_stacks(str(REPO / "template.yaml"), parameter_overrides=PARAMETERS)
    provider = SamFunctionProvider(stacks)
    ingest = provider.get("IngestFunction")

    def environment(env_vars: dict) -> dict[str, str]:
        runner = LocalLambdaRunner(None, provider, str(REPO), str(REPO), aws_region=REGION, env_vars_values=env_vars)
        return runner._make_env_vars(ingest).resolve()

    assert environment({})["PICR_BUCKET"] == "ImagesBucket"  # what sam local invoke gives without the file
    with_file = environment(json.loads((out / "env.json").read_text()))
    assert with_file["PICR_BUCKET"] == BUCKET
    assert with_file["PICR_PUBLISH_QUEUE_URL"] == f"{QUEUE}publish"


def test_the_events_name_the_stack_and_what_is_left_to_fill_is_explained(made_env) -> None:
    result, out = made_env
    for source in event_files():
        written = (out / "events" / source.name).read_text()
        assert "${ImagesBucketName}" not in written and "${AWS::Region}" not in written, source.name
        json.loads(written)
        for name in placeholders(written):  # what only the user's data knows, each one explained
            assert f"${{{name}}} (" in result.stdout, name
    ingest = json.loads(json.loads((out / "events" / "ingest.json").read_text())["Records"][0]["body"])
    assert ingest["detail"]["bucket"]["name"] == BUCKET and ingest["region"] == REGION
    assert placeholders(json.dumps(ingest)) == {"PhotoKey", "PhotoVersionId"}
    assert f"aws s3api put-object --bucket {BUCKET}" in result.stdout
    assert (f"sam local invoke IngestFunction --region {REGION} --env-vars {out / 'env.json'} "
            f"-e {out / 'events'}/ingest.json") in result.stdout


def test_a_stack_without_an_output_the_environment_needs_is_named(moto_server: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    from tools.local_env import main

    deploy_in_moto(moto_server)  # a fresh moto
    cloudformation = boto3.client("cloudformation", region_name=REGION, endpoint_url=moto_server)
    cloudformation.create_stack(StackName="old", TemplateBody=json.dumps({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ImagesBucketName": {"Value": BUCKET}}}))
    assert main(["--stack", "old", "--region", REGION, "--out", str(tmp_path)]) == 1
    assert "stack old exports no output for" in capsys.readouterr().err
