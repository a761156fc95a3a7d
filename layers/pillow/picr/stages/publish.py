"""Publish: copy checked variants to ``out/``, write the manifest, close the job, send one email.

The email goes through ``deliver``, which the handler makes idempotent per (job, outcome) with
Powertools, so a redelivered message or a retried function never sends a second one.

Who hears: the owner always; whoever sent the photo in (the job's ``reply_to``) gets the ready and the
rejected email too, but not the review email, whose buttons decide the job: deciding is the owner's alone
(an allowed sender is anyone at an allowed domain). The sender gets a plain "held" message instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import ImageBucket, manifest_key, out_key
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, RerenderedMessage
from picr.image.manifest import ChannelImage, ManifestOutput, build_manifest, parse_manifest
from picr.image.thumbnail import make_thumbnail
from picr.job import Draft, Job, PublishedImage, Status
from picr.links.download import DownloadLinks
from picr.links.review import ReviewLinks
from picr.notify.emails import (
    VariantLink,
    build_held_email,
    build_ready_email,
    build_rejected_email,
    build_rerender_email,
    build_review_email,
)

Deliver = Callable[[str, str, EmailMessage], str]


@dataclass
class PublishContext:
    bucket: ImageBucket
    jobs: JobStore
    deliver: Deliver
    sender: str
    recipients: list[str]
    download_links: DownloadLinks
    review_links: ReviewLinks | None = None
    """Mints the signed Approve / Reject / Retry buttons of the review email; None sends it without them."""
    batches: RerenderBatches | None = None
    """Where re-render batches are counted (the idempotency table)."""


def publish(message: PublishMessage, ctx: PublishContext, *, now: str, sent_at: datetime) -> str:
    """Run the stage for one message and return the job's status afterwards."""
    job = ctx.jobs.get(message.job_id)
    if job is None:
        raise LookupError(f"job {message.job_id} does not exist")
    if message.outcome == "ready" and job.status == Status.VARIED:
        _publish_outputs(job, ctx, now=now)
        job = ctx.jobs.get(message.job_id) or job
    expected = {"ready": Status.DONE, "review": Status.NEEDS_REVIEW, "rejected": Status.REJECTED}
    if job.status != expected[message.outcome]:
        return job.status  # superseded: the job moved on, this announcement is stale
    email = _compose(message.outcome, job, ctx, sent_at=sent_at)
    notice = _notice(message.outcome, job)
    ctx.deliver(message.job_id, notice, email)
    told = _sender(job, ctx)
    if message.outcome == "review" and told:
        held = build_held_email(sender=ctx.sender, recipients=[told], product=job.product, job_id=job.job_id,
                                reasons=list(job.reasons), sent_at=sent_at)
        ctx.deliver(message.job_id, f"{notice}-sender", held)
    return job.status


def _notice(outcome: str, job: Job) -> str:
    """Once-only key of an announcement: the outcome, per review round (an owner's Approve or Retry starts a
    new round, and its outcome deserves its own email even if it is another hold)."""
    return f"{outcome}-{job.review_round}" if job.review_round else outcome


def _sender(job: Job, ctx: PublishContext) -> str | None:
    """Who sent the photo in, when that is someone besides the owner."""
    reply_to = job.reply_to
    owners = {owner.lower() for owner in ctx.recipients}
    return reply_to if reply_to and reply_to.lower() not in owners else None


def _recipients(outcome: str, job: Job, ctx: PublishContext) -> list[str]:
    sender = _sender(job, ctx) if outcome != "review" else None  # decision links go to the owner only
    return [*ctx.recipients, *([sender] if sender else [])]


def _compose(outcome: str, job: Job, ctx: PublishContext, *, sent_at: datetime) -> EmailMessage:
    common = {"sender": ctx.sender, "recipients": _recipients(outcome, job, ctx), "job_id": job.job_id,
              "sent_at": sent_at}
    if outcome == "ready":
        thumbnails = {draft.channel: draft.thumbnail_key for draft in job.variants}
        links = [
            VariantLink(
                channel=output.channel, url=ctx.download_links.url_for(output.key, now=sent_at),
                width=output.width, height=output.height, format=output.format, watermarked=output.watermarked,
                thumbnail_jpeg=_thumbnail(output.key, thumbnails.get(output.channel), ctx),
            )
            for output in job.outputs
        ]
        return build_ready_email(product=job.product, variants=links,
                                 links_valid_for=ctx.download_links.lifetime, **common)
    if outcome == "review":
        original = ctx.bucket.get(job.source_work_key).data
        cutout = ctx.bucket.get(job.cutout_key).data if job.cutout_key else None
        actions = ctx.review_links.for_job(job, kind="email", now=sent_at) if ctx.review_links else []
        return build_review_email(product=job.product, reasons=list(job.reasons),
                                  original=original, cutout=cutout, actions=actions, **common)
    return build_rejected_email(file_name=job.source_file, reason=(job.reasons or ("",))[0],
                                kept_at=job.rejected_key or "", **common)


