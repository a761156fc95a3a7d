"""Handing a job to the next stage exactly once per successful step.

The send is recorded on the job after it happens, so a crash between the two makes a retry send
again (at least once, never zero times); the receiving stage's conditional transition absorbs that.
"""

from __future__ import annotations

from typing import Any

from picr.jobs import JobStore
from picr.messages import QueueSender, StageMessage


def hand_off(jobs: JobStore, job: dict[str, Any], flag: str, queue: QueueSender, message: StageMessage) -> None:
    """Send ``message`` unless the job's ``flag`` says it already went."""
    if job.get(flag):
        return
    queue.send(message)
    jobs.update(message.job_id, {flag: True})
