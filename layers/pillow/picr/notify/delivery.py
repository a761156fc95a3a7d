"""Sending a notification at most once per notice, whatever SQS or Lambda retries do.

Powertools idempotency records each notice (e.g. job + outcome, or the digest's day) in the
idempotency table before sending; a repeat finds the record and returns the first MessageId. The
records live 14 days, the longest an SQS message can.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from picr.notify.send import publish_via_sns, send_via_ses
from picr.settings import NotifySettings

Deliver = Callable[[dict[str, str], EmailMessage], str]
RETENTION_S = 14 * 24 * 3600


def idempotent_delivery(settings: NotifySettings, *, ses: Any, sns: Any,
                        dynamodb: Any) -> tuple[Deliver, IdempotencyConfig]:
    """A ``deliver(notice, message)`` that sends through SES or SNS once per distinct ``notice``.

    Returns the config too: the handler registers its Lambda context on it, so a send cut short by a
    timeout is retried once its in-progress record expires instead of being blocked for 14 days.
    """
    config = IdempotencyConfig(expires_after_seconds=RETENTION_S)
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)

    @idempotent_function(data_keyword_argument="notice", config=config, persistence_store=persistence)
    def send(*, notice: dict[str, str], message: EmailMessage) -> str:
        if settings.notify_channel == "sns" and settings.sns_topic_arn:
            return publish_via_sns(sns, settings.sns_topic_arn, message)
        return send_via_ses(ses, message)

    def deliver(notice: dict[str, str], message: EmailMessage) -> str:
        return send(notice=notice, message=message)

    return deliver, config
