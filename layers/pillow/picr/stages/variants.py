"""Variants: render every configured channel from a passed cutout and check each encoded file.

Drafts go to ``drafts/<job_id>/`` (scratch: they expire); only publish copies them to ``out/``, so
nothing under ``out/`` ever comes from a variant that failed its own check.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from picr.aws.bucket import CHANNELS_CONFIG_KEY, LOGO_KEY, ImageBucket, draft_key, rerender_draft_key
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, QueueSender, RerenderedMessage, RerenderMessage
from picr.image.channels import ChannelConfig, ChannelConfigError, ChannelSpec, default_logo, load_channel_config
from picr.image.render import render_variants
from picr.image.thumbnail import thumbnail_of
from picr.image.verify import check_variant
from picr.job import Draft, Handoff, Status
from picr.pipeline import hand_off


@dataclass
class VariantsContext:
    bucket: ImageBucket
    jobs: JobStore
    publish_queue: QueueSender


def _open_rgba(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGBA")


def build_variants(job_id: str, ctx: VariantsContext, *, now: str) -> str:
    """Run the stage for one job and return its status afterwards."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    if job.status == Status.CUT:
        _render_all(job_id, job.cutout_key, ctx, now=now)
        job = ctx.jobs.get(job_id) or job
    if job.status == Status.VARIED:
        hand_off(ctx.jobs, job, Handoff.PUBLISH_READY, ctx.publish_queue,
                 PublishMessage(job_id=job_id, outcome="ready"))
    elif job.status == Status.NEEDS_REVIEW:
        hand_off(ctx.jobs, job, Handoff.PUBLISH_REVIEW, ctx.publish_queue,
                 PublishMessage(job_id=job_id, outcome="review"))
    return job.status


def _render_all(job_id: str, cutout_key: str, ctx: VariantsContext, *, now: str) -> None:
    try:
        config = load_channel_config(ctx.bucket.get_optional(CHANNELS_CONFIG_KEY))
    except ChannelConfigError as exc:
        _hold(job_id, ctx, [f"The channel settings (config/channels.json) are not valid: {exc}"], now=now)
        return
    rendered = _render(config, cutout_key, ctx, lambda spec, ext: draft_key(job_id, spec.name, ext),
                       thumbnails=True)
    drafts = [draft for draft, _failures in rendered]
    failures = [f"{draft.channel}: {failure}" for draft, found in rendered for failure in found]
    if failures:
        _hold(job_id, ctx, failures, now=now, attrs={"variants": drafts})
        return
    ctx.jobs.transition(job_id, Status.VARIED, allowed_from={Status.CUT}, at=now,
                        attrs={"variants": drafts}, detail={"channels": [d.channel for d in drafts]})


def rerender_variant(message: RerenderMessage, ctx: VariantsContext) -> str:
    """Render one channel again for a published job, from its stored cutout, and hand the draft to publish
    (or why there is none). Rendering is deterministic, so a redelivered message makes the same bytes."""
    job = ctx.jobs.get(message.job_id)
    if job is None:
        raise LookupError(f"job {message.job_id} does not exist")
    problem, draft = None, None
    try:
        config = load_channel_config(ctx.bucket.get_optional(CHANNELS_CONFIG_KEY))
        spec = config.channel(message.channel)
    except ChannelConfigError as exc:
        problem = f"the channel settings (config/channels.json) are not valid: {exc}"
    except KeyError:
        problem = f"config/channels.json no longer has a channel {message.channel!r}"
    if problem is None and (job.status != Status.DONE or not job.cutout_key):
        problem = f"the product is no longer ready ({job.status})"
    if problem is None:
        one = config.replaced(channels=(spec,))
        ((draft, failures),) = _render(one, job.cutout_key, ctx, lambda _spec, ext: rerender_draft_key(
            job.job_id, message.batch_id, message.channel, ext), thumbnails=False)
        problem = f"the new {spec.name} image failed its own check: {'; '.join(failures)}" if failures else None
    ctx.publish_queue.send(RerenderedMessage(**message.plain(), problem=problem,
                                             draft=dataclasses.asdict(draft) if draft and draft.passed else None))
    return "rendered" if problem is None else "refused"


def _render(config: ChannelConfig, cutout_key: str, ctx: VariantsContext,
            key_of: Callable[[ChannelSpec, str], str], *, thumbnails: bool) -> list[tuple[Draft, list[str]]]:
    """Every channel of ``config`` rendered from the cutout, checked, and written as a draft under ``key_of``;
    each with the failures of its check. With ``thumbnails`` (a job's first render: its ready email shows
    them) each draft's thumbnail is written beside it; a re-render's summary email shows none."""
    logo_bytes = ctx.bucket.get_optional(LOGO_KEY)
    logo = _open_rgba(logo_bytes) if logo_bytes else default_logo()
    cutout = _open_rgba(ctx.bucket.get(cutout_key).data)
    drafts = []
    for spec, variant in zip(config.channels, render_variants(cutout, config, logo), strict=True):
        check = check_variant(variant, spec, config.watermark, logo)
        key, thumbnail_key = key_of(spec, variant.ext), key_of(spec, "thumbnail.jpg") if thumbnails else None
        ctx.bucket.put(key, variant.data, variant.content_type)
        if thumbnail_key:
            ctx.bucket.put(thumbnail_key, thumbnail_of(variant.image), "image/jpeg")
        drafts.append((Draft(
            channel=spec.name, work_key=key, thumbnail_key=thumbnail_key, ext=variant.ext,
            content_type=variant.content_type,
            width=variant.width, height=variant.height, format=variant.format,
            bytes=len(variant.data), sha256=variant.sha256,
            watermarked=variant.watermarked, checks=dict(check.checks), passed=check.passed,
        ), list(check.failures)))
    return drafts


def _hold(job_id: str, ctx: VariantsContext, reasons: list[str], *, now: str, attrs: dict | None = None) -> None:
    ctx.jobs.transition(job_id, Status.NEEDS_REVIEW, allowed_from={Status.CUT}, at=now,
                        attrs={"reasons": reasons, **(attrs or {})}, detail={"reasons": reasons})
