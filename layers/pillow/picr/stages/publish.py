"""Publish: copy checked variants to ``out/``, write the manifest, close the job, send one email.

The email goes through ``deliver``, which the handler makes idempotent per (job, outcome) with
Powertools, so a redelivered message or a retried function never sends a second one.

Who hears: the owner always; whoever sent the photo in (the job's ``reply_to``) gets the ready and the
rejected email too, but not the review email, whose buttons decide the job: deciding is the owner's alone
(an allowed sender is anyone at an allowed domain). The sender gets a plain "held" message instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from picr.aws import jobs as states
from picr.aws.bucket import ImageBucket, manifest_key, out_key
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage
from picr.image.manifest import ManifestOutput, build_manifest
from picr.image.thumbnail import make_thumbnail
from picr.links.download import DownloadLinks
from picr.links.review import ReviewLinks
from picr.notify.emails import (
    VariantLink,
    build_held_email,
    build_ready_email,
    build_rejected_email,
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


def publish(message: PublishMessage, ctx: PublishContext, *, now: str, sent_at: Any) -> str:
    """Run the stage for one message and return the job's status afterwards."""
    job = ctx.jobs.get(message.job_id)
    if job is None:
        raise LookupError(f"job {message.job_id} does not exist")
    if message.outcome == "ready" and job["current_status"] == states.VARIED:
        _publish_outputs(job, ctx, now=now)
        job = ctx.jobs.get(message.job_id) or job
    expected = {"ready": states.DONE, "review": states.NEEDS_REVIEW, "rejected": states.REJECTED}
    if job["current_status"] != expected[message.outcome]:
        return job["current_status"]  # superseded: the job moved on, this announcement is stale
    email = _compose(message.outcome, job, ctx, sent_at=sent_at)
    notice = _notice(message.outcome, job)
    ctx.deliver(message.job_id, notice, email)
    told = _sender(job, ctx)
    if message.outcome == "review" and told:
        held = build_held_email(sender=ctx.sender, recipients=[told], product=job["product"], job_id=job["job_id"],
                                reasons=job.get("reasons") or [], sent_at=sent_at)
        ctx.deliver(message.job_id, f"{notice}-sender", held)
    return job["current_status"]


def _notice(outcome: str, job: dict[str, Any]) -> str:
    """Once-only key of an announcement: the outcome, per review round (an owner's Approve or Retry starts a
    new round, and its outcome deserves its own email even if it is another hold)."""
    review_round = int(job.get("review_round") or 0)
    return f"{outcome}-{review_round}" if review_round else outcome


def _sender(job: dict[str, Any], ctx: PublishContext) -> str | None:
    """Who sent the photo in, when that is someone besides the owner."""
    reply_to = job.get("reply_to")
    owners = {owner.lower() for owner in ctx.recipients}
    return reply_to if reply_to and reply_to.lower() not in owners else None


def _recipients(outcome: str, job: dict[str, Any], ctx: PublishContext) -> list[str]:
    sender = _sender(job, ctx) if outcome != "review" else None  # decision links go to the owner only
    return [*ctx.recipients, *([sender] if sender else [])]


def _compose(outcome: str, job: dict[str, Any], ctx: PublishContext, *, sent_at: Any) -> EmailMessage:
    common = {"sender": ctx.sender, "recipients": _recipients(outcome, job, ctx), "job_id": job["job_id"],
              "sent_at": sent_at}
    if outcome == "ready":
        links = [
            VariantLink(
                channel=output["channel"], url=ctx.download_links.url_for(output["key"], now=sent_at),
                width=output["width"], height=output["height"], format=output["format"],
                watermarked=output["watermarked"],
                thumbnail_jpeg=make_thumbnail(ctx.bucket.get(output["key"]).data),
            )
            for output in job["outputs"]
        ]
        return build_ready_email(product=job["product"], variants=links,
                                 links_valid_for=ctx.download_links.lifetime, **common)
    if outcome == "review":
        original = ctx.bucket.get(job["source_work_key"]).data
        cutout = ctx.bucket.get(job["cutout_key"]).data if job.get("cutout_key") else None
        actions = ctx.review_links.for_job(job, kind="email", now=sent_at) if ctx.review_links else []
        return build_review_email(product=job["product"], reasons=job.get("reasons") or [],
                                  original=original, cutout=cutout, actions=actions, **common)
    return build_rejected_email(file_name=job["source_file"], reason=(job.get("reasons") or [""])[0],
                                kept_at=job["rejected_key"], **common)


def _publish_outputs(job: dict[str, Any], ctx: PublishContext, *, now: str) -> None:
    outputs: list[ManifestOutput] = []
    for draft in job["variants"]:
        key = out_key(draft["channel"], job["job_id"], draft["ext"])
        ctx.bucket.copy(draft["work_key"], key)
        outputs.append(ManifestOutput(
            channel=draft["channel"], key=key, width=draft["width"], height=draft["height"],
            format=draft["format"], bytes=draft["bytes"], sha256=draft["sha256"],
            watermarked=draft["watermarked"], checks=draft["checks"],
        ))
    manifest = build_manifest(
        job_id=job["job_id"], source_file=job["source_file"], source_key=job["source_key"],
        product=job["product"], confidence=float(job.get("confidence") or 0.0),
        event_time=job["event_time"], engine=job.get("engine") or "", outputs=outputs,
    )
    key = manifest_key(job["job_id"])
    ctx.bucket.put(key, manifest, "application/json")
    published = [
        {"channel": o.channel, "key": o.key, "width": o.width, "height": o.height, "format": o.format,
         "watermarked": o.watermarked}
        for o in outputs
    ]
    ctx.jobs.transition(job["job_id"], states.DONE, allowed_from={states.VARIED}, at=now,
                        attrs={"manifest_key": key, "outputs": published},
                        detail={"manifest_key": key, "outputs": [o.key for o in outputs]})
