"""``make invoke FN=<LogicalId> EVENT=events/<name>.json``: one sample event through one function's handler on
the embedded moto stack (``tools.embedded_stack.EmbeddedStack``), without Docker.

    python -m tools.invoke IngestFunction events/ingest.json [--full]

The event's placeholders (``tools/sample_events.py``) are filled from the embedded stack after the data they
name is put there the way the pipeline would: a photo uploaded under ``inbox/`` (``${PhotoKey}``), an email
stored under ``mail/`` as SES stores it (``${MailKey}``), a job run through the stages before the function's
own (``${JobId}``: ingested for the cutout, cut for variants, varied for publish), a published job
(``${ReadyJobId}``, for the export), a job held for review and
the token of the link its email carries (``${ReviewToken}``), an upload link's token (``${UploadToken}``).
The photos are drawn here (a red mug on paper, and the same paper with nothing on it, which the gate
holds), so nothing outside the repository is needed. Queues are emptied after seeding, so what is queued at
the end is what the handler sent.

Prints one JSON document: the handler's return value (long page bodies shortened unless ``--full``), then
what the call changed: objects written to or deleted from the bucket, rows added to and attributes changed in
the jobs table, emails sent, and messages the handler queued. The functions' own logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import email.message
import email.policy
import io
import json
import re
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tools.embedded_stack import ACCOUNT, LOCAL_INBOUND_RECIPIENT, REGION, EmbeddedStack, as_ses_stores
from tools.sample_events import fill, placeholders

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SENDER = "owner@shop.example"
LANES = {"InboundRecipient": LOCAL_INBOUND_RECIPIENT, "AllowedSenders": SAMPLE_SENDER,
         "DriveFolderId": "sample-drive-folder"}
"""Every optional lane on, so every function of the template exists (the Drive lane stays unconfigured: its
secret holds the deploy-time placeholder, as it does until the owner stores a key)."""
BODY_SHOWN = 400


# ------------------------------------------------------------------ sample photos, drawn here

@cache
def sample_photo(with_product: bool = True) -> bytes:
    """A 1600×1200 phone-like JPEG: a shaded red mug and its shadow on warm paper, or the paper alone."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    width, height = 1600, 1200
    rows, columns = np.mgrid[0:height, 0:width]
    falloff = ((columns - width / 2) ** 2 + (rows - height / 2) ** 2) / ((width / 2) ** 2 + (height / 2) ** 2)
    paper = np.full((height, width, 3), (236, 233, 226), dtype=np.float32) * (1 - 0.08 * falloff)[..., None]
    paper += np.random.default_rng(7).normal(0, 2.0, paper.shape)  # sensor noise: fixed seed, same bytes
    photo = Image.fromarray(np.clip(paper, 0, 255).astype("uint8"))
    if with_product:
        shadow = Image.new("L", photo.size, 0)
        ImageDraw.Draw(shadow).ellipse((560, 880, 1100, 960), fill=120)
        photo = Image.composite(Image.new("RGB", photo.size, (150, 145, 140)), photo,
                                shadow.filter(ImageFilter.GaussianBlur(25)))
        draw = ImageDraw.Draw(photo)
        left, top, right, bottom = 600, 380, 1000, 900
        for x in range(left, right):  # a cylinder: lit in the middle, darker at the sides
            light = 0.55 + 0.45 * np.sin(np.pi * (x - left) / (right - left))
            draw.line([(x, top), (x, bottom)], fill=(int(200 * light), int(40 * light), int(35 * light)))
        draw.ellipse((left, top - 40, right, top + 40), fill=(120, 25, 22))
        draw.ellipse((left + 20, top - 30, right - 20, top + 30), fill=(60, 15, 12))
        draw.ellipse((left, bottom - 40, right, bottom + 40), fill=(170, 35, 30))
        draw.ellipse((990, 500, 1160, 760), outline=(160, 32, 28), width=38)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def sample_email(photo: bytes) -> bytes:
    """An email from an allowed sender with the photo attached, as SES stores it (its verdicts on top)."""
    message = email.message.EmailMessage()
    message["From"] = SAMPLE_SENDER
    message["To"] = LOCAL_INBOUND_RECIPIENT
    message["Subject"] = "Red mug"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@shop.example>"
    message.set_content("New product, photo attached.")
    message.add_attachment(photo, maintype="image", subtype="jpeg", filename="red-mug.jpg")
    return as_ses_stores(message.as_bytes())


# ------------------------------------------------------------------ putting the data an event names

def _empty_queues(stack: EmbeddedStack) -> None:
    """Take every waiting message off every queue (PurgeQueue is allowed once a minute)."""
    for url in stack.queue_urls().values():
        while batch := stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _upload(stack: EmbeddedStack, key: str, body: bytes) -> tuple[str, str]:
    """Put an upload under ``inbox/``: (key, version); its job id is derived from both, as ingest does."""
    version = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType="image/jpeg")["VersionId"]
    return key, version


