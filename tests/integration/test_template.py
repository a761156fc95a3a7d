"""template.yaml: valid SAM, lint-clean once translated, least privilege per role, and the wiring
(queues, rule, tables, bucket) the pipeline and the local runner depend on.

The template is translated offline the way ``sam validate`` does it (samcli's SamTemplateValidator with
local code paths replaced); the conditions are then evaluated here for a parameter set, so each check
sees what CloudFormation would deploy: once with every optional lane off (the defaults), once with all
of them on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samcli.commands.validate.lib.exceptions import InvalidSamDocumentException
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse

from picr.settings import (
    CutoutSettings,
    DriveSyncSettings,
    ExportSettings,
    IngestSettings,
    MailIntakeSettings,
    PublishSettings,
    ReviewSettings,
    ShopSettings,
    SweepSettings,
    UploadSettings,
    VariantsSettings,
)
from tests.support.lifecycle import fate
from tools.cfn import process_variables, s3_lifecycle_rule

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
README = REPO / "README.md"
REGION = "eu-west-2"

REQUIRED = {"SenderEmail": "shop@example.com", "OwnerEmail": "owner@example.com"}
LANES = {  # each optional lane and the parameters that switch it on
    "hosted": {"CutoutEngine": "hosted"},
    "sns": {"NotifyChannel": "sns"},
    "inbound": {"InboundRecipient": "photos@in.example.com", "AllowedSenders": "a@example.com,b@example.com"},
    "drive": {"DriveFolderId": "1AbCdEfGh"},
    "retry": {"HostedRetry": "true"},  # a hosted engine for review-lane retries, behind the local default
    "retention": {"RetentionDays": "365"},  # the owner chose to delete kept images after a year
}
# Every lane off (the defaults), each one alone, all together.
LANE_SETS = {
    "defaults": frozenset(), **{lane: frozenset({lane}) for lane in LANES}, "every-lane": frozenset(LANES)
}


def parameters_for(lanes: frozenset[str]) -> dict[str, str]:
    return {**REQUIRED, **{key: value for lane in lanes for key, value in LANES[lane].items()}}


EVERY_OPTION = parameters_for(frozenset(LANES))

OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "SAM_CLI_TELEMETRY": "0",
}


# ------------------------------------------------------------------ translating and deploying, offline

class NoManagedPolicies:
    """Managed-policy map for the translator: every role is explicit, so none is ever looked up (an
    AWS call otherwise); a template that needed one would fail translation here."""

    def load(self) -> dict[str, str]:
        return {}


NO_VALUE = object()


def parameter_values(template: dict, overrides: dict[str, str]) -> dict[str, str]:
    defaults = template["Parameters"].items()
    return {**{name: str(spec["Default"]) for name, spec in defaults if "Default" in spec}, **overrides}


def evaluate_condition(expression: Any, params: dict[str, str], conditions: dict[str, Any]) -> bool:
    if isinstance(expression, dict):
        (function, argument), = expression.items()
        if function == "Fn::Equals":
            left, right = (params[v["Ref"]] if isinstance(v, dict) else str(v) for v in argument)
            return left == right
        if function == "Fn::Not":
            return not evaluate_condition(argument[0], params, conditions)
        if function == "Fn::Or":
            return any(evaluate_condition(item, params, conditions) for item in argument)
        if function == "Condition":
            return evaluate_condition(conditions[argument], params, conditions)
    raise AssertionError(f"condition function not handled by this test: {expression}")


def materialise(node: Any, active: dict[str, bool]) -> Any:
    """Resolve Fn::If and drop AWS::NoValue, as CloudFormation does for the active conditions."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return materialise(when_true if active[name] else when_false, active)
        resolved = {key: materialise(value, active) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}
    if isinstance(node, list):
        return [value for value in (materialise(item, active) for item in node) if value is not NO_VALUE]
    return node


def deployed(translated: dict, overrides: dict[str, str]) -> dict:
    """The resources and outputs CloudFormation would create from the translated template."""
    params = parameter_values(translated, overrides)
    conditions = translated.get("Conditions", {})
    active = {name: evaluate_condition(body, params, conditions) for name, body in conditions.items()}
    kept = {
        section: {name: body for name, body in translated.get(section, {}).items()
                  if active.get(body.get("Condition"), True)}
        for section in ("Resources", "Outputs")
    }
    return {**materialise(kept, active), "Parameters": params}


def placeholder(name: str) -> str:
    return "${" + name + "}"


def render(value: Any) -> str:
    """An intrinsic as readable text: Ref X -> ${X}, GetAtt X.Y -> ${X.Y}, Sub -> its template."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return placeholder(value["Ref"])
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return placeholder(".".join(target) if isinstance(target, list) else target)
    if "Fn::Sub" in value:
        body = value["Fn::Sub"]
        if isinstance(body, list):
            text, variables = body
            for name, replacement in variables.items():
                text = text.replace(placeholder(name), render(replacement))
            return text
        return body
    raise AssertionError(f"intrinsic not handled by this test: {value}")


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def source() -> dict:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def translated() -> dict:
    validator = SamTemplateValidator(
        yaml_parse(TEMPLATE.read_text()), NoManagedPolicies(), region=REGION, parameter_overrides=REQUIRED
    )
    return yaml_parse(validator.get_translated_template_if_valid())


@pytest.fixture(scope="module", params=sorted(LANE_SETS))
def deployment(request: pytest.FixtureRequest, translated: dict) -> dict:
    return deployed(translated, parameters_for(LANE_SETS[request.param]))


@pytest.fixture(scope="module")
def lanes_off(translated: dict) -> dict:
    return deployed(translated, REQUIRED)


@pytest.fixture(scope="module")
def lanes_on(translated: dict) -> dict:
    return deployed(translated, EVERY_OPTION)


def of_type(deployment: dict, resource_type: str) -> dict[str, dict]:
    return {name: body for name, body in deployment["Resources"].items() if body["Type"] == resource_type}


def functions(deployment: dict) -> dict[str, dict]:
    return of_type(deployment, "AWS::Lambda::Function")


def role_of(function: dict) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


# ------------------------------------------------------------------ validity

def run_sam(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "samcli", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **OFFLINE_ENV}, timeout=120, check=False,
    )


def test_sam_validate_passes_offline(tmp_path: Path) -> None:
    # An explicit config without `lint`: samconfig.toml turns lint on, and then sam skips the translator.
    plain_config = tmp_path / "samconfig.toml"
    plain_config.write_text("version = 0.1\n")
    result = run_sam("validate", "--template-file", str(TEMPLATE), "--region", REGION,
                     "--config-file", str(plain_config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_sam_validate_lint_passes_offline() -> None:
    result = run_sam("validate", "--lint", "--template-file", str(TEMPLATE), "--region", REGION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_finds_nothing_in_the_translated_template(translated: dict) -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(translated), config=ManualArgs(regions=[REGION]))
    # W1020 on the layer name only: the translator substitutes the AppName default into its Fn::Sub
    # (SAM names the layer version at transform time); CloudFormation substitutes the real value.
    findings = [m for m in matches if not (m.rule.id == "W1020" and "LayerName" in m.path)]
    report = "\n".join(f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}" for m in findings)
    assert findings == [], report


def test_only_the_allowed_intrinsic_functions_are_used(source: dict) -> None:
    allowed = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Equals", "Fn::Not", "Fn::Or", "Condition"}
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            used.update(key for key in node if key == "Ref" or key.startswith("Fn::"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in source.items() if key not in ("Conditions", "Rules")})
    walk(source["Conditions"])
    assert used <= allowed, used - allowed
    assert source["Transform"] == "AWS::Serverless-2016-10-31"
    # Rules have their own functions, checked by CloudFormation before the stack (and never by the runner).
    used.clear()
    walk(source["Rules"])
    assert used <= {"Ref", "Fn::Equals", "Fn::Not", "Fn::Contains"}, used


# ------------------------------------------------------------------ least privilege

BUCKET = "${ImagesBucket.Arn}"
ANY = "*"
SES_IDENTITIES = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"
CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
JOB_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
               "dynamodb:ConditionCheckItem")
JOB_TABLE = ("${JobsTable.Arn}", "${JobsTable.Arn}/index/by-status")
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


def grant(actions: str | tuple[str, ...], *resources: str) -> set[tuple[str, str]]:
    names = (actions,) if isinstance(actions, str) else actions
    return {(action, resource) for action in names for resource in resources}


def objects(*prefixes: str) -> tuple[str, ...]:
    return tuple(f"{BUCKET}/{prefix}" for prefix in prefixes)


def baseline(log_group: str) -> set[tuple[str, str]]:
    """What every function holds: its own log group and metrics (namespace-bound)."""
    return (grant(("logs:CreateLogStream", "logs:PutLogEvents"), placeholder(f"{log_group}.Arn"))
            | grant("cloudwatch:PutMetricData", ANY))


IDEMPOTENCY = grant(IDEMPOTENCY_ACTIONS, "${IdempotencyTable.Arn}")
"""The functions that mail once per notice, and ingest, which claims the upload page's form records."""


