"""Hostile names never become markup or headers: every page and email built from owner-supplied text.

Product names come from file names, email subjects and upload forms; file names from anyone who can send
mail. Each builder here gets a name carrying a script tag, an event handler and a CR/LF.
"""

from __future__ import annotations

import email
import email.policy
import io
from datetime import UTC, datetime

from PIL import Image

from picr.notify.emails import HeldJob, build_digest_email
from picr.pages.review import PageButton, render_result_page, render_review_page

HOSTILE = 'Vase <script>alert("x")</script><img src=x onerror=alert(1)>\r\nBcc: victim@example.com'
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), (200, 30, 30, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def _assert_inert(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_the_review_page_escapes_product_and_reasons():
    html = render_review_page(job_id="0a1b2c3d4e5f60718293", product=HOSTILE, reasons=[HOSTILE],
                              held_since="2026-11-20T08:00:00.000Z", original=_png(), cutout=_png(),
                              buttons=[PageButton("approve", "Approve cutout", "tok.en")])
    _assert_inert(html)


def test_the_result_page_escapes_its_message():
    _assert_inert(render_result_page(title=HOSTILE, message=HOSTILE, job_id="0a1b2c3d4e5f60718293"))


def test_the_digest_escapes_every_held_product_and_keeps_headers_whole():
    held = HeldJob(job_id="0a1b2c3d4e5f60718293", product=HOSTILE, reasons=[HOSTILE], waited_hours=26,
                   original=_png(), cutout=_png())
    message = build_digest_email(sender="picr@example.com", recipients=["owner@example.com"], held=[held],
                                 day="2026-11-21", sent_at=NOW)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    _assert_inert(parsed.get_body(preferencelist=("html",)).get_content())
