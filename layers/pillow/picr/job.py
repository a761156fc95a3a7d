"""The job record: one photo's way through picr, as every stage reads it.

A job is read and written only through the job store (``picr.aws.jobs``), which turns it into the DynamoDB
item and back; the fields below carry the item's attribute names (``status`` is the item's
``current_status``, and ``handoffs`` gathers its ``*_enqueued`` flags). An attribute a job never got reads
as the field's default, so items written before a field existed still read.

How a job moves: ingest opens it ``ingested`` (or ``rejected``, refused at the door); the cutout moves it to
``cut`` or holds it in ``needs_review``; the variants move a cut job to ``varied`` (or hold it); publish
closes it ``done``. From ``needs_review`` the owner approves (back to ``cut``), retries with the hosted
engine (back to ``ingested``) or rejects it, and a reshoot from the same source closes it ``superseded``.
Every move is one conditional write, so a repeated message moves nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from picr.image.manifest import ChannelImage

JOB_ID_PATTERN = r"^[0-9a-f]{20}$"
"""A job id: the first 20 hex digits of a hash of the upload it was opened for (``picr.stages.ingest.job_id_for``)."""


class Status(StrEnum):
    """Where a job is (the item's ``current_status``, and the ``by-status`` index's key)."""

    INGESTED = "ingested"
    """A clean source is in ``work/``; the cutout is next."""
    REJECTED = "rejected"
    """Refused at the door, or rejected by the owner in review; the original is under ``rejected/``."""
    CUT = "cut"
    """The gate passed the cutout, or the owner approved it; the variants are next."""
    NEEDS_REVIEW = "needs_review"
    """Held: nothing is published until the owner decides."""
    VARIED = "varied"
    """Every channel is rendered under ``drafts/`` and passed its own check; publish is next."""
    DONE = "done"
    """Published under ``out/`` and announced."""
    SUPERSEDED = "superseded"
    """A held job closed because the owner sent a new photo of the same product from the same source."""


SETTLED = frozenset({Status.REJECTED, Status.NEEDS_REVIEW, Status.DONE, Status.SUPERSEDED})
"""States in which a job waits for nothing from the pipeline (a held one waits for its owner)."""
WORKING = (Status.INGESTED, Status.CUT, Status.VARIED)
"""States a job passes through on its way; one left in them for hours lost its hand-off (the sweep's concern)."""


class Handoff(StrEnum):
    """A message to the next stage that went out for the job's current step.

    Each is recorded (a boolean attribute of this name on the item) only after the send, so a crash in
    between sends again rather than never; the receiving stage's conditional move absorbs the repeat.
    Review decisions clear the flags of the steps they send the job back through.
    """

    CUTOUT = "cutout_enqueued"
    VARIANTS = "variants_enqueued"
    PUBLISH_READY = "publish_ready_enqueued"
    PUBLISH_REVIEW = "publish_review_enqueued"
    PUBLISH_REJECTED = "publish_rejected_enqueued"


@dataclass(frozen=True, kw_only=True)
class Draft(ChannelImage):
    """One channel image the variants stage rendered under ``drafts/`` and checked (the item's ``variants``)."""

    work_key: str
    ext: str
    content_type: str
    passed: bool = True
    thumbnail_key: str | None = None
    """The email's small JPEG of this image, made while the frame was in memory; None on drafts written
    before there were such thumbnails (publish then makes one from the image)."""


@dataclass(frozen=True)
class PublishedImage:
    """One image publish copied under ``out/`` (the item's ``outputs``)."""

    channel: str
    key: str
    width: int
    height: int
    format: str
    watermarked: bool


@dataclass(frozen=True)
class NewJob:
    """What ingest knows when it opens a job."""

    job_id: str
    source_key: str
    source_file: str
    product: str
    event_time: str
    source_version: str | None = None


@dataclass(frozen=True)
class Job:
    """A job as the store last saw it."""

    job_id: str
    status: Status
    updated_at: str
    created_at: str = ""
    # the upload, and who sent it
    source_key: str = ""
    source_file: str = ""
    product: str = ""
    event_time: str = ""
    source_version: str | None = None
    source: str | None = None
    """Who the photo came from as far as a reshoot is concerned (``picr.stages.ingest.source_identity``)."""
    lane: str | None = None
    sender: str | None = None
    reply_to: str | None = None
    token_id: str | None = None
    # ingest
    source_work_key: str | None = None
    original_key: str | None = None
    original_kept: bool = False
    width: int | None = None
    height: int | None = None
    original_size: tuple[int, ...] = ()
    source_format: str | None = None
    has_transparency: bool = False
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    warning_messages: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    # refused or rejected
    reason_code: str | None = None
    reasons: tuple[str, ...] = ()
    rejected_key: str | None = None
    moved: bool | None = None
    """Whether the original went to ``rejected_key``: None when there is nothing to move, False until moved."""
    superseded_by: str | None = None
    reshoot_key: str | None = None
    # cutout
    cutout_key: str | None = None
    engine: str | None = None
    confidence: float | None = None
    coverage: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    # variants and publish
    variants: tuple[Draft, ...] = ()
    manifest_key: str | None = None
    outputs: tuple[PublishedImage, ...] = ()
    # review
    review_round: int = 0
    """Each decision that sends the job back through the pipeline starts a new round."""
    review_decision: dict[str, Any] | None = None
    engine_override: str | None = None
    spent_tokens: frozenset[str] = frozenset()
    """Ids of the one-time review tokens already used on this job."""
    fix_previews: int = 0
    """Previews the owner asked for on the fix page during the current hold (capped per hold)."""
    owner_approved: bool = False
    """The owner published their own fix of the held cutout from the fix page (the manifest says so)."""
    owner_fix: dict[str, Any] | None = None
    """That fix: its taps and strokes, the held cutout it started from, and the gate's verdict on the result."""
    # sweep
    reminded_on: str | None = None
    redriven_at: str | None = None
    handoffs: frozenset[Handoff] = frozenset()

    def handed_off(self, handoff: Handoff) -> bool:
        return handoff in self.handoffs


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a job's append-only history: the state it entered, when, and the details of the move."""

    status: Status
    at: str
    detail: dict[str, Any] = field(default_factory=dict)
