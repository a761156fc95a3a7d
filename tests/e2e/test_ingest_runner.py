"""Ingest through the local runner: the awkward corpus gets its documented outcomes, nothing refused
reaches the cutout queue, every refused file is kept under rejected/, and a duplicate event opens one job.
"""

from __future__ import annotations

import io
import json
from urllib.parse import quote_plus

import boto3
import pytest
from PIL import Image

from picr.stages.ingest import UploadedObject, job_id_for
from tests.support.awkward import build_awkward_corpus
from tests.support.function_logs import function_logs
from tools.process import run
from tools.shared_data import SAMPLES

pytestmark = pytest.mark.slow
SAMPLE = SAMPLES / "toolbox.jpg"


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    corpus = build_awkward_corpus()
    folder = tmp_path_factory.mktemp("awkward")
    for name, item in corpus.items():
        (folder / name).write_bytes(item.data)
    out = tmp_path_factory.mktemp("run")
    summary = run(sorted(folder.iterdir()), out, quiet=True)
    return corpus, out, {entry["input"]: entry for entry in summary["jobs"]}


def test_the_corpus_is_awkward_enough(corpus_run):
    corpus, _out, _jobs = corpus_run
    assert len(corpus) >= 16
    assert {item.expected.reason for item in corpus.values() if item.expected.status == "refused"} >= {
        "empty", "not_an_image", "corrupt", "animated", "too_small", "too_many_pixels"}


def test_every_file_gets_its_documented_outcome(corpus_run):
    corpus, out, jobs = corpus_run
    for name, item in corpus.items():
        job = jobs[name]
        if item.expected.status == "refused":
            assert job["status"] == "rejected", name
            assert job["reason_code"] == item.expected.reason, name
            assert job["reasons"] and job["reasons"][0].endswith("."), name  # a sentence for the owner
        else:
            assert job["status"] in {"done", "needs_review"}, (name, job["status"], job["reasons"])
            source = next((out / "bucket" / "work" / job["job_id"]).glob("source.*"))
            with Image.open(source) as image:
                assert image.size == item.expected.size, name


def test_nothing_refused_reaches_the_cutout_and_nothing_is_lost(corpus_run):
    corpus, out, jobs = corpus_run
    for name, item in corpus.items():
        job = jobs[name]
        if item.expected.status != "refused":
            assert job["messages"].get("cutout") == 1, name
            continue
        assert "cutout" not in job["messages"], name
        assert job["history"] == ["rejected"], name
        kept = out / "bucket" / "rejected" / job["job_id"]
        assert [p.read_bytes() for p in kept.iterdir()] == [item.data], name
        assert not (out / "bucket" / "inbox" / name).exists(), name
        (email,) = [p for p in job["emails"] if p.endswith(".eml")]
        assert "could not be used" in (out / email).read_text(errors="replace")


def test_a_duplicate_event_opens_one_job_and_one_cutout(stack, job_store):
    version = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=SAMPLE.read_bytes())
    work = next(c for c in stack.consumers if c.stage == "ingest")
    (event,) = stack.sqs.receive_message(QueueUrl=work.queue_url)["Messages"]
    stack.sqs.change_message_visibility(QueueUrl=work.queue_url, ReceiptHandle=event["ReceiptHandle"],
                                        VisibilityTimeout=0)
    stack.sqs.send_message(QueueUrl=work.queue_url, MessageBody=event["Body"])  # EventBridge delivers twice
    seen: dict[str, set[str]] = {}
    stack.drain(lambda consumer, message, ok: seen.setdefault(consumer.stage, set()).add(message["MessageId"]))
    assert len(seen["ingest"]) == 2
    assert len(seen["cutout"]) == 1
    body = json.loads(event["Body"])
    assert body["detail"]["object"]["version-id"] == version["VersionId"]
    items = stack.dynamodb.scan(TableName=stack.resolver.resolve({"Ref": "JobsTable"}))["Items"]
    (job,) = [item for item in items if item["ts"]["S"] == "#current"]  # a test may Scan; the product never does
    history = job_store.history(job["job_id"]["S"])
    assert [row.status for row in history].count("ingested") == 1


# ------------------------------------------------------------------ what S3 says before anything is read

def _photo(shade: int = 90) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (shade, 120, 160)).save(out, "JPEG")
    return out.getvalue()


def _drain_ingest(stack) -> None:
    ingest = next(c for c in stack.consumers if c.stage == "ingest")
    while stack.poll_once(ingest):
        pass


def _job_of(stack, job_store, key: str, version: str):
    return job_store.get(job_id_for(UploadedObject(stack.bucket, key, "", version)))


AWKWARD_KEYS = ["inbox/c++ mug.jpg", "inbox/100%25 cotton.jpg", "inbox/50% off.jpg", "inbox/a+b c.jpg",
                "inbox/crème brûlée.jpg", "inbox/花瓶 (2).jpg"]


def test_keys_with_spaces_plus_signs_percents_and_unicode_each_open_their_job(stack, job_store):
    versions = {key: stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=_photo())["VersionId"]
                for key in AWKWARD_KEYS}
    _drain_ingest(stack)
    for key, version in versions.items():
        job = _job_of(stack, job_store, key, version)
        assert job is not None, key
        assert (job.status, job.source_key) == ("ingested", key)
        kept = stack.s3.get_object(Bucket=stack.bucket, Key=job.original_key)["Body"].read()
        assert kept == _photo(), key
    assert stack.dead_letters() == []


