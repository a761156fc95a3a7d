"""The job store against moto, on the table the template declares."""

from __future__ import annotations

import pytest

from picr.aws import jobs as states
from picr.aws.jobs import NewJob

JOB = NewJob(job_id="a" * 20, source_key="inbox/candle.jpg", source_file="candle.jpg", product="Candle",
             event_time="2026-11-21T10:00:00Z", source_version="v1")


def test_open_is_conditional_and_writes_history(job_store):
    assert job_store.open(JOB, at="2026-11-21T10:00:01.000Z", attrs={"width": 2000})
    assert not job_store.open(JOB, at="2026-11-21T10:00:02.000Z")
    job = job_store.get(JOB.job_id)
    assert job["current_status"] == states.INGESTED
    assert job["width"] == 2000 and job["product"] == "Candle"
    assert [row["status"] for row in job_store.history(JOB.job_id)] == [states.INGESTED]


def test_transition_only_from_allowed_states(job_store):
    job_store.open(JOB, at="2026-11-21T10:00:01.000Z")
    assert job_store.transition(JOB.job_id, states.CUT, allowed_from={states.INGESTED},
                                at="2026-11-21T10:00:05.000Z", attrs={"confidence": 0.93, "scores": {"a": 0.5}})
    # A redelivered cutout message finds the job already moved on: nothing changes.
    assert not job_store.transition(JOB.job_id, states.NEEDS_REVIEW, allowed_from={states.INGESTED},
                                    at="2026-11-21T10:00:06.000Z")
    job = job_store.get(JOB.job_id)
    assert job["current_status"] == states.CUT
    assert job["confidence"] == pytest.approx(0.93)
    assert job["scores"] == {"a": 0.5}
    assert [row["status"] for row in job_store.history(JOB.job_id)] == [states.INGESTED, states.CUT]


def test_status_index_lists_only_current_state(job_store):
    other = NewJob(**{**JOB.__dict__, "job_id": "b" * 20})
    job_store.open(JOB, at="2026-11-20T08:00:00.000Z")
    job_store.open(other, at="2026-11-20T09:00:00.000Z")
    job_store.transition(JOB.job_id, states.NEEDS_REVIEW, allowed_from={states.INGESTED},
                         at="2026-11-20T08:01:00.000Z")
    job_store.transition(other.job_id, states.NEEDS_REVIEW, allowed_from={states.INGESTED},
                         at="2026-11-21T09:01:00.000Z")
    job_store.transition(other.job_id, states.DONE, allowed_from={states.NEEDS_REVIEW},
                         at="2026-11-21T09:05:00.000Z")
    held = job_store.in_status(states.NEEDS_REVIEW)
    assert [job["job_id"] for job in held] == [JOB.job_id]
    assert job_store.in_status(states.NEEDS_REVIEW, updated_before="2026-11-20T08:00:30.000Z") == []
    assert job_store.in_status(states.INGESTED) == []


def test_update_requires_existing_job(job_store):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        job_store.update("c" * 20, {"flag": True})