def expected_grants(lanes: frozenset[str]) -> dict[str, set[tuple[str, str]]]:
    """Per function, every (action, resource) its role allows, attached policies included: nothing more."""
    sns = grant("sns:Publish", "${NotifyTopic}") if "sns" in lanes else set()
    send_mail = grant(("ses:SendEmail", "ses:SendRawEmail"), SES_IDENTITIES)
    review_key = grant("secretsmanager:GetSecretValue", "${ReviewTokenSecret}")
    hosted_key = lanes & {"hosted", "retry"}
    expected = {
        "IngestFunction": baseline("IngestLogGroup") | IDEMPOTENCY
        | grant(("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"), *objects("inbox/*"))
        | grant("s3:PutObject", *objects("work/*", "originals/*", "rejected/*"))
        | grant("s3:ListBucket", BUCKET)
        | grant(CONSUME, "${WorkQueue.Arn}")
        | grant("sqs:SendMessage", "${CutoutQueue.Arn}", "${PublishQueue.Arn}")
        | grant(JOB_ACTIONS, *JOB_TABLE),
        "CutoutFunction": baseline("CutoutLogGroup")
        | grant(("s3:GetObject", "s3:PutObject"), *objects("work/*"))
        | grant(CONSUME, "${CutoutQueue.Arn}")
        | grant("sqs:SendMessage", "${VariantsQueue.Arn}", "${PublishQueue.Arn}")
        | grant(JOB_ACTIONS, *JOB_TABLE)
        | (grant("secretsmanager:GetSecretValue", "${HostedModelSecret}") if hosted_key else set()),
        "VariantsFunction": baseline("VariantsLogGroup")
        | grant("s3:GetObject", *objects("work/*", "config/*"))
        | grant("s3:PutObject", *objects("drafts/*"))
        | grant("s3:ListBucket", BUCKET)
        | grant(CONSUME, "${VariantsQueue.Arn}")
        | grant("sqs:SendMessage", "${PublishQueue.Arn}")
        | grant(JOB_ACTIONS, *JOB_TABLE),
        "PublishFunction": baseline("PublishLogGroup") | IDEMPOTENCY
        | grant("s3:GetObject", *objects("work/*", "drafts/*", "out/*", "inbox/*"))
        | grant("s3:PutObject", *objects("out/*"))
        | grant(CONSUME, "${PublishQueue.Arn}")
        | grant(JOB_ACTIONS, *JOB_TABLE)
        | send_mail | sns | review_key,
        "SweepFunction": baseline("SweepLogGroup") | IDEMPOTENCY
        | grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"), *JOB_TABLE)
        | grant("s3:GetObject", *objects("work/*"))
        # with a retention period, held jobs' images are rewritten onto themselves before it deletes them
        | (grant(("s3:GetObject", "s3:PutObject"), *objects("work/*", "originals/*"))
           if "retention" in lanes else set())
        | grant("sqs:SendMessage", "${CutoutQueue.Arn}", "${VariantsQueue.Arn}", "${PublishQueue.Arn}")
        | send_mail | sns | review_key,
        # The review lane: no idempotency table (it sends no mail), no status index (it reads one job).
        "ReviewFunction": baseline("ReviewLogGroup")
        | review_key
        | grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"),
                "${JobsTable.Arn}")
        | grant("s3:GetObject", *objects("work/*", "out/*", "exports/*"))  # exports: their download links
        | grant(("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"), *objects("originals/*", "inbox/*"))
        | grant("s3:PutObject", *objects("rejected/*"))
        | grant("s3:ListBucket", BUCKET)
        | grant("sqs:SendMessage", "${VariantsQueue.Arn}", "${CutoutQueue.Arn}")
        # the fix page's previews and publish run in the cutout container (a synchronous Invoke)
        | grant("lambda:InvokeFunction", "${CutoutFunction.Arn}"),
        # The upload page: signs forms for inbox/upload/ only, reads one job per photo, counts requests beside
        # the idempotency records (in its own corner of them), signs thumbnail links to out/.
        "UploadFunction": baseline("UploadLogGroup")
        | grant("secretsmanager:GetSecretValue", "${UploadTokenSecret}")
        | grant("s3:PutObject", *objects("inbox/upload/*"))
        | grant("s3:ListBucketVersions", BUCKET)
        | grant("s3:GetObject", *objects("out/*"))
        | grant("dynamodb:GetItem", "${JobsTable.Arn}")
        | grant(("dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"), "${IdempotencyTable.Arn}"),
        # The shop page: reads jobs (one, its history, pages of the two indexes; no Scan, no write), signs
        # links to published images and cleaned photos, mints review links for held products.
        "ShopFunction": baseline("ShopLogGroup")
        | grant("secretsmanager:GetSecretValue", "${OwnerLinkSecret}")
        | review_key
        | grant(("dynamodb:GetItem", "dynamodb:Query"), *JOB_TABLE, "${JobsTable.Arn}/index/by-created")
        | grant("s3:GetObject", *objects("out/*", "work/*", "config/channels.json"))
        # re-renders: one message per product to the variants stage, the batch record in its own corner (opened,
        # what was queued recorded, read again to resume a start cut short)
        | grant("sqs:SendMessage", "${VariantsQueue.Arn}")
        | grant(("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"), "${IdempotencyTable.Arn}")
        | grant("sqs:SendMessage", "${ExportQueue.Arn}"),  # one message per zip export
        # The zip export: reads published images and one job at a time, writes (and may abort) multipart
        # uploads under exports/ only, signs the zip's download link, mails once per export.
        "ExportFunction": baseline("ExportLogGroup") | IDEMPOTENCY
        | grant("s3:GetObject", *objects("out/*"))
        | grant(("s3:PutObject", "s3:AbortMultipartUpload"), *objects("exports/*"))
        | grant("dynamodb:GetItem", "${JobsTable.Arn}")
        | grant(CONSUME, "${ExportQueue.Arn}")
        | send_mail | sns | review_key,
    }
    if "drive" in lanes:
        expected["DriveSyncFunction"] = (
            baseline("DriveSyncLogGroup")
            | grant("secretsmanager:GetSecretValue", "${DriveSecret}")
            | grant("s3:PutObject", *objects("inbox/*", "config/drive-state*"))
            | grant("s3:GetObject", *objects("out/*", "config/drive-state*"))
            | grant("s3:ListBucket", BUCKET)
        )
    if "inbound" in lanes:
        expected["MailIntakeFunction"] = (
            baseline("MailIntakeLogGroup") | IDEMPOTENCY
            | grant("s3:GetObject", *objects("mail/*"))
            | grant("s3:PutObject", *objects("inbox/*"))
            | grant(CONSUME, "${MailQueue.Arn}")
            | send_mail
        )
    return expected


