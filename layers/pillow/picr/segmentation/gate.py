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
from typing import TYPE_CHECKING

import cv2
import numpy as np

from picr.segmentation.refine import work_size

if TYPE_CHECKING:   # the profile module reads this one's sentences and result type
    from picr.segmentation.gate_profile import GateProfile


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

    speckle_ok 0.02 / speckle_bad 0.15 with max_objects 2: share of the product's area lying outside
    its two largest pieces (two, because a pair shot together is a normal product photo). A clean
    cutout has almost none; scattered islands are the signature of a mask that broke up (the
    design's see-through-vase failure), and at 15 % they would visibly litter the catalogue image.

    edge_width_ok_px 4 / edge_width_bad_px 12: average width, in full-resolution pixels, of the soft
    band (alpha 0.1–0.9) along the outline. A product edge in focus blurs over 2–4 px at 2000 px;
    a band three times wider means the model could not find the edge (soft shadows, low contrast,
    a product dissolving into its surroundings).

    body_soft_ok 0.10 / body_soft_bad 0.35 with body_inset_px 12: share of the product's inside
    (more than 12 px from its outline, i.e. beyond three widths of a sharp edge's soft band) whose
    alpha is below 0.9. An opaque product is solid inside; a large see-through share is a glass or
    a mask that ate the product's middle, which a human must judge.

    frame_contact_ok 0.01 / frame_contact_bad 0.06: longest stretch of any photo side covered by the
    product, as a share of that side. Touching the edge for a few pixels is a stray shadow; more
    means the product is cut off by the frame, and a catalogue image of half a product is wrong.

    rival_ok 0.25 / rival_bad 0.8 with rival_factor_floor 0.7: area of the second-largest piece
    relative to the largest. Two products in one shot are legitimate (a set), so a rival is only a
    moderate doubt: its factor bottoms out at 0.7 (see ``warning_factor``).

    contrast_ok 25 / contrast_bad 10 (CIE ΔE*ab between the product's median colour and the median
    colour just around it): lighting alone shifts one surface by 10–15 ΔE (a shadow, a warm lamp),
    so a product within that of its background can only be found by shape, and a see-through
    product, which shows the background's colour through its body, lands here too. At 25 ΔE two
    surfaces are plainly different colours.

    agreement_ok 0.9 / agreement_bad 0.6: when the cutout took a second, closer look at the product,
    IoU between the two looks on the first look's grid. A clear product gives the same shape from
    both framings, differing only along the outline where the coarse look is a cell off (> 0.9);
    when 40 % of the shape changes just because the photo was reframed, the model is guessing.

    warning_factor 0.7: each photo-quality warning from ingest (dark, bright, blurry, ...) is a
    moderate doubt. Moderate doubts cost 30 % so that one alone leaves 0.7 (published) and two
    together leave 0.49 (held).

    min_confidence 0.5: hold when the doubts together remove at least half of the confidence.

    grid_long_edge 512: the signals are measured on the alpha sampled down to this long edge (4 px
    per cell at 2000 px); they are shares and widths of whole regions, which that grid resolves,
    and it keeps the gate to a few milliseconds.
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
    agreement_ok: float = 0.9
    agreement_bad: float = 0.6
    warning_factor: float = 0.7
    min_confidence: float = 0.5
    grid_long_edge: int = 512


DEFAULT_THRESHOLDS = GateThresholds()


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
    fallback = f"Photo-quality warning: {code.replace('_', ' ')}."
    return WARNING_REASONS.get(code.removeprefix("very_"), fallback)


def _ramp(value: float, ok: float, bad: float) -> float:
    """1 at ``ok``, 0 at ``bad``, linear in between (works whether bad is above or below ok)."""
    if ok == bad:
        return 1.0 if value < ok else 0.0
    return float(np.clip((value - bad) / (ok - bad), 0.0, 1.0))


def _depth(mask: np.ndarray, px_per_cell: float) -> np.ndarray:
    """Distance (full-resolution px) from each ``mask`` cell to the nearest cell outside it; the photo's
    border counts as outside, so a product running off the frame has no deep body there."""
    padded = np.pad(mask.astype(np.uint8), 1)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1] * px_per_cell


def _distance_to(mask: np.ndarray, px_per_cell: float) -> np.ndarray:
    """Distance (full-resolution px) from each cell to the nearest ``mask`` cell (0 on the mask)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) * px_per_cell


def _piece_areas(solid: np.ndarray) -> np.ndarray:
    """Areas of the 8-connected pieces of ``solid``, largest first."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    return np.sort(stats[1:, cv2.CC_STAT_AREA].astype(np.float64))[::-1]


def _frame_contact(solid: np.ndarray) -> float:
    """Longest share of one photo side that the product covers."""
    sides = (solid[0], solid[-1], solid[:, 0], solid[:, -1])
    return max(float(side.mean()) for side in sides)


def _edge_width(alpha_grid: np.ndarray, solid: np.ndarray, px_per_cell: float) -> float:
    """Average width (full-resolution px) of the soft band: soft cells per outline cell."""
    solid_u8 = solid.astype(np.uint8)
    outline_cells = int((solid_u8 - cv2.erode(solid_u8, np.ones((3, 3), np.uint8))).sum())
    soft_cells = int(((alpha_grid > 0.1) & (alpha_grid < 0.9)).sum())
    return soft_cells / outline_cells * px_per_cell if outline_cells else 0.0


def _body_soft_share(alpha_grid: np.ndarray, solid: np.ndarray, px_per_cell: float, inset_px: float) -> float:
    """Share of the product's inside (deeper than ``inset_px``) whose alpha is below 0.9."""
    body = _depth(solid, px_per_cell) > inset_px
    return float((alpha_grid[body] < 0.9).mean()) if body.any() else 0.0


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65 white) of sRGB colours given as floats 0..255, shape (N, 3)."""
    srgb = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def _colour_contrast(image_grid: np.ndarray, solid: np.ndarray, px_per_cell: float) -> float | None:
    """CIE ΔE*ab between the product's typical colour and the typical colour of a ring around it (per
    channel medians), or None when there is no ring (the product fills the frame)."""
    # skip the blurred edge on both sides; the ring is wide enough to average the background's texture
    inside = _depth(solid, px_per_cell) > 8
    outside = _distance_to(solid, px_per_cell)
    ring = (outside > 16) & (outside < 64)
    if not inside.any():
        inside = solid
    if not ring.any():
        return None
    product, surroundings = _lab(np.stack([np.median(image_grid[inside], axis=0),
                                           np.median(image_grid[ring], axis=0)]))
    return float(np.linalg.norm(product - surroundings))


def measure(alpha: np.ndarray, thresholds: GateThresholds, image: np.ndarray | None = None) -> dict[str, float]:
    """Every shape signal of a cutout (alpha float 0..1 or uint8 0..255), on a grid of
    ``thresholds.grid_long_edge`` (sizes in full-resolution px)."""
    t = thresholds
    height, width = alpha.shape
    grid_w, grid_h = work_size(width, height, t.grid_long_edge)
    px_per_cell = width / grid_w
    # nearest-neighbour sampling keeps the real alpha values (an area filter would invent soft pixels)
    alpha_grid = cv2.resize(alpha, (grid_w, grid_h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    if alpha.dtype == np.uint8:
        alpha_grid /= 255.0
    solid = alpha_grid >= 0.5
    signals = {"coverage": float(solid.mean())}
    if signals["coverage"] < t.min_coverage:
        return signals
    areas = _piece_areas(solid)
    signals.update(
        pieces=float(areas.size),
        speckle_share=1.0 - float(areas[: t.max_objects].sum() / areas.sum()),
        rival_ratio=float(areas[1] / areas[0]) if areas.size > 1 else 0.0,
        edge_width_px=_edge_width(alpha_grid, solid, px_per_cell),
        body_soft_share=_body_soft_share(alpha_grid, solid, px_per_cell, t.body_inset_px),
        frame_contact=_frame_contact(solid),
    )
    if image is not None:
        # colours are compared on a grid half as fine, sampled without averaging: the medians of
        # large regions need neither more cells nor anti-aliasing (sensor noise is symmetric)
        colour_w, colour_h = max(1, grid_w // 2), max(1, grid_h // 2)
        image_grid = cv2.resize(np.asarray(image), (colour_w, colour_h), interpolation=cv2.INTER_NEAREST)
        solid_coarse = cv2.resize(solid.astype(np.uint8), (colour_w, colour_h), interpolation=cv2.INTER_NEAREST)
        contrast = _colour_contrast(image_grid, solid_coarse.astype(bool), width / colour_w)
        if contrast is not None:
            signals["colour_contrast"] = contrast
    return signals


SENTENCES = {
    "coverage": "Almost the whole photo was kept: the product could not be separated from the background.",
    "speckle_share": "The cutout is broken into scattered pieces.",
    "edge_width_px": "The product's outline is blurry or uncertain (shadows or similar colours around it).",
    "body_soft_share": "Parts of the product came out see-through.",
    "frame_contact": "The product runs off the edge of the photo, so part of it is missing.",
    "rival_ratio": "Two separate objects were kept; check that both belong in the picture.",
    "colour_contrast": "The product's colour is very close to the background's, or the background shows through it.",
    "view_agreement": "The product's shape changed when the photo was looked at more closely, so the cutout is "
                      "unreliable.",
}
"""The owner's sentence for each shape signal (also read by ``picr.segmentation.gate_profile``)."""
NO_PRODUCT = "No product was found in the photo."