def test_a_key_in_the_notification_formats_url_encoding_is_found_by_the_version_it_names(stack, job_store):
    """S3's SQS/SNS/Lambda notifications form-encode keys ("red flower.jpg" -> "red+flower.jpg"); should an
    EventBridge delivery ever do the same, the decoded key is used only because S3 holds that exact version."""
    key = "inbox/c++ mug 100%.jpg"
    version = stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=_photo())["VersionId"]
    work = stack.resolver.resolve({"Ref": "WorkQueue"})
    (delivered,) = stack.sqs.receive_message(QueueUrl=work)["Messages"]
    stack.sqs.delete_message(QueueUrl=work, ReceiptHandle=delivered["ReceiptHandle"])
    event = json.loads(delivered["Body"])
    event["detail"]["object"]["key"] = quote_plus(key)  # "inbox/c%2B%2B+mug+100%25.jpg"
    stack.sqs.send_message(QueueUrl=work, MessageBody=json.dumps(event))
    _drain_ingest(stack)
    assert _job_of(stack, job_store, key, version).source_key == key


def test_an_event_for_a_key_the_bucket_does_not_hold_is_dead_lettered_not_dropped(stack, job_store):
    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/c++ mug.jpg", Body=_photo())
    work = stack.resolver.resolve({"Ref": "WorkQueue"})
    (delivered,) = stack.sqs.receive_message(QueueUrl=work)["Messages"]
    stack.sqs.delete_message(QueueUrl=work, ReceiptHandle=delivered["ReceiptHandle"])
    event = json.loads(delivered["Body"])
    event["detail"]["object"]["key"] = "inbox/c   mug.jpg"  # a key S3 does not hold, under any spelling
    stack.sqs.send_message(QueueUrl=work, MessageBody=json.dumps(event))
    seen = []
    with function_logs() as logs:
        stack.drain(lambda consumer, message, ok: seen.append((consumer.stage, ok)))
    assert seen == [("ingest", False)] * 5  # retried, never taken as done
    errors = [line for line in logs if line["message"] == "upload not found"]
    assert [(line["level"], line["key"]) for line in errors] == [("ERROR", "inbox/c   mug.jpg")] * 5
    (dead,) = stack.dead_letters()  # the picr-dlq-not-empty alarm mails the owner
    assert json.loads(dead["Body"])["detail"]["object"]["key"] == "inbox/c   mug.jpg"


def test_a_photo_deleted_before_ingest_ran_opens_no_job_and_says_so_once(stack, job_store):
    version = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/vase.jpg", Body=_photo())["VersionId"]
    stack.s3.delete_object(Bucket=stack.bucket, Key="inbox/vase.jpg")  # the owner changed their mind
    with function_logs() as logs:
        _drain_ingest(stack)
    assert _job_of(stack, job_store, "inbox/vase.jpg", version) is None
    (skipped,) = [line for line in logs if line["message"] == "ingest skipped"]
    assert (skipped["status"], skipped["key"]) == ("deleted", "inbox/vase.jpg")
    assert "deleted before it was processed" in skipped["reason"]
    assert [line for line in logs if line["message"] == "ingested"] == []
    assert stack.dead_letters() == []


def test_a_version_replaced_before_ingest_ran_is_skipped_and_the_newer_one_opens_the_job(stack, job_store):
    first = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/vase.jpg", Body=_photo(40))["VersionId"]
    second = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/vase.jpg", Body=_photo(200))["VersionId"]
    with function_logs() as logs:
        _drain_ingest(stack)
    assert _job_of(stack, job_store, "inbox/vase.jpg", first) is None
    newer = _job_of(stack, job_store, "inbox/vase.jpg", second)
    assert newer.status == "ingested" and newer.source_version == second
    assert [line["status"] for line in logs if line["message"] == "ingest skipped"] == ["replaced"]


def test_a_file_over_the_size_limit_is_refused_from_its_size_and_never_downloaded(stack, job_store):
    from moto.ses.models import ses_backends

    data = _photo() + bytes(41 * 2**20)  # 41 MB: a JPEG with a long tail
    version = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/huge.jpg", Body=data)["VersionId"]
    calls: list[tuple[str, str | None]] = []

    def record(model, params, **kwargs) -> None:
        calls.append((model.name, params.get("Key")))

    # On the default session before the handlers' modules create their clients, so theirs carry the hook.
    session_events = boto3._get_default_session().events
    session_events.register("before-parameter-build.s3", record)
    try:
        stack.drain()
    finally:
        session_events.unregister("before-parameter-build.s3", record)
    job = _job_of(stack, job_store, "inbox/huge.jpg", version)
    assert (job.status, job.reason_code) == ("rejected", "too_large")
    assert "41.0 MB, more than the 40 MB" in job.reasons[0]
    assert stack.s3.head_object(Bucket=stack.bucket, Key=job.rejected_key)["ContentLength"] == len(data)
    inbox = stack.s3.list_object_versions(Bucket=stack.bucket, Prefix="inbox/huge.jpg")
    assert [marker["IsLatest"] for marker in inbox["DeleteMarkers"]] == [True]  # moved out of inbox/
    assert ("HeadObject", "inbox/huge.jpg") in calls
    assert [key for name, key in calls if name == "GetObject" and key in ("inbox/huge.jpg", job.rejected_key)] == []
    (sent,) = ses_backends["123456789012"]["eu-west-2"].sent_messages
    assert "huge.jpg: could not be used" in sent.raw_data
