"""The export's email: the zip's link, or why there is none. Apart from the other emails because it has no
pictures, so the export function never loads the imaging code their thumbnails need."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from picr.intake.naming import one_line
from picr.notify.message import (
    DEFAULT_LINK_LIFETIME,
    Envelope,
    compose,
    describe_duration,
    describe_size,
    describe_time,
    require_web_url,
)


def build_export_email(*, sender: str, recipients: list[str], export_id: str, channel: str, selection: str,
                       count: int, size_bytes: int, url: str | None, left_out: int, sent_at: datetime,
                       links_valid_for: timedelta = DEFAULT_LINK_LIFETIME) -> EmailMessage:
    """'<channel>: N images in one zip' with the zip's download link, or why there is no zip (``url`` None)."""
    envelope = Envelope(sender, recipients, export_id, sent_at)
    if url is not None:
        require_web_url(url)
    channel = one_line(channel)
    context = {"channel": channel, "selection": one_line(selection), "count": count, "url": url,
               "size": describe_size(size_bytes), "left_out": left_out,
               "links_valid_for": describe_duration(links_valid_for),
               "links_expire_at": describe_time(sent_at + links_valid_for)}
    subject = (f"{channel}: {count} image{'s' if count != 1 else ''} in one zip" if url
               else f"{channel}: no images to put in a zip")
    return compose("export", envelope, subject, context)
