"""The fix page: the held photo with its attempted cutout over it, and the tap / keep / remove tools.

Unlike the review page it needs a script (a canvas that takes a finger or a mouse). The script is plain JS
in ``templates/review_fix.js``, inlined into the page and allowed by its SHA-256 in the Content-Security-
Policy, so the page loads nothing from anywhere (it works offline from the Function URL, with no CDN and
no build step) and no other script can run in it. It may only talk back to its own origin
(``connect-src 'self'``). The page's data (sizes, limits, the link) travels as JSON in a
``<script type="application/json">`` block, which is data, never executed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Sequence
from functools import cache

from markupsafe import Markup
from PIL import Image

from picr.image.thumbnail import make_thumbnail
from picr.pages.edits import EditLimits
from picr.pages.review import jpeg_data_uri
from picr.templating import TEMPLATE_DIR, render

EDIT_IMAGE_MAX_EDGE = 1000
"""Long edge of the page's photo and mask: a phone showing it 390 CSS px wide at 3x density has 1170 device
pixels, so the owner sees what they brush; the photo stays near 150 KB."""
SCRIPT = "review_fix.js"
PREVIEW_PATH = "fix/preview"
PUBLISH_PATH = "fix/publish"


@cache
def script() -> str:
    return (TEMPLATE_DIR / SCRIPT).read_text(encoding="utf-8")


@cache
def fix_page_headers() -> dict[str, str]:
    """The review pages' headers, with the page's one script allowed by its hash and fetches to this origin."""
    digest = base64.b64encode(hashlib.sha256(script().encode("utf-8")).digest()).decode("ascii")
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (f"default-src 'none'; script-src 'sha256-{digest}'; connect-src 'self'; "
                                    "img-src data: blob:; style-src 'unsafe-inline'; form-action 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'"),
    }


JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff"}


def _mask_data_uri(cutout: bytes, size: tuple[int, int]) -> str:
    """The cutout's alpha at the page photo's size, as a PNG whose alpha channel is the mask."""
    with Image.open(io.BytesIO(cutout)) as opened:
        alpha = opened.convert("RGBA").getchannel("A").resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    Image.merge("LA", (Image.new("L", size, 255), alpha)).save(buffer, "PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_fix_page(*, job_id: str, product: str, reasons: Sequence[str], original: bytes, cutout: bytes,
                    size: tuple[int, int], token: str, limits: EditLimits) -> str:
    """The page; ``size`` is the photo's own (width, height), in which the page reports every edit."""
    photo = make_thumbnail(original, EDIT_IMAGE_MAX_EDGE)
    with Image.open(io.BytesIO(photo)) as shown:
        shown_size = shown.size
    data = {
        "token": token, "width": size[0], "height": size[1], "preview": PREVIEW_PATH, "publish": PUBLISH_PATH,
        "limits": {"edits": limits.max_edits, "taps": limits.max_taps, "points": limits.max_points_per_stroke,
                   "totalPoints": limits.max_points, "minRadius": limits.min_radius_px,
                   "maxRadius": max(limits.min_radius_px, int(limits.max_radius_share * max(size)))},
    }
    # JSON inside HTML: "<" is escaped so no value can close the script element
    data_json = Markup(json.dumps(data, separators=(",", ":")).replace("<", "\\u003c"))
    return render("review_fix.html", {
        "job_id": job_id, "product": product, "reasons": list(reasons),
        "photo": jpeg_data_uri(photo), "mask": _mask_data_uri(cutout, shown_size),
        "data_json": data_json, "script": Markup(script()),
    })
