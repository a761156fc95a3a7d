"""Stage messages stay tiny and strict: a malformed one is refused, not half-understood."""

from __future__ import annotations

import pytest

from picr.aws.queues import PublishMessage, QueueSender, StageMessage
from picr.records import RecordError, parse_json


def test_messages_carry_a_job_id_and_nothing_else():
    assert parse_json(StageMessage, '{"job_id": "0a1b2c3d4e5f60718293"}').job_id == "0a1b2c3d4e5f60718293"
    for body in ('{"job_id": "../../etc"}', '{"job_id": "0a1b2c3d4e5f60718293", "extra": 1}', "{}"):
        with pytest.raises(RecordError):
            parse_json(StageMessage, body)
    with pytest.raises(RecordError):
        parse_json(PublishMessage, '{"job_id": "0a1b2c3d4e5f60718293", "outcome": "celebrate"}')


def test_queue_sender_sends_the_json_body(stack):
    consumer = next(c for c in stack.consumers if c.stage == "publish")
    QueueSender(stack.sqs, consumer.queue_url).send(PublishMessage(job_id="0a1b2c3d4e5f60718293", outcome="ready"))
    (message,) = stack.sqs.receive_message(QueueUrl=consumer.queue_url)["Messages"]
    assert parse_json(PublishMessage, message["Body"]).outcome == "ready"
