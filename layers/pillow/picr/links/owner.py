"""Owner links: the secret link to the shop's own page (every product, its images, its history).

Minted like the upload links, from a key generated into Secrets Manager at deploy (``picr/owner-link-key``)
and read by nothing but the shop page and the command that mints a link; putting a new value into that
secret revokes every owner link at once. Unlike an upload link, an owner link shows every product and
mints review links, so it also carries its own expiry: a forwarded or forgotten link stops working by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from picr.intake.upload import LINK_ID
from picr.links.tokens import LinkRefused, sign, verify

MAX_LIFETIME = timedelta(days=366)
"""The longest an owner link may be minted for: a year, so a lost link cannot work forever."""
_PURPOSE = b"picr-owner-link-v1\n"
"""Prefix of every signed message: a token made with this key for anything else never verifies here."""


@dataclass(frozen=True)
class OwnerLink:
    """What a genuine, current owner link says: who it was given to, and until when it works."""

    owner_id: str
    expires_at: datetime


def mint_owner_token(key: bytes, owner_id: str, *, now: datetime, lifetime: timedelta) -> str:
    """The token of an owner link given to ``owner_id`` (lower-case letters, digits, hyphens; 1-32)."""
    if not LINK_ID.fullmatch(owner_id):
        raise ValueError(f"owner link id must match {LINK_ID.pattern}: {owner_id!r}")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"an owner link lasts more than nothing and at most {MAX_LIFETIME.days} days")
    return sign(key, _PURPOSE, {"o": owner_id}, expires_at=now + lifetime)


def read_owner_token(key: bytes, token: str | None, *, now: datetime) -> OwnerLink:
    """The link a token names; ``LinkRefused`` (``malformed``, ``forged``, ``expired``) otherwise.

    A token signed with a key that has since been replaced reads as ``forged``: that is what revocation is.
    """
    fields, expires_at = verify(key, _PURPOSE, token, now=now)
    owner_id = fields.get("o")
    if not isinstance(owner_id, str) or not LINK_ID.fullmatch(owner_id):
        raise LinkRefused("malformed")
    return OwnerLink(owner_id, expires_at)
