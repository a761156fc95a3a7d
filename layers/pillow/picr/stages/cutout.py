"""Cutout: the one heavy step — mask the normalised source, gate the result, pass it on or hold it.

A held cutout is still written to ``work/`` so the review email can show what the model did.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from picr.aws.bucket import ImageBucket, work_key
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, QueueSender, StageMessage
from picr.job import Handoff, Job, Status
from picr.pipeline import hand_off
from picr.segmentation.cutout import make_cutout
from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.gate import GateThresholds


@dataclass
class CutoutContext:
    bucket: ImageBucket
    jobs: JobStore
    engine: SegmentationEngine
    variants_queue: QueueSender
    publish_queue: QueueSender
    thresholds: GateThresholds
    hosted_engine: Callable[[], SegmentationEngine] | None = None
    """Builds (once) the hosted engine for jobs an owner sent back with "Retry with the hosted engine";
    None when the deployment has no hosted engine configured."""


def encode_cutout(image: Image.Image) -> bytes:
    """RGBA PNG with no metadata; fixed compression so the same cutout gives the same bytes.

    Deflate's run-length strategy (Z_RLE, as the variants use): on the dev photos' cutouts it wrote files
    within 5 % of the default strategy's at a third to a half of its time (case 03: 0.70 MB in 90 ms
    against 0.67 MB in 195 ms), and encoding was as long as the model's own pass.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6, compress_type=zlib.Z_RLE)
    return buffer.getvalue()


def cut(job_id: str, ctx: CutoutContext, *, now: str) -> str:
    """Run the stage for one job and return its status afterwards."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} does not exist")
    if job.status == Status.INGESTED:
        source = ctx.bucket.get(job.source_work_key)
        with Image.open(io.BytesIO(source.data)) as opened:
            image = opened.convert("RGBA" if job.has_transparency else "RGB")
        result = make_cutout(image, _engine_for(job, ctx), list(job.warnings), ctx.thresholds)
        cutout_key = work_key(job_id, "cutout.png")
        ctx.bucket.put(cutout_key, encode_cutout(result.rgba), "image/png")
        gate = result.gate
        attrs = {
            "cutout_key": cutout_key,
            "engine": result.engine,
            "confidence": gate.confidence,
            "coverage": gate.scores.get("coverage"),
            "scores": gate.scores,
            "reasons": list(gate.reasons),
        }
        to_status = Status.CUT if gate.passed else Status.NEEDS_REVIEW
        detail = {"engine": result.engine, "confidence": gate.confidence, "reasons": list(gate.reasons)}
        ctx.jobs.transition(job_id, to_status, allowed_from={Status.INGESTED}, at=now, attrs=attrs, detail=detail)
        job = ctx.jobs.get(job_id) or job
    if job.status == Status.CUT:
        hand_off(ctx.jobs, job, Handoff.VARIANTS, ctx.variants_queue, StageMessage(job_id=job_id))
    elif job.status == Status.NEEDS_REVIEW:
        hand_off(ctx.jobs, job, Handoff.PUBLISH_REVIEW, ctx.publish_queue,
                 PublishMessage(job_id=job_id, outcome="review"))
    return job.status


def _engine_for(job: Job, ctx: CutoutContext) -> SegmentationEngine:
    """The deployment's engine, unless the review lane asked for the hosted one (``engine_override``)."""
    if job.engine_override != "hosted":
        return ctx.engine
    if ctx.hosted_engine is None:
        raise LookupError(f"job {job.job_id} asks for the hosted engine, which this deployment does not configure")
    return ctx.hosted_engine()
