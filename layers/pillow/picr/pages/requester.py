"""Who sent a page's request, and whether a browser sent it from the page itself.

The review, fix and shop pages act on a POST whose token authorises it; these checks keep another site
from replaying such a token through the owner's browser, and give the audit trail its who and from where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent


@dataclass(frozen=True)
class Requester:
    """Who sent the request, from the Function URL request context and headers (for the audit trail)."""

    source_ip: str | None = None
    user_agent: str | None = None
    origin: str | None = None
    host: str | None = None
    fetch_site: str | None = None
    """The ``Sec-Fetch-Site`` header: how the browser says where the request came from."""

    @classmethod
    def of(cls, event: LambdaFunctionUrlEvent) -> Requester:
        """The requester of a Function URL request, as the request context and the browser's headers say."""
        http, headers = event.request_context.http, event.headers
        return cls(source_ip=http.source_ip, user_agent=http.user_agent, origin=headers.get("origin"),
                   host=event.request_context.domain_name, fetch_site=headers.get("sec-fetch-site"))


def same_origin(requester: Requester) -> bool:
    """A browser posting from another site is refused, whatever token it carries.

    The token in the body is what authorises the action; this only stops another site from replaying a
    token it somehow holds through the owner's browser. ``Sec-Fetch-Site`` is the browser's own verdict;
    ``Origin`` is compared when it is a real origin — the page's ``no-referrer`` policy makes browsers
    send ``Origin: null`` on its own form posts. Clients sending neither (old browsers) pass, since the
    token must still be valid.
    """
    if requester.fetch_site is not None and requester.fetch_site != "same-origin":
        return False
    if requester.origin in (None, "null"):
        return True
    return urlsplit(requester.origin).netloc.lower() == (requester.host or "").lower()
