"""picr-variants: SQS → variants stage (render and self-check every channel), or, for a re-render batch's
message, one channel again from the stored cutout."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, RerenderMessage, StageMessage
from picr.records import parse_json_as
from picr.runtime import count, iso, logger, sqs_batch_handler, utc_now
from picr.settings import VariantsSettings
from picr.stages.variants import VariantsContext, build_variants, rerender_variant

settings = VariantsSettings.from_environment()
context = VariantsContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    publish_queue=QueueSender(boto3.client("sqs"), settings.publish_queue_url),
)


def record_handler(record: SQSRecord) -> None:
    message = parse_json_as((RerenderMessage, StageMessage), record.body)
    if isinstance(message, RerenderMessage):
        outcome = rerender_variant(message, context)
        logger.info("rerender", extra={"job_id": message.job_id, "batch_id": message.batch_id, "outcome": outcome})
        return
    status = build_variants(message.job_id, context, now=iso(utc_now()))
    logger.info("variants", extra={"job_id": message.job_id, "status": status})
    count(status)


handler = sqs_batch_handler(record_handler)
