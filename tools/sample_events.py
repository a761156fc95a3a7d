"""The sample events in ``events/`` and their placeholders, shared by ``make invoke`` and ``make env``.

An event names things only a stack knows (its bucket, region, account) and things only its data knows (the
version of an uploaded photo, a job's id, a signed link), so the files hold placeholders in CloudFormation's
``${Name}`` form. ``make invoke`` fills every one from the embedded moto stack after putting the data
there; ``make env`` fills the stack's names from a deployed stack and says how to find the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*(?:::[A-Za-z]+)?)\}")
SAFE_VALUE = re.compile(r"[A-Za-z0-9._~:/+=@-]*")
"""What a filled-in value may contain: nothing that would need escaping inside a JSON string (or inside the
JSON body an SQS record carries as a string)."""

STACK_NAMES = ("ImagesBucketName", "AppName", "AWS::Region", "AWS::AccountId")
"""Filled from the stack: an output, a parameter, two pseudo parameters."""


@dataclass(frozen=True)
class DataPlaceholder:
    """A value that depends on what is in the stack's bucket or table, and how to find one yourself."""

    name: str
    meaning: str
    how: str


DATA_PLACEHOLDERS = {p.name: p for p in (
    DataPlaceholder("PhotoKey", "the key of a photo under inbox/",
                    "aws s3api put-object --bucket {bucket} --key inbox/try.jpg --body photo.jpg (the deployed "
                    "pipeline takes it too; the event names the same object, so it opens no second job)"),
    DataPlaceholder("PhotoVersionId", "that photo's version",
                    "the VersionId put-object printed (or aws s3api head-object --bucket {bucket} --key <key>)"),
    DataPlaceholder("MailKey", "the key of an email SES stored under mail/",
                    "aws s3 ls s3://{bucket}/mail/ (an email sent to the InboundRecipient address)"),
    DataPlaceholder("JobId", "a job's id, in the state the function takes it from",
                    "aws dynamodb query --table-name {jobs_table} --index-name by-status --key-condition-expression "
                    "'current_status = :s' --expression-attribute-values '{{\":s\":{{\"S\":\"ingested\"}}}}' "
                    "--query 'Items[].job_id.S' (ingested for cutout, cut for variants, varied for publish)"),
    DataPlaceholder("ReadyJobId", "a published product's id",
                    "aws dynamodb query --table-name {jobs_table} --index-name by-status --key-condition-expression "
                    "'current_status = :s' --expression-attribute-values '{{\":s\":{{\"S\":\"done\"}}}}' "
                    "--query 'Items[].job_id.S'"),
    DataPlaceholder("ReviewToken", "a review link's token",
                    "the t= value of a link in a needs-review email"),
    DataPlaceholder("UploadToken", "an upload link's token",
                    "the t= value of the link python -m tools.upload_link shop --url {upload_url} prints"),
    DataPlaceholder("OwnerToken", "an owner link's token",
                    "the t= value of the link python -m tools.owner_link shop --url {shop_url} prints"),
)}


def event_files() -> list[Path]:
    return sorted(EVENTS.glob("*.json"))


def function_of_event(template: dict[str, Any]) -> dict[str, str]:
    """events/<name>.json -> the logical id of the function whose code lives in functions/<name>/."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code = resource["Properties"].get("CodeUri") or Path(resource["Metadata"]["Dockerfile"]).parent.as_posix()
            found[Path(code).name] = logical_id
    return {path.stem: found[path.stem] for path in event_files() if path.stem in found}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every placeholder named in ``values`` replaced; the others are left as they are."""
    for name, value in values.items():
        if not SAFE_VALUE.fullmatch(value):
            raise ValueError(f"{name}={value!r} cannot go into an event unescaped")

    def replace(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return PLACEHOLDER.sub(replace, text)
