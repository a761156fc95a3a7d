"""Compact HMAC-signed tokens for links in emails: ``<payload>.<mac>``, both base64url.

The payload is compact JSON with an expiry ``e`` (epoch seconds); the MAC is HMAC-SHA256 over a
purpose prefix plus the payload, so a token minted for one purpose (a review decision) never verifies
for another (a download). Verification checks the MAC first, in constant time, and only then reads
the fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

TOKEN_PARAMETER = "t"
MAX_TOKEN_CHARS = 1024
"""A real token is a few hundred characters; anything far longer is refused before any decoding work."""

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
"""Exactly two base64url parts: the decoder would otherwise skip stray characters, letting many spellings
of one token verify."""


class LinkRefused(Exception):
    """The token cannot be honoured; ``reason`` is ``malformed``, ``forged`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac_text(key: bytes, purpose: bytes, payload: str) -> str:
    """HMAC-SHA256 of ``purpose + payload`` as base64url text (compared as text: see ``verify``)."""
    return _b64encode(hmac.new(key, purpose + payload.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, purpose: bytes, fields: dict[str, Any], *, expires_at: datetime) -> str:
    payload = _b64encode(
        json.dumps({**fields, "e": int(expires_at.timestamp())}, separators=(",", ":"), sort_keys=True).encode()
    )
    return f"{payload}.{mac_text(key, purpose, payload)}"


def verify(key: bytes, purpose: bytes, token: str | None, *, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The signed fields and their expiry; raises ``LinkRefused`` for anything not minted by us and current."""
    if not token or len(token) > MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
        raise LinkRefused("malformed")
    payload, mac = token.split(".")
    # Compared as text, not as decoded bytes: base64 has spare bits in its last character, so decoding
    # would accept several spellings of one MAC.
    if not hmac.compare_digest(mac, mac_text(key, purpose, payload)):
        raise LinkRefused("forged")
    try:
        fields = json.loads(_b64decode(payload))
        expires_at = datetime.fromtimestamp(int(fields.pop("e")), UTC)
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LinkRefused("malformed") from exc  # signed by us but unreadable: a bug, never trusted
    if now >= expires_at:
        raise LinkRefused("expired")
    return fields, expires_at


def link_url(base_url: str, token: str, path: str = "") -> str:
    """A Function URL (its base ends with ``/``) plus an optional path, with the token as its query."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{path}{separator}{urlencode({TOKEN_PARAMETER: token})}"
