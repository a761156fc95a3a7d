"""picr-ingest: an ``Object Created`` event under ``inbox/`` (EventBridge → SQS) → ingest stage."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.aws.upload_forms import UploadForms
from picr.image.limits import IntakeLimits
from picr.runtime import count, event_time, iso, logger, sqs_batch_handler, utc_now
from picr.settings import IngestSettings
from picr.stages.ingest import NOT_ADMITTED, IngestContext, UploadedObject, UploadNotFound, ingest

settings = IngestSettings.from_environment()
sqs = boto3.client("sqs")
dynamodb = boto3.client("dynamodb")
context = IngestContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(dynamodb, settings.jobs_table),
    cutout_queue=QueueSender(sqs, settings.cutout_queue_url),
    publish_queue=QueueSender(sqs, settings.publish_queue_url),
    limits=IntakeLimits(max_edge=settings.max_edge),
    upload_forms=UploadForms(dynamodb, settings.idempotency_table),
    photos_per_hour=settings.upload_photos_per_hour,
    drive_folder=settings.drive_folder_id,
)


def record_handler(record: SQSRecord) -> None:
    """One upload; an object the event names but S3 does not hold raises, so the record is retried and then
    dead-lettered (the DLQ alarm mails the owner) rather than dropped."""
    event = S3EventBridgeNotificationEvent(record.json_body)
    detail = event.detail
    upload = UploadedObject(
        bucket=detail.bucket.name,
        key=detail.object.raw_event["key"],  # as delivered: see picr.stages.ingest.locate for why not .key
        event_time=event_time(event.raw_event.get("time")),
        version_id=detail.object.raw_event.get("version-id"),
        etag=detail.object.etag or None,
    )
    try:
        outcome = ingest(upload, context, now=iso(utc_now()))
    except UploadNotFound:
        logger.exception("upload not found", extra={"key": upload.key, "version_id": upload.version_id})
        raise
    if outcome.status == NOT_ADMITTED:  # a form posted twice, a key no form named, a photo over quota
        logger.warning("upload not admitted", extra={"key": upload.key, **outcome.__dict__})
    else:
        logger.info("ingest skipped" if outcome.skipped else "ingested", extra={"key": upload.key, **outcome.__dict__})
    count(outcome.status)


handler = sqs_batch_handler(record_handler)
