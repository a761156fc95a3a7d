"""The messages one stage sends the next over SQS: a job id and, for publish, what to announce.

Everything else a stage needs is on the job's row or in the bucket, so a message stays tiny and a
redelivered one carries nothing stale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from picr.job import JOB_ID_PATTERN
from picr.records import Record, limited
from picr.settings import MAX_EXPORT_IMAGES


class StageMessage(Record):
    job_id: str = limited(pattern=JOB_ID_PATTERN)


class PublishMessage(StageMessage):
    """``ready`` publishes the variants; ``review`` and ``rejected`` only notify."""

    outcome: Literal["ready", "review", "rejected"]


BATCH_ID_PATTERN = r"^[0-9a-f]{16}$"


class RerenderMessage(StageMessage):
    """To the variants stage: render ``channel`` again for a published job, from its stored cutout."""

    batch_id: str = limited(pattern=BATCH_ID_PATTERN)
    channel: str = limited(min_length=1, max_length=40)


class RerenderedMessage(RerenderMessage):
    """To publish: the re-rendered draft (its ``Draft`` fields) to put beside the job's other images, or why
    there is none (``problem``)."""

    draft: dict[str, Any] | None = None
    problem: str | None = None


class ExportMessage(Record):
    """To the export function: zip the ``channel`` images of these products (their order is the zip's)."""

    export_id: str = limited(pattern=BATCH_ID_PATTERN)
    channel: str = limited(min_length=1, max_length=40)
    job_ids: tuple[str, ...] = limited(min_length=1, max_length=MAX_EXPORT_IMAGES, item_pattern=JOB_ID_PATTERN)
    selection: str = limited(max_length=200)
    """What the owner chose, in their words ("3 selected products", "products sent 1–7 Nov 2026")."""
    requested_at: str


class QueueSender:
    """Adapter over one SQS queue; takes its boto3 SQS client so tests pass a moto one."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.url = queue_url

    def send(self, message: Record) -> str:
        response = self._client.send_message(QueueUrl=self.url, MessageBody=message.to_json())
        return response["MessageId"]

    def send_all(self, messages: Sequence[StageMessage],
                 on_sent: Callable[[Sequence[StageMessage]], None] | None = None) -> None:
        """Many messages, ten to a request (SQS's most). ``on_sent`` is told which messages of each request SQS
        took before the next request goes (so a caller can record progress); one SQS did not take raises."""
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            entries = [{"Id": str(index), "MessageBody": message.to_json()}
                       for index, message in enumerate(chunk)]
            response = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            taken = [chunk[int(entry["Id"])] for entry in response.get("Successful", [])]
            if on_sent and taken:
                on_sent(taken)
            if response.get("Failed"):
                raise RuntimeError(f"SQS did not take {len(response['Failed'])} messages: {response['Failed'][0]}")
