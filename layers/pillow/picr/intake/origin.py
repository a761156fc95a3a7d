"""Where a photo came from, as every way in records it on the object it writes under ``inbox/``.

Every lane (email, Drive, upload page) writes its photo with the same few user-metadata keys (the writing
itself: ``picr.aws.inbox``), and ingest copies them onto the job. S3 sends user metadata as HTTP headers,
which must be US-ASCII, so every value is percent-encoded UTF-8 here and decoded by ingest: a product called
"Crème brûlée candle" arrives intact instead of being refused or mangled by S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

PRODUCT = "product"
SENDER = "sender"
REPLY_TO = "reply-to"
TOKEN_ID = "token-id"
LANE = "lane"

UPLOAD_LANE = "upload"
MAIL_LANE = "email"
DRIVE_LANE = "drive"
"""The ways in, as ``Origin.lane`` names them (ingest reads each from its own folder under ``inbox/``)."""

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