def _job_of(stack: EmbeddedStack, key: str, version: str) -> str:
    from picr.stages.ingest import UploadedObject, job_id_for

    return job_id_for(UploadedObject(stack.bucket, key, "", version))


def _run_until(stack: EmbeddedStack, stop_at: str | None) -> None:
    """Let S3 → EventBridge → SQS → handlers run, leaving ``stop_at``'s own queue untouched."""
    consumers = [c for c in stack.consumers if c.function.logical_id != stop_at]
    while sum(stack.poll_once(consumer) for consumer in consumers):
        pass


def _job_waiting_for(stack: EmbeddedStack, function: str) -> str:
    """A job run through every stage before ``function``'s, so its hand-off to ``function`` is due."""
    from picr.aws.jobs import JobStore

    queues = [c.queue_url for c in stack.consumers if c.function.logical_id == function]
    if not queues:
        raise SystemExit(f"{function} takes no job from a queue, so make invoke cannot prepare a ${{JobId}} for it")
    key, version = _upload(stack, "inbox/red-mug.jpg", sample_photo())
    _run_until(stack, stop_at=function)
    job_id = _job_of(stack, key, version)
    waiting = stack.sqs.get_queue_attributes(QueueUrl=queues[0], AttributeNames=["ApproximateNumberOfMessages"])
    if waiting["Attributes"]["ApproximateNumberOfMessages"] == "0":
        job = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"})).get(job_id)
        raise SystemExit(f"the sample job stopped at {job and job.status}, before reaching {function}")
    return job_id


def _ready_job(stack: EmbeddedStack) -> str:
    """A job run through the whole pipeline: published, its images under out/."""
    key, version = _upload(stack, "inbox/red-mug.jpg", sample_photo())
    _run_until(stack, stop_at=None)
    return _job_of(stack, key, version)


def _review_token(stack: EmbeddedStack) -> str:
    """A photo the gate holds (paper with nothing on it) through the whole pipeline; the token of the first
    review link in the needs-review email it sends."""
    sent_before = len(_sent())
    _upload(stack, "inbox/empty-table.jpg", sample_photo(with_product=False))
    _run_until(stack, stop_at=None)
    review_url = stack.resolver.resolve({"Fn::GetAtt": ["ReviewFunctionUrl", "FunctionUrl"]})
    for message in _sent()[sent_before:]:
        html = message.get_body(preferencelist=("html",))
        for link in re.findall(r'href="([^"]+)"', html.get_content() if html else ""):
            parts = urlsplit(link.replace("&amp;", "&"))
            token = parse_qs(parts.query).get("t")
            if link.startswith(review_url) and parts.path in ("", "/") and token:
                return token[0]
    raise SystemExit("the photo the gate should hold sent no review email with a review link")


def _upload_token(stack: EmbeddedStack) -> str:
    from tools.upload_link import link

    key = stack.secrets.get_secret_value(SecretId=stack.resolver.resolve({"Ref": "UploadTokenSecret"}))
    url = link(stack.resolver.resolve({"Fn::GetAtt": ["UploadFunctionUrl", "FunctionUrl"]}),
               key["SecretString"].encode(), "shop")
    return parse_qs(urlsplit(url).query)["t"][0]


def _owner_token(stack: EmbeddedStack) -> str:
    from picr.links.owner import mint_owner_token

    key = stack.secrets.get_secret_value(SecretId=stack.resolver.resolve({"Ref": "OwnerLinkSecret"}))
    return mint_owner_token(key["SecretString"].encode(), "shop", now=datetime.now(UTC), lifetime=timedelta(days=1))


def seed(stack: EmbeddedStack, function: str, needed: set[str]) -> dict[str, str]:
    """Put what the event's placeholders name into the stack; returns their values."""
    values: dict[str, str] = {}
    if needed & {"PhotoKey", "PhotoVersionId"}:
        values["PhotoKey"], values["PhotoVersionId"] = _upload(stack, "inbox/red-mug.jpg", sample_photo())
    if "MailKey" in needed:
        values["MailKey"] = f"mail/{uuid.uuid4().hex}"  # SES names a stored email by its message id
        stack.s3.put_object(Bucket=stack.bucket, Key=values["MailKey"], Body=sample_email(sample_photo()))
    if "JobId" in needed:
        values["JobId"] = _job_waiting_for(stack, function)
    if "ReadyJobId" in needed:
        values["ReadyJobId"] = _ready_job(stack)
    if "ReviewToken" in needed:
        values["ReviewToken"] = _review_token(stack)
    if "UploadToken" in needed:
        values["UploadToken"] = _upload_token(stack)
    if "OwnerToken" in needed:
        values["OwnerToken"] = _owner_token(stack)
    _empty_queues(stack)  # the event stands in for the delivery the data above caused
    return values


def stack_names(stack: EmbeddedStack) -> dict[str, str]:
    return {"ImagesBucketName": stack.bucket, "AppName": stack.resolver.parameters["AppName"],
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}


# ------------------------------------------------------------------ what the call changed

