"""The shop page: every product behind the owner link, newest first, and each product's own page.

Every request starts with the owner token: a malformed or forged one (which is what a link minted with a
replaced key is: revoked) gets 403, an expired one 410, before anything is read. The list is one Query
of one index page (``JobStore.newest``: every job by ``by-created``, or the held ones by ``by-status``),
never a Scan, and pages on with the index's own cursor. Images and downloads are presigned for the length
of a visit; showing a page changes nothing. Two forms post back from the list page, only from the page
itself (``same_origin``) and with the owner token in their body: a re-render of one channel and a zip export
of one channel, each for the products ticked on the page, or (nothing ticked) every ready product.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import BATCH_ID_PATTERN, QueueSender
from picr.aws.secrets import Secrets
from picr.intake.naming import UNNAMED_PRODUCT, product_file_name
from picr.job import JOB_ID_PATTERN, SETTLED, HistoryEntry, Job, Status
from picr.links.owner import read_owner_token
from picr.links.review import ReviewLinks, review_links_for
from picr.links.tokens import TOKEN_PARAMETER, LinkRefused, link_url
from picr.pages import shop as pages
from picr.pages.requester import Requester, same_origin
from picr.settings import ShopSettings
from picr.stages.export_request import ExportForm, ExportRequestContext, request_export
from picr.stages.rerender import MAX_PRODUCTS, RerenderContext, RerenderIncomplete, resume_rerender, start_rerender
from picr.stages.selection import Refused, configured_channels

PRODUCT_PATH = "product"
CHANNEL_ORDER = ("social", "web", "market")
MAX_DETAILS = 6
"""History details shown per step: the few that say what happened (reasons, who decided), not every field."""
_JOB_ID = re.compile(JOB_ID_PATTERN)
_BATCH_ID = re.compile(BATCH_ID_PATTERN)

_REFUSALS: dict[str, tuple[int, str, str]] = {
    "missing": (400, "This page opens from your shop link",
                "Open the shop link you were given (it ends in ?t=…)."),
    "malformed": (403, "This shop link is not valid",
                  "It may have been cut short when it was copied. Open the whole link again."),
    "forged": (403, "This shop link is not valid",
               "It was revoked (the owner-link key was replaced) or never issued. Ask for a new link."),
    "expired": (410, "This shop link has expired",
                "Owner links work for a set time. Mint a new one with python -m tools.owner_link."),
    "bad-page": (400, "That page of products could not be found", "Start again from the first page."),
    "unknown-job": (404, "This product is not on record", "Go back to your products."),
    "cross-site": (403, "Not from the shop page", "Re-renders and zips are only asked for from the shop page itself."),
    "too-large": (413, "Too many products at once", "Select fewer products and ask again."),
}
FORM_BYTES = 2048
"""A form's token, channel and dates: a few hundred bytes."""
FORM_BYTES_PER_PRODUCT = 26
"""``&job=`` and a job id: the form's bytes grow by this much per ticked product."""


@dataclass
class ShopContext:
    jobs: JobStore
    bucket: ImageBucket  # a presigning client: image and download links on the bucket's regional host
    owner_key: Callable[[], bytes]
    review_links: ReviewLinks
    storage_origin: str
    rerender: RerenderContext
    export: ExportRequestContext
    page_size: int = 20
    view_s: int = 900

    @property
    def max_form_bytes(self) -> int:
        """Room for one product more than either limit, so a selection over it gets its own clear refusal."""
        return FORM_BYTES + FORM_BYTES_PER_PRODUCT * (max(MAX_PRODUCTS, self.export.max_images) + 1)


@dataclass(frozen=True)
class ShopResponse:
    status: int
    html: str
    headers: dict[str, str]
    outcome: str
    """For logs and metrics: ``list``, ``held``, ``product`` or ``refused:<reason>``."""


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def shop_context(settings: ShopSettings, secrets: Secrets, *, s3: Any, dynamodb: Any, sqs: Any) -> ShopContext:
    """The page's collaborators, built once per container from its settings and clients (``s3`` signs the
    download links, so it must address the bucket's regional host)."""
    bucket = ImageBucket(s3, settings.bucket)
    jobs = JobStore(dynamodb, settings.jobs_table)
    return ShopContext(
        jobs=jobs, bucket=bucket, owner_key=secrets.key(settings.owner_secret_arn),
        review_links=review_links_for(settings, secrets.key(settings.review_secret_arn)),
        storage_origin=bucket.presigned_origin(),  # allowed by the page's CSP
        rerender=RerenderContext(bucket=bucket, jobs=jobs,
                                 batches=RerenderBatches(dynamodb, settings.idempotency_table),
                                 variants_queue=QueueSender(sqs, settings.variants_queue_url)),
        export=ExportRequestContext(bucket=bucket, jobs=jobs, export_queue=QueueSender(sqs, settings.export_queue_url),
                                    max_images=settings.export_max_images),
        page_size=settings.shop_page_size, view_s=settings.shop_view_minutes * 60,
    )