def statements(role: dict, deployment: dict) -> list[dict]:
    """The role's inline statements and those of the template's managed policies it attaches."""
    attached = [deployment["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
                for arn in role["Properties"].get("ManagedPolicyArns", [])]
    documents = [policy["PolicyDocument"] for policy in role["Properties"].get("Policies", [])] + attached
    return [statement for document in documents for statement in as_list(document["Statement"])]


def grants_of(role: dict, deployment: dict) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for statement in statements(role, deployment):
        assert statement["Effect"] == "Allow"
        found |= {(action, render(resource)) for action in as_list(statement["Action"])
                  for resource in as_list(statement["Resource"])}
    return found


def function_grants(deployment: dict) -> dict[str, set[tuple[str, str]]]:
    roles = of_type(deployment, "AWS::IAM::Role")
    return {name: grants_of(roles[role_of(body)], deployment) for name, body in functions(deployment).items()}


@pytest.mark.parametrize("lane_set", sorted(LANE_SETS))
def test_each_function_reaches_exactly_what_it_needs(translated: dict, lane_set: str) -> None:
    lanes = LANE_SETS[lane_set]
    actual = function_grants(deployed(translated, parameters_for(lanes)))
    expected = expected_grants(lanes)
    assert set(actual) == set(expected)
    for name in expected:
        extra, missing = sorted(actual[name] - expected[name]), sorted(expected[name] - actual[name])
        assert actual[name] == expected[name], f"{name}: extra {extra}, missing {missing}"


def test_every_function_has_its_own_explicit_role_attaching_only_picrs_own_policies(deployment: dict) -> None:
    roles = of_type(deployment, "AWS::IAM::Role")
    role_names = [role_of(body) for body in functions(deployment).values()]
    assert len(role_names) == len(set(role_names)) == len(roles)
    shared = of_type(deployment, "AWS::IAM::ManagedPolicy")
    attached = set()
    for name, role in roles.items():
        # Only the template's own managed policies (an AWS managed one is an ARN string, never a Ref).
        refs = role["Properties"].get("ManagedPolicyArns", [])
        assert all(isinstance(arn, dict) and arn["Ref"] in shared for arn in refs), (name, refs)
        attached |= {arn["Ref"] for arn in refs}
        principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"Service": "lambda.amazonaws.com"}, name
    assert not of_type(deployment, "AWS::IAM::Policy")
    assert attached == set(shared)  # each shared policy serves a role, and is attached by the roles alone
    assert not any({"Roles", "Users", "Groups"} & set(policy["Properties"]) for policy in shared.values())


def test_no_wildcard_action_and_resource_star_only_for_namespace_bound_metrics(deployment: dict) -> None:
    for role_name, role in of_type(deployment, "AWS::IAM::Role").items():
        for statement in statements(role, deployment):
            actions = as_list(statement["Action"])
            assert not any("*" in action for action in actions), (role_name, actions)
            if ANY in as_list(statement["Resource"]):
                # PutMetricData has no resource-level permission; the namespace condition is the scope.
                assert actions == ["cloudwatch:PutMetricData"], (role_name, statement)
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "picr"}}


def test_mail_is_sent_only_as_the_configured_sender(deployment: dict) -> None:
    for role_name, role in of_type(deployment, "AWS::IAM::Role").items():
        for statement in statements(role, deployment):
            if any(action.startswith("ses:") for action in as_list(statement["Action"])):
                sender_only = {"StringEquals": {"ses:FromAddress": {"Ref": "SenderEmail"}}}
                assert statement["Condition"] == sender_only, role_name


def test_ingest_cannot_read_published_images_or_any_secret(lanes_on: dict) -> None:
    ingest = function_grants(lanes_on)["IngestFunction"]
    assert not any("/out/" in resource for _, resource in ingest)
    assert not any(action.startswith("secretsmanager:") for action, _ in ingest)


def test_only_the_cutout_reads_the_model_secret(lanes_on: dict, lanes_off: dict) -> None:
    readers = {name for name, found in function_grants(lanes_on).items()
               if ("secretsmanager:GetSecretValue", "${HostedModelSecret}") in found}
    assert readers == {"CutoutFunction"}
    assert "HostedModelSecret" not in lanes_off["Resources"]
    # With every lane off, the only secrets anyone reads are the review-link, upload-link and owner-link keys.
    assert not any(action.startswith("secretsmanager:")
                   and resource not in ("${ReviewTokenSecret}", "${UploadTokenSecret}", "${OwnerLinkSecret}")
                   for found in function_grants(lanes_off).values() for action, resource in found)


def test_no_secret_value_is_in_any_environment_variable(lanes_on: dict) -> None:
    """Secrets travel as ARNs and are read at call time; no variable holds a literal that could be one."""
    secrets = set(of_type(lanes_on, "AWS::SecretsManager::Secret"))
    for name, function in of_type(lanes_on, "AWS::Lambda::Function").items():
        for variable, value in function["Properties"].get("Environment", {}).get("Variables", {}).items():
            if re.search(r"SECRET|KEY|TOKEN|PASSWORD", variable):
                assert value in ({"Ref": secret} for secret in secrets), (name, variable, value)
            elif isinstance(value, str):
                assert len(value) < 40 or "/" in value or "." in value, (name, variable, value)


def test_only_the_review_lane_reads_the_review_link_key(lanes_on: dict) -> None:
    readers = {name for name, found in function_grants(lanes_on).items()
               if ("secretsmanager:GetSecretValue", "${ReviewTokenSecret}") in found}
    assert readers == {"PublishFunction", "SweepFunction", "ReviewFunction", "ShopFunction", "ExportFunction"}


def test_publish_deletes_nothing(lanes_on: dict) -> None:
    publish = function_grants(lanes_on)["PublishFunction"]
    deletes = {(action, resource) for action, resource in publish if "Delete" in action}
    # Consuming a message deletes it, and Powertools idempotency removes its own in-progress record when
    # a send fails; no image and no job record can be deleted.
    assert deletes == {("sqs:DeleteMessage", "${PublishQueue.Arn}"),
                       ("dynamodb:DeleteItem", "${IdempotencyTable.Arn}")}


# ------------------------------------------------------------------ conditional lanes, both ways

LANE_RESOURCES = {
    "hosted": {"HostedModelSecret"},
    "retry": {"HostedModelSecret"},
    "sns": {"NotifyTopic", "NotifyTopicPolicy"},
    "inbound": {"MailIntakeFunction", "MailIntakeRole", "MailIntakeLogGroup", "MailQueue", "MailQueuePolicy",
                "MailArrivedRule", "InboundRuleSet", "InboundToMailPrefixRule"},
    "drive": {"DriveSecret", "DriveSyncFunction", "DriveSyncRole", "DriveSyncLogGroup"},
    "retention": set(),
}


@pytest.mark.parametrize("lane_set", sorted(LANE_SETS))
def test_optional_resources_exist_exactly_when_their_lane_is_on(translated: dict, lane_set: str) -> None:
    lanes = LANE_SETS[lane_set]
    present = set(deployed(translated, parameters_for(lanes))["Resources"])
    wanted = set().union(*(LANE_RESOURCES[lane] for lane in lanes))
    unwanted = set().union(*LANE_RESOURCES.values()) - wanted  # "hosted" and "retry" share the key secret
    assert wanted <= present and not (unwanted & present), (wanted - present, unwanted & present)


def test_optional_settings_reach_the_functions_only_when_set(lanes_off: dict, lanes_on: dict) -> None:
    def variables(deployment: dict, name: str) -> dict:
        return deployment["Resources"][name]["Properties"]["Environment"]["Variables"]

    assert variables(lanes_off, "CutoutFunction")["PICR_HOSTED_SECRET_ARN"] == ""
    assert variables(lanes_on, "CutoutFunction")["PICR_HOSTED_SECRET_ARN"] == {"Ref": "HostedModelSecret"}
    for name in ("PublishFunction", "SweepFunction"):
        assert variables(lanes_off, name)["PICR_SNS_TOPIC_ARN"] == ""
        assert variables(lanes_on, name)["PICR_SNS_TOPIC_ARN"] == {"Ref": "NotifyTopic"}
    for name in ("PublishFunction", "SweepFunction", "ReviewFunction"):
        assert variables(lanes_off, name)["PICR_HOSTED_RETRY"] == "false"
        assert variables(lanes_on, name)["PICR_HOSTED_RETRY"] == "true"


