"""The cutout stage: photo in, RGBA cutout plus the gate's verdict out.

Steps: an owner-supplied cut-out keeps its own alpha; otherwise the engine looks at the whole photo,
and when the product is small in the frame it takes a second, closer look at a crop around it. The
alpha is refined against the photo, disconnected faint haze is dropped, the gate measures the result,
and the edge colours are decontaminated. Same gate and same output whichever engine ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from picr.engine import SegmentationEngine
from picr.gate import DEFAULT_THRESHOLDS, GateResult, GateThresholds, assess_cutout
from picr.refine import DEFAULT_REFINE, RefineSettings, decontaminate, refine_alpha

SUPPLIED_ENGINE = "supplied"


@dataclass(frozen=True)
class CutoutSettings:
    """How the cutout looks at the photo, with the reason for each default.

    closer_look_gain 1.5: a second model pass doubles the model time, so it is only taken when the
        crop around the product gives the model at least 1.5× more pixels across it in both
        directions (2.25× more pixels in all), which is where thin parts and holes start to resolve.
    crop_margin_share 0.06 and crop_margin_model_px 4: the crop adds 6 % of the product's size as
        context (a salient-object model judges the product against its surroundings) plus four
        pixels of the first pass's resolution, because that pass only knows the outline to a pixel
        or two and may have missed thin parts sticking out.
    supplied_min_transparent 0.01: an uploaded image counts as already cut out when at least 1 % of
        it is fully transparent; a PNG saved with an alpha channel that is opaque everywhere (or
        only has a few transparent pixels from an editor's anti-aliasing) is still a photo.
    """

    closer_look_gain: float = 1.5
    crop_margin_share: float = 0.06
    crop_margin_model_px: float = 4.0
    supplied_min_transparent: float = 0.01
    refine: RefineSettings = DEFAULT_REFINE


DEFAULT_SETTINGS = CutoutSettings()


@dataclass
class CutoutResult:
    """The RGBA cutout (full size of the input, 8-bit alpha), the gate's verdict and the engine name."""

    rgba: Image.Image
    gate: GateResult
    engine: str
    passes: int = 1


def supplied_alpha(image: Image.Image, min_transparent: float) -> np.ndarray | None:
    """The image's own alpha (uint8) when it is an uploaded cut-out with real transparency, else None."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return None
    alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    return alpha if float((alpha == 0).mean()) >= min_transparent else None


def object_box(alpha: np.ndarray, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around every pixel at or above ``threshold``, or None when there is none."""
    rows = np.flatnonzero((alpha >= threshold).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((alpha[rows[0]:rows[-1] + 1] >= threshold).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def closer_look_box(alpha: np.ndarray, model_input: int,
                    settings: CutoutSettings) -> tuple[int, int, int, int] | None:
    """Crop for a second pass when it would give the model enough extra resolution, else None."""
    box = object_box(alpha)
    if box is None:
        return None
    height, width = alpha.shape
    x0, y0, x1, y1 = box
    margin = round(settings.crop_margin_share * max(x1 - x0, y1 - y0)
                   + settings.crop_margin_model_px * max(width, height) / model_input)
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    gain = min(width / (x1 - x0), height / (y1 - y0))
    return (x0, y0, x1, y1) if gain >= settings.closer_look_gain else None


def view_agreement(first: np.ndarray, second: np.ndarray, cells: tuple[int, int]) -> float:
    """IoU of two looks at the same region (alpha ≥ 0.5), compared on the coarser look's grid.

    ``first`` is the whole-photo look cut to the crop, ``second`` the closer look; both are averaged
    down to ``cells`` (the number of model pixels the first look spent on the crop), so the closer
    look's extra detail is not counted as disagreement, only a changed shape is.
    """
    coarse = cv2.resize(first, cells, interpolation=cv2.INTER_AREA) >= 0.5
    fine = cv2.resize(second, cells, interpolation=cv2.INTER_AREA) >= 0.5
    union = int((coarse | fine).sum())
    return float((coarse & fine).sum() / union) if union else 1.0


def drop_faint_pieces(alpha: np.ndarray) -> np.ndarray:
    """Alpha with every disconnected piece that never reaches half opacity set to 0.

    Such haze is not product by any reading of the mask, but it would stretch the bounding box the
    variant step trims to. Faint pixels attached to an opaque piece (fine hair, a thin wire) stay.
    """
    count, labels = cv2.connectedComponents((alpha > 0.5 / 255).astype(np.uint8), connectivity=8)
    has_opaque = np.bincount(labels[alpha >= 0.5], minlength=count) > 0
    has_opaque[0] = True   # the background label: already zero
    if has_opaque.all():
        return alpha
    return np.where(has_opaque[labels], alpha, 0.0).astype(np.float32)


def _rgba(rgb: np.ndarray, alpha_u8: np.ndarray) -> Image.Image:
    channels = [Image.fromarray(np.ascontiguousarray(rgb[..., c])) for c in range(3)]
    return Image.merge("RGBA", [*channels, Image.fromarray(alpha_u8)])


def make_cutout(image: Image.Image, engine: SegmentationEngine, quality_warnings: Sequence[str] = (),
                thresholds: GateThresholds = DEFAULT_THRESHOLDS,
                settings: CutoutSettings = DEFAULT_SETTINGS) -> CutoutResult:
    """Cut the product out of ``image`` and gate the result. The engine is only called when the image
    is not already a cut-out."""
    own_alpha = supplied_alpha(image, settings.supplied_min_transparent)
    if own_alpha is not None:
        rgba = image.convert("RGBA")
        gate = assess_cutout(own_alpha, quality_warnings, thresholds)
        return CutoutResult(rgba=rgba, gate=gate, engine=SUPPLIED_ENGINE, passes=0)

    photo = image.convert("RGB")
    rgb = np.asarray(photo)
    coarse = engine.predict(photo)
    model_input = engine.input_size
    box = closer_look_box(coarse, model_input, settings) if model_input else None
    agreement = None
    if box is None:
        alpha = refine_alpha(rgb, coarse, settings.refine)
    else:
        x0, y0, x1, y1 = box
        closer = engine.predict(photo.crop(box))
        cells = (max(2, round((x1 - x0) * model_input / photo.width)),
                 max(2, round((y1 - y0) * model_input / photo.height)))
        agreement = view_agreement(coarse[y0:y1, x0:x1], closer, cells)
        alpha = coarse.copy()   # outside the crop only sub-0.5 haze remains; drop_faint_pieces clears it
        alpha[y0:y1, x0:x1] = refine_alpha(rgb[y0:y1, x0:x1], closer, settings.refine)
    alpha = drop_faint_pieces(alpha)
    alpha_u8 = np.round(alpha * 255.0).astype(np.uint8)
    gate = assess_cutout(alpha_u8, quality_warnings, thresholds, image=rgb, view_agreement=agreement)
    colour = decontaminate(rgb, alpha_u8.astype(np.float32) / 255.0)
    return CutoutResult(rgba=_rgba(colour, alpha_u8), gate=gate, engine=engine.name,
                        passes=1 if box is None else 2)
