"""What every Lambda handler shares: Powertools logging and metrics, the SQS batch wrapper, time.

A handler only supplies the per-record function; partial batch failures, structured logs with the
Lambda context and flushed metrics come from here, so no handler re-implements them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:  # annotations only: each handler imports just the Powertools utilities it uses (cold start)
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

NAMESPACE = "picr"  # fixed: the roles may only put metrics into this namespace (cloudwatch:namespace)

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)

RecordHandler = Callable[["SQSRecord"], None]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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


def sqs_batch_handler(record_handler: RecordHandler) -> Handler:
    """Wrap a per-record function as a Lambda handler reporting partial batch failures."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler


def job_stage_handler(name: str, run: Callable[[str, str], str]) -> Handler:
    """The handler of a stage whose queue carries a job id: ``run(job_id, now)`` returns the job's status
    afterwards, which is logged and counted."""

    from picr.aws.queues import StageMessage
    from picr.records import parse_json

    def record_handler(record: SQSRecord) -> None:
        message = parse_json(StageMessage, record.body)
        status = run(message.job_id, iso(utc_now()))
        logger.info(name, extra={"job_id": message.job_id, "status": status})
        count(status)

    return sqs_batch_handler(record_handler)


def with_idempotency(config: IdempotencyConfig, handler: Handler) -> Handler:
    """``handler``, registering each invocation's Lambda context on the idempotency config first: a send cut
    short by a timeout is then retried once its in-progress record expires, not blocked for 14 days."""

    def registered(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        config.register_lambda_context(lambda_context)
        return handler(event, lambda_context)

    return registered


def invoke_handler(answer: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
    """The handler of a synchronous Invoke from another function: ``answer(event)``, with the logs and metrics
    every handler has."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        return answer(event)

    return handler


def function_url_handler(app: LambdaFunctionUrlResolver) -> Handler:
    """The handler of a Function URL: the request routed by ``app``, with the logs and metrics every handler has."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        return app.resolve(event, lambda_context)

    return handler
