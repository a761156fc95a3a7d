"""Download links in the ready email that really work for their whole stated lifetime.

A presigned S3 URL dies with the credentials that signed it, and a Lambda role's credentials last
hours, not the 7 days the email promises. So the email links to the review function instead, with a
signed token naming one published object and an expiry; the function checks it and redirects to a
presigned URL minted at that moment, valid a few minutes. Only keys under ``out/`` (published images) and
``exports/`` (the shop's zip exports, announced by their own email) can be named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from picr.links.tokens import LinkRefused, link_url, sign, verify
from picr.settings import DownloadLinkSettings

DOWNLOAD_PATH = "download"
REDIRECT_EXPIRY_S = 300
"""The presigned URL behind a click only has to survive the redirect and the download itself."""

_PURPOSE = b"picr-download-link-v1\n"
DOWNLOADABLE = ("out/", "exports/")
"""The prefixes a download link may name; nothing else in the bucket is ever offered through one."""


@dataclass(frozen=True)
class DownloadLinks:
    """Mints the email's download links; ``signing_key`` is called per email (the secret is cached)."""

    base_url: str
    signing_key: Callable[[], bytes]
    lifetime: timedelta

    def url_for(self, key: str, *, now: datetime) -> str:
        if not key.startswith(DOWNLOADABLE):
            raise ValueError(f"only published images and exports get download links, not {key!r}")
        token = sign(self.signing_key(), _PURPOSE, {"k": key}, expires_at=now + self.lifetime)
        return link_url(self.base_url, token, DOWNLOAD_PATH)


def download_links_for(settings: DownloadLinkSettings, signing_key: Callable[[], bytes]) -> DownloadLinks:
    """What publish and the export mint their emails' download links with."""
    return DownloadLinks(settings.review_url, signing_key, settings.link_lifetime)


def read_download(key: bytes, token: str | None, *, now: datetime) -> str:
    """The object a token names; raises ``LinkRefused`` if forged, expired or not under out/ or exports/."""
    fields, _expires_at = verify(key, _PURPOSE, token, now=now)
    name = fields.get("k")
    if not isinstance(name, str) or not name.startswith(DOWNLOADABLE) or ".." in name.split("/"):
        raise LinkRefused("malformed")
    return name
