"""The upload page's rules: the secret link token, the presigned POST policy, the rate limit, the status view.

The page (``picr-upload``, a public Function URL) is reached only through a link carrying a token:
``<link id>.<mac>``, where the MAC is HMAC-SHA256 of the link id under a key in Secrets Manager. The link
id names who the link was given to (``shop``, ``studio-anna``); it goes into each upload's metadata and
onto its job, and the status view shows a job only to the link it was uploaded with. Rotating the key
revokes every link at once.

Photos go from the phone straight to S3 by presigned POST: the function never carries the bytes. The
policy pins the exact key (under ``inbox/upload/<link id>/``), an ``image/*`` content type, the size
range, the metadata (so a page cannot claim another link's id) and a short expiry.

A POST policy cannot stop the same form being posted again while it is valid: S3 accepts every POST and,
the bucket being versioned, keeps each as a new version of the key, each with its own ``Object Created``
event. So each form is one-time by record, not by policy: its key carries a random form id and is recorded
(``UploadForms.issue``) when the form is handed out; ingest admits the first object that arrives on a
recorded key (``UploadForms.admit``, a conditional write that also spends one photo of the link's hourly
quota) and opens no job for anything else: a second POST of the same form, a key no form named, a photo
past the quota.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from picr import jobs as states
from picr.inbox import Origin, encode_metadata
from picr.naming import safe_file_name
from picr.signed_tokens import LinkRefused, mac_text

UPLOAD_PREFIX = "inbox/upload/"
FORM_RECORD = "uploadform#"
"""Prefix of the form records' ids in the idempotency table (beside ``ratelimit#`` counters)."""
FORM_RECORD_S = 30 * 24 * 3600
"""A form record lives as long as ``inbox/`` keeps the photo (30 days): the page can show the photo's
outcome as long as the photo exists. Spent records expire by the table's TTL."""
MAX_TOKEN_CHARS = 128
_DOMAIN = b"picr-upload-link-v1\n"
"""Prefix of every signed message: a MAC made with this key for anything else never verifies as a link."""
_LINK_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_TOKEN_SHAPE = re.compile(r"([a-z0-9][a-z0-9-]{0,31})\.([A-Za-z0-9_-]{43})")
"""One exact spelling per token (43 base64url characters = 32 bytes of MAC, no padding)."""
_IMAGE_TYPE = re.compile(r"image/[a-z0-9][a-z0-9.+-]{0,40}")
LANE_NAME = "upload"


@dataclass(frozen=True)
class UploadPolicy:
    """What one link may do.

    ``max_bytes`` (25 MB): a 48 MP phone JPEG is about 15 MB and a HEIC far less; 25 MB leaves room
    and stays under ingest's 40 MB refusal, so nothing is uploaded only to be refused for its size.
    ``post_expiry_s`` (10 min): the form is used at once; a slow phone upload of 25 MB must still start
    in time, and a leaked form is worthless soon after.
    ``view_expiry_s`` (15 min): the finished thumbnails only need to load while the page is open.
    ``requests_per_minute`` (120): the page polls every 3 s (20 a minute); 120 leaves room for a second
    tab and the upload requests, and caps a script hammering a leaked link.
    ``photos_per_hour`` (60): a busy shoot from one phone; a leaked link cannot fill the bucket or run up
    the cutout bill (each photo costs a 6 GB, ~25 s cutout).
    ``max_files_per_request`` (20): one selection on the phone.

    The hourly photo budget is spent twice over, by two counters: by the forms handed out (a page asking for
    more is told 429 at once) and by the photos that arrive (ingest admits no more than ``photos_per_hour`` per
    link per clock hour, whatever forms are in circulation).
    """

    max_bytes: int = 25 * 1024 * 1024
    post_expiry_s: int = 600
    view_expiry_s: int = 900
    requests_per_minute: int = 120
    photos_per_hour: int = 60
    max_files_per_request: int = 20


# ------------------------------------------------------------------ the link token

def _mac(key: bytes, link_id: str) -> str:
    return mac_text(key, _DOMAIN, link_id)


def mint_link_token(key: bytes, link_id: str) -> str:
    """The token for the link given to ``link_id`` (lower-case letters, digits, hyphens; 1-32 characters)."""
    if not _LINK_ID.fullmatch(link_id):
        raise ValueError(f"link id must match {_LINK_ID.pattern}: {link_id!r}")
    return f"{link_id}.{_mac(key, link_id)}"


def read_link_token(key: bytes, token: str | None) -> str:
    """The link id of a genuine token; ``LinkRefused`` otherwise. The MAC is compared in constant time."""
    match = _TOKEN_SHAPE.fullmatch(token or "") if token and len(token) <= MAX_TOKEN_CHARS else None
    if match is None:
        raise LinkRefused("malformed")
    link_id, given = match.groups()
    if not hmac.compare_digest(given.encode("ascii"), _mac(key, link_id).encode("ascii")):
        raise LinkRefused("forged")
    return link_id


