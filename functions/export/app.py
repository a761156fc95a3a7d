"""picr-export: SQS → one zip of a channel's images for the products the owner chose on the shop page, streamed
from out/ into exports/, and one email with its link; once per export (Powertools idempotency)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from picr.aws.queues import ExportMessage
from picr.aws.secrets import Secrets
from picr.notify.delivery import channel_client, once
from picr.records import parse_json
from picr.runtime import logger, metrics, sqs_batch_handler, utc_now, with_idempotency
from picr.settings import ExportSettings
from picr.stages.export import ExportRefused, export_context, export_once

settings = ExportSettings.from_environment()
dynamodb = boto3.client("dynamodb")
done_once = once(settings, dynamodb)
export = export_once(export_context(settings, done_once, Secrets(boto3.client("secretsmanager")),
                                    s3=boto3.client("s3"), dynamodb=dynamodb,
                                    sender=channel_client(settings, boto3.client)), done_once)


def record_handler(record: SQSRecord) -> None:
    message = parse_json(ExportMessage, record.body)
    try:
        done = export(message, sent_at=utc_now())
    except ExportRefused as refused:  # no shop page sends this: logged and dropped, never retried
        logger.error("export refused", extra={"export_id": message.export_id, "reason": str(refused)})
        metrics.add_metric(name="ExportsRefused", unit=MetricUnit.Count, value=1)
        return
    logger.info("export", extra={"export_id": message.export_id, "key": done.key, "images": done.images,
                                 "left_out": done.left_out, "bytes": done.bytes})
    metrics.add_metric(name="ExportedImages", unit=MetricUnit.Count, value=done.images)


handler = with_idempotency(done_once.config, sqs_batch_handler(record_handler))
