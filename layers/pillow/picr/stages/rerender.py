"""Starting a re-render: "render <channel> again for every ready product (or these ones)".

After the owner adds or changes a channel in ``config/channels.json``, the products already published keep
their old images; a re-render builds that channel again from each job's stored cutout (no model run),
publishes it beside the old images (``out/`` is versioned: a changed channel's previous file stays as an
older version), and updates each manifest. It is a batch: one record counts the products as publish settles
them, and the last one sends the single summary email.

Refused before anything is sent, each with a message the owner can act on: a channel config that does not
validate, a channel the config does not have, a selection of more than ``MAX_PRODUCTS`` or of jobs that are
not ready, and nothing to do. The variants queue's consumer is capped in concurrency by the template, so a
large batch waits in the queue rather than flooding anything.

A start that fails part-way (SQS refusing a request after the first ones went) leaves its batch waiting for
products that were never queued, so it would never complete and its summary would never come. The batch
therefore records which products' messages SQS took, the start says how far it got (``RerenderIncomplete``),
and ``resume_rerender`` queues the rest of that same batch; run again, it queues nothing twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, RerenderMessage, StageMessage
from picr.job import Status
from picr.stages.selection import Refused, configured_channel, over_limit, selected_ready

MAX_PRODUCTS = 1000
"""The most products one re-render takes; a larger shop re-renders in selections."""
RerenderRefused = Refused
"""A re-render refused before anything was sent (``picr.stages.selection.Refused``)."""


@dataclass
class RerenderIncomplete(RuntimeError):
    """The batch is open but not every product was queued; ``resume_rerender(batch_id)`` queues the rest."""

    def __init__(self, batch_id: str, channel: str, queued: int, total: int, cause: Exception) -> None:
        super().__init__(f"The {channel} images of {queued} of {total} products are being made again; the other "
                         f"{total - queued} could not be queued ({cause}). Queue them to finish this re-render "
                         f"(batch {batch_id}).")
        self.batch_id, self.queued, self.total = batch_id, queued, total


@dataclass
class RerenderContext:
    bucket: ImageBucket
    jobs: JobStore
    batches: RerenderBatches
    variants_queue: QueueSender


@dataclass(frozen=True)
class StartedBatch:
    batch_id: str
    channel: str
    job_ids: tuple[str, ...]


def start_rerender(channel: str, selection: Sequence[str] | None, ctx: RerenderContext, *,
                   now_s: float) -> StartedBatch:
    """Check the request, open the batch, queue one message per product; ``RerenderRefused`` otherwise, and
    ``RerenderIncomplete`` when only some were queued."""
    configured_channel(channel, ctx.bucket)
    job_ids = _ready_jobs(selection, ctx)
    batch = StartedBatch(secrets.token_hex(8), channel, tuple(job_ids))
    ctx.batches.open(batch.batch_id, channel=channel, job_ids=job_ids, now_s=now_s)
    _queue(batch, job_ids, ctx)
    return batch


def resume_rerender(batch_id: str, ctx: RerenderContext) -> StartedBatch:
    """Queue the products of a batch whose start was cut short that are not queued yet (none, the second time);
    returns the batch with the products it queued now."""
    try:
        plan = ctx.batches.plan(batch_id)
    except LookupError as exc:
        raise RerenderRefused(f"There is no re-render {batch_id!r} to finish (a batch is kept 14 days).") from exc
    pending = plan.pending
    batch = StartedBatch(batch_id, plan.channel, tuple(pending))
    _queue(StartedBatch(batch_id, plan.channel, plan.jobs), pending, ctx, already=len(plan.queued))
    return batch


def _queue(batch: StartedBatch, job_ids: Sequence[str], ctx: RerenderContext, *, already: int = 0) -> None:
    """One message per product, each request's products recorded as queued once SQS took them."""
    queued = already

    def taken(messages: Sequence[StageMessage]) -> None:
        nonlocal queued
        ctx.batches.mark_queued(batch.batch_id, [message.job_id for message in messages])
        queued += len(messages)

    messages = [RerenderMessage(job_id=job_id, batch_id=batch.batch_id, channel=batch.channel) for job_id in job_ids]
    try:
        ctx.variants_queue.send_all(messages, on_sent=taken)
    except Exception as exc:  # whatever stopped it (SQS, the network, the batch record), the rest can be queued
        raise RerenderIncomplete(batch.batch_id, batch.channel, queued, len(batch.job_ids), exc) from exc


def _ready_jobs(selection: Sequence[str] | None, ctx: RerenderContext) -> list[str]:
    if selection is None:
        ready = [job.job_id for job in ctx.jobs.in_status(Status.DONE)]
        if len(ready) > MAX_PRODUCTS:
            raise over_limit(len(ready), MAX_PRODUCTS, "re-rendered")
    else:
        ready = [job.job_id for job in selected_ready(selection, ctx.jobs, limit=MAX_PRODUCTS, doing="re-rendered")]
    if not ready:
        raise RerenderRefused("There are no ready products to re-render.")
    return ready
