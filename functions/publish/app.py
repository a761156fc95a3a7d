"""picr-publish: SQS → publish stage; the only function that tells the owner about a job.

Sending goes through ``idempotent_delivery`` keyed on (job, outcome): a redelivered message, a
retried batch or a crash after the send never produces a second email.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage
from picr.links.download import DownloadLinks
from picr.links.review import review_links_from, secret_signing_key
from picr.notify.delivery import idempotent_delivery
from picr.runtime import count, iso, logger, sqs_batch_handler, utc_now
from picr.settings import load_settings
from picr.stages.publish import PublishContext, publish

settings = load_settings()
settings.require("sender", "owner_email")
dynamodb = boto3.client("dynamodb")
deliver, idempotency = idempotent_delivery(
    settings, ses=boto3.client("ses"), sns=boto3.client("sns"), dynamodb=dynamodb
)
context = PublishContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(dynamodb, settings.jobs_table),
    deliver=lambda job_id, outcome, message: deliver({"job_id": job_id, "outcome": outcome}, message),
    sender=settings.sender,
    recipients=settings.recipients,
    download_links=DownloadLinks(settings.review_url, secret_signing_key(settings.review_secret_arn),
                                 timedelta(days=settings.link_expiry_days)),
    review_links=review_links_from(settings),
)


def record_handler(record: SQSRecord) -> None:
    message = PublishMessage.model_validate_json(record.body)
    moment = utc_now()
    status = publish(message, context, now=iso(moment), sent_at=moment)
    logger.info("published", extra={"job_id": message.job_id, "outcome": message.outcome, "status": status})
    count(status)


batch_handler = sqs_batch_handler(record_handler)


def handler(event: dict, lambda_context: object) -> dict:
    idempotency.register_lambda_context(lambda_context)
    return batch_handler(event, lambda_context)
