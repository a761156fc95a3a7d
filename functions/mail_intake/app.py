"""picr-mail-intake: a raw email SES wrote under ``mail/`` (EventBridge → SQS) → its photos under ``inbox/``.

Replies about a partly used email go through ``idempotent_delivery`` keyed on the email, so a redelivered
message never sends a second one. Refusals are logged with their reason and answered with nothing.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.bucket import ImageBucket
from picr.aws.inbox import Inbox
from picr.intake.mail import MailLimits
from picr.notify.delivery import channel_client, idempotent_delivery
from picr.runtime import logger, metrics, sqs_batch_handler, utc_now, with_idempotency
from picr.settings import MailIntakeSettings
from picr.stages.mail_intake import MailIntakeContext, take_in_mail

settings = MailIntakeSettings.from_environment()
s3 = boto3.client("s3")
deliver, idempotency = idempotent_delivery(
    settings, sender=channel_client(settings, boto3.client), dynamodb=boto3.client("dynamodb")
)
context = MailIntakeContext(
    bucket=ImageBucket(s3, settings.bucket),
    inbox=Inbox(s3, settings.bucket),
    deliver=deliver,
    sender=settings.sender,
    owner=settings.recipients,
    allowed_senders=settings.allowed_sender_list,
    limits=MailLimits(max_photos=settings.mail_max_photos),
)


def record_handler(record: SQSRecord) -> None:
    key = S3EventBridgeNotificationEvent(record.json_body).detail.object.key
    outcome = take_in_mail(key, context, sent_at=utc_now())
    if outcome.status == "refused":
        logger.warning("mail refused", extra=outcome.__dict__)
    else:
        logger.info("mail taken in", extra=outcome.__dict__)
    metrics.add_metric(name=f"Mail_{outcome.status}", unit="Count", value=1)
    metrics.add_metric(name="MailPhotos", unit="Count", value=len(outcome.keys))


handler = with_idempotency(idempotency, sqs_batch_handler(record_handler))
