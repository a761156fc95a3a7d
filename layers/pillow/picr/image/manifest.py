"""The job's receipt: `manifest.json`, written next to the outputs by publish.

It answers, months later, "which images did we make for this product, from which photo, and were they
all there?". The bytes are a pure function of the inputs (sorted keys, outputs sorted by channel, no wall
clock), so a re-run can compare manifests byte for byte to tell whether anything changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

MANIFEST_VERSION = 1
"""Bumped when a field changes meaning, so readers can refuse a manifest they would misread."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")
_TOP_LEVEL_FIELDS = frozenset(
    {"manifest_version", "job_id", "source_file", "source_key", "product", "confidence", "event_time",
     "engine", "outputs"}
)
_OUTPUT_FIELDS = frozenset(
    {"channel", "key", "width", "height", "format", "bytes", "sha256", "watermarked", "checks"}
)


@dataclass(frozen=True, kw_only=True)
class ChannelImage:
    """What one rendered channel image is: its size, format, bytes and checksum, whether it carries the
    watermark, and the results of its own self-check (``picr.image.verify``)."""

    channel: str
    width: int
    height: int
    format: str
    bytes: int
    sha256: str
    watermarked: bool
    checks: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ManifestOutput(ChannelImage):
    """One file publish wrote: where it is, what it is, and the variant's own self-check results."""

    key: str

    def __post_init__(self) -> None:
        if not self.channel or not self.key:
            raise ValueError("channel and key must not be empty")
        if min(self.width, self.height) < 1 or self.bytes < 1:
            raise ValueError(f"{self.key}: width, height and bytes must be positive")
        if not _SHA256_HEX.match(self.sha256):
            raise ValueError(f"{self.key}: sha256 must be 64 lowercase hex digits")

    @classmethod
    def from_encoded(
        cls,
        *,
        channel: str,
        key: str,
        data: bytes,
        width: int,
        height: int,
        format: str,
        watermarked: bool,
        checks: dict | None = None,
    ) -> ManifestOutput:
        """Describe the exact bytes written to S3, so `bytes` and `sha256` cannot drift from them."""
        return cls(
            channel=channel,
            key=key,
            width=width,
            height=height,
            format=format,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            watermarked=watermarked,
            checks=dict(checks or {}),
        )


def build_manifest(
    *,
    job_id: str,
    source_file: str,
    source_key: str,
    product: str,
    confidence: float,
    event_time: str,
    engine: str,
    outputs: list[ManifestOutput],
    owner_fix: dict[str, Any] | None = None,
) -> bytes:
    """Deterministic UTF-8 JSON: sorted keys, 2-space indent, trailing newline.

    `event_time` is the triggering event's ISO 8601 time, kept as given; outputs are sorted by
    (channel, key) so the order variants finished in cannot change the bytes. `owner_fix` marks a cutout
    the owner fixed and published from the review page (`owner_approved: true` and what the fix was); a
    manifest without it is a cutout the pipeline's gate (or a plain approval) let through.
    """
    if not math.isfinite(confidence):
        raise ValueError("confidence must be a finite number")
    _require_iso_time(event_time)
    keys = [output.key for output in outputs]
    if len(set(keys)) != len(keys):
        raise ValueError("two outputs share one key")
    document = {
        "manifest_version": MANIFEST_VERSION,
        "job_id": job_id,
        "source_file": source_file,
        "source_key": source_key,
        "product": product,
        "confidence": float(confidence),
        "event_time": event_time,
        "engine": engine,
        "outputs": [asdict(output) for output in sorted(outputs, key=lambda o: (o.channel, o.key))],
    }
    if owner_fix is not None:
        document["owner_approved"] = True
        document["owner_fix"] = owner_fix
    text = json.dumps(
        document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False, default=_plain_scalar
    )
    return (text + "\n").encode("utf-8")


def parse_manifest(data: bytes) -> dict:
    """Read a manifest back, refusing one with missing fields or an unknown version."""
    document = json.loads(data.decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("manifest is not a JSON object")
    missing = _TOP_LEVEL_FIELDS - document.keys()
    if missing:
        raise ValueError(f"manifest lacks {sorted(missing)}")
    if document["manifest_version"] != MANIFEST_VERSION:
        raise ValueError(f"unsupported manifest_version {document['manifest_version']!r}")
    if not isinstance(document["outputs"], list):
        raise ValueError("manifest outputs is not a list")
    for output in document["outputs"]:
        missing = _OUTPUT_FIELDS - output.keys()
        if missing:
            raise ValueError(f"manifest output {output.get('key')!r} lacks {sorted(missing)}")
    return document


def _require_iso_time(value: str) -> None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"event_time is not ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"event_time has no timezone: {value!r}")


def _plain_scalar(value: Any) -> Any:
    """Self-check dicts are computed with numpy; its scalars (np.float32, np.bool_) expose `.item()`."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
