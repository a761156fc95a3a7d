"""The messages one stage sends the next over SQS: a job id and, for publish, what to announce.

Everything else a stage needs is on the job's row or in the bucket, so a message stays tiny and a
redelivered one carries nothing stale.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from picr.job import JOB_ID_PATTERN


class StageMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN)


class PublishMessage(StageMessage):
    """``ready`` publishes the variants; ``review`` and ``rejected`` only notify."""

    outcome: Literal["ready", "review", "rejected"]


class QueueSender:
    """Adapter over one SQS queue; takes its boto3 SQS client so tests pass a moto one."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.url = queue_url

    def send(self, message: StageMessage) -> str:
        response = self._client.send_message(QueueUrl=self.url, MessageBody=message.model_dump_json())
        return response["MessageId"]
