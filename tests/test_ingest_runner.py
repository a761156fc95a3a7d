"""Ingest through the local runner: the awkward corpus gets its documented outcomes, nothing refused
reaches the cutout queue, every refused file is kept under rejected/, and a duplicate event opens one job.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.awkward import build_awkward_corpus
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
    assert [row["status"] for row in history].count("ingested") == 1
