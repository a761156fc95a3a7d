"""``make bench``'s ``export`` section: the zip export of 200 published images, and its peak memory.

The export handler runs as Lambda runs it: a fresh process of a clean venv holding exactly the layer's lock
(plus the runtime's boto3), ``picr`` as the layer ships it, the template's environment for ExportFunction,
its one SQS event, against a moto server in this process (``tools.coldstart.moto_stack``), so the child's
memory is the function's alone. Its peak RSS is the kernel's ``VmHWM`` of that process: every byte it touched,
the interpreter and its imports included, which is what Lambda's memory limit counts. The goal: at most half
the MemorySize the template gives the function.

The 200 images are 2000×2000 JPEGs like the market channel's (a product shape on white with sensor-like
noise, ~0.4 MB each, each different), published under ``out/market/`` for 200 ready jobs.
"""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from tools.coldstart import child_environment, layer_root, layer_venv, moto_stack

IMAGES = 200
EXPORT_ID = "be0c4e1f2a3b4c5d"

EXPORT_CHILD = """
import json, sys, time
def status(field): return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) / 1024
started = time.monotonic()
import app
imported_rss = status("VmRSS")
class Context:
    function_name = "picr-export"; memory_limit_in_mb = int(sys.argv[1]); aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:picr-export"
    def get_remaining_time_in_millis(self): return 300000
event = json.load(sys.stdin)
begun = time.monotonic()
answer = app.handler(event, Context())
print(json.dumps({"answer": answer, "export_s": time.monotonic() - begun, "imported_rss_mb": imported_rss,
                  "peak_rss_mb": status("VmHWM")}))
"""


def market_image(seed: int, size: int = 2000) -> bytes:
    """A market-channel-like JPEG: one product shape on white, with noise so each file is its own."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(40, 220, 3))
    inset = int(rng.integers(250, 450))
    draw.rounded_rectangle((inset, inset, size - inset, size - inset), radius=int(rng.integers(40, 400)), fill=colour)
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (size, size, 3)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(out, "JPEG", quality=88)
    return out.getvalue()


def _seed(stack: Any, count: int) -> tuple[list[str], int]:
    """``count`` ready jobs with a market image each; their ids and the images' total bytes."""
    from picr.aws.bucket import out_key
    from picr.aws.jobs import JobStore
    from picr.job import NewJob, PublishedImage, Status

    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    ids, total = [], 0
    for index in range(count):
        job_id, at = f"{index:020x}", f"2026-11-21T09:{index // 60:02d}:{index % 60:02d}.000Z"
        jobs.open(NewJob(job_id, f"inbox/p{index}.jpg", f"p{index}.jpg", f"Product {index}", at), at=at)
        data = market_image(index)
        total += len(data)
        image = PublishedImage("market", out_key("market", job_id, "jpg"), 2000, 2000, "jpeg", False)
        stack.s3.put_object(Bucket=stack.bucket, Key=image.key, Body=data, ContentType="image/jpeg")
        jobs.transition(job_id, Status.DONE, allowed_from=[Status.INGESTED], at=at, attrs={"outputs": (image,)})
        ids.append(job_id)
    return ids, total


def _export_in_a_fresh_process(stack: Any, job_ids: list[str], export_id: str, scratch: Path) -> dict[str, Any]:
    """Run one export of ``job_ids`` through the handler in a fresh process; its report and the zip it made."""
    from picr.aws.queues import ExportMessage

    function = stack.functions["ExportFunction"]
    memory_mb = int(stack.resolver.resolve(stack.resources["ExportFunction"]["Properties"]["MemorySize"]))
    message = ExportMessage(export_id=export_id, channel="market", job_ids=tuple(job_ids),
                            selection="every ready product", requested_at="2026-11-21T10:00:00+00:00")
    queue = next(c for c in stack.consumers if c.function.logical_id == "ExportFunction")
    event = {"Records": [{"messageId": export_id, "receiptHandle": "r", "body": message.to_json(),
                          "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
                          "eventSource": "aws:sqs", "eventSourceARN": queue.queue_arn, "awsRegion": "eu-west-2"}]}
    site = layer_root(scratch / f"layer-{export_id}")
    env = child_environment(function.environment, [function.code_dir, site], scratch)
    spawned = time.monotonic()
    done = subprocess.run([str(layer_venv()), "-c", EXPORT_CHILD, str(memory_mb)], input=json.dumps(event),
                          env=env, cwd=scratch, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - spawned
    if done.returncode != 0:
        raise RuntimeError(f"the export handler failed in its layer venv:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["answer"] != {"batchItemFailures": []}:
        raise RuntimeError(f"the export failed: {report['answer']}")
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"exports/{export_id}/")
    (key,) = [found["Key"] for found in listed["Contents"]]
    data = stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = len(archive.namelist())
        if archive.testzip() is not None or members != len(job_ids):
            raise RuntimeError(f"the zip holds {members} readable files, not {len(job_ids)}")
    return {**report, "memory_size_mb": memory_mb, "zip_bytes": len(data), "process_s": wall}


def bench_export(images: int = IMAGES, fewer: int = IMAGES // 10) -> dict[str, Any]:
    """Peak RSS (and time) of one export of ``images`` images in a fresh process, beside its MemorySize; and of an
    export of ``fewer``, to show the peak does not grow with the count."""
    with moto_stack() as stack, tempfile.TemporaryDirectory() as scratch:
        job_ids, image_bytes = _seed(stack, images)
        small = _export_in_a_fresh_process(stack, job_ids[:fewer], "be0c4e1f2a3b4c5e", Path(scratch))
        report = _export_in_a_fresh_process(stack, job_ids, EXPORT_ID, Path(scratch))
    memory_mb, peak = report["memory_size_mb"], round(report["peak_rss_mb"], 1)
    return {
        "images": images, "image_mb_total": round(image_bytes / 2**20, 1),
        "zip_mb": round(report["zip_bytes"] / 2**20, 1), "memory_size_mb": memory_mb, "peak_rss_mb": peak,
        "peak_over_memory_size": round(peak / memory_mb, 3),
        "after_import_rss_mb": round(report["imported_rss_mb"], 1), "export_s": round(report["export_s"], 2),
        "process_s": round(report["process_s"], 2),
        "peak_rss_mb_by_images": {fewer: round(small["peak_rss_mb"], 1), images: peak},
        "goal": f"peak_rss_mb <= {memory_mb / 2:g} (half of MemorySize)",
        "note": "VmHWM of a fresh process of the layer's venv running the handler on one SQS event (moto server in "
                "another process); export_s includes moto's own S3 work",
    }
