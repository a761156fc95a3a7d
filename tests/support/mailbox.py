"""What the embedded stack mailed: the messages SES sent, a publish invocation, the review links in a message."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import re
from typing import Any


def sent_mail() -> list[email.message.EmailMessage]:
    """Every message the embedded stack's SES has sent, oldest first."""
    from moto.ses.models import ses_backends

    from tools.embedded_stack import ACCOUNT, REGION

    raw = [m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data
           for m in ses_backends[ACCOUNT][REGION].sent_messages]
    return [email.message_from_bytes(data, policy=email.policy.default) for data in raw]


def publish(stack: Any, job_id: str, outcome: str) -> dict:
    """Invoke picr-publish with one message, as its queue would deliver it."""
    record = {"messageId": f"m-{outcome}", "receiptHandle": "r", "body": json.dumps(
        {"job_id": job_id, "outcome": outcome}), "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": stack.resolver.resolve({"Fn::GetAtt": ["PublishQueue", "Arn"]}), "awsRegion": "eu-west-2"}
    return stack.invoke("PublishFunction", {"Records": [record]})


def links_in(message: email.message.EmailMessage) -> dict[str, str]:
    """The review buttons of a message's plain-text part: label -> URL."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    return dict(re.findall(r"^- (Approve cutout|Reject|Retry with the hosted engine): (\S+)\s*$", text, re.M))