def listing(token: str | None, ctx: ShopContext, *, held: bool, after: str | None, now: datetime) -> ShopResponse:
    """One page of products, newest first; with ``held`` only those waiting for review."""
    try:
        _owner(token, ctx, now)
        try:
            jobs, cursor = ctx.jobs.newest(limit=ctx.page_size, status=Status.NEEDS_REVIEW if held else None,
                                           after=after or None)
        except ValueError as exc:
            raise _Refused("bad-page") from exc
    except _Refused as refused:
        return _refusal(refused, ctx)
    assert token is not None
    rows = [pages.ProductRow(job, _href(token, PRODUCT_PATH, job=job.job_id), _thumbnail(job, ctx)) for job in jobs]
    held_query = {"held": "1"} if held else {}
    links = {"all": _href(token, ""), "held": _href(token, "", held="1"),
             "next": _href(token, "", **held_query, after=cursor) if cursor else None}
    try:
        channels = configured_channels(ctx.bucket)
    except Refused:
        channels = []  # the forms would only be refused: a re-render or an export says why when asked
    html = pages.render_list(rows, held_only=held, links=links, token=token, channels=channels)
    return ShopResponse(200, html, pages.page_headers(ctx.storage_origin), "held" if held else "list")


def product(token: str | None, job_id: str | None, ctx: ShopContext, *, now: datetime) -> ShopResponse:
    """One product: its images per channel with downloads, the manifest, the history, and for a held
    product a fresh review link."""
    try:
        _owner(token, ctx, now)
        job = ctx.jobs.get(job_id) if job_id and _JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise _Refused("unknown-job")
    except _Refused as refused:
        return _refusal(refused, ctx)
    assert token is not None
    manifest = ctx.bucket.get_optional(job.manifest_key) if job.manifest_key else None
    review = (ctx.review_links.for_job(job, kind="shop", now=now) if job.status == Status.NEEDS_REVIEW else [])
    view = pages.ProductView(
        job_id=job.job_id, product=job.product or UNNAMED_PRODUCT, created=pages.when(job.created_at or job.updated_at),
        state=pages.state_label(job.status), reasons=job.reasons, images=tuple(_images(job, ctx)),
        manifest=json.dumps(json.loads(manifest), indent=2, sort_keys=True) if manifest else None,
        timeline=tuple(_entry(entry) for entry in ctx.jobs.history(job.job_id)),
        review_url=review[0].url if review else None, links={"back": _href(token, "")},
    )
    return ShopResponse(200, pages.render_product(view), pages.page_headers(ctx.storage_origin), "product")


def rerender(body: str | None, requester: Requester, ctx: ShopContext, *, now: datetime) -> ShopResponse:
    """POST from the list page's form: re-render one channel for the ticked products (every ready one when
    none is ticked); or, with ``resume``, queue the rest of a batch whose start was cut short."""
    try:
        form = _posted(body, requester, ctx, now)
    except _Refused as refused:
        return _refusal(refused, ctx)
    channel, ticked, resume = _first(form, "channel"), form.get("job") or None, _first(form, "resume")
    try:
        if resume:
            batch = resume_rerender(resume, ctx.rerender) if _BATCH_ID.fullmatch(resume) else None
            if batch is None:
                raise Refused("That is not a re-render of this shop.")
            if not batch.job_ids:
                return _message(200, "Already queued", f"Every product of this {batch.channel} re-render is queued. "
                                "One email will say when they are done.", ctx, "rerender:queued")
            what = f"the last {len(batch.job_ids)} products"
        else:
            batch = start_rerender(channel, ticked, ctx.rerender, now_s=now.timestamp())
            what = f"{len(batch.job_ids)} {'selected' if ticked else 'ready'} products"
    except Refused as refused:
        return _message(400, "Nothing was re-rendered", str(refused), ctx, "refused:rerender")
    except RerenderIncomplete as cut_short:
        html = pages.render_resume("Re-render started, not finished", str(cut_short),
                                   token=_first(form, TOKEN_PARAMETER), batch_id=cut_short.batch_id)
        return ShopResponse(503, html, pages.page_headers(ctx.storage_origin), "rerender:incomplete")
    return _message(202, "Re-render started", f"The {batch.channel} images of {what} are being made again. One "
                    "email will say when they are done.", ctx, "rerender")


