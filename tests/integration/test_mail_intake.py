"""picr-mail-intake against moto: each photo into inbox/ once with its origin, replies only when something was
left out, refusals that write and send nothing."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from picr.intake.origin import decode_metadata
from tests.support.phone_mail import ALLOWED, HEIC, JPEG, hostile_body, phone_mail

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the stage, against moto

@pytest.fixture
def mail_stack(aws):
    from tools.embedded_stack import EmbeddedStack

    return EmbeddedStack(parameters={"InboundRecipient": "photos@in.example.com", "AllowedSenders": ALLOWED[0]})


def test_the_handler_writes_each_photo_once_with_its_origin_and_replies_only_when_something_was_left_out(
        mail_stack):
    from moto.ses.models import ses_backends

    from tools.embedded_stack import ACCOUNT, REGION

    stack = mail_stack
    raw = phone_mail(attachments=[("../../out/market/x.jpg", JPEG, "image", "jpeg"),
                                  ("IMG_1.HEIC", HEIC, "image", "heic"), ("notes.pdf", b"%PDF", "application",
                                                                         "pdf")], ses=False)
    mail_key = _deliver(stack, raw)
    event = _mail_event(stack, mail_key)
    for _attempt in range(2):  # a redelivered message writes nothing new and sends no second reply
        assert stack.invoke("MailIntakeFunction", event) == {"batchItemFailures": []}
    mail_id = mail_key.rpartition("/")[2]
    versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="inbox/").get("Versions", [])
    assert sorted(v["Key"] for v in versions) == [f"inbox/mail/{mail_id}/IMG_1.HEIC", f"inbox/mail/{mail_id}/x.jpg"]
    assert not stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="out/").get("Contents")
    head = stack.s3.head_object(Bucket=stack.bucket, Key=f"inbox/mail/{mail_id}/x.jpg")
    assert head["ContentType"] == "image/jpeg"
    origin = decode_metadata(head["Metadata"])
    assert (origin.lane, origin.product, origin.sender, origin.reply_to) == (
        "email", "Sea salt candle", "shop@example.com", "shop@example.com")
    sent = ses_backends[ACCOUNT][REGION].sent_messages
    assert len(sent) == 1
    reply = email.message_from_string(sent[0].raw_data, policy=email.policy.default)
    assert reply["X-Picr-Kind"] == "intake" and "notes.pdf" in reply.get_content()


def test_a_refused_mail_writes_nothing_and_sends_nothing(mail_stack, caplog):
    from moto.ses.models import ses_backends

    from tools.embedded_stack import ACCOUNT, REGION

    stack = mail_stack
    mail_key = _deliver(stack, phone_mail(sender="mallory@evil.example", ses=False))
    assert stack.invoke("MailIntakeFunction", _mail_event(stack, mail_key)) == {"batchItemFailures": []}
    assert not stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="inbox/").get("Contents")
    assert ses_backends[ACCOUNT][REGION].sent_messages == []
    refusals = [record for record in caplog.records if record.getMessage() == "mail refused"]
    assert [(r.reason, r.sender) for r in refusals] == [("sender_not_allowed", "mallory@evil.example")]


def test_a_poison_mail_is_refused_once_and_reported_processed(mail_stack, caplog):
    mail_key = _deliver(mail_stack, hostile_body(depth=2000))  # from the allowed shop address
    assert mail_stack.invoke("MailIntakeFunction", _mail_event(mail_stack, mail_key)) == {"batchItemFailures": []}
    refusals = [record for record in caplog.records if record.getMessage() == "mail refused"]
    assert [(r.reason, r.sender) for r in refusals] == [("too_complex", "shop@example.com")]
    assert not mail_stack.s3.list_objects_v2(Bucket=mail_stack.bucket, Prefix="inbox/").get("Contents")


def test_the_owner_may_mail_photos_in_with_no_allowlist_at_all(aws):
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(parameters={"InboundRecipient": "photos@in.example.com", "AllowedSenders": ""})
    raw = phone_mail(sender="Owner <owner@example.com>", ses=False)  # OwnerEmail of the local stack
    mail_key = _deliver(stack, raw)
    assert stack.invoke("MailIntakeFunction", _mail_event(stack, mail_key)) == {"batchItemFailures": []}
    taken = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="inbox/mail/").get("Contents", [])
    assert len(taken) == 2


def test_a_mail_that_is_gone_is_not_retried(mail_stack):
    event = _mail_event(mail_stack, "mail/never-written")
    assert mail_stack.invoke("MailIntakeFunction", event) == {"batchItemFailures": []}


def _deliver(stack, raw: bytes) -> str:
    """Store ``raw`` (as sent: ``phone_mail(ses=False)``) the way the runner stores an .eml input: it adds
    SES's verdicts and authentication results itself."""
    import tempfile

    from tools.embedded_stack import deliver_mail

    with tempfile.NamedTemporaryFile(suffix=".eml") as handle:
        handle.write(raw)
        handle.flush()
        return deliver_mail(stack, Path(handle.name))


def _mail_event(stack, key: str) -> dict:
    sample = json.loads((REPO / "events" / "mail_intake.json").read_text())
    body = json.loads(sample["Records"][0]["body"])
    body["detail"]["bucket"]["name"] = stack.bucket
    body["detail"]["object"]["key"] = key
    sample["Records"][0]["body"] = json.dumps(body)
    return sample
