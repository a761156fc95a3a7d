"""How every picr email is put together: one envelope, one MIME shape, reproducible bytes.

Messages are stdlib ``EmailMessage`` objects rendered from the package's Jinja templates (``<kind>.txt`` and
``<kind>.html``), so the same build serves SES (raw MIME) and SNS (its plain-text part). Builds are pure:
the ``Date`` comes from the caller, there is no ``Message-ID`` (SES assigns one) and MIME boundaries are
derived from content, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Any, Literal

from picr.intake.naming import one_line
from picr.templating import render

Kind = Literal["ready", "review", "held", "rejected", "digest", "rerender", "export"]


DEFAULT_LINK_LIFETIME = timedelta(days=7)
"""The longest a SigV4 presigned S3 URL can live; the email states when the links stop working."""


@dataclass(frozen=True)
class Link:
    """A button in an email (e.g. approve / reject a held cutout)."""

    label: str
    url: str

    def __post_init__(self) -> None:
        require_web_url(self.url)


@dataclass(frozen=True)
class Inline:
    """An image shown inside the HTML through ``cid:``."""

    cid: str
    jpeg: bytes


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, which job it is about, and when it is sent.

    Checked on creation, before any image work: the ``Date`` header comes from ``sent_at``, never from the
    wall clock, and a message nobody receives is a bug.
    """

    sender: str
    recipients: Sequence[str]
    job_id: str
    sent_at: datetime

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None or self.sent_at.utcoffset() is None:
            raise ValueError("sent_at must be timezone-aware")
        if not self.recipients:
            raise ValueError("at least one recipient is required")


def compose(kind: Kind, envelope: Envelope, subject: str, context: dict[str, Any], *,
            inline: Sequence[Inline] = (), attachments: Sequence[Attachment] = ()) -> EmailMessage:
    """Assemble mixed( alternative( text, related( html, inline images ) ), attachments )."""
    job_id = one_line(envelope.job_id)
    context = {**context, "subject": subject, "job_id": job_id}
    message = EmailMessage(policy=policy.default)
    message["From"] = one_line(envelope.sender)
    message["To"] = ", ".join(one_line(r) for r in envelope.recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(envelope.sent_at)
    message["X-Picr-Job"] = job_id
    message["X-Picr-Kind"] = kind
    message.set_content(render(f"{kind}.txt", context))
    message.add_alternative(render(f"{kind}.html", context), subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    for image in inline:
        html_part.add_related(image.jpeg, "image", "jpeg", cid=f"<{image.cid}>")
    for attachment in attachments:
        message.add_attachment(
            attachment.data, attachment.maintype, attachment.subtype, filename=attachment.filename
        )
    _set_content_boundaries(message)
    return message


def _set_content_boundaries(part: MIMEPart) -> None:
    """Name each multipart boundary after a hash of its children (bottom-up).

    The stdlib picks random boundaries; a hash makes the build reproducible and cannot occur in the
    content it was computed from except by a SHA-256 collision.
    """
    if not part.is_multipart():
        return
    children = part.get_payload()
    for child in children:
        _set_content_boundaries(child)
    digest = hashlib.sha256(b"".join(child.as_bytes() for child in children)).hexdigest()
    part.set_boundary(f"picr-{digest[:40]}")


# --------------------------------------------------------------------------- text helpers


def content_id(job_id: str, name: str) -> str:
    """A deterministic RFC 2392 Content-ID (without angle brackets) for an inline image."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{name}.{job_id}").strip("-.")
    return f"{safe}@picr.invalid"


def require_web_url(url: str) -> None:
    """Only http(s) links: anything else (javascript:, data:) has no business in a notification."""
    if not re.match(r"https?://[^\s]+\Z", url):
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")


def describe_duration(duration: timedelta) -> str:
    if duration <= timedelta(0):
        raise ValueError("links_valid_for must be positive")
    if duration.total_seconds() % 86400 == 0:
        days = duration.days
        return f"{days} day{'s' if days != 1 else ''}"
    hours = round(duration.total_seconds() / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def describe_size(size: int) -> str:
    """Bytes as a person reads a download's size: ``850 KB``, ``12.4 MB``, ``1.2 GB`` (powers of 1000)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{max(1, round(size / 1000))} KB"


def describe_time(moment: datetime) -> str:
    """UTC, spelled out ("28 Nov 2025, 14:05 UTC"): unambiguous for a reader in any locale."""
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%b %Y, %H:%M} UTC"


def describe_wait(hours: float) -> str:
    """"3 days" / "26 hours": how long a held product has been waiting, in the unit a person would say."""
    if hours >= 48:
        return f"{int(hours // 24)} days"
    whole = max(1, int(hours))
    return f"{whole} hour{'s' if whole != 1 else ''}"
