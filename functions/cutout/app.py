"""picr-cutout: the container function — SQS → cutout stage, one job per invocation.

The engine (and so the ONNX session) is created here at module scope: once per container, not per
photo. The hosted engine fetches its key from Secrets Manager at call time, cached briefly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import get_secret

from picr.config import Settings, load_settings
from picr.engine import HostedEngine, LocalEngine, SegmentationEngine
from picr.gate import GateThresholds
from picr.gate_profile import profile_for
from picr.jobs import JobStore
from picr.messages import QueueSender, StageMessage
from picr.runtime import count, iso, logger, sqs_batch_handler, utc_now
from picr.stages.cutout import CutoutContext, cut
from picr.storage import ImageBucket


def make_engine(settings: Settings) -> SegmentationEngine:
    if settings.engine == "hosted":
        settings.require("hosted_secret_arn")
        secret_arn = settings.hosted_secret_arn
        return HostedEngine(settings.hosted_url, lambda: get_secret(secret_arn, max_age=300))
    engine = LocalEngine(settings.model)
    profile_for(engine)   # the gate's fitted limits for exactly these weights, or ProfileError: no start
    return engine


def hosted_engine_factory(settings: Settings) -> Callable[[], SegmentationEngine] | None:
    """The hosted engine for review-lane retries, built on first use only: most containers never need it."""
    if not settings.hosted_secret_arn:
        return None
    return cache(lambda: make_engine(settings.model_copy(update={"engine": "hosted"})))


settings = load_settings()
settings.require("variants_queue_url", "publish_queue_url")
sqs = boto3.client("sqs")
context = CutoutContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    engine=make_engine(settings),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    publish_queue=QueueSender(sqs, settings.publish_queue_url),
    thresholds=GateThresholds(),
    hosted_engine=hosted_engine_factory(settings),
)


def record_handler(record: SQSRecord) -> None:
    message = StageMessage.model_validate_json(record.body)
    status = cut(message.job_id, context, now=iso(utc_now()))
    logger.info("cutout", extra={"job_id": message.job_id, "status": status})
    count(status)


handler = sqs_batch_handler(record_handler)
