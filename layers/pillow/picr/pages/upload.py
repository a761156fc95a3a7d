"""The upload page and the answers it gets: its HTML (with a per-response CSP nonce) and small JSON replies.

The page is served on a public Function URL with the link token in its own URL, so nothing may keep a copy
(``no-store``) or carry the token off (``no-referrer``); its script and style run only with this response's
nonce, and it may talk only to its own function and to the bucket's storage origin (where the presigned
forms post and the finished thumbnails load from).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from picr.templating import render

POLL_MS = 3000
"""The page asks for news every 3 s: a cutout takes 20-30 s, so a result shows within a few seconds of
being ready, at 20 requests a minute (well inside the link's budget)."""


@dataclass(frozen=True)
class PageResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, body: dict[str, Any], *, retry_after: int | None = None) -> PageResponse:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return PageResponse(status, json.dumps(body), headers)


def upload_page(status: int, *, storage_origin: str, problem: str | None = None,
                retry_after: str | None = None) -> PageResponse:
    """The page, or (with ``problem``) the same frame saying why there is no form."""
    nonce = secrets.token_urlsafe(16)
    body = render("upload_page.html", {"problem": problem, "nonce": nonce, "poll_ms": POLL_MS})
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",  # the token is in the URL: nothing keeps a copy,
        "Referrer-Policy": "no-referrer",  # and no request carries it off in a Referer
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            f"connect-src 'self' {storage_origin}; img-src {storage_origin}; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'"),
    }
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return PageResponse(status, body, headers)
