"""Sending a built message: SES for email (the default), or an SNS topic the owner subscribes to.

Both take their boto3 client as an argument, so the tests pass moto ones.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from typing import Any

from picr.intake.naming import one_line

SES_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""SES rejects raw messages over 10 MB; checking first turns an opaque API error into a clear one."""

SNS_MAX_SUBJECT_CHARS = 100
"""SNS Publish refuses longer subjects (and any line break or control character in them)."""


def send_via_ses(ses_client: Any, message: EmailMessage) -> str:
    """Send through SES SendRawEmail; recipients come from the To header. Returns SES's MessageId.

    ``Source`` is passed explicitly: the role may only send as the configured sender
    (``ses:FromAddress``), and that check should not depend on SES parsing the From header.
    """
    raw = message.as_bytes(policy=policy.SMTP)
    if len(raw) > SES_MAX_MESSAGE_BYTES:
        raise ValueError(f"message is {len(raw)} bytes; SES accepts at most {SES_MAX_MESSAGE_BYTES}")
    response = ses_client.send_raw_email(Source=str(message["From"]), RawMessage={"Data": raw})
    return response["MessageId"]


def publish_via_sns(sns_client: Any, topic_arn: str, message: EmailMessage) -> str:
    """Publish the message's plain-text part (which carries the links) to an SNS topic.

    SNS cannot carry attachments, so their names are listed instead of silently dropped. The job id and
    kind go along as message attributes so subscribers can filter. Returns SNS's MessageId.
    """
    body = message.get_body(preferencelist=("plain",)).get_content()
    dropped = [part.get_filename() for part in message.iter_attachments()]
    if dropped:
        body += f"\nSent by email only (SNS cannot carry attachments): {', '.join(dropped)}.\n"
    response = sns_client.publish(
        TopicArn=topic_arn,
        Subject=_sns_subject(str(message["Subject"])),
        Message=body,
        MessageAttributes={
            "picr_job": {"DataType": "String", "StringValue": str(message["X-Picr-Job"])},
            "picr_kind": {"DataType": "String", "StringValue": str(message["X-Picr-Kind"])},
        },
    )
    return response["MessageId"]


def _sns_subject(subject: str) -> str:
    subject = one_line(subject)
    if len(subject) <= SNS_MAX_SUBJECT_CHARS:
        return subject
    return subject[: SNS_MAX_SUBJECT_CHARS - 3].rstrip() + "..."


