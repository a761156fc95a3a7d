"""picr-sweep: the daily digest of held jobs, found through the status index (never a Scan), each job at
most once per day, with its thumbnails, reasons, how long it has waited, and its signed review links."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from picr.aws.bucket import ImageBucket
from picr.job import Status
from picr.links.review import ReviewLinks, read_token
from picr.stages.sweep import SweepContext, keep_held_files, redrive_stranded, sweep
from tests.support.clock import iso
from tests.support.held_jobs import REASONS, job_store, seed_held_job
from tools.shared_data import SAMPLES

KEY = b"digest-test-key-digest-test-key!"
SWEEP_AT = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # the schedule: 06:00 UTC


class Recorder:
    """Records which DynamoDB operations a client makes (a botocore ``before-call`` hook)."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model, **kwargs) -> None:
        self.operations.append(model.name)


@pytest.fixture
def sent() -> list[tuple[dict, EmailMessage]]:
    return []


@pytest.fixture
def context(stack, sent) -> SweepContext:
    def deliver(notice: dict[str, str], message: EmailMessage) -> str:
        sent.append((notice, message))
        return f"id-{len(sent)}"

    return SweepContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=job_store(stack), deliver=deliver,
        sender="picr@example.com", recipients=["owner@example.com"], review_after=timedelta(hours=24),
        review_links=ReviewLinks("https://review.example/", lambda: KEY, timedelta(hours=72)),
    )


@pytest.fixture
def operations(stack) -> Recorder:
    recorder = Recorder()
    stack.dynamodb.meta.events.register("before-call.dynamodb", recorder)
    return recorder


def _texts(message: EmailMessage) -> tuple[str, str]:
    return (message.get_body(preferencelist=("plain",)).get_content(),
            message.get_body(preferencelist=("html",)).get_content())


def test_a_job_held_25_hours_is_in_the_digest_once_per_sweep_day(stack, context, sent, operations):
    held = seed_held_job(stack, held_at=SWEEP_AT - timedelta(hours=25))

    assert sweep(context, now=SWEEP_AT, iso=iso) == [held.job_id]
    assert sweep(context, now=SWEEP_AT + timedelta(hours=5), iso=iso) == []  # a rerun the same day
    assert sweep(context, now=SWEEP_AT + timedelta(days=1), iso=iso) == [held.job_id]
    assert [notice for notice, _message in sent] == [
        {"digest": "2026-11-21", "jobs": held.job_id}, {"digest": "2026-11-22", "jobs": held.job_id}]

    first, second = (message for _notice, message in sent)
    assert first["Subject"] == "1 product waiting for review" and first["To"] == "owner@example.com"
    text, html = _texts(first)
    assert "Glass jug (waiting for 25 hours" in text and REASONS[0] in text
    assert "Waiting for 25 hours" in html and "Glass jug" in html
    assert "waiting for 2 days" in _texts(second)[0]
    thumbnails = [part for part in first.walk() if part.get_content_type() == "image/jpeg"]
    assert len(thumbnails) == 2  # the photo and the attempted cutout
    assert all(f"cid:{part['Content-ID'].strip('<>')}" in html for part in thumbnails)

    links = dict(line.split(": ", 1) for line in text.splitlines() if line.startswith(("Approve", "Reject")))
    tokens = {label: read_token(KEY, parse_qs(urlsplit(url).query)["t"][0], now=SWEEP_AT)
              for label, url in links.items()}
    assert {label: (t.action, t.kind, t.job_id) for label, t in tokens.items()} == {
        "Approve cutout": ("approve", "digest", held.job_id), "Reject": ("reject", "digest", held.job_id)}

    assert job_store(stack).get(held.job_id).reminded_on == "2026-11-22"
    assert "Scan" not in operations.operations and "Query" in operations.operations


def test_done_recent_and_decided_jobs_are_never_in_the_digest(stack, context, sent, operations):
    seed_held_job(stack, held_at=SWEEP_AT - timedelta(days=3), file_name="candle.jpg", product="Candle",
                  status=Status.DONE)
    seed_held_job(stack, held_at=SWEEP_AT - timedelta(days=3), file_name="vase.jpg", product="Vase",
                  status=Status.SUPERSEDED)
    recent = seed_held_job(stack, held_at=SWEEP_AT - timedelta(hours=2), file_name="teapot.jpg", product="Teapot")
    assert sweep(context, now=SWEEP_AT, iso=iso) == []
    assert sent == []
    # A day later the teapot has waited long enough; the done and superseded jobs never will.
    assert sweep(context, now=SWEEP_AT + timedelta(days=1), iso=iso) == [recent.job_id]
    assert sweep(context, now=SWEEP_AT + timedelta(days=9), iso=iso) == [recent.job_id]
    assert "Scan" not in operations.operations and operations.operations.count("Query") == 3


