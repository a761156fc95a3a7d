"""The bucket adapter and key layout against moto, on the template's (versioned) bucket."""

from __future__ import annotations

import pytest
import requests

from picr.aws.bucket import ImageBucket, draft_key, manifest_key, original_key, out_key, rejected_key, work_key
from tools.shared_data import PHOTOS


def test_key_layout():
    assert work_key("j" * 20, "source.jpg") == f"work/{'j' * 20}/source.jpg"
    assert out_key("market", "j" * 20, "jpg") == f"out/market/{'j' * 20}.jpg"
    assert manifest_key("j" * 20) == f"out/manifests/{'j' * 20}.json"
    assert rejected_key("j" * 20, "a.pdf") == f"rejected/{'j' * 20}/a.pdf"
    assert original_key("j" * 20, "a.jpg") == f"originals/{'j' * 20}/a.jpg"
    assert draft_key("j" * 20, "web", "png") == f"drafts/{'j' * 20}/web.png"


def test_put_get_optional_copy_move_and_presign(stack):
    bucket = ImageBucket(stack.s3, stack.bucket)
    assert bucket.get_optional("config/channels.json") is None
    version = bucket.put("inbox/a.jpg", b"photo", "image/jpeg", {"product": "Candle"})
    stored = bucket.get("inbox/a.jpg")
    assert (stored.data, stored.content_type, stored.metadata, stored.version_id) == (
        b"photo", "image/jpeg", {"product": "Candle"}, version)
    bucket.move("inbox/a.jpg", "rejected/x/a.jpg", version)
    assert not bucket.exists("inbox/a.jpg") and bucket.get("rejected/x/a.jpg").data == b"photo"
    # the move leaves a delete marker: the original version is still recoverable
    assert bucket.get("inbox/a.jpg", version).data == b"photo"
    assert requests.get(bucket.presign("rejected/x/a.jpg", 60), timeout=10).content == b"photo"


class Calls:
    """The S3 operations a client makes, with the key each names (a botocore ``before-parameter-build`` hook)."""

    def __init__(self, client) -> None:
        self.seen: list[tuple[str, str | None]] = []
        client.meta.events.register("before-parameter-build.s3", self)

    def __call__(self, model, params, **kwargs) -> None:
        self.seen.append((model.name, params.get("Key")))

    def of(self, operation: str) -> list[str | None]:
        return [key for name, key in self.seen if name == operation]


def test_head_reports_size_version_and_metadata_without_reading_the_object(stack):
    bucket = ImageBucket(stack.s3, stack.bucket)
    calls = Calls(stack.s3)
    version = bucket.put("inbox/a.jpg", b"x" * 1234, "image/jpeg", {"product": "Candle"})
    info = bucket.head("inbox/a.jpg", version)
    assert (info.size, info.version_id, info.metadata, info.content_type) == (
        1234, version, {"product": "Candle"}, "image/jpeg")
    other = bucket.put("inbox/b.jpg", b"y", "image/jpeg")
    assert bucket.head("inbox/missing.jpg") is None and bucket.head("inbox/a.jpg", other) is None
    assert calls.of("GetObject") == []


def test_a_deleted_key_has_no_current_version_but_its_old_version_is_still_there(stack):
    bucket = ImageBucket(stack.s3, stack.bucket)
    version = bucket.put("inbox/a.jpg", b"photo", "image/jpeg")
    assert bucket.current_version("inbox/a.jpg") == version
    stack.s3.delete_object(Bucket=stack.bucket, Key="inbox/a.jpg")  # a delete marker on top
    assert bucket.current_version("inbox/a.jpg") is None
    assert bucket.head("inbox/a.jpg", version).size == 5


def test_moving_an_old_version_leaves_a_newer_upload_under_the_same_key_in_place(stack):
    bucket = ImageBucket(stack.s3, stack.bucket)
    old = bucket.put("inbox/a.jpg", b"first", "image/jpeg")
    newer = bucket.put("inbox/a.jpg", b"second", "image/jpeg")
    bucket.move("inbox/a.jpg", "rejected/x/a.jpg", old)
    assert bucket.get("rejected/x/a.jpg").data == b"first"
    assert bucket.current_version("inbox/a.jpg") == newer  # not hidden behind a delete marker