def publish_rerendered(message: RerenderedMessage, ctx: PublishContext, *, now: str, sent_at: datetime) -> str:
    """Put a re-rendered channel beside the job's other images, update its manifest, settle it in its batch,
    and when the batch is complete send the one summary email.

    Each step can be repeated without a second effect: the copy and the manifest are written only when the
    current version differs, the job's outputs change in one conditional write that spends the batch's id
    on the job, settling counts a job once, and the summary goes out through the idempotent delivery."""
    if ctx.batches is None:
        raise RuntimeError("publish has no batch records to settle a re-render in")
    job = ctx.jobs.get(message.job_id)
    if job is None:
        raise LookupError(f"job {message.job_id} does not exist")
    applied = f"rerender#{message.batch_id}"
    ok = applied in job.spent_tokens
    if not ok and message.draft is not None and job.status == Status.DONE:
        ok = _publish_rerendered(job, Draft(**message.draft), applied, ctx, now=now)
    progress = ctx.batches.settle(message.batch_id, message.job_id, ok=ok)
    if progress.complete:
        email = build_rerender_email(sender=ctx.sender, recipients=ctx.recipients, batch_id=message.batch_id,
                                     channel=progress.channel, total=progress.total,
                                     failed=len(progress.failed), sent_at=sent_at)
        ctx.deliver(message.batch_id, "rerender-summary", email)
    return "rerendered" if ok else "not-rerendered"


def _publish_rerendered(job: Job, draft: Draft, applied: str, ctx: PublishContext, *, now: str) -> bool:
    key = out_key(draft.channel, job.job_id, draft.ext)
    ctx.bucket.copy_unless_current(draft.work_key, key)
    facts = {f.name: getattr(draft, f.name) for f in fields(ChannelImage)}
    current = parse_manifest(ctx.bucket.get(job.manifest_key or manifest_key(job.job_id)).data)
    outputs = [ManifestOutput(**entry) for entry in current["outputs"] if entry["channel"] != draft.channel]
    outputs.append(ManifestOutput(key=key, **facts))
    manifest = build_manifest(**{name: current[name] for name in _MANIFEST_FIELDS}, outputs=outputs)
    ctx.bucket.put_unless_current(manifest_key(job.job_id), manifest, "application/json")
    published = [output for output in job.outputs if output.channel != draft.channel] + [PublishedImage(
        channel=draft.channel, key=key, width=draft.width, height=draft.height, format=draft.format,
        watermarked=draft.watermarked)]
    moved = ctx.jobs.transition(job.job_id, Status.DONE, allowed_from={Status.DONE}, at=now,
                                attrs={"outputs": published}, spend_token=applied,
                                detail={"rerendered": draft.channel, "batch": applied.split("#")[1], "key": key})
    return moved or applied in (ctx.jobs.get(job.job_id) or job).spent_tokens


_MANIFEST_FIELDS = ("job_id", "source_file", "source_key", "product", "confidence", "event_time", "engine")


def owner_fix_summary(job: Job) -> dict[str, Any] | None:
    """What the manifest says about a cutout the owner fixed on the fix page (None for any other)."""
    if not job.owner_approved or not job.owner_fix:
        return None
    edits = job.owner_fix.get("edits") or []
    return {"taps": sum("tap" in edit for edit in edits), "strokes": sum("tap" not in edit for edit in edits),
            "gate_passed": bool(job.owner_fix.get("passed")), "confidence": float(job.owner_fix.get("confidence") or 0),
            "held_cutout_key": job.owner_fix.get("held_cutout_key")}


def _thumbnail(image_key: str, thumbnail_key: str | None, ctx: PublishContext) -> bytes:
    """The variants stage's thumbnail of a published image, or one made from the image when its draft has
    none (rendered before drafts had thumbnails, or its thumbnail is gone)."""
    made = ctx.bucket.get_optional(thumbnail_key) if thumbnail_key else None
    return made if made is not None else make_thumbnail(ctx.bucket.get(image_key).data)


def _publish_outputs(job: Job, ctx: PublishContext, *, now: str) -> None:
    outputs: list[ManifestOutput] = []
    for draft in job.variants:
        key = out_key(draft.channel, job.job_id, draft.ext)
        ctx.bucket.copy(draft.work_key, key)
        facts = {f.name: getattr(draft, f.name) for f in fields(ChannelImage)}
        outputs.append(ManifestOutput(key=key, **facts))
    manifest = build_manifest(
        job_id=job.job_id, source_file=job.source_file, source_key=job.source_key, product=job.product,
        confidence=float(job.confidence or 0.0), event_time=job.event_time, engine=job.engine or "", outputs=outputs,
        owner_fix=owner_fix_summary(job),
    )
    key = manifest_key(job.job_id)
    ctx.bucket.put(key, manifest, "application/json")
    published = [PublishedImage(channel=o.channel, key=o.key, width=o.width, height=o.height, format=o.format,
                                watermarked=o.watermarked) for o in outputs]
    ctx.jobs.transition(job.job_id, Status.DONE, allowed_from={Status.VARIED}, at=now,
                        attrs={"manifest_key": key, "outputs": published},
                        detail={"manifest_key": key, "outputs": [o.key for o in outputs]})
