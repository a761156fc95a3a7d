"""The owner's fixes to a held cutout: tap the product, brush what is wrong.

Plain functions over the photo (RGB uint8), the engine and 8-bit alphas:

* a tap redoes the cutout around the tapped object (:mod:`picr.segmentation.tap`).
* :func:`brush` applies keep / remove strokes (polyline + radius, photo pixels). A finger is wider than a
  drum stand, so a stroke is not painted as it is: a keep stroke adds what the model finds there, else
  the band's pixels that have the product's colours rather than the background's; a remove stroke's rim
  is decided by colour (GrabCut on the stroke's neighbourhood, reduced, for both), and the result's edge
  is refined against the photo as the pipeline refines its own.
* :func:`apply_edits` replays a list of edits from the pipeline's cutout; undo is the same list, shorter.

Edits arrive from a browser, so :func:`parse_edits` validates them first (count, points, length, radius,
coordinates inside the photo) and refuses the whole list when any part is out of bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from picr.pages.edits import Edit, Stroke, Tap
from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.refine import refine_alpha
from picr.segmentation.tap import DEFAULT_TAP, TapSettings, pieces_touching, tap

# --------------------------------------------------------------------------------------------------
# Brush
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrushSettings:
    """How a stroke is snapped to the photo, with the reason for each default.

    context_radii 1.5: the colour models are learnt from the stroke's neighbourhood, this many radii
        (and at least ``min_context_px``) beyond its band: near enough to be the same surfaces, far
        enough to hold both product and background around a stroke that follows an edge.
    work_long_edge 320: GrabCut runs on the neighbourhood reduced to this long edge. Its graph cut
        decides regions, not single pixels; the edge is refined at full resolution afterwards.
    iterations 3: GrabCut's label/colour-model alternation settles within a few rounds.
    snap_radii 2.0: a remove stroke's pixels within this many radii of product outside its band (half
        of it, in practice) are decided by colour; a keep stroke takes what the model finds within it.
    min_found_share 0.1: a keep stroke where the model finds less than this of the band's part the cutout
        lacks takes the band's product-coloured pixels, or the whole band when the colours find less than
        this too.
    snap_long_edge 640: that colour decision runs on the neighbourhood reduced to this long edge (a part
        thinner than the finger must stay a few pixels wide).
    drop_share 0.5: a piece a remove stroke took at least half of goes whole.
    core_share 0.5: within half a radius of the finger's line a remove stroke removes, whatever the colours
        say; a finger drawn through a product means it.
    """

    context_radii: float = 1.5
    min_context_px: int = 24
    work_long_edge: int = 320
    iterations: int = 3
    snap_radii: float = 2.0
    min_found_share: float = 0.1
    snap_long_edge: int = 640
    drop_share: float = 0.5
    core_share: float = 0.5


DEFAULT_BRUSH = BrushSettings()


def _band(shape: tuple[int, int], stroke: Stroke, offset: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """uint8 mask (1) of the pixels within the stroke's radius of its polyline, in a grid of ``shape``
    whose origin is ``offset`` (photo pixels) and which is ``scale`` times the photo's resolution."""
    band = np.zeros(shape, np.uint8)
    points = np.array([[(x - offset[0]) * scale, (y - offset[1]) * scale] for x, y in stroke.points], np.float64)
    shift = 4   # sub-pixel coordinates, as OpenCV's drawing functions take them
    fixed = np.round(points * (1 << shift)).astype(np.int32)
    thickness = max(1, round(2 * stroke.radius * scale))
    cv2.polylines(band, [fixed.reshape(-1, 1, 2)], False, 1, thickness, cv2.LINE_8, shift)
    for x, y in fixed:
        cv2.circle(band, (int(x), int(y)), max(1, round(stroke.radius * scale)) << shift, 1, -1, cv2.LINE_8, shift)
    return band


def _stroke_box(stroke: Stroke, reach: int, width: int, height: int) -> tuple[int, int, int, int]:
    xs = [x for x, _ in stroke.points]
    ys = [y for _, y in stroke.points]
    return (max(0, min(xs) - reach), max(0, min(ys) - reach),
            min(width, max(xs) + reach + 1), min(height, max(ys) + reach + 1))


def _grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """GrabCut from ``labels`` (cv2.GC_* values); the labels back unchanged when one side has no pixels."""
    foreground = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if foreground.all() or not foreground.any():
        return labels
    result = labels.copy()
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.grabCut(image, result, None, background_model, foreground_model, iterations, cv2.GC_INIT_WITH_MASK)
    return result


