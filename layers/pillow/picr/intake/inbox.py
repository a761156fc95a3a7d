"""The one door every way in uses: a photo written once under ``inbox/`` with where it came from.

Every lane (email, Drive, upload page) writes its photo with the same few user-metadata keys, and ingest
copies them onto the job. S3 sends user metadata as HTTP headers, which must be US-ASCII, so every value
is percent-encoded UTF-8 here and decoded by ingest: a product called "Crème brûlée candle" arrives
intact instead of being refused or mangled by S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from picr.aws.bucket import INBOX

PRODUCT = "product"
SENDER = "sender"
REPLY_TO = "reply-to"
TOKEN_ID = "token-id"
LANE = "lane"

MAX_METADATA_VALUE = 256
"""S3 allows 2 KB of user metadata per object; five values of at most 256 characters (up to 3x that once
percent-encoded) stay inside it, and no product name or address needs more."""


@dataclass(frozen=True)
class Origin:
    """The facts about an upload that ingest stores on its job (every field optional)."""

    lane: str | None = None
    product: str | None = None
    sender: str | None = None
    reply_to: str | None = None
    token_id: str | None = None

    def job_attrs(self) -> dict[str, str | None]:
        """What goes on the job: the lane, who sent it, who gets the result besides the owner, which link."""
        return {"lane": self.lane, "sender": self.sender, "reply_to": self.reply_to, "token_id": self.token_id}


def encode_metadata(origin: Origin) -> dict[str, str]:
    """S3 ``Metadata`` for ``origin``: set fields only, each percent-encoded UTF-8 and bounded."""
    fields = {PRODUCT: origin.product, SENDER: origin.sender, REPLY_TO: origin.reply_to,
              TOKEN_ID: origin.token_id, LANE: origin.lane}
    return {key: encode_value(value) for key, value in fields.items() if value}


def encode_value(value: str) -> str:
    """One metadata value as ASCII (spaces and address characters kept readable), cut to the bound first."""
    return quote(value[:MAX_METADATA_VALUE], safe=" @.,+-_")


def decode_metadata(metadata: Mapping[str, str]) -> Origin:
    """The origin recorded on an object (a value that was never encoded decodes to itself)."""

    def value(key: str) -> str | None:
        raw = metadata.get(key)
        return unquote(raw) if raw else None

    return Origin(lane=value(LANE), product=value(PRODUCT), sender=value(SENDER), reply_to=value(REPLY_TO),
                  token_id=value(TOKEN_ID))


class Inbox:
    """Adapter writing photos under ``inbox/``; takes its boto3 S3 client so tests pass a moto one.

    Each write is conditional (``If-None-Match: *``): a lane that retries after a crash finds its photo
    already there instead of writing a second version, which would start a second job.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def drop(self, name: str, data: bytes, content_type: str, origin: Origin) -> bool:
        """Write ``inbox/<name>`` once; False when it was already there (nothing written)."""
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=f"{INBOX}{name}", Body=data, ContentType=content_type,
                Metadata=encode_metadata(origin), IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                return False
            raise
        return True
