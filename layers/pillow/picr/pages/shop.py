"""The shop page and a product's page: what the owner link shows, as HTML with its response headers.

Like the review page it has no script and loads nothing but the shop's own images, through presigned URLs
on the bucket's storage origin (the only ``img-src``); every link is relative, so the owner token travels
only to the shop page itself, and ``no-referrer`` keeps it out of every request for an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from picr.intake.naming import UNNAMED_PRODUCT
from picr.job import Job, PublishedImage
from picr.templating import render

STATE_LABELS = {"done": "ready", "needs_review": "held", "rejected": "refused", "superseded": "superseded"}
"""What the owner calls each settled state; every working state reads as ``in progress``."""


def state_label(status: str) -> str:
    return STATE_LABELS.get(status, "in progress")


def when(at: str) -> str:
    """A job time as the owner reads it (``29 Nov 2026, 08:00 UTC``)."""
    try:
        return f"{datetime.fromisoformat(at):%d %b %Y, %H:%M} UTC"
    except ValueError:
        return at


def day(moment: date) -> str:
    """A day as the owner reads it (``7 Nov 2026``)."""
    return f"{moment.day} {moment:%b %Y}"


def page_headers(storage_origin: str) -> dict[str, str]:
    """No caching and no Referer (the token is in the URL), never framed, images from the bucket only, forms
    posting back here only."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (f"default-src 'none'; img-src {storage_origin}; style-src 'unsafe-inline'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    }


@dataclass(frozen=True)
class ProductRow:
    """One product of the list: its page and thumbnail links, and what the row says about the job."""

    job: Job
    href: str
    """The product's page, relative to the shop page (the owner token goes nowhere else)."""
    thumbnail: str | None = None
    """A presigned link to its smallest image, valid for the visit; None when it has none to show."""

    @property
    def product(self) -> str:
        return self.job.product or UNNAMED_PRODUCT

    @property
    def created(self) -> str:
        return when(self.job.created_at or self.job.updated_at)

    @property
    def state(self) -> str:
        return state_label(self.job.status)


@dataclass(frozen=True)
class ChannelImageView:
    """One published image on a product's page: shown inline, and offered for download under the product's
    name (``Content-Disposition: attachment``); both links are presigned for the visit."""

    image: PublishedImage
    view_url: str
    download_url: str

    @property
    def size(self) -> str:
        return f"{self.image.width}×{self.image.height}"


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    state: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductView:
    job_id: str
    product: str
    created: str
    state: str
    reasons: tuple[str, ...] = ()
    images: tuple[ChannelImageView, ...] = ()
    manifest: str | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    review_url: str | None = None
    links: dict[str, str] = field(default_factory=dict)


def render_list(rows: Sequence[ProductRow], *, held_only: bool, links: dict[str, str | None], token: str,
                channels: Sequence[str]) -> str:
    """The list, newest first; ``links`` holds ``all``, ``held`` and ``next`` (None on the last page). The
    re-render form offers ``channels`` and posts ``token`` back (in the body: never in a log's URL)."""
    return render("shop_page.html", {"rows": list(rows), "held_only": held_only, "links": links, "job_id": None,
                                     "token": token, "channels": list(channels)})


def render_product(view: ProductView) -> str:
    return render("shop_product.html", {"view": view, "job_id": view.job_id})


def render_message(title: str, message: str) -> str:
    return render("review_result.html", {"title": title, "message": message, "job_id": None})


def render_resume(title: str, message: str, *, token: str, batch_id: str) -> str:
    """A re-render whose start was cut short: what was queued, and a button that queues the rest of the batch."""
    return render("shop_resume.html", {"title": title, "message": message, "token": token, "batch_id": batch_id,
                                       "job_id": None})
