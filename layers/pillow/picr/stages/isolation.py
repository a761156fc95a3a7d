"""Per-job isolation: in a loop over many jobs, one job that fails is reported and skipped; the rest proceed.

A daily sweep that stops at the first job it cannot handle fails every other job with it, every day, until
someone notices. So each job's step runs on its own: an exception is handed to ``on_failure`` (inside the
``except`` block, so a logger records it with its traceback), and the loop moves on. A skipped job is
simply found again by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

JobFailure = Callable[[str, str], None]
"""``(job_id, step)``, called while the job's exception is being handled."""


def log_job_failure(job_id: str, step: str) -> None:
    """The fallback report (the handlers pass ``picr.runtime.job_failed``: Powertools log and a metric)."""
    logging.getLogger("picr").exception("job skipped", extra={"job_id": job_id, "step": step})


def each_job[T](jobs: Iterable[dict[str, Any]], step: str, work: Callable[[dict[str, Any]], T],
             on_failure: JobFailure) -> list[T]:
    """``work(job)`` for every job; the results of those that did not raise, in order."""
    results = []
    for job in jobs:
        try:
            results.append(work(job))
        except Exception:  # any failure of one job must not stop the others
            on_failure(job["job_id"], step)
    return results
