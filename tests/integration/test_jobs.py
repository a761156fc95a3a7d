"""The job store against moto, on the table the template declares: typed jobs in, the same items as ever out."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from picr.aws.job_items import job_from_item
from picr.aws.jobs import CURRENT
from picr.job import Draft, Handoff, NewJob, PublishedImage, Status

REPO = Path(__file__).resolve().parents[2]
JOB = NewJob(job_id="a" * 20, source_key="inbox/candle.jpg", source_file="candle.jpg", product="Candle",
             event_time="2026-11-21T10:00:00Z", source_version="v1")
DRAFT = Draft(channel="web", work_key="drafts/x/web.png", ext="png", content_type="image/png", width=2000,
              height=2000, format="PNG", bytes=1234, sha256="0" * 64, watermarked=True, checks={"border": True},
              passed=True)


def _item(job_store, job_id: str) -> dict:
    return job_store._client.get_item(TableName=job_store._table,
                                      Key={"job_id": {"S": job_id}, "ts": {"S": CURRENT}})["Item"]


def test_open_is_conditional_and_writes_history(job_store):
    assert job_store.open(JOB, at="2026-11-21T10:00:01.000Z", attrs={"width": 2000})
    assert not job_store.open(JOB, at="2026-11-21T10:00:02.000Z")
    job = job_store.get(JOB.job_id)
    assert job.status == Status.INGESTED
    assert job.width == 2000 and job.product == "Candle"
    assert [row.status for row in job_store.history(JOB.job_id)] == [Status.INGESTED]


def test_transition_only_from_allowed_states(job_store):
    job_store.open(JOB, at="2026-11-21T10:00:01.000Z")
    assert job_store.transition(JOB.job_id, Status.CUT, allowed_from={Status.INGESTED},
                                at="2026-11-21T10:00:05.000Z", attrs={"confidence": 0.93, "scores": {"a": 0.5}})
    # A redelivered cutout message finds the job already moved on: nothing changes.
    assert not job_store.transition(JOB.job_id, Status.NEEDS_REVIEW, allowed_from={Status.INGESTED},
                                    at="2026-11-21T10:00:06.000Z")
    job = job_store.get(JOB.job_id)
    assert job.status == Status.CUT
    assert job.confidence == pytest.approx(0.93)
    assert job.scores == {"a": 0.5}
    assert [row.status for row in job_store.history(JOB.job_id)] == [Status.INGESTED, Status.CUT]


def test_status_index_lists_only_current_state(job_store):
    other = NewJob(**{**JOB.__dict__, "job_id": "b" * 20})
    job_store.open(JOB, at="2026-11-20T08:00:00.000Z")
    job_store.open(other, at="2026-11-20T09:00:00.000Z")
    job_store.transition(JOB.job_id, Status.NEEDS_REVIEW, allowed_from={Status.INGESTED},
                         at="2026-11-20T08:01:00.000Z")
    job_store.transition(other.job_id, Status.NEEDS_REVIEW, allowed_from={Status.INGESTED},
                         at="2026-11-21T09:01:00.000Z")
    job_store.transition(other.job_id, Status.DONE, allowed_from={Status.NEEDS_REVIEW},
                         at="2026-11-21T09:05:00.000Z")
    held = job_store.in_status(Status.NEEDS_REVIEW)
    assert [job.job_id for job in held] == [JOB.job_id]
    assert job_store.in_status(Status.NEEDS_REVIEW, updated_before="2026-11-20T08:00:30.000Z") == []
    assert job_store.in_status(Status.INGESTED) == []


def test_update_requires_existing_job(job_store):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        job_store.update("c" * 20, {"moved": True})


def test_a_name_that_is_no_field_of_a_job_is_refused_before_anything_is_written(job_store):
    job_store.open(JOB, at="2026-11-21T10:00:01.000Z")
    with pytest.raises(ValueError, match="cutuot_key"):
        job_store.transition(JOB.job_id, Status.CUT, allowed_from={Status.INGESTED}, at="2026-11-21T10:00:05.000Z",
                             attrs={"cutuot_key": "work/x/cutout.png"})
    with pytest.raises(ValueError, match="current_status"):
        job_store.update(JOB.job_id, {"current_status": "done"})  # states move only through transition
    assert job_store.get(JOB.job_id).status == Status.INGESTED


def test_records_hand_offs_and_spent_tokens_read_back_typed(job_store):
    job_store.open(JOB, at="2026-11-21T10:00:01.000Z", attrs={"original_size": [4032, 3024], "notes": ["a"]})
    job_store.mark_handed_off(JOB.job_id, Handoff.CUTOUT)
    job_store.transition(JOB.job_id, Status.CUT, allowed_from={Status.INGESTED}, at="2026-11-21T10:00:05.000Z",
                         attrs={"variants": [DRAFT]}, spend_token="n1")
    job_store.transition(JOB.job_id, Status.DONE, allowed_from={Status.CUT}, at="2026-11-21T10:00:09.000Z",
                         attrs={"outputs": [PublishedImage("web", "out/web/x.png", 2000, 2000, "PNG", True)],
                                Handoff.CUTOUT: False, Handoff.VARIANTS: True})
    job = job_store.get(JOB.job_id)
    assert job.variants == (DRAFT,)
    assert job.outputs == (PublishedImage("web", "out/web/x.png", 2000, 2000, "PNG", True),)
    assert job.handoffs == {Handoff.VARIANTS} and not job.handed_off(Handoff.CUTOUT)
    assert job.spent_tokens == {"n1"}
    assert job.original_size == (4032, 3024) and job.notes == ("a",)


def test_the_item_keeps_its_attribute_names(job_store):
    """Items written before the job was typed read, and new items carry the same attribute names."""
    job_store.open(JOB, at="2026-11-21T10:00:01.000Z", attrs={"cutout_key": "work/a/cutout.png"})
    job_store.mark_handed_off(JOB.job_id, Handoff.PUBLISH_REVIEW)
    job_store.transition(JOB.job_id, Status.VARIED, allowed_from={Status.INGESTED}, at="2026-11-21T10:00:05.000Z",
                         attrs={"variants": [DRAFT]})
    item = _item(job_store, JOB.job_id)
    assert {"current_status", "updated_at", "cutout_key", "publish_review_enqueued", "variants"} <= set(item)
    assert item["current_status"] == {"S": "varied"}
    assert item["variants"]["L"][0]["M"]["work_key"] == {"S": "drafts/x/web.png"}
    # An item as an older release wrote it: no handoffs at all, an attribute this release does not know.
    old = job_from_item({"job_id": "d" * 20, "ts": CURRENT, "current_status": "needs_review",
                         "updated_at": "2026-01-01T00:00:00.000Z", "legacy_attribute": 1,
                         "variants": [{**DRAFT.__dict__, "legacy_key": "x"}]})
    assert old.status == Status.NEEDS_REVIEW and old.handoffs == frozenset() and old.variants == (DRAFT,)


def test_no_code_outside_the_store_reads_a_job_as_a_mapping():
    """A job is a typed record everywhere but in the store, which alone knows the item."""
    pattern = re.compile(r"""\bjob\w*(\[["']|\.get\(["'])""")
    sources = [*(REPO / "functions").rglob("*.py"), *(REPO / "layers/pillow/picr").rglob("*.py")]
    offenders = [f"{path.relative_to(REPO)}:{number}" for path in sources if path.name != "jobs.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_newest_pages_every_job_by_creation_and_held_ones_by_hold_and_refuses_foreign_cursors(job_store, clock):
    for index in range(5):
        at = clock.iso(timedelta(minutes=index))
        job_store.open(NewJob(f"{index:020x}", f"inbox/{index}.jpg", f"{index}.jpg", "P", at), at=at)
    job_store.transition(f"{1:020x}", Status.NEEDS_REVIEW, allowed_from=[Status.INGESTED],
                         at=clock.iso(timedelta(minutes=9)))
    job_store.transition(f"{3:020x}", Status.NEEDS_REVIEW, allowed_from=[Status.INGESTED],
                         at=clock.iso(timedelta(minutes=8)))
    first, cursor = job_store.newest(limit=3)
    rest, end = job_store.newest(limit=3, after=cursor)
    assert [job.job_id[-1] for job in first + rest] == ["4", "3", "2", "1", "0"] and end is None
    held, _ = job_store.newest(limit=10, status=Status.NEEDS_REVIEW)
    assert [job.job_id[-1] for job in held] == ["1", "3"]  # by when they were held, newest first
    with pytest.raises(ValueError):  # a cursor of the full list is no cursor of the held list
        job_store.newest(limit=3, status=Status.NEEDS_REVIEW, after=cursor)
    for garbage in (cursor[:-4], "bm90IGEgY3Vyc29y", "é", "e30"):
        with pytest.raises(ValueError):
            job_store.newest(limit=3, after=garbage)
