"""Each function's settings: exactly the environment variables its function needs, validated at cold start.

A field ``x`` is the variable ``PICR_X`` that ``template.yaml`` sets for that function. The handler builds
its settings at import, so a deployment missing a variable its function needs fails the function's first
invocation with an error naming the variable, instead of half-working until the code path that needs it
runs. A field with a default is optional; a required one may not be blank either (CloudFormation cannot
omit a variable conditionally, so an empty string means "not set"). The one variable without the prefix is
rembg's ``U2NET_HOME``, where the cutout image bakes the model (:func:`model_home`). Nothing else in picr
reads ``os.environ``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from picr.records import Record, RecordError, limited, parse, required

ENV_PREFIX = "PICR_"
MB_PER_VCPU = 1769
"""Lambda gives one vCPU's worth of CPU time at 1,769 MB of memory, and CPU in proportion to memory
(docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)."""


class ConfigError(RuntimeError):
    """The environment does not describe a usable deployment of this function."""


def variable(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class FunctionSettings(Record):
    """What every function reads: the images bucket."""

    bucket: str = limited(min_length=3)

    @classmethod
    def variables(cls) -> set[str]:
        """The environment variables this function reads."""
        return {variable(field.name) for field in fields(cls)}

    @classmethod
    def required_variables(cls) -> set[str]:
        return {variable(field.name) for field in fields(cls) if required(field)}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings from ``PICR_*`` variables (a blank one is unset); raises ``ConfigError`` naming every
        missing or bad one."""
        source = os.environ if environ is None else environ
        values = {field.name: source[variable(field.name)] for field in fields(cls) if source.get(variable(field.name))}
        try:
            return parse(cls, values, from_text=True)
        except RecordError as exc:
            missing = sorted(variable(str(problem.loc[0])) for problem in exc.problems if problem.kind == "missing")
            if missing:
                raise ConfigError(f"{cls.__name__}: missing environment: {', '.join(missing)}") from exc
            raise ConfigError(f"{cls.__name__}: invalid environment: {_described(exc)}") from exc


def _described(exc: RecordError) -> str:
    return "; ".join(f"{variable(str(problem.loc[0])) if problem.loc else 'settings'}: {problem.message}"
                     for problem in exc.problems)


class _Jobs(FunctionSettings):
    jobs_table: str = limited(min_length=3)


class _Idempotency(FunctionSettings):
    idempotency_table: str = limited(min_length=3)
    """Powertools idempotency records, and the upload page's form records and rate counters beside them."""


class NotifySettings(_Idempotency):
    """A function that mails the owner (once per notice: the idempotency table)."""

    sender: str = limited(min_length=3)
    owner_email: str = limited(min_length=3)
    notify_channel: Literal["ses", "sns"] = "ses"
    sns_topic_arn: str | None = None

    def _rules(self) -> list[str]:
        if self.notify_channel == "sns" and not self.sns_topic_arn:
            return [f"{variable('notify_channel')}=sns needs {variable('sns_topic_arn')}"]
        return []

    @property
    def recipients(self) -> list[str]:
        return [self.owner_email]


class _ReviewFunction(FunctionSettings):
    """A function that mints links to the review function, signed with its key."""

    review_url: str = limited(min_length=8)
    """The review function's URL (its Function URL); the signed links point here."""
    review_secret_arn: str = limited(min_length=3)


class ReviewLinkSettings(_ReviewFunction):
    """A function that mints the signed Approve / Reject / Retry links."""

    review_link_hours: float = limited(72, gt=0, le=7 * 24)
    """How long a review link works. The daily digest re-issues links for every job still held, so a link
    only has to outlive a weekend away from the inbox; a short life limits what a forwarded mail can do."""
    hosted_retry: bool = False
    """A hosted engine is configured, so held jobs cut by the local engine may be retried with it."""

    @property
    def review_link_lifetime(self) -> timedelta:
        return timedelta(hours=self.review_link_hours)


class IngestSettings(_Jobs, _Idempotency):
    cutout_queue_url: str
    publish_queue_url: str
    max_edge: int = limited(2000, ge=320, le=8000)
    drive_folder_id: str | None = None
    """The watched Drive folder's id: the Drive lane's source identity on its jobs."""
    upload_photos_per_hour: int = limited(60, ge=1)


class CutoutSettings(_Jobs):
    variants_queue_url: str
    publish_queue_url: str
    engine: Literal["local", "hosted"] = "local"
    model: str = "u2netp"   # the model whose gate profile is committed (segmentation/profiles)
    hosted_url: str = "https://api.remove.bg/v1.0/removebg"
    hosted_secret_arn: str | None = None
    """The hosted engine's key; set whenever a hosted engine is configured (as the engine, or for retries)."""
    memory_mb: int | None = limited(None, ge=128, le=10240)
    """The function's MemorySize (the template passes its CutoutMemory): Lambda gives CPU in proportion to it.
    Unset off Lambda (tests, the local runner), where the model session uses every core."""

    @property
    def inference_threads(self) -> int | None:
        """The model session's threads: one per vCPU's worth of CPU time the memory buys, rounded up (None:
        onnxruntime's default, one per core). Below 3009 MB Lambda shows two cores whatever the memory, so
        onnxruntime's default would run two threads on one vCPU's worth of time at 1769 MB and less: they
        then take turns on the quota and spend 13 % more CPU on a cutout than one thread does (1.16 against
        1.03 s on case 03, measured), for no shorter wait."""
        if self.memory_mb is None:
            return None
        return max(1, min(os.cpu_count() or 1, math.ceil(self.memory_mb / MB_PER_VCPU)))

    def _rules(self) -> list[str]:
        if self.engine == "hosted" and not self.hosted_secret_arn:
            return [f"{variable('engine')}=hosted needs {variable('hosted_secret_arn')}"]
        return []