def _factors(signals: dict[str, float], t: GateThresholds) -> list[tuple[float, str]]:
    """(factor, reason) for every measured shape signal."""
    if signals["coverage"] < t.min_coverage:
        return [(0.0, NO_PRODUCT)]
    rival_doubt = _ramp(signals["rival_ratio"], t.rival_ok, t.rival_bad)
    factors = [
        (_ramp(signals["coverage"], t.coverage_ok, t.coverage_bad), SENTENCES["coverage"]),
        (_ramp(signals["speckle_share"], t.speckle_ok, t.speckle_bad), SENTENCES["speckle_share"]),
        (_ramp(signals["edge_width_px"], t.edge_width_ok_px, t.edge_width_bad_px), SENTENCES["edge_width_px"]),
        (_ramp(signals["body_soft_share"], t.body_soft_ok, t.body_soft_bad), SENTENCES["body_soft_share"]),
        (_ramp(signals["frame_contact"], t.frame_contact_ok, t.frame_contact_bad), SENTENCES["frame_contact"]),
        (t.rival_factor_floor + (1 - t.rival_factor_floor) * rival_doubt, SENTENCES["rival_ratio"]),
    ]
    if "colour_contrast" in signals:
        factors.append((_ramp(signals["colour_contrast"], t.contrast_ok, t.contrast_bad),
                        SENTENCES["colour_contrast"]))
    if "view_agreement" in signals:
        factors.append((_ramp(signals["view_agreement"], t.agreement_ok, t.agreement_bad),
                        SENTENCES["view_agreement"]))
    return factors


