"""A job held for review, as the pipeline leaves one, put straight into a ``EmbeddedStack``: no model run.

The photo is the semi-transparent glass jug from the dev set (a real "review" case) and the attempted
cutout is that photo with its ground-truth alpha, so approving it renders real variants.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from picr.aws.jobs import JobStore
from picr.job import Job, NewJob, Status
from picr.stages.ingest import UploadedObject, job_id_for
from tests.support.clock import iso
from tools.shared_data import PHOTOS

GLASS_JUG = PHOTOS / "cases" / "08_glass_jug_semitransparent"
REVIEW_HOST = "reviewfunction.lambda-url.eu-west-2.on.aws"
"""The review function's Function URL host in the review tests (its pages post back to it)."""
REASONS = ["The cutout has holes where the glass is see-through."]


@cache
def cutout_png(case: Path = GLASS_JUG) -> bytes:
    """The case photo with its ground-truth mask as alpha, as an RGBA PNG."""
    with Image.open(case / "photo.jpg") as photo, Image.open(case / "mask.png") as mask:
        rgba = photo.convert("RGB").convert("RGBA")
        rgba.putalpha(mask.convert("L"))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    return out.getvalue()


def _drop_upload_event(stack: Any) -> None:
    """Take the upload's EventBridge delivery off the work queue (PurgeQueue allows one call a minute)."""
    queue = stack.resolver.resolve({"Ref": "WorkQueue"})
    while messages := stack.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            stack.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def job_store(stack: Any) -> JobStore:
    return JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))


def seed_held_job(stack: Any, *, held_at: datetime, file_name: str = "glass_jug.jpg", product: str = "Glass jug",
                  engine: str = "u2netp", status: Status = Status.NEEDS_REVIEW, source: str | None = None,
                  origin: dict[str, str] | None = None, kept_original: bool = False) -> Job:
    """Upload the photo to ``inbox/`` and record its job as held since ``held_at``; returns the job row.

    The upload's own EventBridge delivery is dropped: the job is already where the test wants it. The job's
    source identity is a plain S3 upload's (the bucket's) unless ``source`` says otherwise; ``origin`` adds
    the lane's attributes (``lane``, ``sender``, ``reply_to``, ``token_id``). ``kept_original`` also copies
    the original to ``originals/`` as ingest does now (without it, the job looks like one opened before
    ingest kept originals).
    """
    photo = (GLASS_JUG / "photo.jpg").read_bytes()
    key = f"inbox/{file_name}"
    put = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=photo)
    _drop_upload_event(stack)
    job_id = job_id_for(UploadedObject(stack.bucket, key, "", put["VersionId"]))
    source_key, cutout_key = f"work/{job_id}/source.jpg", f"work/{job_id}/cutout.png"
    stack.s3.put_object(Bucket=stack.bucket, Key=source_key, Body=photo, ContentType="image/jpeg")
    stack.s3.put_object(Bucket=stack.bucket, Key=cutout_key, Body=cutout_png(), ContentType="image/png")
    with Image.open(io.BytesIO(photo)) as image:
        width, height = image.size
    kept = {}
    if kept_original:
        kept = {"original_key": f"originals/{job_id}/{file_name}", "original_kept": True}
        stack.s3.copy_object(Bucket=stack.bucket, Key=kept["original_key"],
                             CopySource={"Bucket": stack.bucket, "Key": key, "VersionId": put["VersionId"]})
    store = job_store(stack)
    at = iso(held_at)
    store.open(
        NewJob(job_id=job_id, source_key=key, source_file=file_name, product=product, event_time=at,
               source_version=put["VersionId"]),
        at=at, status=status,
        attrs={"source_work_key": source_key, "cutout_key": cutout_key, "engine": engine, "confidence": 0.41,
               "reasons": REASONS, "width": width, "height": height, "has_transparency": False, "warnings": [],
               "publish_review_enqueued": True, "source": source or f"bucket:{stack.bucket}", **(origin or {}),
               **kept},
        detail={"reasons": REASONS},
    )
    return store.get(job_id)
