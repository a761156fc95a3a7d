"""Idempotent delivery: a notice is sent once however often it is delivered (Powertools idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

from moto.ses.models import ses_backends

from picr.notify.delivery import channel_client, idempotent_delivery
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
    deliver, _config = idempotent_delivery(settings, sender=stack.ses, dynamodb=stack.dynamodb)
    first = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "ready"}, _message())
    again = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "ready"}, _message())
    other = deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "review"}, _message())
    assert first == again and other != first
    assert len(ses_backends["123456789012"]["eu-west-2"].sent_messages) == 2


def test_the_sns_channel_makes_and_sends_through_sns_only(stack):
    """With the SNS channel the container creates only an SNS client, and the notice reaches the topic's
    subscribers once; SES sends nothing."""
    made: list[str] = []

    def client(name: str) -> object:
        made.append(name)
        return {"ses": stack.ses, "sns": stack.sns}[name]

    topic = stack.sns.create_topic(Name="picr-owner-phone")["TopicArn"]
    inbox = stack.sqs.create_queue(QueueName="owner-phone")["QueueUrl"]
    inbox_arn = stack.sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    publish = stack.functions["PublishFunction"].environment
    settings = PublishSettings.from_environment({**publish, "PICR_NOTIFY_CHANNEL": "sns", "PICR_SNS_TOPIC_ARN": topic})
    deliver, _config = idempotent_delivery(settings, sender=channel_client(settings, client), dynamodb=stack.dynamodb)
    for _ in range(2):
        deliver({"job_id": "0a1b2c3d4e5f60718293", "outcome": "ready"}, _message())
    assert made == ["sns"]
    received = stack.sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 1 and "ready" in received[0]["Body"]
    assert ses_backends["123456789012"]["eu-west-2"].sent_messages == []


def test_the_ses_channel_makes_only_an_ses_client(stack):
    made: list[str] = []
    settings = PublishSettings.from_environment(stack.functions["PublishFunction"].environment)
    assert settings.notify_channel == "ses"
    assert channel_client(settings, lambda name: made.append(name) or name) == "ses" and made == ["ses"]
