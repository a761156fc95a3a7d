"""picr-cutout: the container function — SQS → cutout stage, one job per invocation; and the fix page's tap
and brush previews, because the model and OpenCV live here: the review function invokes it synchronously
with ``{"fix": {...}}`` (``picr.stages.fix``), which SQS never sends.

The engine (and so the ONNX session) is created at module scope: once per container, not per photo. The
hosted engine reads its key from Secrets Manager at call time; for review-lane retries it (with the only
Secrets Manager client here) is built on first use only, since most containers never need it.
"""

from __future__ import annotations

from functools import cache

import boto3

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.aws.secrets import Secrets
from picr.runtime import invoke_handler, job_stage_handler
from picr.segmentation.engine import HostedEngine, LocalEngine, SegmentationEngine
from picr.segmentation.gate import GateThresholds
from picr.segmentation.gate_profile import profile_for
from picr.settings import CutoutSettings
from picr.stages.cutout import CutoutContext, cut
from picr.stages.fix import FixContext, handle

settings = CutoutSettings.from_environment()
sqs = boto3.client("sqs")


@cache
def hosted_engine() -> SegmentationEngine:
    secrets = Secrets(boto3.client("secretsmanager"))
    return HostedEngine(settings.hosted_url, lambda: secrets.text(settings.hosted_secret_arn or ""))


def local_engine() -> SegmentationEngine:
    engine = LocalEngine(settings.model, threads=settings.inference_threads)
    profile_for(engine)   # the gate's fitted limits for exactly these weights, or ProfileError: no start
    return engine


context = CutoutContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    engine=hosted_engine() if settings.engine == "hosted" else local_engine(),
    variants_queue=QueueSender(sqs, settings.variants_queue_url),
    publish_queue=QueueSender(sqs, settings.publish_queue_url),
    thresholds=GateThresholds(),
    hosted_engine=hosted_engine if settings.hosted_secret_arn else None,
)
fix_context = FixContext(bucket=context.bucket, engine=context.engine, thresholds=context.thresholds)
stage_handler = job_stage_handler("cutout", lambda job_id, now: cut(job_id, context, now=now))

fix_handler = invoke_handler(lambda event: handle(event, fix_context))


def handler(event: dict, lambda_context: object) -> dict:
    return fix_handler(event, lambda_context) if "fix" in event else stage_handler(event, lambda_context)
