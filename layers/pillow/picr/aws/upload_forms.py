"""The upload page's records in the idempotency table: one-time upload forms and per-link rate limits.

A POST policy cannot stop the same form being posted again while it is valid: S3 accepts every POST and,
the bucket being versioned, keeps each as a new version of the key, each with its own ``Object Created``
event. So each form is one-time by record, not by policy: its key carries a random form id and is recorded
(``UploadForms.issue``) when the form is handed out; ingest admits the first object that arrives on a
recorded key (``UploadForms.admit``, a conditional write that also spends one photo of the link's hourly
quota) and opens no job for anything else: a second POST of the same form, a key no form named, a photo
past the quota.

Both adapters take their boto3 DynamoDB client, so tests pass a moto one; the table's TTL deletes spent
windows and old form records by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from picr.intake.upload import link_of_key

FORM_RECORD = "uploadform#"
"""Prefix of the form records' ids in the idempotency table (beside ``ratelimit#`` counters)."""
FORM_RECORD_S = 30 * 24 * 3600
"""A form record lives as long as ``inbox/`` keeps the photo (30 days): the page can show the photo's
outcome as long as the photo exists. Spent records expire by the table's TTL."""


@dataclass(frozen=True)
class UploadForm:
    """One handed-out form's record: its link, and once an object arrived on it the job that object became
    (``job_id``) or why it was not admitted (``refused``, with the job id it would have had)."""

    link_id: str
    job_id: str | None = None
    refused: str | None = None


class RateLimiter:
    """Fixed-window counters in the idempotency table (it has a TTL, so spent windows delete themselves).

    Takes its boto3 DynamoDB client so tests pass a moto one. One conditional ``UpdateItem`` per check:
    the count only rises while under the limit, so concurrent requests cannot overshoot it.
    """

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def allow(self, link_id: str, name: str, *, limit: int, window_s: int, now_s: float, cost: int = 1) -> bool:
        if cost > limit:
            return False
        try:
            self._client.update_item(**self.spend(link_id, name, limit=limit, window_s=window_s, now_s=now_s,
                                                  cost=cost))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def spend(self, link_id: str, name: str, *, limit: int, window_s: int, now_s: float,
              cost: int = 1) -> dict[str, Any]:
        """The conditional ``UpdateItem`` that spends ``cost`` of this window's budget (also usable inside
        a transaction)."""
        window = int(now_s // window_s) * window_s
        return {
            "TableName": self._table,
            "Key": {"id": {"S": f"ratelimit#{link_id}#{name}#{window}"}},
            "UpdateExpression": "ADD hits :cost SET expiration = if_not_exists(expiration, :expires)",
            "ConditionExpression": "attribute_not_exists(hits) OR hits <= :room",
            "ExpressionAttributeValues": {":cost": {"N": str(cost)}, ":room": {"N": str(limit - cost)},
                                          ":expires": {"N": str(window + 2 * window_s)}},
        }


# ------------------------------------------------------------------ one form, one photo

@dataclass(frozen=True)
class Admission:
    """Whether the object that arrived on an upload key may become a job, and if not, why not:
    ``not_issued`` (no form named this key), ``form_used`` (another object already arrived on it),
    ``over_quota`` (the link's photos for this hour are spent)."""

    admitted: bool
    reason: str | None = None


class UploadForms:
    """The record of every upload form handed out, one item per key in the idempotency table.

    ``issue`` records a key when its form is signed; ``admit`` is ingest's question "may this object on an
    upload key become a job?". The first object to arrive claims the form and spends one photo of the
    link's hourly quota in one transaction; the claim names the job (derived from the object's version), so
    a redelivered event for the same object gets the same answer and spends nothing again, while any
    other object on that key is refused. Takes its boto3 DynamoDB client so tests pass a moto one.
    """

    ARRIVALS = "arrivals"

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._limiter = RateLimiter(client, table)

    def issue(self, key: str, link_id: str, *, now_s: float) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"id": {"S": FORM_RECORD + key}, "link_id": {"S": link_id},
                  "issued_at": {"N": str(int(now_s))}, "expiration": {"N": str(int(now_s) + FORM_RECORD_S)}},
            ConditionExpression="attribute_not_exists(id)",  # keys are random: a clash would be a bug
        )

    def get(self, key: str) -> UploadForm | None:
        """The form's record, None when no form was handed out for this key."""
        item = self._client.get_item(TableName=self._table, Key={"id": {"S": FORM_RECORD + key}},
                                     ConsistentRead=True).get("Item")
        if item is None:
            return None
        text = {name: value["S"] for name, value in item.items() if "S" in value}
        return UploadForm(link_id=text.get("link_id", ""), job_id=text.get("job_id"), refused=text.get("refused"))

    def admit(self, key: str, job_id: str, *, photos_per_hour: int, now_s: float) -> Admission:
        link_id = link_of_key(key)
        if link_id is None:
            return Admission(False, "not_issued")
        claim = {
            "TableName": self._table,
            "Key": {"id": {"S": FORM_RECORD + key}},
            "UpdateExpression": "SET job_id = :job",
            "ConditionExpression": "link_id = :link AND attribute_not_exists(job_id)",
            "ExpressionAttributeValues": {":job": {"S": job_id}, ":link": {"S": link_id}},
        }
        spend = self._limiter.spend(link_id, self.ARRIVALS, limit=photos_per_hour, window_s=3600, now_s=now_s)
        try:
            self._client.transact_write_items(TransactItems=[{"Update": claim}, {"Update": spend}])
            return Admission(True)
        except ClientError as exc:
            failed = _failed_conditions(exc)
            if failed is None:
                raise
        if failed == [False, True]:
            # Over quota: the form is spent on this refusal, so a redelivery gets the same answer.
            refuse = {**claim, "UpdateExpression": "SET job_id = :job, refused = :why",
                      "ExpressionAttributeValues": {**claim["ExpressionAttributeValues"], ":why": {"S": "over_quota"}}}
            try:
                self._client.update_item(**refuse)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return self._settled(key, link_id, job_id)

    def _settled(self, key: str, link_id: str, job_id: str) -> Admission:
        """The answer for ``job_id`` once the form's record has been decided by someone."""
        form = self.get(key)
        if form is None or form.link_id != link_id:
            return Admission(False, "not_issued")
        if form.job_id != job_id:
            return Admission(False, "form_used")
        return Admission(form.refused is None, form.refused)


def _failed_conditions(exc: ClientError) -> list[bool] | None:
    """Which items of a cancelled transaction failed their condition (None: it failed for another reason)."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return None
    reasons = exc.response.get("CancellationReasons") or []
    failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
    return failed if any(failed) else None
