"""The variants and publish stages on moto: channel config from the bucket, and reprocessing.

* A shop adds a channel by writing ``config/channels.json`` — the next photo gets it, no redeploy.
* A config asking for a watermark on a marketplace channel holds the job with a readable reason.
* Processing the same cutout again with the same config rewrites byte-identical variants and manifest
  (new versions of the same bytes; the bucket keeps the old ones).
* The ready email's thumbnails are the ones the variants stage made beside its drafts; when they are gone,
  publish makes them from the images.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from picr.aws.queues import StageMessage
from picr.image.channels import DEFAULT_CHANNEL_CONFIG
from picr.job import Status
from tests.support.mailbox import sent_mail
from tools.shared_data import SAMPLES

pytestmark = pytest.mark.slow
SAMPLE = SAMPLES / "toolbox.jpg"


def _config(**extra_channel) -> bytes:
    config = DEFAULT_CHANNEL_CONFIG.plain()
    if extra_channel:
        config["channels"].append(extra_channel)
    return json.dumps(config).encode()


def _process(stack, job_store, key: str = "inbox/toolbox.jpg") -> dict:
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=SAMPLE.read_bytes())
    stack.drain()
    (job,) = [job for job in job_store.in_status(Status.DONE) + job_store.in_status(Status.NEEDS_REVIEW)
              if job.source_key == key]
    return job


def test_a_channel_added_in_the_bucket_is_rendered_for_the_next_photo(stack, job_store):
    etsy = {"name": "etsy", "kind": "marketplace", "width": 2000, "height": 2000, "format": "jpeg",
            "background": "white", "fill": 0.85, "watermark": False}
    stack.s3.put_object(Bucket=stack.bucket, Key="config/channels.json", Body=_config(**etsy))
    job = _process(stack, job_store)
    assert job.status == Status.DONE
    assert sorted(o.channel for o in job.outputs) == ["etsy", "market", "social", "web"]
    data = stack.s3.get_object(Bucket=stack.bucket, Key=f"out/etsy/{job.job_id}.jpg")["Body"]
    with Image.open(data) as image:
        assert (image.format, image.size) == ("JPEG", (2000, 2000))


def test_a_watermarked_marketplace_config_holds_the_job_and_says_why(stack, job_store):
    bad = {"name": "amazon", "kind": "marketplace", "width": 2000, "height": 2000, "format": "jpeg",
           "background": "white", "fill": 0.9, "watermark": True}
    stack.s3.put_object(Bucket=stack.bucket, Key="config/channels.json", Body=_config(**bad))
    job = _process(stack, job_store)
    assert job.status == Status.NEEDS_REVIEW
    assert any("config/channels.json" in reason and "watermark" in reason for reason in job.reasons)
    assert job.outputs == ()


def test_reprocessing_the_same_cutout_rewrites_identical_bytes(stack, job_store):
    job = _process(stack, job_store)
    job_id = job.job_id
    first = {o.key: stack.s3.get_object(Bucket=stack.bucket, Key=o.key)["Body"].read() for o in job.outputs}
    first_manifest = stack.s3.get_object(Bucket=stack.bucket, Key=job.manifest_key)["Body"].read()
    # An operator re-runs the job from its cutout (e.g. after a config change was reverted).
    assert job_store.transition(job_id, Status.CUT, allowed_from={Status.DONE}, at="2099-01-01T00:00:00.000Z",
                                attrs={"variants_enqueued": False, "publish_ready_enqueued": False})
    variants = next(c for c in stack.consumers if c.stage == "variants")
    stack.sqs.send_message(QueueUrl=variants.queue_url, MessageBody=StageMessage(job_id=job_id).to_json())
    stack.drain()
    assert job_store.get(job_id).status == Status.DONE
    for key, data in first.items():
        versions = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=key)["Versions"]
        assert len(versions) == 2, key  # rewritten, and the previous version kept
        assert stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == data, key
    assert stack.s3.get_object(Bucket=stack.bucket, Key=job.manifest_key)["Body"].read() == first_manifest


def _inline_jpegs(message) -> list[bytes]:
    return sorted(part.get_content() for part in message.walk() if part.get_content_type() == "image/jpeg")


def _through_variants(stack, job_store):
    """One photo through ingest, cutout and variants; the job, VARIED, before publish runs."""
    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=SAMPLE.read_bytes())
    consumers = {consumer.stage: consumer for consumer in stack.consumers}
    for stage in ("ingest", "cutout", "variants"):
        while stack.poll_once(consumers[stage]):
            pass
    (job,) = job_store.in_status(Status.VARIED)
    return job, consumers["publish"]


def test_the_ready_email_shows_the_thumbnails_the_variants_stage_made(stack, job_store):
    job, publish = _through_variants(stack, job_store)
    thumbnails = []
    for draft in job.variants:
        data = stack.s3.get_object(Bucket=stack.bucket, Key=draft.thumbnail_key)["Body"].read()
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and max(image.size) == 240, draft.channel
        thumbnails.append(data)
    assert stack.poll_once(publish) == 1
    (ready,) = sent_mail()
    assert _inline_jpegs(ready) == sorted(thumbnails)


def test_publish_makes_the_thumbnails_itself_when_the_drafts_have_none(stack, job_store):
    job, publish = _through_variants(stack, job_store)
    for draft in job.variants:
        stack.s3.delete_object(Bucket=stack.bucket, Key=draft.thumbnail_key)
    assert stack.poll_once(publish) == 1
    (ready,) = sent_mail()
    inline = _inline_jpegs(ready)
    assert len(inline) == len(job.variants)
    for data in inline:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and max(image.size) == 240
