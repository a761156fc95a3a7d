"""Asking for a zip export from the shop page: "every <channel> image of these products / of this date range".

The list page's form names a channel and either the products ticked on the page or a date range (the day
each product was sent, UTC, both ends included; either end may be left open); with neither, every ready
product. Only ready products with an image for the channel go into the zip. Refused before anything is
queued, with a message the owner can act on: a channel config that does not validate or a channel it does
not have, ticks and dates together, a date that is not one, a ticked product that is not ready or has no
image for the channel, more images than one export takes (``export_max_images``), and nothing to zip. Then
one message goes to the export function (``picr.stages.export``), which builds the zip and mails its link.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import ExportMessage, QueueSender
from picr.job import Job, Status
from picr.pages.shop import day
from picr.stages.selection import Refused, configured_channel, selected_ready


@dataclass
class ExportRequestContext:
    bucket: ImageBucket
    jobs: JobStore
    export_queue: QueueSender
    max_images: int


@dataclass(frozen=True)
class ExportForm:
    """What the list page's form posts for an export (besides the owner token)."""

    channel: str
    job_ids: tuple[str, ...] = ()
    start: str = ""
    end: str = ""
    """The date range's ends as the form's date fields post them (``2026-11-07``), empty when left open."""

    @classmethod
    def posted(cls, form: Mapping[str, Sequence[str]]) -> ExportForm:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0].strip()

        return cls(one("channel"), tuple(form.get("job", ())), one("from"), one("to"))


def request_export(form: ExportForm, ctx: ExportRequestContext, *, now: datetime) -> ExportMessage:
    """Check the request and queue the export; ``Refused`` (nothing queued) otherwise."""
    channel = configured_channel(form.channel, ctx.bucket)
    if form.job_ids and (form.start or form.end):
        raise Refused("Tick products or give dates, not both: clear the dates to zip the ticked products, or "
                      "untick them to zip a date range.")
    if form.job_ids:
        jobs = selected_ready(form.job_ids, ctx.jobs, limit=ctx.max_images, doing="exported")
        without = [job.job_id for job in jobs if not _image(job, channel)]
        if without:
            raise Refused(f"{len(without)} of the selected products have no {channel} image yet (re-render "
                          f"{channel} for them first): {', '.join(without[:5])}")
        count = len(jobs)
        selection = f"{count} selected product{'s' if count != 1 else ''}"
    else:
        start, end = _day(form.start, "from"), _day(form.end, "to")
        if start and end and start > end:
            raise Refused(f"The dates run backwards: {day(start)} is after {day(end)}.")
        dated = start is not None or end is not None
        candidates = (ctx.jobs.created_between(f"{start or date.min}T00:00:00.000Z", f"{end or date.max}T23:59:59.999Z")
                      if dated else ctx.jobs.in_status(Status.DONE))
        jobs = _with_image(candidates, channel, ctx.max_images)
        sent = _sent(start, end) if dated else ""
        selection = f"the products sent {sent}" if dated else "every ready product"
        if not jobs:
            raise Refused(f"There is nothing to zip: no ready product{' sent ' + sent if dated else ''} has a "
                          f"{channel} image.")
    message = ExportMessage(export_id=secrets.token_hex(8), channel=channel, job_ids=tuple(j.job_id for j in jobs),
                            selection=selection, requested_at=now.isoformat())
    ctx.export_queue.send(message)
    return message


def _image(job: Job, channel: str) -> bool:
    return any(output.channel == channel for output in job.outputs)


def _with_image(candidates: Iterable[Job], channel: str, limit: int) -> list[Job]:
    """The ready ones with an image for ``channel``; refused as soon as there are more than ``limit``."""
    chosen = []
    for job in candidates:
        if job.status == Status.DONE and _image(job, channel):
            chosen.append(job)
            if len(chosen) > limit:
                raise Refused(f"More than {limit} {channel} images match; one zip takes at most {limit}. Choose "
                              "a shorter date range, or tick the products.")
    return chosen


def _day(text: str, end: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise Refused(f"The '{end}' date {text[:20]!r} is not a date (write it as 2026-11-07).") from exc


def _sent(start: date | None, end: date | None) -> str:
    if start and end:
        return f"from {day(start)} to {day(end)}"
    return f"since {day(start)}" if start else f"up to {day(end)}"
