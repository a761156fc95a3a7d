"""What the owner asks for from the shop page or the command line, checked before anything is queued: a channel
the bucket's config has, and products that are ready, no more of them than a request takes.

Both a re-render and a zip export start here; each refusal says why in the owner's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from picr.aws.bucket import CHANNELS_CONFIG_KEY, ImageBucket
from picr.aws.jobs import JobStore
from picr.image.channels import ChannelConfigError, load_channel_config
from picr.job import JOB_ID_PATTERN, Job, Status

_JOB_ID = re.compile(JOB_ID_PATTERN)


class Refused(ValueError):
    """Nothing was started; the message says why, in the owner's words."""


def configured_channels(bucket: ImageBucket) -> list[str]:
    """The channels of the bucket's ``config/channels.json`` (the defaults when there is none)."""
    try:
        config = load_channel_config(bucket.get_optional(CHANNELS_CONFIG_KEY))
    except ChannelConfigError as exc:
        raise Refused(f"config/channels.json does not validate, so nothing was started:\n{exc}") from exc
    return [spec.name for spec in config.channels]


def configured_channel(channel: str, bucket: ImageBucket) -> str:
    """``channel`` when the bucket's config validates and has it."""
    names = configured_channels(bucket)
    if channel not in names:
        raise Refused(f"There is no channel {channel!r} in config/channels.json (its channels: {', '.join(names)}).")
    return channel


def selected_ready(selection: Sequence[str], jobs: JobStore, *, limit: int, doing: str) -> list[Job]:
    """The selected products (each once, in the order given), every one of them ready; ``doing`` says what is
    done to them (``re-rendered``) in the refusals."""
    wanted = list(dict.fromkeys(selection))
    if len(wanted) > limit:
        raise Refused(f"{len(wanted)} products were selected; at most {limit} can be {doing} at once. "
                      "Select them in parts.")
    found = {job_id: jobs.get(job_id) for job_id in wanted if _JOB_ID.fullmatch(job_id)}
    not_ready = [job_id for job_id in wanted if (job := found.get(job_id)) is None or job.status != Status.DONE]
    if not_ready:
        raise Refused(f"{len(not_ready)} of the selected products are not ready (only published products can be "
                      f"{doing}): {', '.join(not_ready[:5])}")
    return [job for job in found.values() if job is not None]


def over_limit(count: int, limit: int, doing: str) -> Refused:
    return Refused(f"{count} products are ready; at most {limit} can be {doing} at once. Select them in parts.")
