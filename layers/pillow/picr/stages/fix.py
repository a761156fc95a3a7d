"""The owner's fix of a held cutout, run in the cutout container, where the model and OpenCV live.

The review function calls the container synchronously (Lambda Invoke) with a :class:`FixRequest`: the
job, its held images and the owner's edits so far. The container replays the edits from the held cutout
(``picr.mask_edit``), measures the result with the same gate as the pipeline, and either answers a
preview (the alpha at page size, as a PNG) or, for "Publish this cutout", writes the full-size cutout
next to the held one and answers its key. It never changes the job: the review function does that,
after it has checked the hold and spent the link.

A warm container remembers the last few jobs' images and the alpha after each list of edits it has
computed, so the next preview only applies what was added (a stroke after a tap does not redo the tap),
and undo (a shorter list) is usually a lookup.
"""

from __future__ import annotations

import base64
import io
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from picr.aws.bucket import ImageBucket, work_key
from picr.job import JOB_ID_PATTERN
from picr.pages.edits import Edit, EditRefused, edits_to_json, parse_edits
from picr.records import Record, limited, parse
from picr.runtime import logger, metrics
from picr.segmentation.cutout import finished_cutout
from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.gate import GateThresholds, assess_cutout
from picr.segmentation.mask_edit import apply_edits
from picr.stages.cutout import encode_cutout

PREVIEW_MAX_EDGE = 1000
"""Long edge of the preview mask: the page's canvas is at most this many device pixels across on a phone
(390 CSS px at 3x is 1170), so more would only cost bytes."""


class FixRequest(Record):
    """What the review function sends; every key is checked to lie in the job's own ``work/`` folder."""

    job_id: str = limited(pattern=JOB_ID_PATTERN)
    source_key: str
    cutout_key: str
    edits: tuple[Any, ...]
    warnings: tuple[str, ...] = ()
    publish: bool = False
    nonce: str | None = limited(None, pattern=r"^[A-Za-z0-9_-]{8,64}$")
    """The spending link's nonce: names the published cutout, so two tabs never write the same key."""
    preview_edge: int = limited(PREVIEW_MAX_EDGE, ge=64, le=2000)

    def check_keys(self) -> None:
        folder = work_key(self.job_id, "")
        for key in (self.source_key, self.cutout_key):
            if not key.startswith(folder) or ".." in key:
                raise EditRefused(f"{key} is not one of job {self.job_id}'s images")
        if self.publish and not self.nonce:
            raise EditRefused("a published fix needs the link's nonce")


def fix_key(job_id: str, nonce: str) -> str:
    """Where a published fix is stored: beside the held cutout, which stays as the pipeline made it."""
    return work_key(job_id, f"cutout-fix-{nonce}.png")


