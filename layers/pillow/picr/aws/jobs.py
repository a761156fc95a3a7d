"""The job store: one DynamoDB table holding each job's current state and its append-only history.

Layout (PK ``job_id``, SK ``ts``):

* ``ts = "#current"`` — one item per job with ``current_status`` and ``updated_at``. Only this item
  carries ``current_status``, so the ``by-status`` index holds exactly one row per job and the sweep
  can ask "which jobs are *now* held, since when" with a Query, never a Scan. It also carries
  ``listing`` (always ``job``), the key of the ``by-created`` index: every job, newest first, a page at a
  time, for the shop page (again a Query, never a Scan).
* ``ts = "<iso time>#<status>"`` — one history item per transition, written in the same transaction
  as the state change and never updated, so the history answers "who did what, when" later.

Every change is a conditional transition (from an allowed set of states), which is what makes a
redelivered message or a retried function harmless: the second attempt finds the job already moved.

This and ``picr.aws.job_items`` are the only code that knows the item's shape: items are read into
``picr.job.Job`` records, and only the fields given (names of ``Job`` fields, or ``Handoff`` flags) are written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from picr.aws.job_items import (
    KEY_ATTRIBUTES,
    SPENT_TOKENS,
    STATUS_ATTRIBUTE,
    dynamo_item,
    job_from_item,
    plain_values,
    writable,
)
from picr.job import Handoff, HistoryEntry, Job, NewJob, Status

CURRENT = "#current"
STATUS_INDEX = "by-status"
LISTING_INDEX = "by-created"
LISTING_ATTRIBUTE = "listing"
LISTING_ALL = "job"
"""The one value of ``listing``: the ``by-created`` index keeps every job in one partition, ordered by
``created_at`` (a shop's jobs are few enough for one partition: thousands, not millions)."""

class JobStore:
    """Adapter over the jobs table; takes its boto3 DynamoDB client so tests pass a moto one."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def open(self, job: NewJob, *, at: str, attrs: Mapping[str, Any] | None = None,
             status: Status = Status.INGESTED, detail: Mapping[str, Any] | None = None) -> bool:
        """Create the job in ``status``; False when the job already exists (a duplicate event)."""
        current = {
            "job_id": job.job_id, "ts": CURRENT, STATUS_ATTRIBUTE: status, "updated_at": at,
            LISTING_ATTRIBUTE: LISTING_ALL, "created_at": at, "source_key": job.source_key,
            "source_file": job.source_file, "product": job.product, "event_time": job.event_time,
            "source_version": job.source_version,
            **writable(attrs),
        }
        puts = [
            {"Put": {"TableName": self._table, "Item": dynamo_item(current),
                     "ConditionExpression": "attribute_not_exists(job_id)"}},
            self._history_put(job.job_id, status, at, detail),
        ]
        return self._transact(puts)

    def transition(self, job_id: str, to_status: Status, *, allowed_from: Iterable[Status], at: str,
                   attrs: Mapping[str, Any] | None = None, detail: Mapping[str, Any] | None = None,
                   unchanged_since: str | None = None, spend_token: str | None = None) -> bool:
        """Move the job to ``to_status`` if it is in one of ``allowed_from``; False if it was not.

        ``unchanged_since`` also requires ``updated_at`` to still be that time (the job has not moved
        since the caller looked, e.g. since a review link was minted). ``spend_token`` records a one-time
        token id in ``spent_tokens`` in the same write, and refuses the move if it is already there.
        """
        allowed = sorted(Status(state).value for state in set(allowed_from))
        names = {"#s": STATUS_ATTRIBUTE, "#u": "updated_at"}
        values: dict[str, Any] = {":to": Status(to_status), ":at": at}
        sets = ["#s = :to", "#u = :at"]
        for index, (key, value) in enumerate(sorted(writable(attrs).items())):
            names[f"#a{index}"] = key
            values[f":a{index}"] = value
            sets.append(f"#a{index} = :a{index}")
        for index, state in enumerate(allowed):
            values[f":f{index}"] = state
        condition = f"#s IN ({', '.join(f':f{i}' for i in range(len(allowed)))})"
        expression = "SET " + ", ".join(sets)
        if unchanged_since is not None:
            values[":since"] = unchanged_since
            condition += " AND #u = :since"
        if spend_token is not None:
            names["#spent"] = SPENT_TOKENS
            values[":token"] = spend_token
            values[":tokens"] = {spend_token}
            condition += " AND (attribute_not_exists(#spent) OR NOT contains(#spent, :token))"
            expression += " ADD #spent :tokens"
        update = {
            "Update": {
                "TableName": self._table,
                "Key": dynamo_item({"job_id": job_id, "ts": CURRENT}),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": dynamo_item(values),
            }
        }
        return self._transact([update, self._history_put(job_id, to_status, at, detail)])

    def note(self, job_id: str, event: str, *, at: str, status: Status, unchanged_since: str, counter: str,
             seen: int, limit: int, detail: Mapping[str, Any]) -> bool:
        """Append a history row ``event`` without a state change, only while the job is still ``status``
        and unchanged since ``unchanged_since`` (the hold a review link was minted for).

        ``counter`` (an int field of the job) counts these rows: the write expects it at ``seen`` and sets
        it to ``seen + 1`` (never past ``limit``), so two concurrent notes cannot both win and every row
        gets its own sort key (``<at>#<event>#<n>``). False when any condition failed. ``updated_at`` is
        not touched: the hold, and the links minted for it, stay as they were.
        """
        if seen >= limit:
            return False
        writable({counter: seen})
        counted = "attribute_not_exists(#n)" if seen == 0 else "#n = :seen"
        values: dict[str, Any] = {":s": Status(status), ":since": unchanged_since, ":next": seen + 1}
        if seen:
            values[":seen"] = seen
        update = {"Update": {
            "TableName": self._table,
            "Key": dynamo_item({"job_id": job_id, "ts": CURRENT}),
            "UpdateExpression": "SET #n = :next",
            "ConditionExpression": f"#s = :s AND #u = :since AND {counted}",
            "ExpressionAttributeNames": {"#s": STATUS_ATTRIBUTE, "#u": "updated_at", "#n": counter},
            "ExpressionAttributeValues": dynamo_item(values)}}
        row = {"job_id": job_id, "ts": f"{at}#{event}#{seen + 1:04d}", "status": Status(status), "event": event,
               "at": at, **detail}
        put = {"Put": {"TableName": self._table, "Item": dynamo_item(row),
                       "ConditionExpression": "attribute_not_exists(ts)"}}
        return self._transact([update, put])

    def update(self, job_id: str, attrs: Mapping[str, Any]) -> None:
        """Record fields on the current item without a state change (e.g. that a follow-up step is done)."""
        attrs = writable(attrs)
        names = {f"#a{i}": key for i, key in enumerate(sorted(attrs))}
        values = {f":a{i}": attrs[key] for i, key in enumerate(sorted(attrs))}
        self._client.update_item(
            TableName=self._table,
            Key=dynamo_item({"job_id": job_id, "ts": CURRENT}),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(attrs))),
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=dynamo_item(values),
        )

    def mark_handed_off(self, job_id: str, handoff: Handoff) -> None:
        self.update(job_id, {handoff: True})

    def get(self, job_id: str) -> Job | None:
        response = self._client.get_item(
            TableName=self._table, Key=dynamo_item({"job_id": job_id, "ts": CURRENT}), ConsistentRead=True
        )
        return job_from_item(plain_values(response["Item"])) if "Item" in response else None

    def history(self, job_id: str) -> list[HistoryEntry]:
        """The transitions, oldest first (history keys sort by time; ``#current`` sorts before them)."""
        rows = self._query_all(
            KeyConditionExpression="job_id = :j AND ts > :c",
            ExpressionAttributeValues=dynamo_item({":j": job_id, ":c": CURRENT}),
            ConsistentRead=True,
        )
        return [HistoryEntry(status=Status(row.pop("status")), at=row.pop("at"),
                             detail={k: v for k, v in row.items() if k not in KEY_ATTRIBUTES}) for row in rows]

    def in_status(self, status: Status, *, updated_before: str | None = None) -> list[Job]:
        """Jobs whose current status is ``status`` (optionally unchanged since before a time), via the index."""
        condition = f"{STATUS_ATTRIBUTE} = :s"
        values: dict[str, Any] = {":s": Status(status)}
        if updated_before is not None:
            condition += " AND updated_at < :t"
            values[":t"] = updated_before
        items = self._query_all(
            IndexName=STATUS_INDEX, KeyConditionExpression=condition, ExpressionAttributeValues=dynamo_item(values)
        )
        return [job_from_item(item) for item in items]

    def newest(self, *, limit: int, status: Status | None = None,
               after: str | None = None) -> tuple[list[Job], str | None]:
        """One page of jobs, newest first: every job by when it was opened (``by-created``), or those now in
        ``status`` by when they entered it (``by-status``). Returns the page and the cursor of the next one
        (None on the last page); ``after`` is such a cursor. A cursor that is not one raises ``ValueError``."""
        if status is None:
            index, partition, value = LISTING_INDEX, LISTING_ATTRIBUTE, LISTING_ALL
        else:
            index, partition, value = STATUS_INDEX, STATUS_ATTRIBUTE, Status(status).value
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": index, "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": partition}, "ExpressionAttributeValues": dynamo_item({":p": value}),
            "ScanIndexForward": False, "Limit": limit,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = _start_key(after, index, partition, value)
        response = self._client.query(**kwargs)
        last = response.get("LastEvaluatedKey")
        jobs = [job_from_item(plain_values(item)) for item in response.get("Items", [])]
        return jobs, _cursor(last) if last else None

    def created_between(self, start: str, end: str) -> Iterator[Job]:
        """Every job opened from ``start`` to ``end`` (ISO times, both included), newest first, read a page at a
        time from ``by-created`` as the caller goes (so a caller that stops early reads no more)."""
        items = self._pages(IndexName=LISTING_INDEX, ScanIndexForward=False,
                            KeyConditionExpression="#p = :p AND created_at BETWEEN :s AND :e",
                            ExpressionAttributeNames={"#p": LISTING_ATTRIBUTE},
                            ExpressionAttributeValues=dynamo_item({":p": LISTING_ALL, ":s": start, ":e": end}))
        return (job_from_item(item) for item in items)

    def unlisted(self) -> Iterator[Job]:
        """Jobs missing from ``by-created`` (opened before it existed: no ``listing`` or ``created_at``), a page at
        a time. Every job is in ``by-status`` exactly once, so one Query per state finds them all: no Scan."""
        for status in Status:
            yield from (job_from_item(item) for item in self._pages(
                IndexName=STATUS_INDEX, KeyConditionExpression="#s = :s",
                FilterExpression="attribute_not_exists(#l) OR attribute_not_exists(created_at)",
                ExpressionAttributeNames={"#s": STATUS_ATTRIBUTE, "#l": LISTING_ATTRIBUTE},
                ExpressionAttributeValues=dynamo_item({":s": status})))

    def add_listing(self, job_id: str, *, created_at: str) -> bool:
        """Put a job into ``by-created``, opened at ``created_at`` unless it records its own; False when it is
        there already (so running a backfill twice changes nothing the second time)."""
        try:
            self._client.update_item(
                TableName=self._table, Key=dynamo_item({"job_id": job_id, "ts": CURRENT}),
                UpdateExpression="SET #l = :l, created_at = if_not_exists(created_at, :c)",
                ConditionExpression="attribute_exists(job_id) AND (attribute_not_exists(#l) OR "
                                    "attribute_not_exists(created_at))",
                ExpressionAttributeNames={"#l": LISTING_ATTRIBUTE},
                ExpressionAttributeValues=dynamo_item({":l": LISTING_ALL, ":c": created_at}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of a Query on the table (never a Scan)."""
        return list(self._pages(**kwargs))

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The items of a Query on the table (never a Scan), one page fetched at a time."""
        kwargs["TableName"] = self._table
        while True:
            response = self._client.query(**kwargs)
            yield from (plain_values(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _history_put(self, job_id: str, status: Status, at: str, detail: Mapping[str, Any] | None) -> dict:
        status = Status(status)
        row = {"job_id": job_id, "ts": f"{at}#{status}", "status": status, "at": at, **(detail or {})}
        return {"Put": {"TableName": self._table, "Item": dynamo_item(row),
                        "ConditionExpression": "attribute_not_exists(ts)"}}

    def _transact(self, items: list[dict]) -> bool:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                    return False
            raise
        return True


_INDEX_SORT = {LISTING_INDEX: "created_at", STATUS_INDEX: "updated_at"}


def _cursor(last_key: Mapping[str, Any]) -> str:
    """A page's LastEvaluatedKey as URL-safe text (its values are strings: the keys of the table and index)."""
    plain = {name: value["S"] for name, value in sorted(last_key.items())}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _start_key(cursor: str, index: str, partition: str, value: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor names; ``ValueError`` unless it is a key of this very index partition."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a page cursor") from exc
    names = {"job_id", "ts", partition, _INDEX_SORT[index]}
    if (not isinstance(plain, dict) or set(plain) != names or plain[partition] != value or plain["ts"] != CURRENT
            or not all(isinstance(text, str) and 0 < len(text) <= 64 for text in plain.values())):
        raise ValueError("not a page cursor")
    return {name: {"S": text} for name, text in plain.items()}
