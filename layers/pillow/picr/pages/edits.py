"""The owner's edits to a held cutout, as the review page sends them: taps and keep / remove strokes.

Pure Python (no numpy, no OpenCV): the review function validates a request with it before anything
runs, and the cutout container, which applies the edits (``picr.mask_edit``), validates again.
A tap is a point; a stroke is a polyline and a brush radius; all in the photo's own pixels (the page
scales its canvas coordinates to the photo's size before sending).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

StrokeMode = Literal["keep", "remove"]
STROKE_MODES: tuple[StrokeMode, ...] = ("keep", "remove")


@dataclass(frozen=True)
class Tap:
    """"This is the product": a point in photo pixels."""

    x: int
    y: int


@dataclass(frozen=True)
class Stroke:
    """A keep or remove brush stroke: a polyline in photo pixels and the brush radius in photo pixels."""

    mode: StrokeMode
    points: tuple[tuple[int, int], ...]
    radius: int


Edit = Tap | Stroke


class EditRefused(ValueError):
    """An edit list the page should never send: too many edits, too long, or outside the photo."""


@dataclass(frozen=True)
class EditLimits:
    """What one fix may contain, and why.

    max_edits 24 and max_taps 4: a fix is a tap and a few strokes (the simulated owner needs at most
        four edits); 24 leaves room for undo-and-redo without letting one request replay hundreds of
        operations. Each tap costs up to a few model passes, hence the separate, smaller cap.
    max_points_per_stroke 256 and max_points 2048: the page thins a stroke to a point every few
        screen pixels, so a stroke across the whole photo is well under 256 points; the total keeps a
        request and its history row small (a few tens of KB, far from DynamoDB's 400 KB item limit).
    max_length_edges 4: a stroke's path is at most four long edges of the photo (a scribble back and
        forth across it); anything longer is not a finger.
    min_radius_px 2 and max_radius_share 0.1: the brush goes from a hair to a tenth of the long edge
        (200 px at 2000 px, about 40 CSS px on a phone showing the whole photo).
    """

    max_edits: int = 24
    max_taps: int = 4
    max_points_per_stroke: int = 256
    max_points: int = 2048
    max_length_edges: float = 4.0
    min_radius_px: int = 2
    max_radius_share: float = 0.1


DEFAULT_LIMITS = EditLimits()


def _coordinate(value: Any, bound: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EditRefused(f"{what} is not a number")
    if not 0 <= value < bound:
        raise EditRefused(f"{what} {value} lies outside the photo")
    return int(value)


def _point(raw: Any, size: tuple[int, int], what: str) -> tuple[int, int]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
        raise EditRefused(f"{what} is not an [x, y] pair")
    return _coordinate(raw[0], size[0], f"{what} x"), _coordinate(raw[1], size[1], f"{what} y")


def parse_edits(raw: Any, size: tuple[int, int], limits: EditLimits = DEFAULT_LIMITS) -> list[Edit]:
    """Edits from their JSON form (``{"tap": [x, y]}`` or ``{"keep"|"remove": [[x, y], ...], "r": radius}``),
    every bound checked; :class:`EditRefused` for the first thing out of bounds, so nothing half-applies."""
    if not isinstance(raw, list):
        raise EditRefused("edits must be a list")
    if len(raw) > limits.max_edits:
        raise EditRefused(f"{len(raw)} edits, at most {limits.max_edits}")
    edits: list[Edit] = []
    points_total = 0
    max_radius = max(limits.min_radius_px, int(limits.max_radius_share * max(size)))
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise EditRefused(f"edit {index} is not an object")
        if set(item) == {"tap"}:
            edits.append(Tap(*_point(item["tap"], size, f"tap {index}")))
            continue
        modes = [mode for mode in STROKE_MODES if mode in item]
        if len(modes) != 1 or set(item) != {modes[0], "r"}:
            raise EditRefused(f"edit {index} is neither a tap nor a keep/remove stroke")
        mode, path, radius = modes[0], item[modes[0]], item["r"]
        if not isinstance(path, list) or not 1 <= len(path) <= limits.max_points_per_stroke:
            raise EditRefused(f"stroke {index} needs 1 to {limits.max_points_per_stroke} points")
        points = tuple(_point(p, size, f"stroke {index} point") for p in path)
        points_total += len(points)
        if points_total > limits.max_points:
            raise EditRefused(f"more than {limits.max_points} stroke points in all")
        length = sum(math.dist(a, b) for a, b in itertools.pairwise(points))
        if length > limits.max_length_edges * max(size):
            raise EditRefused(f"stroke {index} is longer than {limits.max_length_edges:g} photo widths")
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) \
                or not limits.min_radius_px <= radius <= max_radius:
            raise EditRefused(f"stroke {index} radius must be {limits.min_radius_px} to {max_radius} px")
        edits.append(Stroke(mode, points, round(radius)))
    if sum(isinstance(edit, Tap) for edit in edits) > limits.max_taps:
        raise EditRefused(f"at most {limits.max_taps} taps")
    return edits


def edits_to_json(edits: Sequence[Edit]) -> list[dict[str, Any]]:
    """The JSON form :func:`parse_edits` reads (for the job's history and the page)."""
    return [{"tap": [edit.x, edit.y]} if isinstance(edit, Tap)
            else {edit.mode: [list(p) for p in edit.points], "r": edit.radius} for edit in edits]