def _reduced(image: np.ndarray, long_edge: int) -> tuple[np.ndarray, float]:
    """``image`` reduced (never enlarged) to ``long_edge``, with the scale: GrabCut's graph cut costs grow
    with the pixel count, and the colour decisions it makes are regions, refined afterwards."""
    height, width = image.shape[:2]
    scale = min(1.0, long_edge / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _decided(small_image: np.ndarray, labels: np.ndarray, iterations: int, shape: tuple[int, int]) -> np.ndarray:
    """GrabCut's decision on a reduced image, 1 for the product, as float32 at full ``shape``."""
    decided = np.isin(_grabcut(small_image, labels, iterations), (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.resize(decided, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _distance_to_path(shape: tuple[int, int], stroke: Stroke, offset: tuple[int, int]) -> np.ndarray:
    """Distance (px) of every pixel of a grid at ``offset`` to the stroke's polyline."""
    line = _band(shape, Stroke(stroke.mode, stroke.points, 0), offset)
    return cv2.distanceTransform(1 - line, cv2.DIST_L2, 5)


def _keep(image: np.ndarray, alpha: np.ndarray, stroke: Stroke, engine: SegmentationEngine,
          settings: BrushSettings) -> None:
    """A keep stroke: the model takes a close look at the stroke's neighbourhood, and what it finds there
    that the stroke touches is added (up to a radius beyond the band, so a part whose edge the finger
    missed by a little is completed); where it finds nothing of what the cutout lacks, the band's
    product-coloured pixels are added, or the band itself when the colours cannot tell, edge-refined."""
    height, width = alpha.shape
    reach = stroke.radius + max(settings.min_context_px, round(settings.context_radii * stroke.radius))
    x0, y0, x1, y1 = _stroke_box(stroke, reach, width, height)
    roi_image = np.ascontiguousarray(image[y0:y1, x0:x1])
    distance = _distance_to_path(roi_image.shape[:2], stroke, (x0, y0))
    band = distance <= stroke.radius
    found = refine_alpha(roi_image, engine.predict(Image.fromarray(roi_image, "RGB")))
    pieces = pieces_touching((found >= 0.5) & (distance <= settings.snap_radii * stroke.radius), band)
    roi_alpha = alpha[y0:y1, x0:x1]
    # judged where the cutout lacks: a stroke that starts on the product and runs out along a lost part
    # finds the product, not the part
    missing = band & (roi_alpha < 0.5)
    if pieces[missing if missing.any() else band].mean() < settings.min_found_share:
        # The model sees nothing here. A part thinner than the finger (a stand, an antenna) is told apart from
        # the background around it by colour; a part the colour of its background is not, and takes the band.
        found = refine_alpha(roi_image, cv2.GaussianBlur(band.astype(np.float32), (0, 0), 2.0))
        snapped = found * _product_coloured(roi_image, roi_alpha, band, found, settings)
        if (snapped[band] >= 0.5).mean() >= settings.min_found_share:
            found = snapped
        pieces = band
    zone = cv2.dilate(pieces.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.maximum(roi_alpha, np.where(zone, found, 0.0), out=roi_alpha)


def _product_coloured(image: np.ndarray, alpha: np.ndarray, band: np.ndarray, drawn: np.ndarray,
                      settings: BrushSettings) -> np.ndarray:
    """1 where a band pixel's colour is the product's rather than the background's, by GrabCut taught the
    product by the cutout and the background by the rest of the neighbourhood (0 where it is the
    background's); 1 outside the band. Run at ``snap_long_edge``: finer than the remove stroke's, because
    what it decides is a part thinner than the finger."""
    small_image, _ = _reduced(image, settings.snap_long_edge)
    size = (small_image.shape[1], small_image.shape[0])
    small_alpha, small_band, small_drawn = (cv2.resize(values.astype(np.float32), size, interpolation=cv2.INTER_AREA)
                                            for values in (alpha, band, drawn))
    in_band = small_band >= 0.5
    labels = np.where(small_alpha >= 0.5, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    labels[in_band] = np.where(small_drawn[in_band] >= 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    return np.where(band, _decided(small_image, labels, settings.iterations, alpha.shape), np.float32(1.0))


def _remove(image: np.ndarray, alpha: np.ndarray, stroke: Stroke, settings: BrushSettings) -> None:
    """A remove stroke: the band becomes background, except next to product outside the band, where
    GrabCut decides by colour which pixels are the product's edge; a piece that loses most of itself to
    the stroke goes whole."""
    height, width = alpha.shape
    reach = stroke.radius + max(settings.min_context_px, round(settings.context_radii * stroke.radius))
    x0, y0, x1, y1 = _stroke_box(stroke, reach, width, height)
    roi_alpha = alpha[y0:y1, x0:x1]
    roi_image = np.ascontiguousarray(image[y0:y1, x0:x1])
    small_image, scale = _reduced(roi_image, settings.work_long_edge)
    size = (small_image.shape[1], small_image.shape[0])
    small_alpha = cv2.resize(roi_alpha, size, interpolation=cv2.INTER_AREA)
    band = _band((size[1], size[0]), stroke, (x0, y0), scale).astype(bool)
    solid = small_alpha >= 0.5
    kept_outside = (solid & ~band).astype(np.uint8)
    near = max(1, round(settings.snap_radii * 0.5 * stroke.radius * scale))
    # The finger's own line is background whatever its colour; only the band's rim, where a finger overshoots
    # the product's edge, is left to the colours to decide.
    core = _band((size[1], size[0]), Stroke(stroke.mode, stroke.points, max(1, round(settings.core_share
                                                                                     * stroke.radius))),
                 (x0, y0), scale).astype(bool)
    snap = band & ~core & (cv2.dilate(kept_outside, np.ones((2 * near + 1, 2 * near + 1), np.uint8)) > 0)
    labels = np.where(solid, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    labels[band] = cv2.GC_BGD
    labels[snap] = np.where(solid[snap], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    refined = refine_alpha(roi_image, _decided(small_image, labels, settings.iterations, roi_alpha.shape))
    full_band = _band(roi_alpha.shape, stroke, (x0, y0)).astype(np.float32)
    before = roi_alpha >= 0.5
    np.minimum(roi_alpha, 1.0 - (1.0 - refined) * full_band, out=roi_alpha)
    _drop_mostly_removed(alpha, before, (x0, y0, x1, y1), settings.drop_share)


def _drop_mostly_removed(alpha: np.ndarray, before_roi: np.ndarray, box: tuple[int, int, int, int],
                         share: float) -> None:
    """Pieces of the cutout that a remove stroke took at least ``share`` of are removed whole."""
    x0, y0, x1, y1 = box
    solid = alpha >= 0.5
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid.astype(np.uint8), connectivity=8)
    if count <= 1:
        return
    lost = before_roi & ~solid[y0:y1, x0:x1]
    lost_near = cv2.dilate(lost.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    touched = np.unique(labels[y0:y1, x0:x1][lost_near])
    for label in touched[touched > 0]:
        piece = labels[y0:y1, x0:x1] == label
        remaining = int(stats[label, cv2.CC_STAT_AREA])
        removed = int((lost & cv2.dilate(piece.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)).sum())
        if removed >= share * (removed + remaining):
            alpha[labels == label] = 0.0


def brush(image: np.ndarray, alpha: np.ndarray, strokes: Sequence[Stroke], engine: SegmentationEngine,
          settings: BrushSettings = DEFAULT_BRUSH) -> np.ndarray:
    """``alpha`` (uint8) with ``strokes`` applied in order; a keep stroke only adds, a remove stroke only takes."""
    work = alpha.astype(np.float32) / 255.0
    for stroke in strokes:
        if stroke.mode == "keep":
            _keep(image, work, stroke, engine, settings)
        else:
            _remove(image, work, stroke, settings)
    return cv2.convertScaleAbs(work, alpha=255.0)


# --------------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditSettings:
    tap: TapSettings = DEFAULT_TAP
    brush: BrushSettings = DEFAULT_BRUSH


DEFAULT_EDIT_SETTINGS = EditSettings()


def apply_edits(image: np.ndarray, start: np.ndarray, edits: Sequence[Edit], engine: SegmentationEngine,
                settings: EditSettings = DEFAULT_EDIT_SETTINGS, *, earlier: Sequence[Edit] = ()) -> np.ndarray:
    """The cutout's alpha (uint8) after ``edits``, in order, from ``start``: the pipeline's alpha, or the
    result of the ``earlier`` edits. The first tap picks the product; each later one adds another."""
    alpha = start
    tapped = any(isinstance(edit, Tap) for edit in earlier)
    photo: Image.Image | None = None
    pending: list[Stroke] = []
    for edit in edits:
        if isinstance(edit, Stroke):
            pending.append(edit)
            continue
        if pending:
            alpha, pending = brush(image, alpha, pending, engine, settings.brush), []
        photo = photo or Image.fromarray(image, "RGB")
        alpha, tapped = tap(photo, (edit.x, edit.y), alpha, engine, settings.tap, add=tapped), True
    return brush(image, alpha, pending, engine, settings.brush) if pending else alpha
