"""Re-render batches: one record per batch in the idempotency table, counting its products as they settle.

A batch is opened with the products it holds (``jobs``); starting it records each product whose message SQS
took (``queued``), so a start cut short part-way can be resumed, queueing only the rest, and the batch still
completes with every product it was opened for. Publish settles each product once, with one
conditional ``UpdateItem`` that adds the job to the batch's set and counts it (a redelivered message finds
the job already in the set and counts nothing). The batch is complete when every product has settled, which
is when its one summary email goes out. The table's TTL deletes a batch record 14 days after it opened
(SQS keeps a message 14 days at most, so no message of the batch can arrive later).

Takes its boto3 DynamoDB client so tests pass a moto one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

BATCH_RECORD = "rerender#"
"""Prefix of the batch records' ids in the idempotency table (beside the upload page's records)."""
BATCH_RECORD_S = 14 * 24 * 3600


@dataclass(frozen=True)
class BatchPlan:
    """What a batch was opened for, and which of its products' messages are queued."""

    channel: str
    jobs: tuple[str, ...]
    queued: frozenset[str]

    @property
    def pending(self) -> list[str]:
        return [job_id for job_id in self.jobs if job_id not in self.queued]


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands: the channel it renders, how many products it holds, which have settled and
    which of those failed (their render did not pass its own check, or the job was no longer ready)."""

    channel: str
    total: int
    settled: frozenset[str]
    failed: frozenset[str]

    @property
    def complete(self) -> bool:
        return len(self.settled) >= self.total


class RerenderBatches:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def open(self, batch_id: str, *, channel: str, job_ids: Sequence[str], now_s: float) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"id": {"S": BATCH_RECORD + batch_id}, "channel": {"S": channel},
                  "total": {"N": str(len(job_ids))}, "jobs": {"L": [{"S": job_id} for job_id in job_ids]},
                  "opened_at": {"N": str(int(now_s))}, "expiration": {"N": str(int(now_s) + BATCH_RECORD_S)}},
            ConditionExpression="attribute_not_exists(id)",  # batch ids are random: a clash would be a bug
        )

    def mark_queued(self, batch_id: str, job_ids: Sequence[str]) -> None:
        """Record that SQS took these products' messages."""
        self._client.update_item(
            TableName=self._table, Key={"id": {"S": BATCH_RECORD + batch_id}}, UpdateExpression="ADD queued :jobs",
            ConditionExpression="attribute_exists(id)", ExpressionAttributeValues={":jobs": {"SS": list(job_ids)}})

    def plan(self, batch_id: str) -> BatchPlan:
        item = self._item(batch_id)
        return BatchPlan(channel=item["channel"]["S"], jobs=tuple(entry["S"] for entry in item["jobs"]["L"]),
                         queued=frozenset(item.get("queued", {}).get("SS", [])))

    def settle(self, batch_id: str, job_id: str, *, ok: bool) -> BatchProgress:
        """Count ``job_id`` as settled (once, however often this is called) and return the batch's progress."""
        adds = "settled :job" + ("" if ok else ", failed :job")
        try:
            response = self._client.update_item(
                TableName=self._table, Key={"id": {"S": BATCH_RECORD + batch_id}},
                UpdateExpression=f"ADD {adds}",
                ConditionExpression=("attribute_exists(id) AND "
                                     "(attribute_not_exists(settled) OR NOT contains(settled, :one))"),
                ExpressionAttributeValues={":job": {"SS": [job_id]}, ":one": {"S": job_id}},
                ReturnValues="ALL_NEW",
            )
            return _progress(response["Attributes"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return self.get(batch_id)

    def get(self, batch_id: str) -> BatchProgress:
        return _progress(self._item(batch_id))

    def _item(self, batch_id: str) -> dict[str, Any]:
        item = self._client.get_item(TableName=self._table, Key={"id": {"S": BATCH_RECORD + batch_id}},
                                     ConsistentRead=True).get("Item")
        if item is None:
            raise LookupError(f"re-render batch {batch_id} is not on record")
        return item


def _progress(item: dict[str, Any]) -> BatchProgress:
    return BatchProgress(channel=item["channel"]["S"], total=int(item["total"]["N"]),
                         settled=frozenset(item.get("settled", {}).get("SS", [])),
                         failed=frozenset(item.get("failed", {}).get("SS", [])))