def test_a_hosted_engine_for_retries_keeps_the_local_default(translated: dict) -> None:
    retry_only = deployed(translated, parameters_for(frozenset({"retry"})))
    cutout = retry_only["Resources"]["CutoutFunction"]["Properties"]["Environment"]["Variables"]
    assert cutout["PICR_ENGINE"] == {"Ref": "CutoutEngine"} and retry_only["Parameters"]["CutoutEngine"] == "local"
    assert cutout["PICR_HOSTED_SECRET_ARN"] == {"Ref": "HostedModelSecret"}
    assert "HostedModelSecret" in retry_only["Resources"]


# ------------------------------------------------------------------ the review lane's public URL

def test_the_review_function_has_a_public_url_and_the_review_links_point_at_it(deployment: dict) -> None:
    review = {"Ref": "ReviewFunction"}
    (url,) = [body["Properties"] for body in of_type(deployment, "AWS::Lambda::Url").values()
              if body["Properties"]["TargetFunctionArn"] == review]
    assert url["AuthType"] == "NONE"  # the signed token is the credential
    for name in ("PublishFunction", "SweepFunction", "ShopFunction"):
        variables = deployment["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["PICR_REVIEW_URL"] == {"Fn::GetAtt": ["ReviewFunctionUrl", "FunctionUrl"]}
        assert variables["PICR_REVIEW_SECRET_ARN"] == {"Ref": "ReviewTokenSecret"}
    # Anyone may call it, and only through its URL (lambda:InvokeFunction only when invoked via a function URL).
    public = {body["Properties"]["Action"]: body["Properties"]
              for body in of_type(deployment, "AWS::Lambda::Permission").values()
              if body["Properties"].get("Principal") == "*" and body["Properties"]["FunctionName"] == review}
    assert set(public) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert public["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert public["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True


def test_the_review_link_key_is_generated_at_deploy_never_written_down(source: dict) -> None:
    secret = source["Resources"]["ReviewTokenSecret"]["Properties"]
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    # Functions get the secret's ARN and read it at run time; a {{resolve:...}} would put the key in plain env.
    environment = json.dumps({name: body["Properties"].get("Environment") for name, body in source["Resources"].items()
                              if body["Type"] == "AWS::Serverless::Function"})
    assert "ReviewTokenSecret" in environment and "resolve:secretsmanager" not in environment


# ------------------------------------------------------------------ the upload and shop pages

@pytest.mark.parametrize(("secret_id", "function", "variable"), [
    ("UploadTokenSecret", "UploadFunction", "PICR_UPLOAD_SECRET_ARN"),
    ("OwnerLinkSecret", "ShopFunction", "PICR_OWNER_SECRET_ARN"),
])
def test_only_its_own_page_reads_a_link_key_generated_at_deploy(lanes_on: dict, source: dict, secret_id: str,
                                                                 function: str, variable: str) -> None:
    readers = {name for name, found in function_grants(lanes_on).items()
               if ("secretsmanager:GetSecretValue", f"${{{secret_id}}}") in found}
    assert readers == {function}
    secret = source["Resources"][secret_id]["Properties"]
    assert "SecretString" not in secret and secret["GenerateSecretString"]["PasswordLength"] >= 32
    variables = source["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables[variable] == {"Ref": secret_id}  # the ARN, never the value


def test_the_upload_role_lists_counts_and_records_only_in_its_own_corner(deployment: dict) -> None:
    role = deployment["Resources"]["UploadRole"]
    by_action = {action: statement for statement in statements(role, deployment)
                 for action in as_list(statement["Action"])}
    assert by_action["s3:ListBucketVersions"]["Condition"] == {"StringLike": {"s3:prefix": "inbox/upload/*"}}
    assert by_action["dynamodb:UpdateItem"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ratelimit#*"]}}
    for action in ("dynamodb:PutItem", "dynamodb:GetItem"):  # the form records, and nothing else there
        assert by_action[action]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["uploadform#*"]}}
    assert render(by_action["s3:PutObject"]["Resource"]) == f"{BUCKET}/inbox/upload/*"


def test_the_shop_page_never_scans_or_writes_a_job_or_an_image_and_is_announced(lanes_on: dict,
                                                                              deployment: dict) -> None:
    grants = function_grants(lanes_on)["ShopFunction"]
    jobs_actions = {action for action, resource in grants if resource.startswith("${JobsTable")}
    assert jobs_actions == {"dynamodb:GetItem", "dynamodb:Query"}  # no Scan, no write
    assert {action for action, _resource in grants if action.startswith("s3:")} == {"s3:GetObject"}
    batch_records = [statement for statement in statements(deployment["Resources"]["ShopRole"], deployment)
                     if "${IdempotencyTable.Arn}" in map(render, as_list(statement["Resource"]))]
    assert batch_records and all(statement["Condition"] == {  # batch records, nothing else of that table
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["rerender#*"]}} for statement in batch_records)
    assert deployment["Outputs"]["ShopUrl"]["Value"] == {"Fn::GetAtt": ["ShopFunctionUrl", "FunctionUrl"]}
    assert deployment["Outputs"]["OwnerLinkKeyArn"]["Value"] == {"Ref": "OwnerLinkSecret"}


def test_the_export_writes_only_zips_under_exports_and_never_deletes_or_lists(lanes_on: dict) -> None:
    grants = function_grants(lanes_on)["ExportFunction"]
    writes = {(action, resource) for action, resource in grants
              if action.startswith("s3:") and action != "s3:GetObject"}
    assert writes == grant(("s3:PutObject", "s3:AbortMultipartUpload"), f"{BUCKET}/exports/*")
    assert {resource for action, resource in grants if action == "s3:GetObject"} == {f"{BUCKET}/out/*"}
    jobs = {action for action, resource in grants if resource.startswith("${JobsTable")}
    assert jobs == {"dynamodb:GetItem"}  # one job at a time: no Query, no Scan, no write
    assert lanes_on["Outputs"]["ExportQueueUrl"]["Value"] == {"Ref": "ExportQueue"}


def test_an_export_outlives_its_download_link_and_then_goes(deployment: dict) -> None:
    from picr.records import limits_of
    from picr.settings import DownloadLinkSettings
    from picr.stages.export import EXPORT_KEEP_DAYS, EXPORTS

    rules = lifecycle_rules(deployment)
    exported = fate(rules, f"{EXPORTS}0123456789abcdef/picr-market-2026-11-21.zip")
    longest_link_days = limits_of(DownloadLinkSettings, "link_expiry_days").le
    assert exported.expires_after_days == EXPORT_KEEP_DAYS > longest_link_days  # the link dies first
    assert exported.noncurrent_expires_after_days == 1  # a rebuilt zip's abandoned version goes too
    for prefix in KEPT + PUBLISHED:  # the rule touches nothing else
        assert fate(rules, f"{prefix}0123456789abcdef0123/vase.jpg").expires_after_days != EXPORT_KEEP_DAYS


def test_the_bucket_accepts_browser_posts_from_function_urls_only(deployment: dict) -> None:
    (rule,) = deployment["Resources"]["ImagesBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    assert [render(origin) for origin in rule["AllowedOrigins"]] == ["https://*.lambda-url.${AWS::Region}.on.aws"]


def test_the_upload_page_is_announced(deployment: dict) -> None:
    assert deployment["Outputs"]["UploadUrl"]["Value"] == {"Fn::GetAtt": ["UploadFunctionUrl", "FunctionUrl"]}


def test_ses_may_write_raw_mail_only_with_the_inbound_lane(lanes_off: dict, lanes_on: dict) -> None:
    def allows(deployment: dict) -> list[dict]:
        document = deployment["Resources"]["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]
        return [s for s in document["Statement"] if s["Effect"] == "Allow"]

    assert allows(lanes_off) == []
    (ses,) = allows(lanes_on)
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Action"] == "s3:PutObject" and render(ses["Resource"]) == f"{BUCKET}/mail/*"
    assert ses["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_sender_identity_is_optional(translated: dict) -> None:
    assert "SenderIdentity" in deployed(translated, REQUIRED)["Resources"]
    without = deployed(translated, {**REQUIRED, "CreateSenderIdentity": "false"})
    assert "SenderIdentity" not in without["Resources"]


# ------------------------------------------------------------------ functions, queues and triggers

SETTINGS = {  # logical id: the settings model its handler reads at cold start
    "IngestFunction": IngestSettings, "CutoutFunction": CutoutSettings, "VariantsFunction": VariantsSettings,
    "PublishFunction": PublishSettings, "SweepFunction": SweepSettings, "ReviewFunction": ReviewSettings,
    "DriveSyncFunction": DriveSyncSettings, "MailIntakeFunction": MailIntakeSettings, "UploadFunction": UploadSettings,
    "ShopFunction": ShopSettings, "ExportFunction": ExportSettings,
}
POWERTOOLS_ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
RUNTIME_ENVIRONMENT = POWERTOOLS_ENVIRONMENT | {"OPENBLAS_NUM_THREADS"}  # read by a library, not by picr
IMAGE_ENVIRONMENT = {"U2NET_HOME", "GLIBC_TUNABLES"}  # where the engine finds the baked model; malloc's tunables
FUNCTION_SHAPE = {  # logical id: (name, memory, timeout, code)
    "IngestFunction": ("ingest", 1024, 60, "functions/ingest/"),
    "CutoutFunction": ("cutout", {"Ref": "CutoutMemory"}, 120, None),
    "VariantsFunction": ("variants", 1769, 60, "functions/variants/"),
    "PublishFunction": ("publish", 512, 60, "functions/publish/"),
    "SweepFunction": ("sweep", 256, 120, "functions/sweep/"),
    "ReviewFunction": ("review", 512, 30, "functions/review/"),
    "DriveSyncFunction": ("drive-sync", 512, 120, "functions/drive_sync/"),
    "MailIntakeFunction": ("mail-intake", 512, 60, "functions/mail_intake/"),
    "UploadFunction": ("upload", 256, 10, "functions/upload/"),
    "ShopFunction": ("shop", 256, 10, "functions/shop/"),
    "ExportFunction": ("export", 512, 300, "functions/export/"),
}


def test_functions_have_their_names_sizes_runtime_and_environment(lanes_on: dict, source: dict) -> None:
    assert set(functions(lanes_on)) == set(FUNCTION_SHAPE)
    for logical_id, (name, memory, timeout, code) in FUNCTION_SHAPE.items():
        properties = lanes_on["Resources"][logical_id]["Properties"]
        assert properties["FunctionName"] == {"Fn::Sub": "${AppName}-" + name}
        assert (properties["MemorySize"], properties["Timeout"]) == (memory, timeout)
        variables = properties["Environment"]["Variables"]
        others = {name for name in variables if not name.startswith("PICR_")}
        assert others == RUNTIME_ENVIRONMENT | (IMAGE_ENVIRONMENT if code is None else set()), logical_id
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "picr"
        if code is None:
            assert properties["PackageType"] == "Image"
            assert properties["Architectures"] == [{"Ref": "CutoutArchitecture"}]
        else:
            assert source["Resources"][logical_id]["Properties"]["CodeUri"] == code
            assert (REPO / code / "app.py").is_file()
            assert (properties["Runtime"], properties["Handler"]) == ("python3.13", "app.handler")
            assert properties["Architectures"] == ["arm64"]
            assert len(properties["Layers"]) == 1


FREE_AND_ALLOCATE_AGAIN = """
import resource
import numpy as np

def cutout_sized_arrays():   # a few full-size arrays of a 2000 px photo alive at once, then all freed
    arrays = [np.ones((1500, 2000, 4), np.uint8) for _ in range(4)]
    del arrays

cutout_sized_arrays()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cutout_sized_arrays()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def test_the_cutout_process_reuses_freed_arrays_instead_of_faulting_them_in_again(source: dict) -> None:
    """The cutout's GLIBC_TUNABLES, in a real process: freed full-size arrays stay in the heap, where glibc's
    defaults hand them back to the kernel and every cutout pays thousands of page faults to get them again."""
    tunables = process_variables(source, "CutoutFunction")["GLIBC_TUNABLES"]
    settings = dict(item.split("=") for item in tunables.split(":"))
    assert int(settings["glibc.malloc.mmap_threshold"]) <= 32 * 2**20   # mallopt's ceiling on 64-bit
    assert int(settings["glibc.malloc.trim_threshold"]) >= 4 * int(settings["glibc.malloc.mmap_threshold"])

    def faults_per_round(environment: dict[str, str]) -> float:
        done = subprocess.run([sys.executable, "-c", FREE_AND_ALLOCATE_AGAIN], env=environment, check=True,
                              capture_output=True, text=True)
        return float(done.stdout.strip())

    plain = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    assert faults_per_round(plain) > 1000   # 48 MB freed and taken again: glibc's default gives it back
    assert faults_per_round({**plain, "GLIBC_TUNABLES": tunables}) < 50


@pytest.mark.parametrize("lane_set", ["defaults", "every-lane"])
def test_each_function_gets_exactly_the_environment_its_settings_declare(translated: dict, lane_set: str) -> None:
    """Every variable its settings require, none they do not read; and the handler reads those settings."""
    for logical_id, body in functions(deployed(translated, parameters_for(LANE_SETS[lane_set]))).items():
        settings = SETTINGS[logical_id]
        given = {name for name in body["Properties"]["Environment"]["Variables"] if name.startswith("PICR_")}
        assert settings.required_variables() <= given, (logical_id, settings.required_variables() - given)
        assert given <= settings.variables(), (logical_id, given - settings.variables())
        code = FUNCTION_SHAPE[logical_id][3] or "functions/cutout/"
        assert f"{settings.__name__}.from_environment()" in (REPO / code / "app.py").read_text(), logical_id


def test_globals_hold_only_what_every_function_takes_the_container_image_included(source: dict) -> None:
    assert set(source["Globals"]["Function"]) == {"Architectures", "Environment"}
    assert set(source["Globals"]["Function"]["Environment"]["Variables"]) == {
        "PICR_BUCKET", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL", "OPENBLAS_NUM_THREADS"}
    # Why Runtime, Handler and Layers are per function: SAM applies Globals to the image function too.
    with_runtime = json.loads(json.dumps(source))
    with_runtime["Globals"]["Function"]["Runtime"] = "python3.13"
    validator = SamTemplateValidator(with_runtime, NoManagedPolicies(), region=REGION, parameter_overrides=REQUIRED)
    with pytest.raises(InvalidSamDocumentException, match="cannot be present when PackageType is of type `Image`"):
        validator.get_translated_template_if_valid()


def test_each_function_logs_to_its_own_seven_day_group(deployment: dict) -> None:
    log_groups = of_type(deployment, "AWS::Logs::LogGroup")
    expected = {f"/aws/lambda/${{AppName}}-{FUNCTION_SHAPE[name][0]}" for name in functions(deployment)}
    assert {render(body["Properties"]["LogGroupName"]) for body in log_groups.values()} == expected
    assert {body["Properties"]["RetentionInDays"] for body in log_groups.values()} == {7}


def test_the_layer_is_built_for_arm64_python313_by_the_makefile(source: dict) -> None:
    layer = source["Resources"]["PicrLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/pillow/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert "build-PicrLayer:" in (REPO / "layers/pillow/Makefile").read_text()


def event_source_mappings(deployment: dict) -> list[dict]:
    return [body["Properties"] for body in of_type(deployment, "AWS::Lambda::EventSourceMapping").values()]


def test_every_queue_fed_function_reports_partial_batch_failures(deployment: dict) -> None:
    mappings = event_source_mappings(deployment)
    assert mappings
    for mapping in mappings:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= mapping["BatchSize"] <= 10


def test_each_queue_outlives_six_of_its_consumers_timeouts(deployment: dict) -> None:
    for mapping in event_source_mappings(deployment):
        queue = deployment["Resources"][mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function = deployment["Resources"][mapping["FunctionName"]["Ref"]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"], queue["QueueName"]


def test_the_cutout_takes_one_photo_at_a_time_with_capped_concurrency(source: dict, deployment: dict) -> None:
    cutout = {"Ref": "CutoutFunction"}
    (mapping,) = [m for m in event_source_mappings(deployment) if m["FunctionName"] == cutout]
    assert mapping["BatchSize"] == 1
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "CutoutMaxConcurrency"}}
    assert 2 <= source["Parameters"]["CutoutMaxConcurrency"]["Default"] <= 5


def test_the_default_cutout_model_is_one_whose_gate_profile_was_measured(source: dict) -> None:
    from picr.segmentation.gate_profile import available_profiles

    assert source["Parameters"]["CutoutModel"]["Default"] == "u2netp"
    assert source["Parameters"]["CutoutModel"]["Default"] in available_profiles()


def test_a_re_render_of_every_product_is_worked_through_by_at_most_five_variants_at_a_time(deployment: dict) -> None:
    (mapping,) = [m for m in event_source_mappings(deployment) if m["FunctionName"] == {"Ref": "VariantsFunction"}]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}


def test_queues_share_one_dead_letter_queue_after_five_receives(deployment: dict) -> None:
    queues = of_type(deployment, "AWS::SQS::Queue")
    dlq = queues.pop("DeadLetterQueue")["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["SqsManagedSseEnabled"] is True
    for name, queue in queues.items():
        properties = queue["Properties"]
        assert properties["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, "maxReceiveCount": 5
        }, name
        assert properties["SqsManagedSseEnabled"] is True, name
        assert render(properties["QueueName"]).startswith("${AppName}-")
    # Every stage hand-off and trigger has its queue (the runner routes by them).
    expected = {"WorkQueue", "CutoutQueue", "VariantsQueue", "PublishQueue", "ExportQueue"}
    assert expected <= set(queues)


def test_the_dead_letter_alarm_mails_the_owner(deployment: dict) -> None:
    alarm = deployment["Resources"]["DeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    dlq_name = {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq_name}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    topic = deployment["Resources"][alarm["AlarmActions"][0]["Ref"]]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "OwnerEmail"}}]


def test_the_budget_warns_at_80_percent_actual_and_100_percent_forecast(deployment: dict) -> None:
    budget = deployment["Resources"]["MonthlyBudget"]["Properties"]
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    notifications = {(n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
                     for n in budget["NotificationsWithSubscribers"]}
    assert notifications == {("ACTUAL", 80), ("FORECASTED", 100)}


def test_scheduled_functions_run_daily_and_every_five_minutes(lanes_on: dict) -> None:
    rules = of_type(lanes_on, "AWS::Events::Rule")
    schedules = {
        rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]: rule["Properties"]["ScheduleExpression"]
        for rule in rules.values() if "ScheduleExpression" in rule["Properties"]
    }
    assert schedules == {"SweepFunction": "cron(0 6 * * ? *)", "DriveSyncFunction": "rate(5 minutes)"}


# ------------------------------------------------------------------ the upload event is the trigger

def test_the_inbox_rule_targets_the_work_queue_and_only_it_may_send(deployment: dict) -> None:
    rule = deployment["Resources"]["InboxUploadRule"]["Properties"]
    assert rule["Targets"] == [{"Arn": {"Fn::GetAtt": ["WorkQueue", "Arn"]}, "Id": "work-queue"}]
    (statement,) = deployment["Resources"]["WorkQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    rule_arn = {"Fn::GetAtt": ["InboxUploadRule", "Arn"]}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}


@mock_aws
def test_the_inbox_rule_delivers_uploads_under_inbox_and_nothing_else(
    lanes_off: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    bucket = "picr-images-123456789012-eu-west-2"
    template_pattern = lanes_off["Resources"]["InboxUploadRule"]["Properties"]["EventPattern"]
    pattern = json.dumps(template_pattern).replace('{"Ref": "ImagesBucket"}', json.dumps(bucket))
    s3, sqs, events = (boto3.client(name, region_name=REGION) for name in ("s3", "sqs", "events"))
    other = "someone-elses-bucket"
    for name in (bucket, other):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    queue_url = sqs.create_queue(QueueName="picr-work")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    events.put_rule(Name="picr-inbox-upload", EventPattern=pattern)
    events.put_targets(Rule="picr-inbox-upload", Targets=[{"Id": "work-queue", "Arn": queue_arn}])

    for key in ("inbox/candle.jpg", "work/job/source.jpg", "out/web/job.png", "inboxes/x.jpg",
                "rejected/job/a.pdf", "mail/abc", "inbox/shoot/vase.heic"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"photo")
    s3.put_object(Bucket=other, Key="inbox/elsewhere.jpg", Body=b"photo")
    s3.delete_object(Bucket=bucket, Key="inbox/candle.jpg")

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    keys = sorted(json.loads(m["Body"])["detail"]["object"]["key"] for m in received)
    assert keys == ["inbox/candle.jpg", "inbox/shoot/vase.heic"]


def test_the_mail_rule_matches_the_mail_prefix_into_the_mail_queue(lanes_on: dict) -> None:
    rule = lanes_on["Resources"]["MailArrivedRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["object"] == {"key": [{"prefix": "mail/"}]}
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["MailQueue", "Arn"]}


# ------------------------------------------------------------------ storage

def test_the_bucket_is_private_versioned_encrypted_and_announces_uploads(deployment: dict) -> None:
    bucket = deployment["Resources"]["ImagesBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    deny = deployment["Resources"]["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert {render(r) for r in deny["Resource"]} == {BUCKET, f"{BUCKET}/*"}


def test_the_bucket_name_defaults_to_app_account_and_region(translated: dict) -> None:
    name = translated["Resources"]["ImagesBucket"]["Properties"]["BucketName"]
    assert name["Fn::If"][0] == "HasBucketName"
    assert render(name["Fn::If"][2]) == "${AppName}-images-${AWS::AccountId}-${AWS::Region}"
    with_name = deployed(translated, {**REQUIRED, "BucketName": "shop-photos"})
    assert with_name["Resources"]["ImagesBucket"]["Properties"]["BucketName"] == {"Ref": "BucketName"}


KEPT = ("originals/", "work/", "rejected/")  # the original, each job's source and cutout, refused originals
SCRATCH = ("inbox/", "drafts/", "mail/")  # the drop zone (copied to KEPT by ingest), rendered drafts, raw mail
PUBLISHED = ("out/", "config/")


def lifecycle_rules(deployment: dict) -> list[dict]:
    """The bucket's rules as CloudFormation sends them to S3, with RetentionDays resolved."""
    rules = deployment["Resources"]["ImagesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    retention = {"Ref": "RetentionDays"}
    return [s3_lifecycle_rule({**rule, **({"ExpirationInDays": deployment["Parameters"]["RetentionDays"]}
                                          if rule.get("ExpirationInDays") == retention else {})})
            for rule in rules]


def retention_days(deployment: dict) -> int | None:
    return int(deployment["Parameters"].get("RetentionDays", 0)) or None


def test_originals_and_job_images_are_kept_and_only_scratch_expires(deployment: dict) -> None:
    rules = lifecycle_rules(deployment)
    retention = retention_days(deployment)
    for prefix in KEPT:
        kept = fate(rules, f"{prefix}0123456789abcdef0123/vase.jpg")
        assert kept.expires_after_days == retention, prefix  # never, unless the owner chose a retention period
        assert kept.transitions == ((30, "GLACIER_IR"),), prefix  # cheaper, still read in milliseconds
        assert kept.noncurrent_expires_after_days == 30, prefix  # a version moved to rejected/ or replaced
    for prefix in SCRATCH:
        scratch = fate(rules, f"{prefix}0123456789abcdef0123/vase.jpg")
        assert (scratch.expires_after_days, scratch.noncurrent_expires_after_days) == (30, 30), prefix
    for prefix in PUBLISHED:
        assert fate(rules, f"{prefix}web/0123456789abcdef0123.png") == fate([], ""), prefix  # no rule at all
    assert all(rule["Status"] == "Enabled" for rule in rules)
    assert any(rule.get("AbortIncompleteMultipartUpload") for rule in rules)


def test_scratch_outlives_every_message_that_could_still_need_it(deployment: dict) -> None:
    """A draft or an inbox upload is only needed while a message about it may still be delivered."""
    longest_message_life = max(body["Properties"].get("MessageRetentionPeriod", 345600)
                               for body in of_type(deployment, "AWS::SQS::Queue").values())
    for prefix in SCRATCH:
        expires = fate(lifecycle_rules(deployment), prefix).expires_after_days
        assert expires is not None and expires * 86400 > longest_message_life, prefix


def test_the_retention_period_is_a_choice_of_whole_years_or_forever(source: dict) -> None:
    parameter = source["Parameters"]["RetentionDays"]
    assert parameter["Default"] == 0
    # each choice outlives the 30 days before Glacier Instant Retrieval by more than its 90-day minimum
    assert all(days == 0 or days >= 30 + 90 for days in parameter["AllowedValues"])


def test_the_jobs_table_has_the_history_key_and_a_sparse_status_index(deployment: dict) -> None:
    table = deployment["Resources"]["JobsTable"]["Properties"]
    assert render(table["TableName"]) == "${AppName}-jobs"
    assert table["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"},
                                  {"AttributeName": "ts", "KeyType": "RANGE"}]
    by_status, by_created = table["GlobalSecondaryIndexes"]
    assert by_status["IndexName"] == "by-status"
    assert by_status["KeySchema"] == [{"AttributeName": "current_status", "KeyType": "HASH"},
                                      {"AttributeName": "updated_at", "KeyType": "RANGE"}]
    assert by_created["IndexName"] == "by-created"  # every job newest first, for the shop page
    assert by_created["KeySchema"] == [{"AttributeName": "listing", "KeyType": "HASH"},
                                       {"AttributeName": "created_at", "KeyType": "RANGE"}]
    assert by_status["Projection"] == by_created["Projection"] == {"ProjectionType": "ALL"}
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "job_id": "S", "ts": "S", "current_status": "S", "updated_at": "S", "listing": "S", "created_at": "S"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_the_idempotency_table_matches_powertools_defaults(deployment: dict) -> None:
    table = deployment["Resources"]["IdempotencyTable"]["Properties"]
    assert render(table["TableName"]) == "${AppName}-idempotency"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_outputs_name_the_bucket_inbox_queues_and_table(deployment: dict) -> None:
    outputs = deployment["Outputs"]
    assert {"ImagesBucketName", "InboxUploadPath", "WorkQueueUrl", "CutoutQueueUrl", "VariantsQueueUrl",
            "PublishQueueUrl", "DeadLetterQueueUrl", "JobsTableName"} <= set(outputs)
    assert render(outputs["InboxUploadPath"]["Value"]) == "s3://${ImagesBucket}/inbox/"


# ------------------------------------------------------------------ the shape the local runner reads

def test_sqs_wiring_is_in_the_shape_the_local_runner_reads(source: dict) -> None:
    resources = source["Resources"]
    routed = {}
    for name, body in resources.items():
        for event in body.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"]
                assert queue[1] == "Arn"
                routed[queue[0]] = name
    assert routed == {"WorkQueue": "IngestFunction", "CutoutQueue": "CutoutFunction",
                      "VariantsQueue": "VariantsFunction", "PublishQueue": "PublishFunction",
                      "MailQueue": "MailIntakeFunction", "ExportQueue": "ExportFunction"}
    for queue in routed:
        assert resources[queue]["Type"] == "AWS::SQS::Queue"
        assert re.fullmatch(r"\$\{AppName\}-[a-z]+", resources[queue]["Properties"]["QueueName"]["Fn::Sub"])
    target = resources["InboxUploadRule"]["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}


class RecordingImageBuilder:
    """Stands where sam build's Docker client would: records what it is asked to build, builds nothing."""

    def __init__(self) -> None:
        self.builds: list[dict[str, Any]] = []

    def build_image(self, **arguments: Any) -> list:
        self.builds.append(arguments)
        return []


def sam_builds_the_cutout_image(overrides: dict[str, str], build_dir: Path) -> dict[str, Any]:
    """What ``sam build --parameter-overrides …`` hands Docker for the cutout: samcli's own provider and
    ApplicationBuilder, with only the Docker client replaced."""
    from samcli.lib.build.app_builder import ApplicationBuilder
    from samcli.lib.providers.provider import ResourcesToBuildCollector

    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides={**REQUIRED, **overrides})
    to_build = ResourcesToBuildCollector()
    to_build.add_function(SamFunctionProvider(stacks).get("CutoutFunction"))
    builder = ApplicationBuilder(to_build, build_dir=str(build_dir / "build"), base_dir=str(REPO),
                                 cache_dir=str(build_dir / "cache"))
    recorder = RecordingImageBuilder()
    builder._image_build_client = recorder
    builder.build()
    (build,) = recorder.builds
    return build


@pytest.mark.parametrize(("architecture", "model", "platform"), [("arm64", "u2net", "linux/arm64"),
                                                                 ("x86_64", "u2netp", "linux/amd64")])
def test_sam_build_bakes_the_chosen_model_into_an_image_for_the_chosen_architecture(
    tmp_path: Path, architecture: str, model: str, platform: str
) -> None:
    build = sam_builds_the_cutout_image({"CutoutArchitecture": architecture, "CutoutModel": model}, tmp_path)
    assert build["buildargs"] == {"ARCH": architecture, "MODEL": model}
    assert build["platform"] == platform  # sam build targets the function's Architectures
    assert build["dockerfile"] == "functions/cutout/Dockerfile" and Path(build["path"]) == REPO


@pytest.mark.parametrize("model", ["u2net", "u2netp"])
def test_one_parameter_picks_the_baked_model_and_the_model_the_function_loads(translated: dict, model: str) -> None:
    cutout = translated["Resources"]["CutoutFunction"]
    # the deployed function (what sam deploy creates) and the image (what sam build bakes) read one parameter
    deployed_cutout = deployed(translated, {**REQUIRED, "CutoutModel": model})
    variables = deployed_cutout["Resources"]["CutoutFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["PICR_MODEL"] == {"Ref": "CutoutModel"}
    assert deployed_cutout["Parameters"]["CutoutModel"] == model
    assert cutout["Properties"]["Architectures"] == [{"Ref": "CutoutArchitecture"}]
    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides={**REQUIRED, "CutoutModel": model})
    function = SamFunctionProvider(stacks).get("CutoutFunction")
    assert function.metadata["DockerBuildArgs"]["MODEL"] == function.environment["Variables"]["PICR_MODEL"] == model


def test_the_model_choices_are_the_models_the_engine_runs_and_the_image_can_bake(source: dict) -> None:
    from functions.cutout.bake_model import MODELS
    from picr.segmentation.engine import PROBABILITY_MODELS

    choices = source["Parameters"]["CutoutModel"]
    assert set(choices["AllowedValues"]) == PROBABILITY_MODELS & set(MODELS)
    assert choices["Default"] in choices["AllowedValues"]
    # a plain docker build of the image bakes what the template deploys by default
    build_arguments = dict(re.findall(r"^ARG (\w+)=(\S+)$", (REPO / "functions/cutout/Dockerfile").read_text(), re.M))
    assert build_arguments == {"ARCH": source["Parameters"]["CutoutArchitecture"]["Default"],
                               "MODEL": choices["Default"]}


def test_the_readme_chooses_the_model_with_the_parameter_not_a_docker_build_argument() -> None:
    readme = README.read_text()
    assert "--build-arg" not in readme
    assert "CutoutModel=" in readme


def test_the_readme_answers_every_question_sam_deploy_guided_asks_about_public_urls() -> None:
    """sam deploy --guided stops at each function URL without AWS auth; the README must say to answer y."""
    from samcli.commands.deploy.auth_utils import auth_per_resource

    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides=REQUIRED)
    unauthenticated = [resource for resource, authorised in auth_per_resource(stacks) if not authorised]
    assert sorted(unauthenticated) == ["ReviewFunction Function Url", "ShopFunction Function Url",
                                       "UploadFunction Function Url"]
    readme = README.read_text()
    for resource in unauthenticated:
        function = resource.split()[0]
        assert f"{resource} has no authentication. Is this okay? [y/N]" in readme or f"`{function}`" in readme
    assert "answer `y` to all three" in readme and "signed token" in readme


# ------------------------------------------------------------------ what a new account can deploy

NEW_ACCOUNT_MEMORY_MB = 3008
"""The Lambda memory quota of a new AWS account (a function asking for more fails to deploy)."""


def test_the_cutout_memory_default_deploys_on_a_new_account_and_the_readme_prices_it(source: dict,
                                                                                    lanes_off: dict) -> None:
    memory = source["Parameters"]["CutoutMemory"]
    assert memory["MinValue"] <= memory["Default"] <= NEW_ACCOUNT_MEMORY_MB
    assert lanes_off["Resources"]["CutoutFunction"]["Properties"]["MemorySize"] == {"Ref": "CutoutMemory"}
    assert f"`CutoutMemory={memory['Default']}`" in README.read_text()  # its seconds and GB-s per photo


def test_no_zip_function_buys_more_than_one_vcpu_it_could_not_use(lanes_on: dict) -> None:
    """The zip functions' work runs on one thread (their CPU seconds equal their wall seconds in make load), and
    Lambda gives one vCPU's worth of CPU time at 1769 MB: memory above that would be billed and not used."""
    from picr.settings import MB_PER_VCPU

    zipped = {logical_id: resource["Properties"]["MemorySize"] for logical_id, resource in functions(lanes_on).items()
              if resource["Properties"].get("PackageType", "Zip") == "Zip"}
    assert set(zipped) == set(FUNCTION_SHAPE) - {"CutoutFunction"}
    assert {logical_id: memory for logical_id, memory in zipped.items() if memory > MB_PER_VCPU} == {}


def test_the_cutout_knows_its_memory_and_may_go_down_to_one_vcpu_not_below(source: dict, lanes_off: dict) -> None:
    """The model's threads follow the vCPUs the memory buys (``CutoutSettings.inference_threads``); below one
    vCPU's worth a CPU-bound cutout only gets slower, at the same GB-seconds."""
    from picr.settings import MB_PER_VCPU

    variables = lanes_off["Resources"]["CutoutFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["PICR_MEMORY_MB"] == {"Ref": "CutoutMemory"}
    assert source["Parameters"]["CutoutMemory"]["MinValue"] == MB_PER_VCPU


@mock_aws
def test_stacks_in_two_regions_of_one_account_each_get_their_own_budget(translated: dict, lanes_off: dict,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.cfn import Resolver

    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    budgets = boto3.client("budgets", region_name="us-east-1")  # one account-wide service
    budget = lanes_off["Resources"]["MonthlyBudget"]["Properties"]["Budget"]
    for region in ("eu-west-1", "us-east-1"):
        resolver = Resolver(translated, lanes_off["Parameters"], lambda *_: None,
                            {"AWS::Region": region, "AWS::AccountId": "123456789012"})
        resolved = resolver.resolve(budget)
        # each counts its own region's costs
        assert resolved["FilterExpression"] == {"Dimensions": {"Key": "REGION", "Values": [region]}}
        budgets.create_budget(AccountId="123456789012", Budget={
            "BudgetName": resolved["BudgetName"], "BudgetType": "COST", "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": "10", "Unit": "USD"}})
    names = [b["BudgetName"] for b in budgets.describe_budgets(AccountId="123456789012")["Budgets"]]
    assert sorted(names) == ["picr-eu-west-1-monthly", "picr-us-east-1-monthly"]


# ------------------------------------------------------------------ scheduled functions cannot fail silently

def schedules(deployment: dict) -> dict[str, str]:
    """Scheduled function -> the name of the EventBridge rule that invokes it."""
    return {rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]: render(rule["Properties"]["Name"])
            for rule in of_type(deployment, "AWS::Events::Rule").values()
            if "ScheduleExpression" in rule["Properties"]}


def metric_of(query: dict) -> tuple[str, str, list]:
    metric = query["MetricStat"]["Metric"]
    return metric["Namespace"], metric["MetricName"], metric["Dimensions"]


@pytest.mark.parametrize("lane_set", ["defaults", "drive", "every-lane"])
def test_every_failure_of_a_scheduled_run_raises_an_alarm_to_the_owner(translated: dict, lane_set: str) -> None:
    deployment = deployed(translated, parameters_for(LANE_SETS[lane_set]))
    alarms = of_type(deployment, "AWS::CloudWatch::Alarm").values()
    scheduled = schedules(deployment)
    assert set(scheduled) == {"SweepFunction"} | ({"DriveSyncFunction"} if "drive" in LANE_SETS[lane_set] else set())
    for function, rule in scheduled.items():
        watching = [a["Properties"] for a in alarms
                    if any(q.get("MetricStat") and {"Name": "FunctionName", "Value": {"Ref": function}}
                           in metric_of(q)[2] for q in a["Properties"].get("Metrics", []))]
        assert len(watching) == 1, function
        (alarm,) = watching
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        watched = {metric_of(q)[:2]: metric_of(q)[2] for q in queries.values() if "MetricStat" in q}
        assert watched == {
            ("AWS/Lambda", "Errors"): [{"Name": "FunctionName", "Value": {"Ref": function}}],  # erred, timed out
            ("AWS/Lambda", "AsyncEventsDropped"): [{"Name": "FunctionName", "Value": {"Ref": function}}],
            ("AWS/Events", "FailedInvocations"): [{"Name": "RuleName", "Value": {"Fn::Sub": rule}}],
        }
        assert all(queries[i]["MetricStat"]["Stat"] == "Sum" for i in watched_ids(queries))
        (result,) = [q for q in queries.values() if q.get("ReturnData", True)]
        assert set(re.findall(r"FILL\((\w+), 0\)", result["Expression"])) == set(watched_ids(queries))
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["TreatMissingData"] == "notBreaching"  # no run in the window is not a failure
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def watched_ids(queries: dict[str, dict]) -> list[str]:
    return [query_id for query_id, query in queries.items() if "MetricStat" in query]


# ------------------------------------------------------------------ the region: SES must receive email there

SES_RECEIVING_REGIONS = {"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
                         "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-northeast-1"}
"""AWS's "Email receiving endpoints" table (https://docs.aws.amazon.com/general/latest/gr/ses.html)."""


def rule_holds(expression: Any, parameters: dict[str, str]) -> Any:
    """CloudFormation's rule functions, for the ones the template's Rules use."""
    if isinstance(expression, list):
        return [rule_holds(item, parameters) for item in expression]
    if not isinstance(expression, dict):
        return expression
    (function, argument), = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Equals":
        left, right = rule_holds(argument, parameters)
        return left == right
    if function == "Fn::Not":
        return not rule_holds(argument[0], parameters)
    if function == "Fn::Contains":
        values, value = rule_holds(argument, parameters)
        return value in values
    raise AssertionError(f"rule function not handled by this test: {function}")


def refused_deploy(translated: dict, overrides: dict[str, str], region: str) -> list[str]:
    """The AssertDescription of every rule CloudFormation would fail before creating anything."""
    parameters = {**parameter_values(translated, overrides), "AWS::Region": region}
    return [assertion["AssertDescription"] for rule in translated.get("Rules", {}).values()
            if rule_holds(rule.get("RuleCondition", True), parameters)
            for assertion in rule["Assertions"] if not rule_holds(assertion["Assert"], parameters)]


def test_the_email_lane_is_refused_before_anything_is_created_where_ses_cannot_receive(translated: dict) -> None:
    inbound = parameters_for(frozenset({"inbound"}))
    for region in sorted(SES_RECEIVING_REGIONS):
        assert refused_deploy(translated, inbound, region) == [], region
    for region in ("eu-west-3", "us-west-1", "ap-south-2", "sa-east-1"):
        (message,) = refused_deploy(translated, inbound, region)
        assert "does not receive email in this region" in message and "InboundRecipient" in message
        assert refused_deploy(translated, REQUIRED, region) == []  # without the email lane any region will do


def test_the_default_region_receives_email_and_the_readme_cites_aws_list() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    region = config["default"]["global"]["parameters"]["region"]
    assert region in SES_RECEIVING_REGIONS
    readme = README.read_text()
    assert "https://docs.aws.amazon.com/general/latest/gr/ses.html" in readme
    assert f"inbound-smtp.{region}.amazonaws.com" in readme and f"region `{region}`" in readme


# ------------------------------------------------------------------ samconfig.toml

def test_samconfig_names_the_stack_and_the_guided_defaults() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"] == "picr"
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_NAMED_IAM"
    assert deploy["resolve_s3"] is True and deploy["resolve_image_repos"] is True
    assert deploy["confirm_changeset"] is True
    assert config["default"]["validate"]["parameters"]["lint"] is True
