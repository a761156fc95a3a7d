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
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, RerenderMessage
from picr.job import Status
from picr.stages.selection import Refused, configured_channel, over_limit, selected_ready

MAX_PRODUCTS = 1000
"""The most products one re-render takes; a larger shop re-renders in selections."""
RerenderRefused = Refused
"""A re-render refused before anything was sent (``picr.stages.selection.Refused``)."""


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
    """Check the request, open the batch, queue one message per product; ``RerenderRefused`` otherwise."""
    configured_channel(channel, ctx.bucket)
    job_ids = _ready_jobs(selection, ctx)
    batch = StartedBatch(secrets.token_hex(8), channel, tuple(job_ids))
    ctx.batches.open(batch.batch_id, channel=channel, total=len(job_ids), now_s=now_s)
    ctx.variants_queue.send_all([RerenderMessage(job_id=job_id, batch_id=batch.batch_id, channel=channel)
                                 for job_id in job_ids])
    return batch


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
