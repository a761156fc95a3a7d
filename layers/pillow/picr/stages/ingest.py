"""Ingest: turn one object under ``inbox/`` into an opened job with a clean source, or a refusal.

Safe to run twice for the same object: the job id is derived from the object itself, the job is
opened with a conditional write, and the follow-up steps (keep the original, move a refused file,
enqueue the next stage) are recorded on the job so a redelivery only finishes what a crashed attempt
left undone.

S3 is asked about the object (HeadObject) before anything is read: an object the event names but S3
does not hold is an error (the message is retried, then dead-lettered, and the alarm mails the owner);
a photo deleted or replaced before ingest ran opens no job; a file over the size limit is refused
from its size alone, without being downloaded.

An object under ``inbox/upload/`` becomes a job only if the upload page handed out a form for its key and
it is the first object to arrive on it, within the link's hourly photo quota (``picr.aws.upload_forms.UploadForms``):
S3 accepts a form posted again, and each post is a new version with its own event.

Each job records its source identity (``source``), and a reshoot only replaces a held job of the same
source (see ``source_identity``).
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import unquote_plus

from picr.aws.bucket import INBOX, ImageBucket, ObjectInfo, original_key, rejected_key, work_key
from picr.aws.jobs import JobStore
from picr.aws.queues import PublishMessage, QueueSender, StageMessage
from picr.aws.upload_forms import UploadForms
from picr.image.limits import IntakeLimits
from picr.image.photo import Refused, check_size, encode_source, normalise_upload
from picr.image.quality import assess_photo_quality
from picr.intake.naming import FALLBACK_PRODUCT_NAME, product_name, safe_file_name
from picr.intake.origin import DRIVE_LANE, MAIL_LANE, UPLOAD_LANE, Origin, decode_metadata
from picr.intake.upload import UPLOAD_PREFIX, UploadPolicy
from picr.job import Handoff, Job, NewJob, Status
from picr.pipeline import hand_off

NOT_ADMITTED = "not_admitted"
"""Outcome of an object on an upload key that no form admits: no job is opened for it."""
LANE_FOLDERS = {UPLOAD_LANE: "upload/", MAIL_LANE: "mail/", DRIVE_LANE: "drive/"}
"""Where under ``inbox/`` each lane writes (the email and Drive lanes' ``inbox_name``): a lane's
metadata counts only on a key in its own folder."""

DELETED = "deleted"
"""Skipped: the photo was deleted (its current version is a delete marker) before ingest ran."""
REPLACED = "replaced"
"""Skipped: a newer upload under the same key replaced this version before ingest ran. Decision: the
newest version wins, and its own ``Object Created`` event opens its job; opening one for the version it
replaced too would process a photo the owner has already swapped out."""
_SKIP_REASONS = {
    DELETED: "the photo was deleted before it was processed; no job was opened",
    REPLACED: "a newer upload under the same name replaced this one before it was processed; the newer "
              "one gets its own job",
}


class UploadNotFound(LookupError):
    """The event names an object version S3 does not hold: never a silent skip, the record must fail."""


@dataclass(frozen=True)
class UploadedObject:
    """The facts of an ``Object Created`` event that identify one upload."""

    bucket: str
    key: str
    event_time: str
    version_id: str | None = None
    etag: str | None = None

    @property
    def file_name(self) -> str:
        return posixpath.basename(self.key)


@dataclass(frozen=True)
class IngestOutcome:
    job_id: str
    status: str
    duplicate: bool = False
    reason: str | None = None

    @property
    def skipped(self) -> bool:
        """No job was opened, by decision (deleted or replaced before ingest ran)."""
        return self.status in _SKIP_REASONS


@dataclass
class IngestContext:
    bucket: ImageBucket
    jobs: JobStore
    cutout_queue: QueueSender
    publish_queue: QueueSender
    limits: IntakeLimits
    upload_forms: UploadForms | None = None
    """The upload page's form records; without them no object under ``inbox/upload/`` is admitted."""
    photos_per_hour: int = UploadPolicy().photos_per_hour
    drive_folder: str | None = None
    """The watched Drive folder's id (the Drive lane's source identity)."""


def job_id_for(obj: UploadedObject) -> str:
    """Same object (bucket, key, version or ETag) ⇒ same job id, so a duplicate event opens no second job."""
    identity = obj.version_id or obj.etag or ""
    return hashlib.sha256(f"{obj.bucket}\n{obj.key}\n{identity}".encode()).hexdigest()[:20]


def locate(obj: UploadedObject, bucket: ImageBucket) -> tuple[UploadedObject, ObjectInfo]:
    """The upload as S3 holds it: the event's key and version, confirmed by HeadObject (no bytes read).

    The key is taken as the event carries it. Amazon S3's EventBridge event format
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html, "Event message detail field")
    gives ``detail.object.key`` as the object's key and, unlike the notification format sent to SQS, SNS
    and Lambda (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html:
    "The object key name value is URL encoded. For example, 'red flower.jpg' becomes 'red+flower.jpg'"),
    documents no URL encoding: its examples show a plain key. Form-decoding it anyway (as Powertools'
    ``S3EventBridgeNotificationObject.key`` does) turns ``c++ mug.jpg`` into ``c   mug.jpg``. Should a
    delivery still arrive in the notification format's form encoding, the decoded key is accepted only
    if S3 holds the event's own version under it, so a key is never guessed.
    """
    for key in dict.fromkeys((obj.key, unquote_plus(obj.key))):
        info = bucket.head(key, obj.version_id)
        if info is not None:
            return replace(obj, key=key), info
    raise UploadNotFound(f"s3://{obj.bucket}/{obj.key} (version {obj.version_id}) is not in the bucket")


def _replaced_or_deleted(obj: UploadedObject, bucket: ImageBucket) -> str | None:
    """``deleted`` or ``replaced`` when the event's version is no longer the key's current one."""
    if not obj.version_id:
        return None
    current = bucket.current_version(obj.key)
    if current == obj.version_id:
        return None
    return DELETED if current is None else REPLACED


def ingest(obj: UploadedObject, ctx: IngestContext, *, now: str) -> IngestOutcome:
    obj, info = locate(obj, ctx.bucket)
    job_id = job_id_for(obj)
    existing = ctx.jobs.get(job_id)
    if existing is not None:
        _finish(existing, ctx)
        return IngestOutcome(job_id, existing.status, duplicate=True)
    gone = _replaced_or_deleted(obj, ctx.bucket)
    if gone:
        return IngestOutcome(job_id, gone, reason=_SKIP_REASONS[gone])
    refusal = _upload_refusal(obj, job_id, ctx, now)
    if refusal is not None:
        return IngestOutcome(job_id, NOT_ADMITTED, reason=refusal)
    origin = decode_metadata(info.metadata)  # lane, sender, reply-to and upload link set by the way in
    source = source_identity(obj, origin, drive_folder=ctx.drive_folder)
    job = NewJob(
        job_id=job_id,
        source_key=obj.key,
        source_file=obj.file_name,
        product=product_name(obj.file_name, origin.product),
        event_time=obj.event_time,
        source_version=obj.version_id,
    )
    try:
        check_size(info.size, ctx.limits)  # from HeadObject: an oversized file is never downloaded
        photo = normalise_upload(ctx.bucket.get(obj.key, obj.version_id).data, ctx.limits)
    except Refused as refusal:
        attrs = {
            "reason_code": refusal.code,
            "reasons": [refusal.message],
            "rejected_key": rejected_key(job_id, safe_file_name(obj.file_name)),
            "source": source,
            **origin.job_attrs(),
        }
        ctx.jobs.open(job, at=now, status=Status.REJECTED, attrs=attrs, detail={"reason_code": refusal.code})
        _finish(_reread(job_id, ctx), ctx)
        return IngestOutcome(job_id, Status.REJECTED, reason=refusal.code)

    data, ext, content_type = encode_source(photo)
    source_key = work_key(job_id, f"source.{ext}")
    ctx.bucket.put(source_key, data, content_type)
    warnings = assess_photo_quality(photo.image)
    attrs = {
        "source_work_key": source_key,
        "original_key": original_key(job_id, safe_file_name(obj.file_name)),
        "width": photo.image.width,
        "height": photo.image.height,
        "original_size": list(photo.original_size),
        "source_format": photo.source_format,
        "has_transparency": photo.has_transparency,
        "notes": list(photo.notes),
        "warnings": [w.code for w in warnings],
        "warning_messages": [w.message for w in warnings],
        "source": source,
        **origin.job_attrs(),
    }
    reshot = held_jobs_of(job.product, source, ctx.jobs)
    if reshot:
        attrs["supersedes"] = reshot
    ctx.jobs.open(job, at=now, attrs=attrs, detail={"notes": list(photo.notes), "supersedes": reshot or None})
    _finish(_reread(job_id, ctx), ctx)
    return IngestOutcome(job_id, Status.INGESTED)


def _reread(job_id: str, ctx: IngestContext) -> Job:
    """The job just opened (by this attempt, or by a concurrent one that won the conditional write)."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} was opened but cannot be read back")
    return job


def _finish(job: Job, ctx: IngestContext) -> None:
    """Do whatever follow-up the job's flags say is still missing; each step is recorded once done."""
    if job.status == Status.REJECTED:
        if not job.moved:
            ctx.bucket.move(job.source_key, job.rejected_key, job.source_version)
            ctx.jobs.update(job.job_id, {"moved": True})
        hand_off(ctx.jobs, job, Handoff.PUBLISH_REJECTED, ctx.publish_queue,
                 PublishMessage(job_id=job.job_id, outcome="rejected"))
    elif job.status == Status.INGESTED:
        if job.original_key and not job.original_kept:
            # inbox/ is a drop zone that expires; the original is kept with its job (see picr.aws.bucket)
            ctx.bucket.copy(job.source_key, job.original_key, job.source_version)
            ctx.jobs.update(job.job_id, {"original_kept": True})
        _supersede(job, ctx)
        hand_off(ctx.jobs, job, Handoff.CUTOUT, ctx.cutout_queue, StageMessage(job_id=job.job_id))


def _upload_refusal(obj: UploadedObject, job_id: str, ctx: IngestContext, now: str) -> str | None:
    """Why an object under ``inbox/upload/`` may not become a job (None when its form admits it, or when
    the object is not an upload-page photo at all)."""
    if not obj.key.startswith(UPLOAD_PREFIX):
        return None
    if ctx.upload_forms is None:
        return "not_issued"
    now_s = datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp()
    admission = ctx.upload_forms.admit(obj.key, job_id, photos_per_hour=ctx.photos_per_hour, now_s=now_s)
    return None if admission.admitted else admission.reason


def source_identity(obj: UploadedObject, origin: Origin, *, drive_folder: str | None) -> str:
    """Who a photo came from, as far as a reshoot is concerned: ``upload:<link id>``, ``email:<sender>``,
    ``drive:<folder id>``, or ``bucket:<bucket>`` for a plain S3 upload.

    A lane's metadata only counts on a key in that lane's own folder (``LANE_FOLDERS``), which only that
    lane writes to: the upload page's forms pin their key under ``inbox/upload/<link id>/`` and their
    metadata, and mail-intake and drive-sync choose their keys themselves. Anything else under ``inbox/``
    was written by someone holding the bucket's IAM write permission, i.e. the owner or the owner's own
    tooling: that is one identity, the bucket's.
    """
    folder = LANE_FOLDERS.get(origin.lane or "")
    if folder is not None and obj.key.startswith(f"{INBOX}{folder}"):
        if origin.lane == UPLOAD_LANE and origin.token_id and obj.key.startswith(f"{UPLOAD_PREFIX}{origin.token_id}/"):
            return f"upload:{origin.token_id}"
        if origin.lane == MAIL_LANE and origin.sender:
            return f"email:{origin.sender.lower()}"
        if origin.lane == DRIVE_LANE and drive_folder:
            return f"drive:{drive_folder}"
    return f"bucket:{obj.bucket}"


def held_jobs_of(product: str, source: str, jobs: JobStore) -> list[str]:
    """Jobs held for review whose product has this name (case-insensitively) and that came from the same
    source, via the status index.

    The same source only: a name is no credential, so a photo from another upload link, another sender or
    another way in never closes someone else's held job (the owner closes any of them with Reject). A
    job without a recorded source is never matched. The fallback name is never matched either: two
    unrelated photos without a usable name are not reshoots.
    """
    if product == FALLBACK_PRODUCT_NAME:
        return []
    wanted = product.casefold()
    return [held.job_id for held in jobs.in_status(Status.NEEDS_REVIEW)
            if held.product.casefold() == wanted and held.source == source]


def _supersede(job: Job, ctx: IngestContext) -> None:
    """A reshoot closes the held jobs it replaces (listed on it when it opened), linking both ways.

    Conditional per held job, and stamped with the new job's opening time, so a redelivery changes
    nothing more; a held job decided in the meantime stays as decided.
    """
    for held_id in job.supersedes:
        link = {"superseded_by": job.job_id, "reshoot_key": job.source_key}
        ctx.jobs.transition(held_id, Status.SUPERSEDED, allowed_from={Status.NEEDS_REVIEW}, at=job.created_at,
                            attrs=link, detail={**link, "reason": "a new photo of the same product arrived"})