def test_an_object_over_the_single_copy_limit_is_copied_in_parts_server_side(stack):
    """CopyObject stops at 5 GB; above the limit the copy goes part by part, and never through the function."""
    limit = 5 * 2**20  # S3's smallest part size stands in for the 5 GB limit
    bucket = ImageBucket(stack.s3, stack.bucket, single_copy_limit=limit)
    data = bytes(range(256)) * (3 * limit // 256)
    version = bucket.put("inbox/big.jpg", data, "image/jpeg", {"product": "Big"})
    calls = Calls(stack.s3)
    bucket.move("inbox/big.jpg", "rejected/x/big.jpg", version)
    assert calls.of("UploadPartCopy") and calls.of("CopyObject") == []
    assert calls.of("GetObject") == []  # nothing was downloaded
    copied = bucket.get("rejected/x/big.jpg")
    assert (copied.data == data, copied.metadata, copied.content_type) == (True, {"product": "Big"}, "image/jpeg")
    assert not bucket.exists("inbox/big.jpg")


def test_renewing_rewrites_only_what_was_written_before_the_cutoff(stack, clock):
    from datetime import timedelta

    bucket = ImageBucket(stack.s3, stack.bucket)
    first = bucket.put("work/j/cutout.png", b"png", "image/png", {"k": "v"})
    assert not bucket.renew("work/j/cutout.png", older_than=clock.at(-timedelta(days=1)))
    assert bucket.renew("work/j/cutout.png", older_than=clock.at(timedelta(days=1)))
    renewed = bucket.head("work/j/cutout.png")
    assert renewed.version_id != first and (renewed.metadata, renewed.content_type) == ({"k": "v"}, "image/png")
    assert bucket.get("work/j/cutout.png").data == b"png"
    assert not bucket.renew("work/j/missing.png", older_than=clock.at(timedelta(days=1)))


@pytest.mark.slow
def test_what_the_pipeline_writes_is_kept_or_scratch_as_the_buckets_lifecycle_rules_say(stack, clock):
    """The template's rules, read back through S3's API, applied to every object a real run leaves behind:
    each job's original, source and cutout are kept (held or done), and only what is regenerable expires."""
    from picr.job import Status
    from tests.support.held_jobs import job_store, seed_held_job
    from tests.support.lifecycle import fate

    photo = (PHOTOS / "samples" / "toolbox.jpg").read_bytes()
    uploads = {"inbox/toolbox.jpg": photo, "inbox/notes.jpg": b"not a photo at all"}
    for key, data in uploads.items():
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
    stack.drain()
    held = seed_held_job(stack, held_at=clock.at(), kept_original=True)
    jobs = job_store(stack)
    done, refused = (next(job for job in jobs.in_status(status)) for status in (Status.DONE, Status.REJECTED))

    rules = stack.s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    keys = [obj["Key"] for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
            for obj in page.get("Contents", [])]
    kept = {key for key in keys if fate(rules, key).kept}
    for job in (done, held):
        assert {job.original_key, job.source_work_key, job.cutout_key} <= kept, job.status
    assert {output.key for output in done.outputs} | {done.manifest_key, refused.rejected_key} <= kept
    assert ImageBucket(stack.s3, stack.bucket).get(done.original_key).data == photo
    assert ImageBucket(stack.s3, stack.bucket).get(refused.rejected_key).data == uploads["inbox/notes.jpg"]
    scratch = sorted(set(keys) - kept)
    assert scratch == sorted(["inbox/toolbox.jpg", "inbox/glass_jug.jpg",
                              *(draft.work_key for draft in done.variants),
                              *(draft.thumbnail_key for draft in done.variants)])
    assert all(key.startswith("drafts/") for key in scratch if not key.startswith("inbox/"))
    assert {fate(rules, key).expires_after_days for key in scratch} == {30}
