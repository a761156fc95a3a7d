"""What every Lambda handler shares: Powertools logging and metrics, the SQS batch wrapper, time.

A handler only supplies the per-record function; partial batch failures, structured logs with the
Lambda context and flushed metrics come from here, so no handler re-implements them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

NAMESPACE = "picr"  # fixed: the roles may only put metrics into this namespace (cloudwatch:namespace)

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)

RecordHandler = Callable[[SQSRecord], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Millisecond ISO-8601 in UTC: sorts as text, which the job history's sort key relies on."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_time(value: object) -> str:
    """An event's own time as ISO text (EventBridge sends ISO; some emulators send epoch seconds)."""
    if isinstance(value, (int, float)):
        return iso(datetime.fromtimestamp(value, UTC))
    return str(value)


def job_failed(job_id: str, step: str) -> None:
    """One job of a loop over many failed: logged with its id and the exception, counted, and skipped
    (``picr.pipeline.each_job``). Call it inside the ``except`` block."""
    logger.exception("job skipped", extra={"job_id": job_id, "step": step})
    metrics.add_metric(name="JobsSkipped", unit=MetricUnit.Count, value=1)


def count(status: str) -> None:
    """One metric per job outcome, so a dashboard shows how many were held, done or refused."""
    metrics.add_metric(name=f"Jobs_{status}", unit=MetricUnit.Count, value=1)


def sqs_batch_handler(record_handler: RecordHandler) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap a per-record function as a Lambda handler reporting partial batch failures."""
    processor = BatchProcessor(event_type=EventType.SQS)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler
