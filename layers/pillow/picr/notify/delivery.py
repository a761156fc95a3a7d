"""Sending a notification at most once per notice, whatever SQS or Lambda retries do.

Powertools idempotency records each notice (e.g. job + outcome, or the digest's day) in the
idempotency table before sending; a repeat finds the record and returns the first MessageId. The
records live 14 days, the longest an SQS message can. The same records make other work happen once
per input (``Once``): a zip export is built once per export, however often its message arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from picr.notify.send import publish_via_sns, send_via_ses
from picr.settings import NotifySettings

Deliver = Callable[[dict[str, str], EmailMessage], str]
RETENTION_S = 14 * 24 * 3600
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Once:
    """Powertools idempotency over the idempotency table. ``config`` is what the handler registers its Lambda
    context on, so work cut short by a timeout is retried once its in-progress record expires instead of being
    blocked for 14 days."""

    config: IdempotencyConfig
    table: str
    dynamodb: Any

    def per(self, data_keyword: str) -> Callable[[F], F]:
        """Decorate a function to run once per distinct value of its ``data_keyword`` argument (a dict); a repeat
        returns the first call's (JSON) result.

        Each decorated function gets its own persistence layer: the layer remembers the function it last worked
        for, so one shared by nested idempotent functions (an export that sends its email) would record the
        outer one's result under the inner one's key and leave the outer one in progress."""
        persistence = DynamoDBPersistenceLayer(table_name=self.table, boto3_client=self.dynamodb)
        return idempotent_function(data_keyword_argument=data_keyword, config=self.config,
                                   persistence_store=persistence)


def once(settings: NotifySettings, dynamodb: Any) -> Once:
    return Once(IdempotencyConfig(expires_after_seconds=RETENTION_S), settings.idempotency_table, dynamodb)


def _via_sns(settings: NotifySettings) -> bool:
    """The one place the channel is decided: SNS when it is chosen and has a topic, SES otherwise."""
    return settings.notify_channel == "sns" and bool(settings.sns_topic_arn)


def channel_client(settings: NotifySettings, client: Callable[[str], Any]) -> Any:
    """The client of the one channel the owner is told through (``client`` makes one by service name:
    ``boto3.client``): a container creates only the client it sends with, not both (each is ~11 ms of a
    cold start)."""
    return client("sns" if _via_sns(settings) else "ses")


def delivery(settings: NotifySettings, done_once: Once, *, sender: Any) -> Deliver:
    """A ``deliver(notice, message)`` that sends once per distinct ``notice``, through SNS when that is the
    channel and SES otherwise; ``sender`` is that channel's client (:func:`channel_client`)."""

    @done_once.per("notice")
    def send(*, notice: dict[str, str], message: EmailMessage) -> str:
        if _via_sns(settings):
            return publish_via_sns(sender, settings.sns_topic_arn, message)
        return send_via_ses(sender, message)

    def deliver(notice: dict[str, str], message: EmailMessage) -> str:
        return send(notice=notice, message=message)

    return deliver


def idempotent_delivery(settings: NotifySettings, *, sender: Any,
                        dynamodb: Any) -> tuple[Deliver, IdempotencyConfig]:
    """``delivery`` over its own ``Once``; returns the config the handler registers its Lambda context on."""
    done_once = once(settings, dynamodb)
    return delivery(settings, done_once, sender=sender), done_once.config