# ------------------------------------------------------------------ presigned POST

@dataclass(frozen=True)
class RequestedFile:
    name: str
    content_type: str
    size: int


def upload_key(link_id: str, file_name: str) -> str:
    """``inbox/upload/<link id>/<random>-<safe name>``: unguessable, never overwritten, the name kept last."""
    return f"{UPLOAD_PREFIX}{link_id}/{secrets.token_hex(8)}-{safe_file_name(file_name)}"


def check_file(file: RequestedFile, policy: UploadPolicy) -> str | None:
    """Why this file will not be given an upload form (None when it will)."""
    if not _IMAGE_TYPE.fullmatch(file.content_type):
        return "Only photos can be uploaded here."
    if not 0 < file.size <= policy.max_bytes:
        return f"Photos must be under {policy.max_bytes // 2**20} MB."
    return None


def post_policy(link_id: str, product: str | None, content_type: str,
                policy: UploadPolicy) -> tuple[dict[str, str], list[Any]]:
    """``Fields`` and ``Conditions`` for ``generate_presigned_post``: every field the form sends is pinned
    (boto adds the bucket and the exact key), and the body must be 1 byte to ``max_bytes``."""
    metadata = encode_metadata(Origin(lane=LANE_NAME, product=product or None, token_id=link_id))
    fields = {"Content-Type": content_type, "success_action_status": "201",
              **{f"x-amz-meta-{name}": value for name, value in metadata.items()}}
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, policy.max_bytes])
    return fields, conditions


# ------------------------------------------------------------------ status

REFUSED_MESSAGES = {
    "over_quota": "Too many photos arrived from this link this hour, so this one was not processed. "
                  "Please send it again later.",
}
"""What the page says about a photo that arrived but was not admitted (the refusal is kept on its form)."""


def owns_key(link_id: str, key: str) -> bool:
    """Only keys minted for this link (and no ``..`` games) are looked up at all."""
    prefix = f"{UPLOAD_PREFIX}{link_id}/"
    return key.startswith(prefix) and "/" not in key[len(prefix):] and ".." not in key


def status_view(link_id: str, key: str, job: Mapping[str, Any] | None, *, uploaded: bool,
                output_urls: Sequence[tuple[str, str]] = (), refused: str | None = None) -> dict[str, Any]:
    """What the page shows for one photo. A job uploaded through another link reads as unknown, exactly
    like a key that was never uploaded: nothing tells one link about another's photos. ``refused`` is
    why the photo that arrived on this form was not admitted (a ``REFUSED_MESSAGES`` key)."""
    view: dict[str, Any] = {"key": key}
    if refused is not None:
        return {**view, "state": states.REJECTED, "product": None,
                "reasons": [REFUSED_MESSAGES.get(refused, "This photo was not processed.")]}
    if job is not None and job.get("token_id") != link_id:
        return {**view, "state": "unknown"}
    if job is None:
        return {**view, "state": "processing" if uploaded else "unknown"}
    status = job.get("current_status")
    if status == states.DONE:
        return {**view, "state": "done", "product": job.get("product"),
                "outputs": [{"channel": channel, "url": url} for channel, url in output_urls]}
    if status in (states.NEEDS_REVIEW, states.REJECTED, states.FAILED):
        return {**view, "state": status, "product": job.get("product"), "reasons": list(job.get("reasons") or [])}
    return {**view, "state": "processing", "product": job.get("product")}


# ------------------------------------------------------------------ rate limit

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


def link_of_key(key: str) -> str | None:
    """The link id an upload key was minted for (``inbox/upload/<link id>/<form id>-<name>``), if any."""
    link_id, _, name = key.removeprefix(UPLOAD_PREFIX).partition("/")
    minted = key.startswith(UPLOAD_PREFIX) and _LINK_ID.fullmatch(link_id) and name and owns_key(link_id, key)
    return link_id if minted else None


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

    def get(self, key: str) -> dict[str, str] | None:
        """The form's record: ``link_id``, and once something arrived on it ``job_id`` (and ``refused``)."""
        item = self._client.get_item(TableName=self._table, Key={"id": {"S": FORM_RECORD + key}},
                                     ConsistentRead=True).get("Item")
        return {name: value["S"] for name, value in item.items() if "S" in value} if item else None

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
        if form is None or form.get("link_id") != link_id:
            return Admission(False, "not_issued")
        if form.get("job_id") != job_id:
            return Admission(False, "form_used")
        return Admission(form.get("refused") is None, form.get("refused"))


def _failed_conditions(exc: ClientError) -> list[bool] | None:
    """Which items of a cancelled transaction failed their condition (None: it failed for another reason)."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return None
    reasons = exc.response.get("CancellationReasons") or []
    failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
    return failed if any(failed) else None
