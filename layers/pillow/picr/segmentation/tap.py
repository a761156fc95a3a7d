"""The owner's tap: the cutout redone around the object under the finger.

The model looks again at crops centred on the finger until the object under it fits one, then takes the
pipeline's closer look at that object's box (crop plus margin, refined like the pipeline's cutout), and
keeps the piece under the finger with the pieces close enough to belong to it. The candidates' agreement
chooses among them; the cutout's own piece under the finger is one more candidate when it is the same object.
Of everything else the cutout held, only a companion of the tapped object's size stays (a second product).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from picr.segmentation.cutout import DEFAULT_SETTINGS as DEFAULT_CUTOUT
from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.refine import refine_alpha
from picr.segmentation.stats import mask_iou


@dataclass(frozen=True)
class TapSettings:
    """How a tap finds the object under the finger, with the reason for each default.

    scales: sides of the square crops centred on the tap, as shares of the photo's long edge. The model
        sees every crop at 320×320, so a crop about the object's size shows it largest and most alone;
        the object's size is not known, so a few sizes are tried, from a quarter of the photo to all of it.
    margin_share and margin_model_px: the closer look at the object found in a crop adds the pipeline's
        closer-look margin (``CutoutSettings``): some context, and slack for parts the coarser look missed.
    reach_share 0.02: a tap that lands just off the object (between a guitar's strings, beside a thin
        leg) takes the nearest piece within 2 % of the crop's size.
    belong_px 6: pieces within this many pixels of the tapped piece (at the crop's resolution: a drum
        stand the threshold cut off its drum) belong to it.
    agreement_long_edge 256: candidates are compared on a grid of this long edge; agreement between
        whole shapes does not need finer cells.
    same_object_iou 0.5: the cutout's own piece under the finger joins the candidates when it and the looks'
        choice overlap more than they differ (the same object, one of them more whole). A piece that does
        not (a cluttered cutout's merged blob) would win the agreement by covering every look a little.
    companion_sizes (0.5, 2.0) and companion_note 0.1: the one other object the cutout holds, within a factor
        of two of the tapped object's size and clear of the frame, is a second product shot with it (two
        mugs, a pair of shoes) and stays. Anything else the cutout held goes: a larger object is the
        eye-catching thing the model preferred to the product, several objects or ones the frame cuts are the
        room. Pieces under a tenth of the tapped object's size do not count as objects.
    """

    scales: tuple[float, ...] = (0.25, 0.4, 0.6, 0.85, 1.0)
    margin_share: float = DEFAULT_CUTOUT.crop_margin_share
    margin_model_px: float = DEFAULT_CUTOUT.crop_margin_model_px
    reach_share: float = 0.02
    belong_px: int = 6
    agreement_long_edge: int = 256
    closer_looks: bool = True
    same_object_iou: float = 0.5
    companion_sizes: tuple[float, float] = (0.5, 2.0)
    companion_note: float = 0.1


DEFAULT_TAP = TapSettings()


def pieces_touching(candidate: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected pieces of ``candidate`` (bool) that overlap ``seeds`` (bool)."""
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=8)
    hit = np.zeros(count, bool)
    hit[np.unique(labels[seeds & candidate])] = True
    hit[0] = False
    return hit[labels]


def _square_around(x: int, y: int, side: float, width: int, height: int) -> tuple[int, int, int, int]:
    """A square of ``side`` centred on (x, y), shifted (not cut) to stay inside the photo where it fits."""
    side_x, side_y = min(side, width), min(side, height)
    x0 = round(min(max(0.0, x - side_x / 2), width - side_x))
    y0 = round(min(max(0.0, y - side_y / 2), height - side_y))
    return x0, y0, min(width, x0 + round(side_x)), min(height, y0 + round(side_y))


