"""The confidence gate: measure the cutout, do not trust the model.

A segmentation model is confident even when it is wrong, so the gate looks at the result instead, on
cheap deterministic signals: how much of the frame the product fills, whether the mask is one clean
shape or scattered pieces, how wide and where its soft (uncertain) pixels are, whether the product
runs off the photo, whether two objects compete, whether the product's colour can be told from its
background at all, and the photo-quality warnings ingest raised. Each signal becomes a factor in
0..1 (1 = nothing to worry about); the confidence is their product, so two moderate doubts add up to a
hold while one small doubt does not. Every factor below 1 comes with a sentence a shop owner
understands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from picr.refine import work_size


@dataclass(frozen=True)
class GateThresholds:
    """Limits of the gate. ``*_ok`` is where a signal stops costing confidence, ``*_bad`` where it
    alone is enough to hold the cutout; in between the factor falls linearly.

    min_coverage 0.001: less than 0.1 % of the frame (about 55×55 px of a 2000×1500 photo) is not a
    product anyone photographed on purpose; it is the size of the model's stray specks, so such a
    mask is treated as empty. Small but real products (2 % of the frame) are far above it: a small
    product shot from afar, correctly cut, is a good cutout.

    coverage_ok 0.85 / coverage_bad 0.95: the design's 92 % ceiling, widened into a ramp. A mask that
    keeps nearly the whole frame means no subject was separated from the background.

    speckle_ok 0.02 / speckle_bad 0.15: share of the product's area lying outside its main pieces
    (``max_objects``). A clean cutout has almost none; scattered islands are the signature of a mask
    that broke up (the design's see-through-vase failure), and at 15 % they would visibly litter
    the catalogue image.

    edge_width_ok_px 4 / edge_width_bad_px 12: average width, in full-resolution pixels, of the soft
    band (alpha 0.1–0.9) along the outline. A product edge in focus blurs over 2–4 px at 2000 px;
    a band three times wider means the model could not find the edge (soft shadows, low contrast,
    a product dissolving into its surroundings).

    body_soft_ok 0.10 / body_soft_bad 0.35: share of the product's inside (more than
    ``body_inset_px`` from its outline) whose alpha is below 0.9. An opaque product is solid inside;
    a large see-through share is a glass or a mask that ate the product's middle, which a human must
    judge.

    frame_contact_ok 0.01 / frame_contact_bad 0.06: longest stretch of any photo side covered by the
    product, as a share of that side. Touching the edge for a few pixels is a stray shadow; more
    means the product is cut off by the frame, and a catalogue image of half a product is wrong.

    rival_ok 0.25 / rival_bad 0.8 with rival_factor_floor 0.7: area of the second-largest piece
    relative to the largest. Two products in one shot are legitimate (a set), so a rival alone never
    holds the cutout (its factor bottoms out at 0.7), but it adds to other doubts.

    contrast_ok 25 / contrast_bad 10 (CIE ΔE*ab between the product's median colour and the median
    colour just around it): lighting alone shifts one surface by 10–15 ΔE (a shadow, a warm lamp),
    so a product within that of its background can only be found by shape, and a see-through
    product, which shows the background's colour through its body, lands here too. At 25 ΔE two
    surfaces are plainly different colours.

    warning_factor 0.75: each photo-quality warning from ingest (dark, bright, blurry, ...) costs a
    quarter: alone it does not hold a clean cutout; with another doubt it does.

    min_confidence 0.5: hold when the doubts together remove at least half of the confidence.
    """

    min_coverage: float = 0.001
    coverage_ok: float = 0.85
    coverage_bad: float = 0.95
    max_objects: int = 2
    speckle_ok: float = 0.02
    speckle_bad: float = 0.15
    edge_width_ok_px: float = 4.0
    edge_width_bad_px: float = 12.0
    body_inset_px: float = 12.0
    body_soft_ok: float = 0.10
    body_soft_bad: float = 0.35
    frame_contact_ok: float = 0.01
    frame_contact_bad: float = 0.06
    rival_ok: float = 0.25
    rival_bad: float = 0.8
    rival_factor_floor: float = 0.7
    contrast_ok: float = 25.0
    contrast_bad: float = 10.0
    warning_factor: float = 0.75
    min_confidence: float = 0.5
    grid_long_edge: int = 512


@dataclass(frozen=True)
class GateResult:
    """The gate's decision. ``scores`` holds every measured signal (for the job row and the logs)."""

    passed: bool
    confidence: float
    reasons: list[str]
    scores: dict[str, float] = field(default_factory=dict)