def test_every_held_job_is_listed_oldest_first_in_one_digest(stack, context, sent):
    newer = seed_held_job(stack, held_at=SWEEP_AT - timedelta(hours=30), file_name="a.jpg", product="Lamp")
    older = seed_held_job(stack, held_at=SWEEP_AT - timedelta(days=4), file_name="b.jpg", product="Kettle")
    assert sweep(context, now=SWEEP_AT, iso=iso) == [older.job_id, newer.job_id]
    ((_notice, message),) = sent
    assert message["Subject"] == "2 products waiting for review"
    text = _texts(message)[0]
    assert text.index("Kettle (waiting for 4 days") < text.index("Lamp (waiting for 30 hours")


def _sent_mail() -> list[EmailMessage]:
    from moto.ses.models import ses_backends

    from tools.embedded_stack import ACCOUNT, REGION

    return [email.message_from_bytes(m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data,
                                     policy=email.policy.default)
            for m in ses_backends[ACCOUNT][REGION].sent_messages]


def test_the_scheduled_handler_queries_the_index_and_mails_one_digest(stack, clock):
    from tests.conftest import REPO

    held = seed_held_job(stack, held_at=clock.at(-timedelta(hours=25)))
    recorder = Recorder()
    # On the default session before the handler's module creates its clients, so they carry the hook.
    session_events = boto3._get_default_session().events
    session_events.register("before-call.dynamodb", recorder)
    event = json.loads((REPO / "events" / "sweep.json").read_text())
    try:
        assert stack.invoke("SweepFunction", event) == {"reminded": [held.job_id], "redriven": []}
        assert stack.invoke("SweepFunction", event) == {"reminded": [], "redriven": []}
    finally:
        session_events.unregister("before-call.dynamodb", recorder)
    (digest,) = _sent_mail()
    assert digest["X-Picr-Kind"] == "digest" and digest["Subject"] == "1 product waiting for review"
    review_url = stack.functions["SweepFunction"].environment["PICR_REVIEW_URL"]
    assert f"Approve cutout: {review_url}?t=" in _texts(digest)[0]
    assert "Query" in recorder.operations and "Scan" not in recorder.operations


def test_a_stranded_job_is_handed_on_and_finishes_and_a_slow_one_is_left_alone(stack):
    """A job whose hand-off was lost sits in a working state; the sweep re-sends it to its next stage."""
    from picr.aws.queues import QueueSender
    from picr.job import NewJob
    from picr.stages.sweep import redrive_stranded

    photo = (SAMPLES / "toolbox.jpg").read_bytes()
    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=photo)
    ingest = next(c for c in stack.consumers if c.stage == "ingest")
    while stack.poll_once(ingest):
        pass
    cutout = next(c for c in stack.consumers if c.stage == "cutout")
    stack.sqs.purge_queue(QueueUrl=cutout.queue_url)  # the cutout message is lost
    jobs = job_store(stack)
    (stranded,) = jobs.in_status(Status.INGESTED)
    # The sweep runs 7 hours after the lost hand-off; another job opened an hour before it is slow, not stranded.
    later = datetime.fromisoformat(stranded.updated_at) + timedelta(hours=7)
    recent = NewJob(job_id="f" * 20, source_key="inbox/fresh.jpg", source_file="fresh.jpg", product="Fresh",
                    event_time=iso(later - timedelta(hours=1)))
    jobs.open(recent, at=iso(later - timedelta(hours=1)))
    context = SweepContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=jobs, deliver=lambda *_: "unused",
        sender="picr@example.com", recipients=["owner@example.com"], review_after=timedelta(hours=24),
        next_stages={Status.INGESTED: QueueSender(stack.sqs, cutout.queue_url)},
    )
    assert redrive_stranded(context, now=later, iso=iso) == [stranded.job_id]
    assert jobs.get("f" * 20).status == Status.INGESTED  # untouched
    stack.drain()
    assert jobs.get(stranded.job_id).status == Status.DONE


# ------------------------------------------------------------------ one job never stops the others


def _skipped(caplog) -> list[tuple[str, str, str]]:
    """What the stage reported as skipped (the fallback report logs to the ``picr`` logger)."""
    return [(record.job_id, record.step, type(record.exc_info[1]).__name__)
            for record in caplog.records if record.getMessage() == "job skipped"]