def _piece_at(solid: np.ndarray, x: int, y: int, reach: int, belong_px: int) -> np.ndarray | None:
    """The piece of ``solid`` under (x, y), or the nearest within ``reach``; with the pieces that come
    within ``belong_px`` of it. None when there is nothing there."""
    count, labels = cv2.connectedComponents(solid.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    label = int(labels[y, x])
    if label == 0:
        y0, x0 = max(0, y - reach), max(0, x - reach)
        window = labels[y0:y + reach + 1, x0:x + reach + 1]
        ys, xs = np.nonzero(window)
        if ys.size == 0:
            return None
        nearest = int(np.argmin((ys + y0 - y) ** 2 + (xs + x0 - x) ** 2))
        label = int(window[ys[nearest], xs[nearest]])
    piece = labels == label
    if belong_px > 0:
        near = cv2.dilate(piece.astype(np.uint8), np.ones((2 * belong_px + 1,) * 2, np.uint8)).astype(bool)
        piece = pieces_touching(solid, near)
    return piece


@dataclass
class _Look:
    """One candidate: the object's alpha inside ``box`` (photo pixels) and its outline on the agreement grid."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray
    solid: np.ndarray = field(repr=False, default=None)


def _look(photo: Image.Image, rgb: np.ndarray, box: tuple[int, int, int, int], x: int, y: int,
          engine: SegmentationEngine, settings: TapSettings) -> _Look | None:
    """The model's look at ``box``, refined against the photo, cut to the piece under the finger."""
    x0, y0, x1, y1 = box
    return _piece_look(refine_alpha(rgb[y0:y1, x0:x1], engine.predict(photo.crop(box))), box, x, y, settings)


def _piece_look(alpha: np.ndarray, box: tuple[int, int, int, int], x: int, y: int,
                settings: TapSettings) -> _Look | None:
    """``alpha`` (0..1, covering ``box``) cut to the piece under the finger, with its soft edge."""
    x0, y0, x1, y1 = box
    reach = max(4, round(settings.reach_share * max(x1 - x0, y1 - y0)))
    piece = _piece_at(alpha >= 0.5, x - x0, y - y0, reach, settings.belong_px)
    if piece is None:
        return None
    near = cv2.dilate(piece.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return _Look(box, np.where(near, alpha, 0.0).astype(np.float32))


def closer_look_box(solid: np.ndarray, offset: tuple[int, int], width: int, height: int, settings: TapSettings,
                    model_input: int) -> tuple[int, int, int, int]:
    """The closer-look crop around an object (``solid`` bool, its top-left corner at ``offset`` in a photo of
    ``width`` × ``height``): its box plus the pipeline's closer-look margin, inside the photo."""
    ys, xs = np.nonzero(solid)
    x0, y0 = int(xs.min()) + offset[0], int(ys.min()) + offset[1]
    x1, y1 = int(xs.max()) + 1 + offset[0], int(ys.max()) + 1 + offset[1]
    margin = round(settings.margin_share * max(x1 - x0, y1 - y0) + settings.margin_model_px * max(width, height)
                   / model_input)
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)


def _on_grid(look: _Look, width: int, height: int, grid: tuple[int, int]) -> np.ndarray:
    full = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = look.box
    full[y0:y1, x0:x1] = look.alpha >= 0.5
    return cv2.resize(full, grid, interpolation=cv2.INTER_AREA) > 0


def _shapes(looks: list[_Look], width: int, height: int, settings: TapSettings) -> list[np.ndarray]:
    """The looks' objects on the agreement grid."""
    scale = settings.agreement_long_edge / max(width, height)
    grid = (max(1, round(width * scale)), max(1, round(height * scale)))
    return [_on_grid(look, width, height, grid) for look in looks]


def _consensus(shapes: list[np.ndarray]) -> int:
    """Index of the look that agrees best with all the others (the largest summed IoU of their ``shapes``):
    the object the model finds at the tap whatever the framing, rather than what one crop made of it."""
    return max(range(len(shapes)), key=lambda i: sum(
        (mask_iou(shapes[i], other, empty=0.0) for j, other in enumerate(shapes) if j != i), 0.0))


def tap(photo: Image.Image, point: tuple[int, int], current: np.ndarray, engine: SegmentationEngine,
        settings: TapSettings = DEFAULT_TAP, *, add: bool = False) -> np.ndarray:
    """The cutout redone around the object under ``point`` (uint8 alpha).

    Crops of several sizes centred on the tap each give the piece the model finds under the finger, and a
    closer look at that piece's box gives another; the one that agrees best with the rest is kept. The
    cutout's own piece under the finger competes too when it is the same object as that choice: crops
    centred on the finger can each see only part of a product that fills the frame. A tap
    says "this is the product": the new object replaces the cutout, whatever else the model had kept (a
    held cutout in a cluttered room keeps the bottle beside the doll), except one companion of the tapped
    object's size (``TapSettings.companion_sizes``): two products shot together stay together. With ``add``
    (a second product shot with the first: the owner's later taps) every other object of ``current`` stays.
    """
    rgb = np.asarray(photo)
    width, height = photo.size
    x, y = point
    model_input = engine.input_size or 320
    looks: list[_Look] = []
    for share in settings.scales:
        look = _look(photo, rgb, _square_around(x, y, share * max(width, height), width, height), x, y, engine,
                     settings)
        if look is None:
            continue
        looks.append(look)
        if settings.closer_looks:
            box = closer_look_box(look.alpha >= 0.5, look.box[:2], width, height, settings, model_input)
            closer = _look(photo, rgb, box, x, y, engine, settings)
            if closer is not None:
                looks.append(closer)
    if not looks:
        return current.copy()
    shapes = _shapes(looks, width, height, settings)   # on the agreement grid, once per look
    best = _consensus(shapes)
    chosen = looks[best]
    own = _current_look(current, x, y, settings)
    if own is not None:
        (own_shape,) = _shapes([own], width, height, settings)
        if mask_iou(own_shape, shapes[best], empty=0.0) >= settings.same_object_iou:
            chosen = [*looks, own][_consensus([*shapes, own_shape])]
    alpha = np.zeros((height, width), np.float32)
    x0, y0, x1, y1 = chosen.box
    alpha[y0:y1, x0:x1] = chosen.alpha
    new = cv2.convertScaleAbs(alpha, alpha=255.0)
    others = _other_objects(current, new, x, y)
    np.maximum(new, others if add else _companion(others, new, settings), out=new)
    return new


def _current_look(current: np.ndarray, x: int, y: int, settings: TapSettings) -> _Look | None:
    """The cutout's own piece under the finger as one more candidate (no model pass): where the pipeline
    already had the tapped object whole, crops centred on the finger may each see only part of it."""
    height, width = current.shape
    return _piece_look((current / 255.0).astype(np.float32), (0, 0, width, height), x, y, settings)


def _other_objects(current: np.ndarray, new: np.ndarray, x: int, y: int) -> np.ndarray:
    """The current cutout's objects that neither hold the tap nor touch the new object (with their soft edges)."""
    count, labels = cv2.connectedComponents((current >= 128).astype(np.uint8), connectivity=8)
    near_new = cv2.dilate((new >= 128).astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    dropped = np.zeros(count, bool)
    dropped[np.unique(labels[near_new])] = True
    dropped[labels[y, x]] = True
    dropped[0] = True
    kept = cv2.dilate((~dropped[labels]).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return np.where(kept, current, 0).astype(np.uint8)


def _companion(others: np.ndarray, new: np.ndarray, settings: TapSettings) -> np.ndarray:
    """The one object of ``others`` (uint8 alpha) that is a second product beside the tapped ``new`` one (see
    ``TapSettings.companion_sizes``), with its soft edge; nothing when there is none."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((others >= 128).astype(np.uint8), connectivity=8)
    tapped = max(1, int(np.count_nonzero(new >= 128)))
    noted = [label for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= settings.companion_note * tapped]
    if len(noted) != 1:
        return np.zeros_like(others)
    (label,) = noted
    x0, y0, width, height, area = stats[label]
    low, high = settings.companion_sizes
    inside = x0 > 0 and y0 > 0 and x0 + width < others.shape[1] and y0 + height < others.shape[0]
    if not (inside and low <= area / tapped <= high):
        return np.zeros_like(others)
    near = cv2.dilate((labels == label).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return np.where(near, others, 0).astype(np.uint8)
