"""Drive sync: new photos in the watched Drive folder → ``inbox/``; finished ``out/`` sets → a Drive subfolder.

Each photo is copied exactly once per content. The state (``picr.intake.drive.SyncState``) says which file
versions were taken; the inbox key is derived from the Drive file id and checksum and written only if
absent (``Inbox.drop``), so a run that crashes before saving its state re-copies nothing on the next
run. Sets are mirrored one at a time and the state saved after each, so a crash repeats at most one set.
A run stops early when ``should_continue`` says time is short; the next run carries on from the state.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picr.aws.bucket import ImageBucket
from picr.aws.inbox import Inbox
from picr.image.limits import IntakeLimits
from picr.intake.drive import DriveFile, DriveFolder, SyncState
from picr.intake.naming import product_name, safe_file_name
from picr.intake.origin import DRIVE_LANE, Origin

STATE_KEY = "config/drive-state.json"
MANIFESTS = "out/manifests/"
OUT_FOLDER = "picr-out"
MIME_OF_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass
class DriveSyncContext:
    drive: DriveFolder
    inbox: Inbox
    bucket: ImageBucket
    s3: Any  # boto3 S3 client: lists the published manifests
    max_bytes: int = IntakeLimits().max_bytes
    out_folder: str = OUT_FOLDER


@dataclass
class SyncReport:
    taken: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mirrored: list[str] = field(default_factory=list)
    complete: bool = True


def inbox_name(file: DriveFile) -> str:
    """``drive/<file id>-<checksum prefix>/<safe name>``: the same content always maps to the same key."""
    return f"drive/{safe_file_name(file.id)}-{safe_file_name(file.version)[:12]}/{safe_file_name(file.name)}"


def sync(ctx: DriveSyncContext, *, should_continue: Callable[[], bool]) -> SyncReport:
    state = SyncState.from_json(ctx.bucket.get_optional(STATE_KEY))
    report = SyncReport()
    try:
        _take_new_photos(ctx, state, report, should_continue)
        if report.complete:
            _mirror_finished_sets(ctx, state, report, should_continue)
    finally:
        _save(ctx, state)
    return report


def _take_new_photos(ctx: DriveSyncContext, state: SyncState, report: SyncReport,
                     should_continue: Callable[[], bool]) -> None:
    if state.cursor is None:
        next_cursor = ctx.drive.cursor()  # taken before listing: what changes meanwhile is seen next run
        candidates = list(ctx.drive.images())
    else:
        candidates, next_cursor = ctx.drive.changed_images(state.cursor)
    for file in candidates:
        if state.is_taken(file):
            continue
        if not should_continue():
            report.complete = False
            return  # the cursor stays where it was: the rest come again next run
        if file.size is not None and file.size > ctx.max_bytes:
            report.skipped.append(f"{file.name}: {file.size} bytes, more than ingest accepts")
        else:
            ctx.inbox.drop(inbox_name(file), ctx.drive.download(file.id), file.mime_type, Origin(lane=DRIVE_LANE))
            report.taken.append(file.name)
        state.take(file)
    state.cursor = next_cursor


def _mirror_finished_sets(ctx: DriveSyncContext, state: SyncState, report: SyncReport,
                          should_continue: Callable[[], bool]) -> None:
    for key, last_modified in _manifests_since(ctx.s3, ctx.bucket.name, state.mirror_after):
        job_id = posixpath.basename(key).removesuffix(".json")
        if job_id in state.mirrored:
            continue
        if not should_continue():
            report.complete = False
            return
        manifest = json.loads(ctx.bucket.get(key).data)
        if state.out_folder_id is None:
            state.out_folder_id = ctx.drive.subfolder(ctx.out_folder)
        stem = safe_file_name(product_name(manifest.get("source_file") or job_id, manifest.get("product")))
        for output in manifest.get("outputs", []):
            extension = posixpath.splitext(output["key"])[1]
            name = f"{stem}-{job_id[:8]}-{safe_file_name(output['channel'])}{extension}"
            mime = MIME_OF_FORMAT.get(str(output.get("format", "")).upper(), "application/octet-stream")
            ctx.drive.upload(state.out_folder_id, name, ctx.bucket.get(output["key"]).data, mime)
        state.mirror(job_id, last_modified)
        report.mirrored.append(job_id)
        _save(ctx, state)


def _manifests_since(s3: Any, bucket: str, after: str | None) -> list[tuple[str, str]]:
    """Published manifests (key, LastModified as ISO text) not older than ``after``, oldest first.

    "Not older" rather than "newer": two sets published in the same second must both be seen; the
    ``mirrored`` ids drop the ones already done."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MANIFESTS):
        for obj in page.get("Contents", []):
            stamp = obj["LastModified"].isoformat()
            if after is None or stamp >= after:
                found.append((obj["Key"], stamp))
    return sorted(found, key=lambda item: (item[1], item[0]))


def _save(ctx: DriveSyncContext, state: SyncState) -> None:
    ctx.bucket.put(STATE_KEY, state.to_json(), "application/json")