def export(body: str | None, requester: Requester, ctx: ShopContext, *, now: datetime) -> ShopResponse:
    """POST from the list page's form: one zip of a channel's images of the ticked products, of a date range,
    or (neither) of every ready product; its link comes by email."""
    try:
        form = _posted(body, requester, ctx, now)
    except _Refused as refused:
        return _refusal(refused, ctx)
    try:
        message = request_export(ExportForm.posted(form), ctx.export, now=now)
    except Refused as refused:
        return _message(400, "No zip was made", str(refused), ctx, "refused:export")
    count = len(message.job_ids)
    return _message(202, "Zip on its way", f"The {message.channel} images of {message.selection} ({count} "
                    f"image{'s' if count != 1 else ''}) are being put in one zip. An email will bring its download "
                    "link in a minute or two.", ctx, "export")


# ------------------------------------------------------------------ helpers

def _posted(body: str | None, requester: Requester, ctx: ShopContext, now: datetime) -> dict[str, list[str]]:
    """A form posted from the page itself by the owner: its fields; ``_Refused`` otherwise."""
    if len(body or "") > ctx.max_form_bytes:
        raise _Refused("too-large")
    if not same_origin(requester):
        raise _Refused("cross-site")
    form = parse_qs(body or "")
    _owner(_first(form, TOKEN_PARAMETER), ctx, now)
    return form


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def _message(status: int, title: str, message: str, ctx: ShopContext, outcome: str) -> ShopResponse:
    return ShopResponse(status, pages.render_message(title, message), pages.page_headers(ctx.storage_origin), outcome)


def _owner(token: str | None, ctx: ShopContext, now: datetime) -> None:
    if not token:
        raise _Refused("missing")
    try:
        read_owner_token(ctx.owner_key(), token, now=now)
    except LinkRefused as refused:
        raise _Refused(refused.reason) from refused


def _refusal(refused: _Refused, ctx: ShopContext) -> ShopResponse:
    status, title, message = _REFUSALS[refused.reason]
    return _message(status, title, message, ctx, f"refused:{refused.reason}")


def _href(token: str, path: str, **query: str) -> str:
    """A link relative to the shop page's own URL: the token goes nowhere else."""
    extra = "".join(f"&{name}={value}" for name, value in query.items())
    return link_url("./" if not path else "", token, path) + extra


def _thumbnail(job: Job, ctx: ShopContext) -> str | None:
    """The smallest published image of a ready product, else its cleaned photo while it has one."""
    if job.outputs:
        smallest = min(job.outputs, key=lambda output: output.width * output.height)
        return ctx.bucket.presign(smallest.key, ctx.view_s)
    if job.source_work_key and job.status != Status.REJECTED:
        return ctx.bucket.presign(job.source_work_key, ctx.view_s)
    return None


def _images(job: Job, ctx: ShopContext) -> list[pages.ChannelImageView]:
    ordered = sorted(job.outputs, key=lambda o: (CHANNEL_ORDER.index(o.channel) if o.channel in CHANNEL_ORDER
                                                 else len(CHANNEL_ORDER), o.channel))
    return [pages.ChannelImageView(output, ctx.bucket.presign(output.key, ctx.view_s), ctx.bucket.presign(
        output.key, ctx.view_s, download_as=product_file_name(job.product, job.job_id, output.channel,
                                                              output.key.rsplit('.', 1)[-1])))
        for output in ordered]


def _entry(entry: HistoryEntry) -> pages.TimelineEntry:
    details = [f"{name.replace('_', ' ')}: {value}" for name, value in sorted(entry.detail.items())
               if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value)]
    state = pages.state_label(entry.status) if entry.status in SETTLED else entry.status.value  # ingested, cut, varied
    return pages.TimelineEntry(at=pages.when(entry.at), state=state,
                               details=tuple(text[:120] for text in details[:MAX_DETAILS]))