def test_a_held_job_whose_images_are_gone_is_skipped_and_the_others_are_still_listed(stack, context, sent,
                                                                                     caplog):
    broken = seed_held_job(stack, held_at=SWEEP_AT - timedelta(days=40), file_name="old.jpg", product="Old jug")
    fine = seed_held_job(stack, held_at=SWEEP_AT - timedelta(hours=30), file_name="new.jpg", product="New jug")
    stack.s3.delete_object(Bucket=stack.bucket, Key=broken.source_work_key)  # as a 30-day expiry did
    assert sweep(context, now=SWEEP_AT, iso=iso) == [fine.job_id]
    ((notice, message),) = sent
    assert notice["jobs"] == fine.job_id and message["Subject"] == "1 product waiting for review"
    assert _skipped(caplog) == [(broken.job_id, "digest", "NoSuchKey")]
    assert job_store(stack).get(broken.job_id).reminded_on is None  # tried again tomorrow


def test_the_scheduled_sweep_logs_and_counts_a_skipped_job_and_lists_the_rest(stack, clock, capsys):
    """Through the handler: the skipped job is logged with its id and the exception, and counted."""
    from tests.conftest import REPO
    from tests.support.function_logs import function_logs

    broken = seed_held_job(stack, held_at=clock.at(-timedelta(days=40)), file_name="old.jpg", product="Old jug")
    fine = seed_held_job(stack, held_at=clock.at(-timedelta(hours=30)), file_name="new.jpg", product="New jug")
    stack.s3.delete_object(Bucket=stack.bucket, Key=broken.cutout_key)
    with function_logs() as logs:
        result = stack.invoke("SweepFunction", json.loads((REPO / "events" / "sweep.json").read_text()))
    assert result == {"reminded": [fine.job_id], "redriven": []}
    (skipped,) = [line for line in logs if line["message"] == "job skipped"]
    assert (skipped["job_id"], skipped["step"], skipped["level"]) == (broken.job_id, "digest", "ERROR")
    assert "NoSuchKey" in skipped["exception"]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [metrics["JobsSkipped"] for metrics in emitted if "JobsSkipped" in metrics] == [[1.0]]


def test_one_job_that_cannot_be_handed_on_does_not_strand_the_others(stack, clock, caplog):
    from picr.aws.queues import QueueSender
    from picr.job import NewJob

    jobs = job_store(stack)
    later = clock.at(timedelta(hours=7))
    for job_id, status in (("a" * 20, Status.INGESTED), ("b" * 20, Status.VARIED), ("c" * 20, Status.VARIED)):
        jobs.open(NewJob(job_id=job_id, source_key=f"inbox/{job_id}.jpg", source_file=f"{job_id}.jpg",
                         product="Lamp", event_time=clock.iso()), at=clock.iso(), status=status)
    publish = stack.resolver.resolve({"Ref": "PublishQueue"})
    context = SweepContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=jobs, deliver=lambda *_: "unused",
        sender="picr@example.com", recipients=["owner@example.com"], review_after=timedelta(hours=24),
        next_stages={Status.INGESTED: QueueSender(stack.sqs, publish.replace("picr-publish", "picr-gone")),
                     Status.VARIED: QueueSender(stack.sqs, publish)},
    )
    assert redrive_stranded(context, now=later, iso=iso) == ["b" * 20, "c" * 20]
    assert _skipped(caplog) == [("a" * 20, "redrive-ingested", "QueueDoesNotExist")]
    assert jobs.get("b" * 20).redriven_at and jobs.get("a" * 20).redriven_at is None


# ------------------------------------------------------------------ held jobs' images and a retention period


def test_with_a_retention_period_only_held_jobs_images_are_renewed_before_it(stack, clock):
    held = seed_held_job(stack, held_at=clock.at(), kept_original=True)
    done = seed_held_job(stack, held_at=clock.at(), file_name="candle.jpg", product="Candle", status=Status.DONE,
                         kept_original=True)
    context = SweepContext(
        bucket=ImageBucket(stack.s3, stack.bucket), jobs=job_store(stack), deliver=lambda *_: "unused",
        sender="picr@example.com", recipients=["owner@example.com"], review_after=timedelta(hours=24),
        retention=timedelta(days=365),
    )
    kept = [held.original_key, held.source_work_key, held.cutout_key]
    assert keep_held_files(context, now=clock.at(timedelta(days=300))) == []  # not near the period yet
    assert keep_held_files(context, now=clock.at(timedelta(days=340))) == kept
    for key in kept:  # a new current version, written now; the old one is left to the noncurrent-version rule
        old, renewed = sorted(stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=key)["Versions"],
                              key=lambda version: version["IsLatest"])
        assert renewed["IsLatest"] and renewed["LastModified"] >= old["LastModified"]
    for key in (done.original_key, done.source_work_key, done.cutout_key):
        assert len(stack.s3.list_object_versions(Bucket=stack.bucket, Prefix=key)["Versions"]) == 1
    forever = SweepContext(**{**context.__dict__, "retention": None})
    assert keep_held_files(forever, now=clock.at(timedelta(days=3650))) == []
