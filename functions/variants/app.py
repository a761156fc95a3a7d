"""picr-variants: SQS → variants stage (render and self-check every channel)."""

from __future__ import annotations

import boto3

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.runtime import job_stage_handler
from picr.settings import VariantsSettings
from picr.stages.variants import VariantsContext, build_variants

settings = VariantsSettings.from_environment()
context = VariantsContext(
    bucket=ImageBucket(boto3.client("s3"), settings.bucket),
    jobs=JobStore(boto3.client("dynamodb"), settings.jobs_table),
    publish_queue=QueueSender(boto3.client("sqs"), settings.publish_queue_url),
)
handler = job_stage_handler("variants", lambda job_id, now: build_variants(job_id, context, now=now))
