"""Idempotent delivery: a notice is sent once however often it is delivered (Powertools idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from moto.ses.models import ses_backends

from picr.notify.delivery import idempotent_delivery
from picr.settings import PublishSettings


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "picr@example.com", "owner@example.com", "Candle: ready"
    message["Date"] = datetime(2026, 11, 21, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content("ready")
    return message


def test_the_same_notice_twice_sends_one_email(stack):
    publish = stack.functions["PublishFunction"].environment
    settings = PublishSettings.from_environment(publish)
    deliver, _config = idempotent_delivery(settings, ses=stack.ses, sns=stack.sns, dynamodb=stack.dynamodb)
    first = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "ready"}, _message())
    again = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "ready"}, _message())
    other = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "review"}, _message())
    assert first == again and other != first
    assert len(ses_backends["123456789012"]["eu-west-2"].sent_messages) == 2
