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

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from picr.aws.batches import RerenderBatches
from picr.aws.bucket import CHANNELS_CONFIG_KEY, ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender, RerenderMessage
from picr.image.channels import ChannelConfigError, load_channel_config
from picr.job import JOB_ID_PATTERN, Status

MAX_PRODUCTS = 1000
"""The most products one re-render takes; a larger shop re-renders in selections."""
_JOB_ID = re.compile(JOB_ID_PATTERN)


class RerenderRefused(ValueError):
    """Nothing was started; the message says why, in the owner's words."""


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
    try:
        config = load_channel_config(ctx.bucket.get_optional(CHANNELS_CONFIG_KEY))
    except ChannelConfigError as exc:
        raise RerenderRefused(f"config/channels.json does not validate, so nothing was re-rendered:\n{exc}") from exc
    names = [spec.name for spec in config.channels]
    if channel not in names:
        raise RerenderRefused(f"There is no channel {channel!r} in config/channels.json (its channels: "
                              f"{', '.join(names)}).")
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
            raise RerenderRefused(f"{len(ready)} products are ready; a re-render takes at most {MAX_PRODUCTS}. "
                                  "Select them in parts.")
    else:
        wanted = list(dict.fromkeys(selection))
        if len(wanted) > MAX_PRODUCTS:
            raise RerenderRefused(f"{len(wanted)} products were selected; a re-render takes at most {MAX_PRODUCTS}.")
        unknown = [job_id for job_id in wanted if not _JOB_ID.fullmatch(job_id)]
        jobs = {job_id: ctx.jobs.get(job_id) for job_id in wanted if job_id not in unknown}
        not_ready = unknown + [job_id for job_id, job in jobs.items() if job is None or job.status != Status.DONE]
        if not_ready:
            raise RerenderRefused(f"{len(not_ready)} of the selected products are not ready (only published "
                                  f"products can be re-rendered): {', '.join(not_ready[:5])}")
        ready = wanted
    if not ready:
        raise RerenderRefused("There are no ready products to re-render.")
    return ready
