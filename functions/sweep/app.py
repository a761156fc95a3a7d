"""picr-sweep: the daily schedule → one digest of jobs held for review longer than the delay, stranded
jobs handed to their next stage again, and (with a retention period) held jobs' images renewed."""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.aws.secrets import Secrets
from picr.job import Status
from picr.links.review import review_links_for
from picr.notify.delivery import channel_client, idempotent_delivery
from picr.runtime import iso, job_failed, logger, metrics, utc_now
from picr.settings import SweepSettings
from picr.stages.sweep import SweepContext, keep_held_files, redrive_stranded, sweep

settings = SweepSettings.from_environment()
sqs = boto3.client("sqs")
dynamodb = boto3.client("dynamodb")
deliver, idempotency = idempotent_delivery(
    settings, sender=channel_client(settings, boto3.client), dynamodb=dynamodb
)
context = SweepContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(dynamodb, settings.jobs_table),
    deliver=deliver,
    sender=settings.sender,
    recipients=settings.recipients,
    review_after=timedelta(hours=settings.review_after_hours),
    review_links=review_links_for(settings, Secrets(boto3.client("secretsmanager")).key(settings.review_secret_arn)),
    next_stages={
        Status.INGESTED: QueueSender(sqs, settings.cutout_queue_url),
        Status.CUT: QueueSender(sqs, settings.variants_queue_url),
        Status.VARIED: QueueSender(sqs, settings.publish_queue_url),
    },
    retention=settings.retention,
    on_job_failure=job_failed,
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, lambda_context: LambdaContext) -> dict:
    idempotency.register_lambda_context(lambda_context)
    now = utc_now()
    redriven = redrive_stranded(context, now=now, iso=iso)
    renewed = keep_held_files(context, now=now)
    listed = sweep(context, now=now, iso=iso)  # last: a mail outage fails the run only after the rest is done
    logger.info("sweep", extra={"scheduled_at": event.time, "held_listed": listed, "redriven": redriven,
                                "renewed": renewed})
    metrics.add_metric(name="HeldJobsReminded", unit="Count", value=len(listed))
    metrics.add_metric(name="StrandedJobsRedriven", unit="Count", value=len(redriven))
    return {"reminded": listed, "redriven": redriven}