def assess_cutout(alpha: np.ndarray, quality_warnings: Sequence[str] = (),
                  thresholds: GateThresholds = DEFAULT_THRESHOLDS, image: np.ndarray | None = None,
                  view_agreement: float | None = None, profile: GateProfile | None = None,
                  extra_signals: dict[str, float] | None = None) -> GateResult:
    """Decide whether a cutout may be published.

    alpha: float H×W in 0..1 (or uint8 0..255) at the photo's resolution. image: the photo (H×W×3
    uint8) when the mask came from a model; it enables the colour-contrast signal. Leave it out for a
    cut-out the owner supplied, whose hidden background colour means nothing. view_agreement: IoU of
    the model's two looks when the cutout took a closer second look, else None. profile: the model's
    fitted limits (``picr.segmentation.gate_profile``), which then decide over these signals and ``extra_signals``
    (``picr.segmentation.gate_signals``); without one, the hand-set limits of ``thresholds`` decide.
    """
    alpha = np.asarray(alpha)
    if alpha.dtype != np.uint8:
        alpha = alpha.astype(np.float32, copy=False)
    signals = measure(alpha, thresholds, image)
    if view_agreement is not None:
        signals["view_agreement"] = float(view_agreement)
    if profile is not None:
        return profile.decide({**signals, **(extra_signals or {})}, quality_warnings, thresholds.min_coverage)
    factors = _factors(signals, thresholds)
    factors += [(thresholds.warning_factor, warning_reason(code)) for code in dict.fromkeys(quality_warnings)]
    confidence = float(np.prod([factor for factor, _ in factors]))
    reasons = [reason for factor, reason in sorted(factors, key=lambda item: item[0]) if factor < 0.999]
    scores = {name: round(value, 4) for name, value in signals.items()}
    scores["confidence"] = round(confidence, 4)
    return GateResult(passed=confidence >= thresholds.min_confidence, confidence=round(confidence, 4),
                      reasons=reasons, scores=scores)
