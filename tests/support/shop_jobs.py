"""A shop's worth of jobs in the embedded stack's table and bucket, without running the pipeline: ready ones
with their published images and manifest, held, refused and superseded ones, each opened a minute apart."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import timedelta

from PIL import Image

from picr.aws.bucket import manifest_key, out_key
from picr.aws.jobs import JobStore
from picr.job import NewJob, PublishedImage, Status
from tests.support.clock import Clock

CHANNELS = ("social", "web", "market")


@dataclass(frozen=True)
class ShopJob:
    job_id: str
    product: str
    status: Status
    created_at: str


def state_of(index: int) -> Status:
    """Every fourth product is held, every seventh refused, one superseded; the rest are ready."""
    if index % 4 == 1:
        return Status.NEEDS_REVIEW
    if index % 7 == 3:
        return Status.REJECTED
    if index == 10:
        return Status.SUPERSEDED
    return Status.DONE


def seed_shop(stack, clock: Clock, count: int) -> list[ShopJob]:
    """``count`` jobs, oldest first; ready ones get a tiny PNG per channel under out/ and their manifest."""
    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    made = []
    for index in range(count):
        job_id, opened = f"{index:020x}", clock.iso(timedelta(minutes=index - count))
        product = f"Product {index:02d}"
        jobs.open(NewJob(job_id, f"inbox/p{index}.jpg", f"p{index}.jpg", product, opened), at=opened,
                  attrs={"source_work_key": f"work/{job_id}/source.jpg"})
        status = state_of(index)
        moved = clock.iso(timedelta(minutes=index - count, seconds=30))
        attrs: dict = {"reasons": ("The cutout touches the frame.",)} if status == Status.NEEDS_REVIEW else {}
        if status == Status.NEEDS_REVIEW:  # the photo its review page shows
            stack.s3.put_object(Bucket=stack.bucket, Key=f"work/{job_id}/source.jpg", Body=_photo())
        if status == Status.DONE:
            outputs = tuple(PublishedImage(channel, out_key(channel, job_id, "png"), 8 * (n + 1), 8 * (n + 1), "png",
                                           False) for n, channel in enumerate(CHANNELS))
            for output in outputs:
                stack.s3.put_object(Bucket=stack.bucket, Key=output.key, Body=f"{output.key}".encode())
            manifest = {"job_id": job_id, "product": product, "outputs": [o.key for o in outputs]}
            stack.s3.put_object(Bucket=stack.bucket, Key=manifest_key(job_id), Body=json.dumps(manifest).encode())
            attrs = {"outputs": outputs, "manifest_key": manifest_key(job_id)}
        assert jobs.transition(job_id, status, allowed_from=[Status.INGESTED], at=moved, attrs=attrs)
        made.append(ShopJob(job_id, product, status, opened))
    return made


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
    return buffer.getvalue()