def bucket_versions(stack: EmbeddedStack) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for page in stack.s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket):
        for version in page.get("Versions", []):
            found[(version["Key"], version["VersionId"])] = {"key": version["Key"], "size": version["Size"]}
        for marker in page.get("DeleteMarkers", []):
            found[(marker["Key"], marker["VersionId"])] = {"key": marker["Key"], "deleted": True}
    return found


def job_rows(stack: EmbeddedStack) -> dict[tuple[str, str], dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    table = stack.resolver.resolve({"Ref": "JobsTable"})
    rows = {}
    for page in stack.dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            row = {name: _json_safe(plain.deserialize(value)) for name, value in item.items()}
            rows[(row["job_id"], row["ts"])] = row
    return rows


def _json_safe(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON numbers and lists."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(_json_safe(v) for v in value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def changes(before: dict, after: dict) -> tuple[list[Any], dict[Any, dict[str, list[Any]]]]:
    """Entries added, and for entries present before, each attribute whose value changed: [old, new]."""
    added = [after[key] for key in after if key not in before]
    changed = {}
    for key in before.keys() & after.keys():
        diff = {name: [before[key].get(name), after[key].get(name)] for name in before[key].keys() | after[key].keys()
                if before[key].get(name) != after[key].get(name)}
        if diff:
            changed[key] = dict(sorted(diff.items()))
    return added, changed


def queued(stack: EmbeddedStack) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for logical_id, url in stack.queue_urls().items():
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            found[logical_id] = [json.loads(m["Body"]) for m in messages]
    return found


def _sent() -> list[email.message.EmailMessage]:
    """Every email the embedded SES has sent, parsed."""
    from moto.ses.models import ses_backends

    raws = (m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data
            for m in ses_backends[ACCOUNT][REGION].sent_messages)
    return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws]


def emails_sent(since: int) -> list[dict[str, Any]]:
    return [{"to": str(m["To"]), "subject": str(m["Subject"]), "kind": m.get("X-Picr-Kind")} for m in _sent()[since:]]


def shortened(result: Any) -> Any:
    """The return value with a long page body cut to its first characters (the length is kept)."""
    if isinstance(result, dict) and isinstance(result.get("body"), str) and len(result["body"]) > BODY_SHOWN:
        body = result["body"]
        return {**result, "body": f"{body[:BODY_SHOWN]}… ({len(body)} characters; --full shows them all)"}
    return result


# ------------------------------------------------------------------ one invocation

@contextlib.contextmanager
def embedded_stack() -> Iterator[EmbeddedStack]:
    from moto import mock_aws

    from tools.embedded_stack import fake_credentials

    fake_credentials()
    if str(REPO / "layers" / "pillow") not in sys.path:
        sys.path.insert(0, str(REPO / "layers" / "pillow"))
    with mock_aws():
        yield EmbeddedStack(parameters=LANES)


def invoke(function: str, event_path: Path, *, full: bool = False) -> dict[str, Any]:
    """Run ``event_path`` through ``function`` on a fresh embedded stack; the report ``main`` prints."""
    text = event_path.read_text()
    with embedded_stack() as stack:
        if function not in stack.functions:
            known = ", ".join(sorted(stack.functions))
            raise SystemExit(f"no function {function!r} in template.yaml; there are: {known}")
        values = seed(stack, function, placeholders(text))
        values |= stack_names(stack)
        event = json.loads(fill(text, values))
        left = placeholders(json.dumps(event))
        if left:
            raise SystemExit(f"{event_path} names {sorted(left)}, which make invoke does not know how to fill")
        before_objects, before_rows = bucket_versions(stack), job_rows(stack)
        mails_before = len(_sent())
        result = stack.invoke(function, event)
        added_objects, _ = changes(before_objects, bucket_versions(stack))
        added_rows, changed_rows = changes(before_rows, job_rows(stack))
        return {
            "function": function,
            "event": str(event_path),
            "filled": {name: values[name] for name in sorted(placeholders(text))},
            "result": result if full else shortened(result),
            "bucket": {"written": sorted(({"key": o["key"], "size": o["size"]} for o in added_objects
                                          if not o.get("deleted")), key=lambda o: o["key"]),
                       "deleted": sorted(o["key"] for o in added_objects if o.get("deleted"))},
            "jobs": {"rows_added": sorted(added_rows, key=lambda r: (r["job_id"], r["ts"])),
                     "rows_changed": {f"{job} {ts}": diff for (job, ts), diff in sorted(changed_rows.items())}},
            "emails": emails_sent(mails_before),
            "queued": queued(stack),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="the function's logical id in template.yaml, e.g. IngestFunction")
    parser.add_argument("event", type=Path, help="an event file, e.g. events/ingest.json")
    parser.add_argument("--full", action="store_true", help="print a long page body whole")
    args = parser.parse_args(argv)
    if not args.event.is_file():
        raise SystemExit(f"no event file {args.event}")
    with contextlib.redirect_stdout(sys.stderr):  # the functions log to stdout, as on Lambda
        report = invoke(args.function, args.event, full=args.full)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
