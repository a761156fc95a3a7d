"""Signed review links: the Approve / Reject / Retry buttons in the review email and the daily digest.

A link carries a token naming one job and one action, signed with HMAC-SHA256 under a key kept in
Secrets Manager. The token is the only credential the review function accepts, so it has to be:

* **unforgeable** — the MAC covers every field (job, action, link kind, the hold it was minted for,
  expiry, nonce) and is compared with ``hmac.compare_digest`` (constant time);
* **short-lived** — it names its own expiry; the daily digest mints fresh links for jobs still held;
* **usable once** — its random nonce is recorded on the job in the same conditional write that performs
  the action, and the action also requires the job to still be in the hold the token was minted for
  (``held_at`` = the job's ``updated_at`` when it entered ``needs_review``). Any action moves the job on,
  so every other link minted for that hold — Reject after Approve, yesterday's digest — dies with it.

Rotating the secret invalidates every outstanding link; the next digest brings new ones.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from picr.job import JOB_ID_PATTERN, Job
from picr.links.tokens import LinkRefused, link_url, sign, verify
from picr.notify.message import Link
from picr.settings import ReviewLinkSettings

Action = Literal["approve", "reject", "retry", "fix"]
ACTIONS: tuple[Action, ...] = ("approve", "reject", "retry", "fix")
LABELS: dict[str, str] = {"approve": "Approve cutout", "reject": "Reject", "retry": "Retry with the hosted engine",
                          "fix": "Fix the cutout yourself"}
LINK_KINDS = ("email", "digest", "shop")
"""Where a link was sent: the review email (publish), the daily digest (sweep) or the shop page; kept in the
audit trail."""

_DOMAIN = b"picr-review-link-v1\n"
"""Prefix of every signed message, so a MAC made with this key for another purpose never verifies here."""
_JOB_ID = re.compile(JOB_ID_PATTERN)


@dataclass(frozen=True)
class ReviewToken:
    """What a verified token says: who may do what to which hold of which job, until when."""

    job_id: str
    action: Action
    kind: str
    held_at: str
    expires_at: datetime
    nonce: str


def mint_token(key: bytes, *, job_id: str, action: Action, kind: str, held_at: str, expires_at: datetime,
               nonce: str | None = None) -> str:
    """A signed token naming the job, the action, the link kind, the hold, the expiry and a random nonce."""
    if action not in ACTIONS:
        raise ValueError(f"unknown review action {action!r}")
    if kind not in LINK_KINDS:
        raise ValueError(f"unknown link kind {kind!r}")
    fields = {"j": job_id, "a": action, "k": kind, "h": held_at, "n": nonce or secrets.token_urlsafe(12)}
    return sign(key, _DOMAIN, fields, expires_at=expires_at)


def read_token(key: bytes, token: str | None, *, now: datetime) -> ReviewToken:
    """Verify the signature first (constant time), then the expiry; only then trust the fields."""
    fields, expires_at = verify(key, _DOMAIN, token, now=now)
    try:
        parsed = ReviewToken(job_id=str(fields["j"]), action=fields["a"], kind=str(fields["k"]),
                             held_at=str(fields["h"]), expires_at=expires_at, nonce=str(fields["n"]))
    except KeyError as exc:
        raise LinkRefused("malformed") from exc
    if not _JOB_ID.fullmatch(parsed.job_id) or parsed.action not in ACTIONS or parsed.kind not in LINK_KINDS:
        raise LinkRefused("malformed")
    return parsed


def review_url(base_url: str, token: str) -> str:
    """The review function's URL with the token as its query (the Function URL base ends with ``/``)."""
    return link_url(base_url, token)


def offered_actions(job: Job, *, hosted_retry: bool, owner_fix: bool = False) -> list[Action]:
    """The actions that make sense for a held job, in button order.

    Approve needs a cutout to build from; Retry only when a hosted engine is configured and the held
    cutout was not already the hosted engine's (asking it the same question again would not help).
    Fix (the fix page's tap and brush tools) needs the photo, the cutout and its size, and a deployment
    that wires the review function to the cutout container (``owner_fix``).
    """
    actions: list[Action] = []
    if job.cutout_key:
        actions.append("approve")
    actions.append("reject")
    if hosted_retry and job.engine != "hosted" and job.source_work_key:
        actions.append("retry")
    if owner_fix and job.cutout_key and job.source_work_key and job.width and job.height:
        actions.append("fix")
    return actions


@dataclass(frozen=True)
class ReviewLinks:
    """Mints the buttons for one held job; publish uses it for the review email, the sweep for the digest.

    ``signing_key`` is called per message, so the key can be cached for a few minutes where it is read
    (``picr.aws.secrets``) without this code knowing where it comes from.
    """

    base_url: str
    signing_key: Callable[[], bytes]
    lifetime: timedelta
    hosted_retry: bool = False

    def for_job(self, job: Job, *, kind: str, now: datetime) -> list[Link]:
        key = self.signing_key()
        expires_at = now + self.lifetime
        return [
            Link(LABELS[action], review_url(self.base_url, mint_token(
                key, job_id=job.job_id, action=action, kind=kind, held_at=job.updated_at,
                expires_at=expires_at)))
            for action in offered_actions(job, hosted_retry=self.hosted_retry)
        ]


def review_links_for(settings: ReviewLinkSettings, signing_key: Callable[[], bytes]) -> ReviewLinks:
    """What publish and the sweep mint links with."""
    return ReviewLinks(base_url=settings.review_url, signing_key=signing_key, lifetime=settings.review_link_lifetime,
                       hosted_retry=settings.hosted_retry)