WARNING_REASONS = {
    "dark": "The photo is very dark, so the product's edges are hard to see.",
    "bright": "The photo is overexposed, so light parts of the product may have vanished.",
    "blurry": "The photo is blurry, so the product's outline is uncertain.",
}


def warning_reason(code: str) -> str:
    """Plain sentence for an ingest warning code (``very_dark`` and ``dark`` read the same)."""
    return WARNING_REASONS.get(code.removeprefix("very_"), f"Photo-quality warning: {code.replace('_', ' ')}.")


def _ramp(value: float, ok: float, bad: float) -> float:
    """1 at ``ok``, 0 at ``bad``, linear in between (works whether bad is above or below ok)."""
    if ok == bad:
        return 1.0 if value < ok else 0.0
    return float(np.clip((value - bad) / (ok - bad), 0.0, 1.0))


@dataclass(frozen=True)
class _Shape:
    """The binary product mask on the gate's grid and its pieces."""

    solid: np.ndarray          # alpha >= 0.5 on the grid
    areas: np.ndarray          # piece areas, largest first
    labels: np.ndarray
    order: np.ndarray          # label ids sorted by area, largest first


def _shape(alpha_grid: np.ndarray) -> _Shape:
    solid = alpha_grid >= 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    order = np.argsort(-areas) + 1
    return _Shape(solid, np.sort(areas)[::-1], labels, order)


def _frame_contact(solid: np.ndarray) -> float:
    """Longest share of one photo side that the product covers."""
    sides = (solid[0], solid[-1], solid[:, 0], solid[:, -1])
    return max(float(side.mean()) for side in sides)


def _edge_signals(alpha_grid: np.ndarray, shape: _Shape, px_per_cell: float, inset_px: float) -> tuple[float, float]:
    """(average soft-band width in full-resolution px, share of the body that is not opaque)."""
    solid = shape.solid.astype(np.uint8)
    soft = (alpha_grid > 0.1) & (alpha_grid < 0.9)
    outline = solid - cv2.erode(solid, np.ones((3, 3), np.uint8))
    outline_cells = int(outline.sum())
    edge_width = float(soft.sum()) / outline_cells * px_per_cell if outline_cells else 0.0
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 3) * px_per_cell
    body = depth > inset_px
    body_soft = float((alpha_grid[body] < 0.9).mean()) if body.any() else 0.0
    return edge_width, body_soft


def _colour_contrast(image_grid: np.ndarray, solid: np.ndarray, px_per_cell: float) -> float:
    """CIE ΔE*ab between the product's median colour and the median colour of a ring around it."""
    lab = cv2.cvtColor(image_grid, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0   # OpenCV's 8-bit Lab: L scaled to 0..255, a/b offset by 128
    inside_depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3) * px_per_cell
    outside_depth = cv2.distanceTransform((~solid).astype(np.uint8), cv2.DIST_L2, 3) * px_per_cell
    # skip the blurred edge on both sides; the ring is wide enough to average the background's texture
    inside = inside_depth > 8
    ring = (outside_depth > 16) & (outside_depth < 64)
    if not inside.any():
        inside = solid
    if not ring.any() or not inside.any():
        return float("inf")
    return float(np.linalg.norm(np.median(lab[inside], axis=0) - np.median(lab[ring], axis=0)))


