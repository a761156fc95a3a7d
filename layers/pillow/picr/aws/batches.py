"""Re-render batches: one record per batch in the idempotency table, counting its products as they settle.

A batch is opened with the number of products it holds; publish settles each product once, with one
conditional ``UpdateItem`` that adds the job to the batch's set and counts it (a redelivered message finds
the job already in the set and counts nothing). The batch is complete when every product has settled, which
is when its one summary email goes out. The table's TTL deletes a batch record 14 days after it opened
(SQS keeps a message 14 days at most, so no message of the batch can arrive later).

Takes its boto3 DynamoDB client so tests pass a moto one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

BATCH_RECORD = "rerender#"
"""Prefix of the batch records' ids in the idempotency table (beside the upload page's records)."""
BATCH_RECORD_S = 14 * 24 * 3600


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

    def open(self, batch_id: str, *, channel: str, total: int, now_s: float) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"id": {"S": BATCH_RECORD + batch_id}, "channel": {"S": channel}, "total": {"N": str(total)},
                  "opened_at": {"N": str(int(now_s))}, "expiration": {"N": str(int(now_s) + BATCH_RECORD_S)}},
            ConditionExpression="attribute_not_exists(id)",  # batch ids are random: a clash would be a bug
        )

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
        item = self._client.get_item(TableName=self._table, Key={"id": {"S": BATCH_RECORD + batch_id}},
                                     ConsistentRead=True).get("Item")
        if item is None:
            raise LookupError(f"re-render batch {batch_id} is not on record")
        return _progress(item)


def _progress(item: dict[str, Any]) -> BatchProgress:
    return BatchProgress(channel=item["channel"]["S"], total=int(item["total"]["N"]),
                         settled=frozenset(item.get("settled", {}).get("SS", [])),
                         failed=frozenset(item.get("failed", {}).get("SS", [])))