@dataclass
class FixCache:
    """Per warm container: the decoded images of recent jobs, and the alpha after each edit list computed."""

    max_jobs: int = 2
    max_results: int = 12
    _images: OrderedDict = field(default_factory=OrderedDict)
    _results: OrderedDict = field(default_factory=OrderedDict)

    def images(self, request: FixRequest, load: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[
            np.ndarray, np.ndarray]:
        key = (request.job_id, request.source_key, request.cutout_key)
        if key not in self._images:
            self._images[key] = load()
            while len(self._images) > self.max_jobs:
                self._images.popitem(last=False)
        self._images.move_to_end(key)
        return self._images[key]

    def closest(self, request: FixRequest, edits: list[Edit]) -> tuple[int, np.ndarray | None]:
        """How many of ``edits`` a remembered result already includes (the longest remembered prefix)."""
        for done in range(len(edits), 0, -1):
            found = self._results.get(self._key(request, edits[:done]))
            if found is not None:
                return done, found
        return 0, None

    def remember(self, request: FixRequest, edits: list[Edit], alpha: np.ndarray) -> None:
        key = self._key(request, edits)
        self._results[key] = alpha
        self._results.move_to_end(key)
        while len(self._results) > self.max_results:
            self._results.popitem(last=False)

    @staticmethod
    def _key(request: FixRequest, edits: list[Edit]) -> tuple[str, str, str]:
        return request.job_id, request.cutout_key, json.dumps(edits_to_json(edits), separators=(",", ":"))


@dataclass
class FixContext:
    bucket: ImageBucket
    engine: SegmentationEngine
    thresholds: GateThresholds
    cache: FixCache = field(default_factory=FixCache)


def _load_images(request: FixRequest, bucket: ImageBucket) -> tuple[np.ndarray, np.ndarray]:
    """The normalised photo (RGB) and the held cutout's alpha, as the pipeline left them."""
    with Image.open(io.BytesIO(bucket.get(request.source_key).data)) as photo:
        rgb = np.asarray(photo.convert("RGB"))
    with Image.open(io.BytesIO(bucket.get(request.cutout_key).data)) as cutout:
        alpha = np.asarray(cutout.convert("RGBA").getchannel("A"))
    if alpha.shape != rgb.shape[:2]:
        alpha = cv2.resize(alpha, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, alpha


def edited_alpha(request: FixRequest, ctx: FixContext) -> tuple[np.ndarray, np.ndarray, list[Edit]]:
    """The photo, the alpha after the request's edits (from the cache where it can), and the edits."""
    request.check_keys()
    rgb, start = ctx.cache.images(request, lambda: _load_images(request, ctx.bucket))
    height, width = start.shape
    edits = parse_edits(list(request.edits), (width, height))
    done, alpha = ctx.cache.closest(request, edits)
    alpha = apply_edits(rgb, start if alpha is None else alpha, edits[done:], ctx.engine, earlier=edits[:done])
    ctx.cache.remember(request, edits, alpha)
    return rgb, alpha, edits


def _preview_png(alpha: np.ndarray, max_edge: int) -> str:
    """The alpha at page size as a PNG whose alpha channel is the cutout's (the page masks the photo with it)."""
    height, width = alpha.shape
    scale = min(1.0, max_edge / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) if scale < 1 else alpha
    image = Image.merge("LA", (Image.new("L", size, 255), Image.fromarray(small, "L")))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def run_fix(request: FixRequest, ctx: FixContext) -> dict[str, Any]:
    """Preview or publish one fix; the answer is JSON-ready (gate verdict, and the mask or the new key)."""
    rgb, alpha, edits = edited_alpha(request, ctx)
    gate = assess_cutout(alpha, request.warnings, ctx.thresholds, image=rgb)
    answer: dict[str, Any] = {
        "job_id": request.job_id, "edits": len(edits), "passed": gate.passed, "confidence": gate.confidence,
        "reasons": list(gate.reasons), "scores": gate.scores,
        "coverage": round(float((alpha >= 128).mean()), 4),
    }
    if request.publish:
        key = fix_key(request.job_id, request.nonce or "")
        ctx.bucket.put(key, encode_cutout(finished_cutout(rgb, alpha)), "image/png")
        answer["cutout_key"] = key
    else:
        answer["mask"] = _preview_png(alpha, request.preview_edge)
    return answer


def handle(event: dict[str, Any], ctx: FixContext) -> dict[str, Any]:
    """The cutout function's answer to a ``{"fix": {...}}`` invocation; a refused request says why."""
    try:
        request = parse(FixRequest, event["fix"])
        answer = run_fix(request, ctx)
    except (EditRefused, ValueError) as refused:
        answer = {"refused": str(refused)[:300]}
    logger.info("fix", extra={"job_id": answer.get("job_id"), "refused": answer.get("refused"),
                              "publish": "cutout_key" in answer, "edits": answer.get("edits")})
    metrics.add_metric(name="FixRefused" if "refused" in answer else "Fixes", unit="Count", value=1)
    return answer
