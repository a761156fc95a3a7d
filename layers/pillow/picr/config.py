"""One validated configuration, read once from the environment the template sets.

Every function reads the same model; a function only needs the fields its stage uses, so the
stage-specific ones are optional here and checked where they are required (``require``). Names
are the ``PICR_*`` variables declared in ``template.yaml``, plus ``U2NET_HOME`` (:func:`model_home`);
nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "PICR_"


class ConfigError(RuntimeError):
    """Raised when the environment does not describe a usable deployment."""


class Settings(BaseModel):
    """The deployment as one function sees it (``PICR_<FIELD>`` in upper case)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str = Field(min_length=3)
    jobs_table: str = Field(min_length=3)
    idempotency_table: str | None = None
    cutout_queue_url: str | None = None
    variants_queue_url: str | None = None
    publish_queue_url: str | None = None
    max_edge: int = Field(default=2000, ge=320, le=8000)
    engine: Literal["local", "hosted"] = "local"
    model: str = "u2net"
    hosted_url: str = "https://api.remove.bg/v1.0/removebg"
    hosted_secret_arn: str | None = None
    sender: str | None = None
    owner_email: str | None = None
    notify_channel: Literal["ses", "sns"] = "ses"
    sns_topic_arn: str | None = None
    review_after_hours: float = Field(default=24, gt=0)
    retention_days: int = Field(default=0, ge=0)
    """How long the bucket keeps originals and job images (``RetentionDays``); 0 keeps them forever."""
    link_expiry_days: int = Field(default=7, ge=1, le=7)
    # -- the review lane (issue 7)
    review_url: str | None = None
    """The review function's URL (its Function URL); the signed Approve / Reject / Retry links point here."""
    review_secret_arn: str | None = None
    """The Secrets Manager secret holding the key that signs review links."""
    review_link_hours: float = Field(default=72, gt=0, le=7 * 24)
    """How long a review link works. The daily digest re-issues links for every job still held, so a link
    only has to outlive a weekend away from the inbox; a short life limits what a forwarded mail can do."""
    hosted_retry: bool = False
    """A hosted engine is configured, so held jobs cut by the local engine may be retried with it."""
    # The ways in (issue 6): the email lane, the Drive lane and the upload page.
    inbound_recipient: str | None = None
    allowed_senders: str | None = None
    mail_max_photos: int = Field(default=10, ge=1, le=50)
    drive_folder_id: str | None = None
    drive_secret_arn: str | None = None
    upload_secret_arn: str | None = None
    upload_max_mb: int = Field(default=25, ge=1, le=40)
    upload_requests_per_minute: int = Field(default=120, ge=1)
    upload_photos_per_hour: int = Field(default=60, ge=1)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """CloudFormation cannot omit a variable conditionally, so an empty string means "not set"."""
        return None if value == "" else value

    def require(self, *fields: str) -> None:
        """Fail at cold start, with the variable names, when a stage's own settings are missing."""
        missing = [f"{ENV_PREFIX}{name.upper()}" for name in fields if getattr(self, name) in (None, "")]
        if missing:
            raise ConfigError(f"missing environment: {', '.join(missing)}")

    @property
    def retention(self) -> timedelta | None:
        return timedelta(days=self.retention_days) if self.retention_days else None

    @property
    def recipients(self) -> list[str]:
        return [self.owner_email] if self.owner_email else []

    @property
    def allowed_sender_list(self) -> list[str]:
        """``PICR_ALLOWED_SENDERS`` split on commas, and the owner's own address, which is always allowed
        (the owner mails photos from their own phone); lower-cased, as addresses compare case-insensitively."""
        entries = [entry.strip() for entry in (self.allowed_senders or "").split(",")] + [self.owner_email or ""]
        return list(dict.fromkeys(entry.lower() for entry in entries if entry))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``PICR_*`` variables; unknown ones are ignored, bad ones named."""
    source = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX):].lower(): value for key, value in source.items() if key.startswith(ENV_PREFIX)
    }
    values = {key: value for key, value in values.items() if key in Settings.model_fields}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid picr configuration: {exc}") from exc


def model_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory holding the local engine's ``<model>.onnx`` weights: ``U2NET_HOME``, the variable
    rembg reads, which the image bakes the weights into and the template sets; ``~/.u2net`` (rembg's
    default) when unset."""
    source = os.environ if environ is None else environ
    return Path(source.get("U2NET_HOME") or Path.home() / ".u2net").expanduser()
