"""Re-rendering a channel added to the bucket's config for 50 published products, through the embedded stack
(the variants and publish queues and handlers the template declares), with the runner's faults switched on:
failing AWS calls, crashes after the work, every message delivered twice, shuffled delivery.

The products are published by the pipeline itself first (from a real cutout, three small channels, under the
same faults); the re-render then has to add exactly one new image per product, keep every earlier version of
every file, write exactly one new manifest version per product and send exactly one summary email.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta

import pytest
from PIL import Image, ImageDraw

from picr.aws.bucket import CHANNELS_CONFIG_KEY, manifest_key
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, StageMessage
from picr.image.manifest import parse_manifest
from picr.job import NewJob, Status
from picr.stages.rerender import (
    MAX_PRODUCTS,
    RerenderContext,
    RerenderIncomplete,
    RerenderRefused,
    resume_rerender,
    start_rerender,
)
from tests.support.mailbox import sent_mail
from tools.faults import FaultPlan
from tools.rerender import context_for

PRODUCTS = 50
CHANNELS = [
    {"name": "web", "kind": "web", "width": 800, "height": 800, "format": "png", "background": "transparent",
     "fill": 0.8, "watermark": False},
    {"name": "social", "kind": "social", "width": 600, "height": 600, "format": "jpeg", "background": "white",
     "fill": 0.85, "watermark": False},
]
ETSY = {"name": "etsy", "kind": "marketplace", "width": 1000, "height": 800, "format": "jpeg", "background": "white",
        "fill": 0.9, "watermark": False}
pytestmark = pytest.mark.slow


def cutout_png() -> bytes:
    """A product already cut out: an orange disc with a handle on transparency."""
    image = Image.new("RGBA", (600, 500), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 80, 420, 420), fill=(230, 120, 30, 255))
    draw.rectangle((400, 200, 520, 260), fill=(120, 60, 20, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def rerender_context(stack) -> RerenderContext:
    """What ``python -m tools.rerender`` builds from a deployed stack's outputs, here from the embedded one's."""
    outputs = {name: stack.resolver.resolve(output["Value"]) for name, output in stack.template["Outputs"].items()
               if name in ("ImagesBucketName", "JobsTableName", "IdempotencyTableName", "VariantsQueueUrl")}
    return context_for(outputs, s3=stack.s3, dynamodb=stack.dynamodb, sqs=stack.sqs)


def versions(stack, prefix: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for page in stack.s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            found.setdefault(version["Key"], set()).add(version["VersionId"])
    return found


def published(stack, clock, count: int) -> tuple[JobStore, list[str]]:
    """``count`` products published by the pipeline itself (variants and publish) from a stored cutout."""
    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    variants = QueueSender(stack.sqs, stack.queue_urls()["VariantsQueue"])
    stack.s3.put_object(Bucket=stack.bucket, Key=CHANNELS_CONFIG_KEY, Body=json.dumps({"channels": CHANNELS}))
    cutout = cutout_png()
    job_ids = [f"{index:020x}" for index in range(count)]
    for index, job_id in enumerate(job_ids):
        at = clock.iso(timedelta(seconds=index))
        jobs.open(NewJob(job_id, f"inbox/p{index}.jpg", f"p{index}.jpg", f"Product {index}", at), at=at)
        stack.s3.put_object(Bucket=stack.bucket, Key=f"work/{job_id}/cutout.png", Body=cutout)
        cut_at = clock.iso(timedelta(seconds=index, milliseconds=1))
        jobs.transition(job_id, Status.CUT, allowed_from=[Status.INGESTED], at=cut_at,
                        attrs={"cutout_key": f"work/{job_id}/cutout.png", "engine": "local", "confidence": 0.9})
        variants.send(StageMessage(job_id=job_id))
    stack.drain()
    assert Counter(job.status for job in jobs.in_status(Status.DONE)) == Counter({Status.DONE: count})
    return jobs, job_ids


def test_a_new_channel_for_fifty_products_under_faults_adds_one_version_each_and_one_email(aws, clock):
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(faults=FaultPlan(call_failure_rate=0.10, crash_rate=0.05, redeliveries=1, shuffle=True,
                                           seed=5))
    jobs, job_ids = published(stack, clock, PRODUCTS)
    before = versions(stack, "out/")
    mails_before = len(sent_mail())

    context = rerender_context(stack)
    with pytest.raises(RerenderRefused, match="no channel 'etsy'"):  # not in the config yet
        start_rerender("etsy", None, context, now_s=clock.at().timestamp())
    stack.s3.put_object(Bucket=stack.bucket, Key=CHANNELS_CONFIG_KEY, Body=json.dumps({"channels": [*CHANNELS, ETSY]}))
    batch = start_rerender("etsy", None, context, now_s=clock.at().timestamp())
    stack.drain()

    after = versions(stack, "out/")
    assert sorted(batch.job_ids) == job_ids
    assert all(before[key] <= after[key] for key in before)  # every earlier version is still there
    new = {key: after[key] - before.get(key, set()) for key in after if after[key] - before.get(key, set())}
    assert sorted(new) == sorted([f"out/etsy/{job_id}.jpg" for job_id in job_ids]
                                 + [manifest_key(job_id) for job_id in job_ids])
    assert all(len(added) == 1 for added in new.values()), {k: len(v) for k, v in new.items() if len(v) != 1}
    rerendered = [key for key in versions(stack, "drafts/") if "/rerender-" in key]
    assert len(rerendered) == PRODUCTS   # the etsy drafts alone: no email thumbnails for a re-render
    assert all(key.endswith("/etsy.jpg") for key in rerendered)
    for job_id in job_ids:
        manifest = parse_manifest(stack.s3.get_object(Bucket=stack.bucket, Key=manifest_key(job_id))["Body"].read())
        assert sorted(output["channel"] for output in manifest["outputs"]) == ["etsy", "social", "web"]
        job = jobs.get(job_id)
        assert sorted(output.channel for output in job.outputs) == ["etsy", "social", "web"]
        assert [entry.detail.get("rerendered") for entry in jobs.history(job_id)].count("etsy") == 1
    summaries = [m for m in sent_mail()[mails_before:] if m["X-Picr-Kind"] == "rerender"]
    assert len(sent_mail()) - mails_before == len(summaries) == 1
    assert summaries[0]["Subject"] == f"etsy: {PRODUCTS} of {PRODUCTS} products re-rendered"
    assert stack.dead_letters() == []
    injected = stack.faults.injected
    assert injected.get("redelivery", 0) >= PRODUCTS and sum(n for k, n in injected.items() if k.startswith("api:"))


def test_a_re_render_is_refused_with_a_clear_message_before_anything_is_sent(stack, clock):
    context = rerender_context(stack)
    now_s = clock.at().timestamp()
    stack.s3.put_object(Bucket=stack.bucket, Key=CHANNELS_CONFIG_KEY, Body=json.dumps(
        {"channels": [*CHANNELS, {**ETSY, "kind": "marketplace", "watermark": True}]}))
    with pytest.raises(RerenderRefused, match="does not validate"):
        start_rerender("etsy", None, context, now_s=now_s)
    stack.s3.put_object(Bucket=stack.bucket, Key=CHANNELS_CONFIG_KEY, Body=json.dumps({"channels": CHANNELS}))
    with pytest.raises(RerenderRefused, match=f"at most {MAX_PRODUCTS}"):
        start_rerender("web", [f"{n:020x}" for n in range(MAX_PRODUCTS + 1)], context, now_s=now_s)
    with pytest.raises(RerenderRefused, match="not ready"):
        start_rerender("web", ["0" * 20, "../etc"], context, now_s=now_s)
    with pytest.raises(RerenderRefused, match="no ready products"):
        start_rerender("web", None, context, now_s=now_s)
    waiting = stack.sqs.get_queue_attributes(QueueUrl=context.variants_queue.url,
                                             AttributeNames=["ApproximateNumberOfMessages"])
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_start_cut_short_is_finished_by_resuming_it_and_its_batch_mails_once(aws, clock):
    """SQS refuses the second request of ten messages: the batch was opened for 23 products, only 10 are queued.
    Before, the batch then waited for 13 products forever (no summary email, ever). Now the start says how far
    it got, the rest of the same batch is queued by resuming it, and the batch completes with one email."""
    from botocore.exceptions import ClientError

    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack()
    jobs, job_ids = published(stack, clock, 23)
    stack.s3.put_object(Bucket=stack.bucket, Key=CHANNELS_CONFIG_KEY, Body=json.dumps({"channels": [*CHANNELS, ETSY]}))
    requests = []

    def second_request_refused(**_):
        requests.append(1)
        if len(requests) == 2:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "SendMessageBatch")

    stack.sqs.meta.events.register("before-call.sqs.SendMessageBatch", second_request_refused)
    context = rerender_context(stack)
    with pytest.raises(RerenderIncomplete, match="10 of 23 products") as cut_short:
        start_rerender("etsy", None, context, now_s=clock.at().timestamp())
    stack.drain()
    assert [m for m in sent_mail() if m["X-Picr-Kind"] == "rerender"] == []  # 13 products still to come
    resumed = resume_rerender(cut_short.value.batch_id, context)
    assert sorted(resumed.job_ids) == job_ids[10:]  # only what was not queued
    stack.drain()
    (summary,) = [m for m in sent_mail() if m["X-Picr-Kind"] == "rerender"]
    assert summary["Subject"] == "etsy: 23 of 23 products re-rendered"
    for job_id in job_ids:
        assert [entry.detail.get("rerendered") for entry in jobs.history(job_id)].count("etsy") == 1
    assert resume_rerender(cut_short.value.batch_id, context).job_ids == ()  # run again: nothing queued twice
    with pytest.raises(RerenderRefused, match="no re-render"):
        resume_rerender("f" * 16, context)
