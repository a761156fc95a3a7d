"""The review page: the held photo and its attempted cutout side by side, and the decision buttons.

Served by the review function from a signed link. The page has no script and loads nothing from
anywhere: both images are embedded as ``data:`` URIs and each button is a small form that POSTs the
token back, so opening the link (or a mail client prefetching it) never decides anything.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from picr.image.thumbnail import make_thumbnail
from picr.templating import render

PAGE_IMAGE_MAX_EDGE = 800
"""Long edge of the page's images: sharp at 2x pixel density in a ~400 CSS px column, where a hole or a
ragged edge is visible, while two JPEGs stay near 200 KB (a Function URL response may be 6 MB)."""

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    # The token is in the URL: no caching, and no Referer carrying it anywhere.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # No script, no external anything; forms may only post back here; never framed (no clickjacking).
    "Content-Security-Policy": ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
}


@dataclass(frozen=True)
class PageButton:
    """One decision button: a form posting ``token`` and ``action`` back to the review function."""

    action: str
    label: str
    token: str


def jpeg_data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def render_review_page(*, job_id: str, product: str, reasons: Sequence[str], held_since: str, original: bytes,
                       cutout: bytes | None, buttons: Sequence[PageButton], fix_url: str | None = None) -> str:
    """The decision page; the cutout is shown on a checkerboard so a hole reads as a hole, not as white.
    ``fix_url`` links to the page with the tap and brush tools, when the deployment offers them."""
    images = [("Your photo", make_thumbnail(original, PAGE_IMAGE_MAX_EDGE))]
    if cutout is not None:
        images.append(("Attempted cutout", make_thumbnail(cutout, PAGE_IMAGE_MAX_EDGE, background="checkerboard")))
    return render("review_page.html", {
        "job_id": job_id,
        "product": product,
        "reasons": list(reasons),
        "held_since": held_since,
        "images": [{"label": label, "src": jpeg_data_uri(jpeg)} for label, jpeg in images],
        "buttons": [{"action": b.action, "label": b.label, "token": b.token, "primary": i == 0}
                    for i, b in enumerate(buttons)],
        "fix_url": fix_url,
    })


def render_result_page(*, title: str, message: str, job_id: str | None = None) -> str:
    """A one-message page: what was done, or why nothing was."""
    return render("review_result.html", {"title": title, "message": message, "job_id": job_id})
