"""Sweep: daily, make sure no job is forgotten — neither a held one nor one a lost message stranded.

* Held jobs: those whose *current* status is ``needs_review`` and that have waited longer than the review
  delay are listed in one digest a day, found through the status index (a Query, never a Scan).
* Stranded jobs: a job left in a working state (``ingested``, ``cut``, ``varied``) far longer than its
  stage takes — its hand-off message lost after a decision, or dead-lettered after a transient outage that
  has since passed — is handed to its next stage again. Every stage is idempotent, so a job that was only
  slow loses nothing by it.
* Held jobs' files: when the owner set a retention period (``RetentionDays``), the bucket deletes kept
  images that old; a held job's are renewed before they reach it, so nothing is deleted while it is held.

Every loop isolates its jobs (``picr.pipeline``): one job that fails is reported and skipped, and
the others are still listed, handed on or renewed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, QueueSender, StageMessage
from picr.job import Job, Status
from picr.links.review import ReviewLinks
from picr.notify.emails import HeldJob, build_digest_email
from picr.pipeline import JobFailure, each_job, log_job_failure

DigestDeliver = Callable[[dict[str, str], EmailMessage], str]
RENEWAL_MARGIN = timedelta(days=30)
"""Held jobs' files are renewed this long before the retention period would delete them, so a sweep
that fails for weeks still renews them in time."""


@dataclass
class SweepContext:
    bucket: ImageBucket
    jobs: JobStore
    deliver: DigestDeliver
    sender: str
    recipients: list[str]
    review_after: timedelta
    review_links: ReviewLinks | None = None
    """Mints each held job's signed Approve / Reject / Retry buttons; None lists the jobs without them."""
    next_stages: dict[Status, QueueSender] | None = None
    """The queue that takes a job on from each working state: ``ingested`` → cutout, ``cut`` → variants,
    ``varied`` → publish. None leaves stranded jobs alone."""
    stranded_after: timedelta = timedelta(hours=6)
    """Far beyond a stage's worst case (5 attempts × a 12-minute visibility timeout ≈ 1 hour for the cutout),
    so only a job nothing will ever move again is handed on."""
    retention: timedelta | None = None
    """How long the bucket keeps images (``RetentionDays``); None keeps them forever."""
    on_job_failure: JobFailure = log_job_failure


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def sweep(ctx: SweepContext, *, now: datetime, iso: Callable[[datetime], str]) -> list[str]:
    """Send today's digest of held jobs (each at most once a day); returns the job ids listed."""
    day = now.date().isoformat()
    waiting = [
        job for job in ctx.jobs.in_status(Status.NEEDS_REVIEW, updated_before=iso(now - ctx.review_after))
        if job.reminded_on != day
    ]
    held = each_job(sorted(waiting, key=lambda job: job.updated_at), "digest",
                    lambda job: _held(job, ctx, now), ctx.on_job_failure)
    if not held:
        return []
    message = build_digest_email(sender=ctx.sender, recipients=ctx.recipients, held=held, day=day, sent_at=now)
    ctx.deliver({"digest": day, "jobs": ",".join(job.job_id for job in held)}, message)
    each_job(held, "digest-reminded", lambda job: ctx.jobs.update(job.job_id, {"reminded_on": day}),
             ctx.on_job_failure)
    return [job.job_id for job in held]


def _held(job: Job, ctx: SweepContext, now: datetime) -> HeldJob:
    return HeldJob(
        job_id=job.job_id,
        product=job.product,
        reasons=list(job.reasons),
        waited_hours=(now - _parse(job.updated_at)).total_seconds() / 3600,
        original=ctx.bucket.get(job.source_work_key).data,
        cutout=ctx.bucket.get(job.cutout_key).data if job.cutout_key else None,
        actions=ctx.review_links.for_job(job, kind="digest", now=now) if ctx.review_links else (),
    )


def _next_message(status: Status, job_id: str) -> StageMessage:
    if status == Status.VARIED:
        return PublishMessage(job_id=job_id, outcome="ready")
    return StageMessage(job_id=job_id)


def redrive_stranded(ctx: SweepContext, *, now: datetime, iso: Callable[[datetime], str]) -> list[str]:
    """Hand every stranded job to its next stage again; returns their ids."""
    if not ctx.next_stages:
        return []
    redriven = []
    for status, queue in ctx.next_stages.items():
        def redrive(job: Job, status: Status = status, queue: QueueSender = queue) -> str:
            queue.send(_next_message(status, job.job_id))
            ctx.jobs.update(job.job_id, {"redriven_at": iso(now)})
            return job.job_id

        stranded = ctx.jobs.in_status(status, updated_before=iso(now - ctx.stranded_after))
        redriven += each_job(stranded, f"redrive-{status}", redrive, ctx.on_job_failure)
    return redriven


def keep_held_files(ctx: SweepContext, *, now: datetime) -> list[str]:
    """With a retention period set, renew every held job's images that are near it; returns the keys renewed."""
    if ctx.retention is None:
        return []
    older_than = now - (ctx.retention - RENEWAL_MARGIN)

    def renew(job: Job) -> list[str]:
        keys = [key for key in (job.original_key, job.source_work_key, job.cutout_key) if key]
        return [key for key in keys if ctx.bucket.renew(key, older_than=older_than)]

    return [key for keys in each_job(ctx.jobs.in_status(Status.NEEDS_REVIEW), "keep-held-files", renew,
                                     ctx.on_job_failure) for key in keys]
