"""The messages one stage sends the next over SQS: a job id and, for publish, what to announce.

Everything else a stage needs is on the job's row or in the bucket, so a message stays tiny and a
redelivered one carries nothing stale.
"""

from __future__ import annotations

from typing import Any, Literal

from picr.job import JOB_ID_PATTERN
from picr.validation import BaseModel, ConfigDict, Field


class StageMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN)


class PublishMessage(StageMessage):
    """``ready`` publishes the variants; ``review`` and ``rejected`` only notify."""

    outcome: Literal["ready", "review", "rejected"]


BATCH_ID_PATTERN = r"^[0-9a-f]{16}$"


class RerenderMessage(StageMessage):
    """To the variants stage: render ``channel`` again for a published job, from its stored cutout."""

    batch_id: str = Field(pattern=BATCH_ID_PATTERN)
    channel: str = Field(min_length=1, max_length=40)


class RerenderedMessage(RerenderMessage):
    """To publish: the re-rendered draft (its ``Draft`` fields) to put beside the job's other images, or why
    there is none (``problem``)."""

    draft: dict[str, Any] | None = None
    problem: str | None = None


class QueueSender:
    """Adapter over one SQS queue; takes its boto3 SQS client so tests pass a moto one."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.url = queue_url

    def send(self, message: StageMessage) -> str:
        response = self._client.send_message(QueueUrl=self.url, MessageBody=message.model_dump_json())
        return response["MessageId"]

    def send_all(self, messages: list[StageMessage]) -> None:
        """Many messages, ten to a request (SQS's most); a batch entry SQS did not take raises."""
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(index), "MessageBody": message.model_dump_json()}
                       for index, message in enumerate(messages[start:start + 10])]
            response = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"SQS did not take {len(response['Failed'])} messages: {response['Failed'][0]}")
