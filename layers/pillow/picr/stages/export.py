"""The zip export: every published image of one channel from the products the owner chose, in one zip, and
one email with its link.

The shop page checked the request before queueing it (the owner link, the channel, the selection and its
size; ``picr.stages.export_request``). Here each product is read again: one no longer ready, or without an image
for the channel, is left out and counted in the email. The zip is streamed from ``out/`` into
``exports/<export id>/`` (``picr.aws.archives``: one multipart part in memory, whatever the count), and the
email's link is a signed download link like the ready email's, which outlives the function's credentials
(``picr.links.download``); the bucket deletes exports after ``EXPORT_KEEP_DAYS``.

Once per export: the whole export runs under Powertools idempotency keyed on its message, so a redelivered
message (or a retry after the email went out) builds nothing and sends nothing again; an export cut short
before it finished is built again from the start, over the abandoned one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from picr.aws.archives import ArchiveBucket, Member
from picr.aws.jobs import JobStore
from picr.aws.queues import ExportMessage
from picr.aws.secrets import Secrets
from picr.intake.naming import product_file_stem, safe_file_name
from picr.job import Job, Status
from picr.links.download import DownloadLinks, download_links_for
from picr.notify.delivery import Once, delivery
from picr.notify.export_email import build_export_email
from picr.records import parse
from picr.settings import ExportSettings

EXPORTS = "exports/"
EXPORT_KEEP_DAYS = 8
"""How long the bucket keeps an export (its lifecycle rule): longer than the 7 days its link works."""


class ExportRefused(ValueError):
    """The message asks for what no shop page would have sent (more images than the limit)."""


@dataclass
class ExportContext:
    jobs: JobStore
    archives: ArchiveBucket
    deliver: Callable[[str, EmailMessage], str]
    """Sends the export's one email (idempotent per export id)."""
    download_links: DownloadLinks
    sender: str
    recipients: list[str]
    max_images: int


@dataclass(frozen=True)
class ExportDone:
    """What an export made: the zip's key (None when no product had the image), its files, and the products
    of the selection left out."""

    key: str | None
    images: int
    left_out: int
    bytes: int = 0


def export_context(settings: ExportSettings, done_once: Once, secrets: Secrets, *, s3: Any, dynamodb: Any,
                   sender: Any) -> ExportContext:
    """The export's collaborators, built once per container from its settings and clients (``sender``: the
    notification channel's, :func:`~picr.notify.delivery.channel_client`)."""
    deliver = delivery(settings, done_once, sender=sender)
    return ExportContext(
        jobs=JobStore(dynamodb, settings.jobs_table),
        archives=ArchiveBucket(s3, settings.bucket, part_size=settings.export_part_mb * 2**20),
        deliver=lambda export_id, message: deliver({"export_id": export_id}, message),
        download_links=download_links_for(settings, secrets.key(settings.review_secret_arn)),
        sender=settings.sender, recipients=settings.recipients, max_images=settings.export_max_images,
    )


def export_key(message: ExportMessage) -> str:
    """``exports/<export id>/picr-<channel>-<date asked>.zip``: the name the browser saves it under."""
    day = message.requested_at[:10]
    return f"{EXPORTS}{message.export_id}/{safe_file_name(f'picr-{message.channel}-{day}.zip')}"


def zip_members(jobs: Iterable[Job | None], channel: str) -> tuple[list[Member], int]:
    """One file per ready product with an image for ``channel``, named after the product and the channel
    (``Sea-salt-candle-market.jpg``); two products of one name get ``-2``, ``-3``… (compared without case:
    the folder it is unzipped into may not tell ``Mug`` from ``mug``). Returns the files and how many products
    were left out."""
    members: list[Member] = []
    taken: set[str] = set()
    left_out = 0
    for job in jobs:
        image = next((o for o in job.outputs if o.channel == channel), None) if job else None
        if job is None or job.status != Status.DONE or image is None:
            left_out += 1
            continue
        stem, ext = product_file_stem(job.product, job.job_id), image.key.rsplit(".", 1)[-1]
        name, number = f"{stem}-{channel}.{ext}", 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem}-{number}-{channel}.{ext}"
        taken.add(name.casefold())
        members.append(Member(name, image.key))
    return members, left_out


def run_export(message: ExportMessage, ctx: ExportContext, *, sent_at: datetime) -> ExportDone:
    """Zip the selection's images and send the one email (with the link, or saying why there is no zip)."""
    if len(message.job_ids) > ctx.max_images:
        raise ExportRefused(f"export {message.export_id} names {len(message.job_ids)} products; "
                            f"an export takes at most {ctx.max_images}")
    members, left_out = zip_members((ctx.jobs.get(job_id) for job_id in message.job_ids), message.channel)
    done = ExportDone(None, 0, left_out)
    url = None
    if members:
        written = ctx.archives.write_zip(export_key(message), members)
        done = ExportDone(written.key, written.members, left_out, written.bytes)
        url = ctx.download_links.url_for(written.key, now=sent_at)
    email = build_export_email(sender=ctx.sender, recipients=ctx.recipients, export_id=message.export_id,
                               channel=message.channel, selection=message.selection, count=done.images,
                               size_bytes=done.bytes, url=url, left_out=left_out, sent_at=sent_at,
                               links_valid_for=ctx.download_links.lifetime)
    ctx.deliver(message.export_id, email)
    return done


def export_once(ctx: ExportContext, done_once: Once) -> Callable[..., ExportDone]:
    """``run_export`` once per export message: a repeat of a finished export returns what the first one made."""

    @done_once.per("request")
    def once(*, request: dict[str, Any], sent_at: datetime) -> dict[str, Any]:
        return asdict(run_export(parse(ExportMessage, request), ctx, sent_at=sent_at))

    def export(message: ExportMessage, *, sent_at: datetime) -> ExportDone:
        return ExportDone(**once(request=message.plain(), sent_at=sent_at))

    return export