class VariantsSettings(_Jobs):
    publish_queue_url: str


class DownloadLinkSettings(_ReviewFunction):
    """A function that mails download links (the review function redirects them; ``picr.links.download``)."""

    link_expiry_days: int = limited(7, ge=1, le=7)
    """How long an email's download links work (their signed token)."""

    @property
    def link_lifetime(self) -> timedelta:
        return timedelta(days=self.link_expiry_days)


MAX_EXPORT_IMAGES = 2000
"""The ceiling of that setting: an export message names its products, and SQS carries at most 256 KB (2,000 ids
are ~50 KB); past a few thousand images the export would not finish inside its timeout either."""


class _ExportLimit(FunctionSettings):
    export_max_images: int = limited(1000, ge=1, le=MAX_EXPORT_IMAGES)
    """The most images one zip export takes (``PICR_EXPORT_MAX_IMAGES`` of the shop and export functions): the
    shop page refuses a larger selection, and the export function a message naming more. At ~0.4 MB an image,
    1,000 make a zip of about 0.4 GB, built well inside the function's 5 minutes."""


class PublishSettings(_Jobs, NotifySettings, ReviewLinkSettings, DownloadLinkSettings):
    """Publish mails the ready email's download links and the review email's decision links."""


class SweepSettings(_Jobs, NotifySettings, ReviewLinkSettings):
    cutout_queue_url: str
    variants_queue_url: str
    publish_queue_url: str
    review_after_hours: float = limited(24, gt=0)
    retention_days: int = limited(0, ge=0)
    """How long the bucket keeps originals and job images (``RetentionDays``); 0 keeps them forever."""

    @property
    def retention(self) -> timedelta | None:
        return timedelta(days=self.retention_days) if self.retention_days else None


class ReviewSettings(_Jobs):
    variants_queue_url: str
    cutout_queue_url: str
    review_secret_arn: str = limited(min_length=3)
    hosted_retry: bool = False
    fix_function: str | None = None
    """The cutout function's name: the fix page's tap and brush tools run there (a synchronous Invoke). Unset,
    the review page offers no fix."""


class UploadSettings(_Jobs, _Idempotency):
    upload_secret_arn: str = limited(min_length=3)
    upload_max_mb: int = limited(25, ge=1, le=40)
    upload_requests_per_minute: int = limited(120, ge=1)
    upload_photos_per_hour: int = limited(60, ge=1)


class ShopSettings(_Jobs, _Idempotency, ReviewLinkSettings, _ExportLimit):
    """The shop page: every product behind the owner link, review links for the held ones, re-renders (their
    batch records live in the idempotency table) and zip exports."""

    owner_secret_arn: str = limited(min_length=3)
    variants_queue_url: str
    export_queue_url: str
    shop_page_size: int = limited(20, ge=1, le=100)
    """Products per page of the shop page (one Query of that many rows)."""
    shop_view_minutes: int = limited(15, ge=1, le=60)
    """How long the page's image and download links work: minted per page view, so they need only outlive
    the visit (and never the role credentials that sign them)."""


class ExportSettings(_Jobs, NotifySettings, DownloadLinkSettings, _ExportLimit):
    """The zip export: published images streamed into one zip under ``exports/``, announced by one email."""

    export_part_mb: int = limited(8, ge=5, le=64)
    """Size of each multipart part the zip is uploaded in (S3 takes at least 5 MiB but for the last): the one
    part held in memory at a time."""


class MailIntakeSettings(NotifySettings):
    allowed_senders: str | None = None
    mail_max_photos: int = limited(10, ge=1, le=50)

    @property
    def allowed_sender_list(self) -> list[str]:
        """``PICR_ALLOWED_SENDERS`` split on commas, and the owner's own address, which is always allowed
        (the owner mails photos from their own phone); lower-cased, as addresses compare case-insensitively."""
        entries = [entry.strip() for entry in (self.allowed_senders or "").split(",")] + [self.owner_email]
        return list(dict.fromkeys(entry.lower() for entry in entries if entry))


class DriveSyncSettings(FunctionSettings):
    drive_folder_id: str = limited(min_length=1)
    drive_secret_arn: str = limited(min_length=3)


def model_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory holding the local engine's ``<model>.onnx`` weights: ``U2NET_HOME``, the variable
    rembg reads, which the image bakes the weights into and the template sets; ``~/.u2net`` (rembg's
    default) when unset."""
    source = os.environ if environ is None else environ
    return Path(source.get("U2NET_HOME") or Path.home() / ".u2net").expanduser()
