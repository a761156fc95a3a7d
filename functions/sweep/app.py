"""picr-sweep: the daily schedule → one digest of jobs held for review longer than the delay."""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from picr.config import load_settings
from picr.delivery import idempotent_delivery
from picr.jobs import JobStore
from picr.review_links import review_links_from
from picr.runtime import iso, logger, metrics, utc_now
from picr.stages.sweep import SweepContext, sweep
from picr.storage import ImageBucket

settings = load_settings()
settings.require("sender", "owner_email")
dynamodb = boto3.client("dynamodb")
deliver, idempotency = idempotent_delivery(
    settings, ses=boto3.client("ses"), sns=boto3.client("sns"), dynamodb=dynamodb
)
context = SweepContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(dynamodb, settings.jobs_table),
    deliver=deliver,
    sender=settings.sender,
    recipients=settings.recipients,
    review_after=timedelta(hours=settings.review_after_hours),
    review_links=review_links_from(settings),
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, lambda_context: LambdaContext) -> dict:
    idempotency.register_lambda_context(lambda_context)
    listed = sweep(context, now=utc_now(), iso=iso)
    logger.info("sweep", extra={"scheduled_at": event.time, "held_listed": len(listed), "jobs": listed})
    metrics.add_metric(name="HeldJobsReminded", unit="Count", value=len(listed))
    return {"reminded": listed}
