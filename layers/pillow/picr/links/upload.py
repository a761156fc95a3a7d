"""Upload links: the secret link the shop bookmarks for the upload page, ``<link id>.<mac>``.

The MAC is HMAC-SHA256 of the link id under a key in Secrets Manager. The link id names who the link was
given to (``shop``, ``studio-anna``); it goes into each upload's metadata and onto its job, and the upload
page shows a job only to the link it was uploaded with. Rotating the key revokes every link at once.
"""

from __future__ import annotations

import hmac
import re

from picr.intake.upload import LINK_ID
from picr.links.tokens import LinkRefused, mac_text

MAX_TOKEN_CHARS = 128
_DOMAIN = b"picr-upload-link-v1\n"
"""Prefix of every signed message: a MAC made with this key for anything else never verifies as a link."""
_TOKEN_SHAPE = re.compile(r"([a-z0-9][a-z0-9-]{0,31})\.([A-Za-z0-9_-]{43})")
"""One exact spelling per token (43 base64url characters = 32 bytes of MAC, no padding)."""


def _mac(key: bytes, link_id: str) -> str:
    return mac_text(key, _DOMAIN, link_id)


def mint_link_token(key: bytes, link_id: str) -> str:
    """The token for the link given to ``link_id`` (lower-case letters, digits, hyphens; 1-32 characters)."""
    if not LINK_ID.fullmatch(link_id):
        raise ValueError(f"link id must match {LINK_ID.pattern}: {link_id!r}")
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
