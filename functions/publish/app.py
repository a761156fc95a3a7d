"""picr-publish: SQS → publish stage; the only function that tells the owner about a job.

Sending goes through ``idempotent_delivery`` keyed on (job, outcome): a redelivered message, a
retried batch or a crash after the send never produces a second email.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, RerenderedMessage
from picr.aws.secrets import Secrets
from picr.links.download import download_links_for
from picr.links.review import review_links_for
from picr.notify.delivery import channel_client, idempotent_delivery
from picr.records import parse_json_as
from picr.runtime import count, iso, logger, sqs_batch_handler, utc_now, with_idempotency
from picr.settings import PublishSettings
from picr.stages.publish import PublishContext, publish, publish_rerendered

settings = PublishSettings.from_environment()
dynamodb = boto3.client("dynamodb")
signing_key = Secrets(boto3.client("secretsmanager")).key(settings.review_secret_arn)
deliver, idempotency = idempotent_delivery(
    settings, sender=channel_client(settings, boto3.client), dynamodb=dynamodb
)
context = PublishContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(dynamodb, settings.jobs_table),
    deliver=lambda job_id, outcome, message: deliver({"job_id": job_id, "outcome": outcome}, message),
    sender=settings.sender,
    recipients=settings.recipients,
    download_links=download_links_for(settings, signing_key),
    review_links=review_links_for(settings, signing_key),
    batches=RerenderBatches(dynamodb, settings.idempotency_table),
)


def record_handler(record: SQSRecord) -> None:
    message, moment = parse_json_as((RerenderedMessage, PublishMessage), record.body), utc_now()
    if isinstance(message, RerenderedMessage):
        outcome = publish_rerendered(message, context, now=iso(moment), sent_at=moment)
        logger.info("rerendered", extra={"job_id": message.job_id, "batch_id": message.batch_id, "outcome": outcome})
        return
    status = publish(message, context, now=iso(moment), sent_at=moment)
    logger.info("published", extra={"job_id": message.job_id, "outcome": message.outcome, "status": status})
    count(status)


handler = with_idempotency(idempotency, sqs_batch_handler(record_handler))
