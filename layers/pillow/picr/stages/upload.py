"""The upload page's three requests: the page, upload forms for chosen photos, and their status.

Every request starts the same way: the link token is checked (403 for anything but a genuine one, before
any other work), then the link's request budget (429 when spent). Nothing here parses HTTP; the handler
passes the token, the query value or the body, and sends back the ``PageResponse``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from picr.aws.jobs import JobStore
from picr.aws.upload_forms import RateLimiter, UploadForms
from picr.intake.upload import RequestedFile, UploadPolicy, check_file, owns_key, post_policy, status_view, upload_key
from picr.links.tokens import LinkRefused
from picr.links.upload import read_link_token
from picr.pages.upload import PageResponse, json_response, upload_page

MAX_BODY_CHARS = 16_384
"""An upload request names at most 20 files (name, type, size) and a product: a few KB at most."""
MAX_STATUS_KEYS = 20
CHANNEL_ORDER = ("social", "web", "market")


@dataclass
class UploadContext:
    s3: Any  # boto3 S3 client: signs the forms and the thumbnail links, sees whether a photo has arrived
    bucket: str
    jobs: JobStore
    limiter: RateLimiter
    forms: UploadForms
    signing_key: Callable[[], bytes]
    storage_origin: str  # where presigned URLs point (scheme://host[:port]), allowed by the page's CSP
    policy: UploadPolicy = field(default_factory=UploadPolicy)


# ------------------------------------------------------------------ the three requests

def page(token: str | None, ctx: UploadContext, *, now_s: float) -> PageResponse:
    refused = _admit(token, ctx, now_s)
    if isinstance(refused, PageResponse):
        return upload_page(refused.status, storage_origin=ctx.storage_origin,
                           problem=json.loads(refused.body)["error"], retry_after=refused.headers.get("Retry-After"))
    return upload_page(200, storage_origin=ctx.storage_origin)


def request_uploads(token: str | None, body: str | None, ctx: UploadContext, *, now_s: float) -> PageResponse:
    """One presigned POST per requested photo (or the reason it gets none), in the order asked."""
    link_id = _admit(token, ctx, now_s)
    if isinstance(link_id, PageResponse):
        return link_id
    try:
        request = json.loads(body or "") if len(body or "") <= MAX_BODY_CHARS else None
        files = [RequestedFile(str(f["name"]), str(f["type"]), int(f["size"])) for f in request["files"]]
        product = str(request.get("product") or "").strip()[:80] or None
    except (ValueError, TypeError, KeyError):
        return json_response(400, {"error": "That request could not be read."})
    if not 0 < len(files) <= ctx.policy.max_files_per_request:
        return json_response(400, {"error": f"Send 1 to {ctx.policy.max_files_per_request} photos at a time."})
    acceptable = [file for file in files if check_file(file, ctx.policy) is None]
    if not ctx.limiter.allow(link_id, "photos", limit=ctx.policy.photos_per_hour, window_s=3600, now_s=now_s,
                             cost=max(1, len(acceptable))):
        return json_response(429, {"error": "Too many photos this hour. Please try again later."}, retry_after=3600)
    slots = []
    for file in files:
        problem = check_file(file, ctx.policy)
        if problem:
            slots.append({"error": problem})
            continue
        key = upload_key(link_id, file.name)
        fields, conditions = post_policy(link_id, product, file.content_type, ctx.policy)
        form = ctx.s3.generate_presigned_post(Bucket=ctx.bucket, Key=key, Fields=fields, Conditions=conditions,
                                              ExpiresIn=ctx.policy.post_expiry_s)
        ctx.forms.issue(key, link_id, now_s=now_s)  # before the form leaves: ingest admits recorded keys only
        slots.append({"key": key, "url": form["url"], "fields": form["fields"]})
    return json_response(200, {"uploads": slots})


def photo_status(token: str | None, keys: str | None, ctx: UploadContext, *, now_s: float) -> PageResponse:
    """The state of each photo named in ``keys`` (comma-separated upload keys) that this link uploaded."""
    link_id = _admit(token, ctx, now_s)
    if isinstance(link_id, PageResponse):
        return link_id
    wanted = [key for key in (keys or "").split(",") if key][:MAX_STATUS_KEYS]
    return json_response(200, {"photos": [_photo(link_id, key, ctx) for key in wanted]})


# ------------------------------------------------------------------ helpers

def _admit(token: str | None, ctx: UploadContext, now_s: float) -> str | PageResponse:
    """The link id, or the refusal to send: 403 for a token that is not ours, 429 when over budget."""
    try:
        link_id = read_link_token(ctx.signing_key(), token)
    except LinkRefused:
        return json_response(403, {"error": "This upload link is not valid."})
    if not ctx.limiter.allow(link_id, "requests", limit=ctx.policy.requests_per_minute, window_s=60, now_s=now_s):
        return json_response(429, {"error": "Too many requests. Please wait a minute."}, retry_after=60)
    return link_id


def _photo(link_id: str, key: str, ctx: UploadContext) -> dict[str, Any]:
    form = ctx.forms.get(key) if owns_key(link_id, key) else None
    if form is None or form.link_id != link_id:
        return status_view(link_id, key, None, uploaded=False)
    if form.refused:
        return status_view(link_id, key, None, uploaded=True, refused=form.refused)
    job = ctx.jobs.get(form.job_id) if form.job_id else None  # the one object the form admitted
    if job is None:
        response = ctx.s3.list_object_versions(Bucket=ctx.bucket, Prefix=key, MaxKeys=10)
        uploaded = any(v["Key"] == key for v in response.get("Versions", []))
        return status_view(link_id, key, None, uploaded=uploaded)
    urls = []
    if job.token_id == link_id:
        outputs = sorted(job.outputs, key=lambda o: _channel_rank(o.channel))
        urls = [(o.channel, ctx.s3.generate_presigned_url(
            "get_object", Params={"Bucket": ctx.bucket, "Key": o.key}, ExpiresIn=ctx.policy.view_expiry_s))
            for o in outputs]
    return status_view(link_id, key, job, uploaded=True, output_urls=urls)


def _channel_rank(channel: str) -> int:
    return CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)
