"""How the stages pass jobs on: the hand-off that happens once per step, and per-job isolation in loops.

**Hand-off.** A stage's work ends with a conditional transition of the job (``picr.aws.jobs``); only then
is the next stage's message sent, and the send is recorded on the job as a ``Handoff`` flag after it
happened. A crash between the two makes a retry send again (at least once, never zero times); the
receiving stage's own conditional transition absorbs the duplicate, so nothing is done twice.

**Isolation.** In a loop over many jobs (the daily sweep), one job that fails is reported and skipped and
the rest proceed: a sweep that stopped at the first job it cannot handle would fail every other job with
it, every day, until someone noticed. A skipped job is simply found again by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, StageMessage
from picr.job import Handoff, Job

JobFailure = Callable[[str, str], None]
"""``(job_id, step)``, called while the job's exception is being handled."""


class OfAJob(Protocol):
    @property
    def job_id(self) -> str: ...


def hand_off(jobs: JobStore, job: Job, handoff: Handoff, queue: QueueSender, message: StageMessage) -> None:
    """Send ``message`` unless the job says this hand-off already went; record it once sent."""
    if job.handed_off(handoff):
        return
    queue.send(message)
    jobs.mark_handed_off(message.job_id, handoff)


def log_job_failure(job_id: str, step: str) -> None:
    """The fallback report (the handlers pass ``picr.runtime.job_failed``: Powertools log and a metric)."""
    logging.getLogger("picr").exception("job skipped", extra={"job_id": job_id, "step": step})


def each_job[J: OfAJob, T](jobs: Iterable[J], step: str, work: Callable[[J], T], on_failure: JobFailure) -> list[T]:
    """``work(job)`` for every job; the results of those that did not raise, in order."""
    results = []
    for job in jobs:
        try:
            results.append(work(job))
        except Exception:  # any failure of one job must not stop the others
            on_failure(job.job_id, step)
    return results
