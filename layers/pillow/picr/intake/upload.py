"""The upload page's rules: where photos go, the presigned POST policy, and what the page shows of each.

Photos go from the phone straight to S3 by presigned POST: the function never carries the bytes. The
policy pins the exact key (under ``inbox/upload/<link id>/``, with a random form id), an ``image/*`` content
type, the size range, the metadata (so a page cannot claim another link's id) and a short expiry. The link
itself is ``picr.links.upload``; the one-time form records are ``picr.aws.upload_forms``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from picr.intake.naming import safe_file_name
from picr.intake.origin import UPLOAD_LANE, Origin, encode_metadata
from picr.job import Job, Status
from picr.settings import UploadSettings

UPLOAD_PREFIX = "inbox/upload/"
LINK_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
"""Who an upload link was given to (``shop``, ``studio-anna``): the folder of its uploads under ``inbox/upload/``."""
_IMAGE_TYPE = re.compile(r"image/[a-z0-9][a-z0-9.+-]{0,40}")


@dataclass(frozen=True)
class UploadPolicy:
    """What one link may do.

    ``max_bytes`` (25 MB): a 48 MP phone JPEG is about 15 MB and a HEIC far less; 25 MB leaves room
    and stays under ingest's 40 MB refusal, so nothing is uploaded only to be refused for its size.
    ``post_expiry_s`` (10 min): the form is used at once; a slow phone upload of 25 MB must still start
    in time, and a leaked form is worthless soon after.
    ``view_expiry_s`` (15 min): the finished thumbnails only need to load while the page is open.
    ``requests_per_minute`` (120): the page polls every 3 s (20 a minute); 120 leaves room for a second
    tab and the upload requests, and caps a script hammering a leaked link.
    ``photos_per_hour`` (60): a busy shoot from one phone; a leaked link cannot fill the bucket or run up
    the cutout bill (each photo costs a 6 GB, ~25 s cutout).
    ``max_files_per_request`` (20): one selection on the phone.

    The hourly photo budget is spent twice over, by two counters: by the forms handed out (a page asking for
    more is told 429 at once) and by the photos that arrive (ingest admits no more than ``photos_per_hour`` per
    link per clock hour, whatever forms are in circulation).
    """

    max_bytes: int = 25 * 1024 * 1024
    post_expiry_s: int = 600
    view_expiry_s: int = 900
    requests_per_minute: int = 120
    photos_per_hour: int = 60
    max_files_per_request: int = 20

    @classmethod
    def of(cls, settings: UploadSettings) -> UploadPolicy:
        """The deployment's limits (``UploadMaxMb`` and the rates), the rest as above."""
        return cls(max_bytes=settings.upload_max_mb * 2**20, requests_per_minute=settings.upload_requests_per_minute,
                   photos_per_hour=settings.upload_photos_per_hour)


# ------------------------------------------------------------------ presigned POST

@dataclass(frozen=True)
class RequestedFile:
    name: str
    content_type: str
    size: int


def upload_key(link_id: str, file_name: str) -> str:
    """``inbox/upload/<link id>/<random>-<safe name>``: unguessable, never overwritten, the name kept last."""
    return f"{UPLOAD_PREFIX}{link_id}/{secrets.token_hex(8)}-{safe_file_name(file_name)}"


def check_file(file: RequestedFile, policy: UploadPolicy) -> str | None:
    """Why this file will not be given an upload form (None when it will)."""
    if not _IMAGE_TYPE.fullmatch(file.content_type):
        return "Only photos can be uploaded here."
    if not 0 < file.size <= policy.max_bytes:
        return f"Photos must be under {policy.max_bytes // 2**20} MB."
    return None


def post_policy(link_id: str, product: str | None, content_type: str,
                policy: UploadPolicy) -> tuple[dict[str, str], list[Any]]:
    """``Fields`` and ``Conditions`` for ``generate_presigned_post``: every field the form sends is pinned
    (boto adds the bucket and the exact key), and the body must be 1 byte to ``max_bytes``."""
    metadata = encode_metadata(Origin(lane=UPLOAD_LANE, product=product or None, token_id=link_id))
    fields = {"Content-Type": content_type, "success_action_status": "201",
              **{f"x-amz-meta-{name}": value for name, value in metadata.items()}}
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, policy.max_bytes])
    return fields, conditions


# ------------------------------------------------------------------ status

REFUSED_MESSAGES = {
    "over_quota": "Too many photos arrived from this link this hour, so this one was not processed. "
                  "Please send it again later.",
}
"""What the page says about a photo that arrived but was not admitted (the refusal is kept on its form)."""


def owns_key(link_id: str, key: str) -> bool:
    """Only keys minted for this link (and no ``..`` games) are looked up at all."""
    prefix = f"{UPLOAD_PREFIX}{link_id}/"
    return key.startswith(prefix) and "/" not in key[len(prefix):] and ".." not in key


def status_view(link_id: str, key: str, job: Job | None, *, uploaded: bool,
                output_urls: Sequence[tuple[str, str]] = (), refused: str | None = None) -> dict[str, Any]:
    """What the page shows for one photo. A job uploaded through another link reads as unknown, exactly
    like a key that was never uploaded: nothing tells one link about another's photos. ``refused`` is
    why the photo that arrived on this form was not admitted (a ``REFUSED_MESSAGES`` key)."""
    view: dict[str, Any] = {"key": key}
    if refused is not None:
        return {**view, "state": Status.REJECTED, "product": None,
                "reasons": [REFUSED_MESSAGES.get(refused, "This photo was not processed.")]}
    if job is not None and job.token_id != link_id:
        return {**view, "state": "unknown"}
    if job is None:
        return {**view, "state": "processing" if uploaded else "unknown"}
    if job.status == Status.DONE:
        return {**view, "state": "done", "product": job.product,
                "outputs": [{"channel": channel, "url": url} for channel, url in output_urls]}
    if job.status in (Status.NEEDS_REVIEW, Status.REJECTED):
        return {**view, "state": job.status, "product": job.product, "reasons": list(job.reasons)}
    return {**view, "state": "processing", "product": job.product}


def link_of_key(key: str) -> str | None:
    """The link id an upload key was minted for (``inbox/upload/<link id>/<form id>-<name>``), if any."""
    link_id, _, name = key.removeprefix(UPLOAD_PREFIX).partition("/")
    minted = key.startswith(UPLOAD_PREFIX) and LINK_ID.fullmatch(link_id) and name and owns_key(link_id, key)
    return link_id if minted else None