def assess_cutout(alpha: np.ndarray, quality_warnings: Sequence[str] = (),
                  thresholds: GateThresholds = GateThresholds(), image: np.ndarray | None = None) -> GateResult:
    """Decide whether a cutout may be published.

    alpha: float H×W in 0..1 (or uint8 0..255) at the photo's resolution. image: the photo (H×W×3
    uint8) when the mask came from a model; it enables the colour-contrast signal. Leave it out for a
    cut-out the owner supplied, whose hidden background colour means nothing.
    """
    t = thresholds
    alpha = np.asarray(alpha)
    if alpha.dtype == np.uint8:
        alpha = alpha.astype(np.float32) / 255.0
    height, width = alpha.shape
    grid_w, grid_h = work_size(width, height, t.grid_long_edge)
    px_per_cell = width / grid_w
    # nearest-neighbour sampling keeps the real alpha values (an area filter would invent soft pixels)
    alpha_grid = cv2.resize(alpha.astype(np.float32), (grid_w, grid_h), interpolation=cv2.INTER_NEAREST)
    shape = _shape(alpha_grid)
    coverage = float(shape.solid.mean())

    scores: dict[str, float] = {"coverage": coverage}
    factors: list[tuple[float, str]] = []
    if coverage < t.min_coverage:
        factors.append((0.0, "No product was found in the photo."))
    else:
        total = float(shape.areas.sum())
        main = float(shape.areas[: t.max_objects].sum())
        speckle = 1.0 - main / total
        rival = float(shape.areas[1] / shape.areas[0]) if shape.areas.size > 1 else 0.0
        edge_width, body_soft = _edge_signals(alpha_grid, shape, px_per_cell, t.body_inset_px)
        contact = _frame_contact(shape.solid)
        scores.update(pieces=float(shape.areas.size), speckle_share=speckle, rival_ratio=rival,
                      edge_width_px=edge_width, body_soft_share=body_soft, frame_contact=contact)
        factors += [
            (_ramp(coverage, t.coverage_ok, t.coverage_bad),
             "Almost the whole photo was kept: the product could not be separated from the background."),
            (_ramp(speckle, t.speckle_ok, t.speckle_bad),
             "The cutout is broken into scattered pieces."),
            (_ramp(edge_width, t.edge_width_ok_px, t.edge_width_bad_px),
             "The product's outline is blurry or uncertain (shadows or similar colours around it)."),
            (_ramp(body_soft, t.body_soft_ok, t.body_soft_bad),
             "Parts of the product came out see-through."),
            (_ramp(contact, t.frame_contact_ok, t.frame_contact_bad),
             "The product runs off the edge of the photo, so part of it is missing."),
            (t.rival_factor_floor + (1 - t.rival_factor_floor) * _ramp(rival, t.rival_ok, t.rival_bad),
             "Two separate objects were kept; check that both belong in the picture."),
        ]
        if image is not None:
            image_grid = cv2.resize(np.asarray(image), (grid_w, grid_h), interpolation=cv2.INTER_AREA)
            contrast = _colour_contrast(image_grid, shape.solid, px_per_cell)
            scores["colour_contrast"] = contrast
            factors.append((_ramp(contrast, t.contrast_ok, t.contrast_bad),
                            "The product's colour is very close to the background's, or the background "
                            "shows through it."))
    for code in dict.fromkeys(quality_warnings):
        factors.append((t.warning_factor, warning_reason(code)))

    confidence = float(np.prod([factor for factor, _ in factors])) if factors else 1.0
    reasons = [reason for factor, reason in sorted(factors, key=lambda item: item[0]) if factor < 0.999]
    scores["confidence"] = confidence
    return GateResult(passed=confidence >= t.min_confidence, confidence=round(confidence, 4),
                      reasons=reasons, scores={k: round(v, 4) for k, v in scores.items()})
