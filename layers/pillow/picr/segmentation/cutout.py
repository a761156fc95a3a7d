"""The cutout stage: photo in, RGBA cutout plus the gate's verdict out.

Steps: an owner-supplied cut-out keeps its own alpha; otherwise the engine looks at the whole photo,
and when the product is small in the frame it takes a second, closer look at a crop around it. A
model that saw the photo shrunk (the local U²-Net at 320 px) has its alpha refined against the photo
(see ``picr.segmentation.refine``); a hosted engine's full-resolution alpha is only cleaned of detached haze. The
gate measures the result and the edge colours are decontaminated: same gate and same kind of output
whichever engine ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from picr.segmentation.decontaminate import decontaminated_rgba
from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.gate import DEFAULT_THRESHOLDS, GateResult, GateThresholds, assess_cutout
from picr.segmentation.gate_looks import (
    EXTRA_LOOKS,
    hide_kept_object,
    kept_on_grid,
    look_signals,
    on_model_grid,
    take_looks,
)
from picr.segmentation.gate_profile import GateProfile, profile_for
from picr.segmentation.gate_signals import outline_signals
from picr.segmentation.refine import (
    DEFAULT_REFINE,
    RefineSettings,
    drop_faint_pieces,
    refine_mask,
    to_bytes,
)
from picr.segmentation.stats import mask_iou

SUPPLIED_ENGINE = "supplied"

SECOND_CORE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="picr-cutout")
"""One worker thread, made once per container, for the gate's preparation that needs no model (the photo at
the model's size; the kept object hidden, single-threaded OpenCV) while the calling thread refines the mask
and decontaminates its edges: on two cores (``CutoutMemory`` 3008 MB) they overlap, on one they take turns at
no extra CPU. The model's passes stay on the calling thread, in the same order."""


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
    solid = cv2.inRange(alpha, threshold, np.inf)
    x, y, width, height = cv2.boundingRect(solid)
    return None if width == 0 else (x, y, x + width, y + height)


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
    return mask_iou(coarse, fine)


def _image(rgba: np.ndarray) -> Image.Image:
    """A PIL image on the RGBA array's own memory (Pillow keeps RGBA as 4 bytes a pixel too): no copy."""
    height, width = rgba.shape[:2]
    return Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)


def finished_cutout(rgb: np.ndarray, alpha_u8: np.ndarray) -> Image.Image:
    """The RGBA cutout of ``rgb`` under ``alpha_u8``, its edge colours freed of the background's."""
    return _image(decontaminated_rgba(rgb, alpha_u8))


def make_cutout(image: Image.Image, engine: SegmentationEngine, quality_warnings: Sequence[str] = (),
                thresholds: GateThresholds = DEFAULT_THRESHOLDS,
                settings: CutoutSettings = DEFAULT_SETTINGS, profile: GateProfile | None = None) -> CutoutResult:
    """Cut the product out of ``image`` and gate the result.

    The engine is only called when the image is not already a cut-out; an owner-supplied cut-out keeps
    its alpha and colours (pixels it made fully transparent are blanked, like ours) and is gated the
    same way. A local model's cutout is judged by its fitted profile (``profile``, else the committed
    one of ``engine``: ``ProfileError`` when it has none), which takes two more model looks. Raises
    ``EngineError`` when the engine cannot produce a mask.

    Memory: the alpha is 8-bit from the refinement on, each full-size array is dropped as soon as the
    next step has what it needs, and the RGBA result is assembled in the buffer the image is made on.
    Speed: the gate's preparation that needs no model (:data:`SECOND_CORE`) overlaps the refinement and
    the decontamination; the result is the same as one thread's (tests/unit/test_cutout.py).
    """
    own_alpha = supplied_alpha(image, settings.supplied_min_transparent)
    if own_alpha is not None:
        own_rgb = np.asarray(image.convert("RGB"))
        rgba = cv2.merge([cv2.bitwise_and(own_rgb, own_rgb, mask=own_alpha), own_alpha])
        gate = assess_cutout(own_alpha, quality_warnings, thresholds)
        return CutoutResult(rgba=_image(rgba), gate=gate, engine=SUPPLIED_ENGINE, passes=0)

    profile = profile or profile_for(engine)
    photo = image if image.mode == "RGB" else image.convert("RGB")
    rgb = np.asarray(photo)
    coarse = engine.predict(photo)
    model_input = engine.input_size
    box = closer_look_box(coarse, model_input, settings) if model_input else None
    closer = coarse if box is None else engine.predict(photo.crop(box))
    # the gate's preparation that needs no model runs on the second core while this one refines
    gridding = (SECOND_CORE.submit(on_model_grid, photo, model_input, coarse, closer)
                if profile is not None and model_input is not None else None)
    agreement, candidates = None, None
    if model_input is None:
        # the engine saw the photo at full resolution: its edges need no repair, only the cleanup
        alpha_u8 = to_bytes(drop_faint_pieces(np.clip(coarse, 0.0, 1.0).astype(np.float32)))
    elif box is None:
        refined = refine_mask(rgb, coarse, settings.refine)
        alpha_u8, candidates = refined.alpha, (refined.xs, refined.ys)
    else:
        x0, y0, x1, y1 = box
        cells = (max(2, round((x1 - x0) * model_input / photo.width)),
                 max(2, round((y1 - y0) * model_input / photo.height)))
        agreement = view_agreement(coarse[y0:y1, x0:x1], closer, cells)
        # the crop holds everything the first look saw at 0.5 or more; outside it is faint haze only
        refined = refine_mask(rgb[y0:y1, x0:x1], closer, settings.refine)
        alpha_u8 = np.zeros(rgb.shape[:2], np.uint8)
        alpha_u8[y0:y1, x0:x1] = refined.alpha
        candidates = (refined.xs + x0, refined.ys + y0)
    refined = coarse = closer = None   # the full-size float maps: the gate needs only their model-grid averages
    passes, looked = 1 if box is None else 2, None
    hiding = None
    if gridding is not None:
        # made here: the float copy of the alpha it averages would stay in the worker's own malloc arena (peak +10 MB)
        kept = kept_on_grid(alpha_u8, model_input)
        hiding = SECOND_CORE.submit(lambda: hide_kept_object(gridding.result(), kept))
    rgba = decontaminated_rgba(rgb, alpha_u8, candidates)
    if hiding is not None:
        around = outline_signals(rgb, alpha_u8)
        looked = {**look_signals(take_looks(engine, hiding.result())), **around}
        passes += EXTRA_LOOKS
    gate = assess_cutout(alpha_u8, quality_warnings, thresholds, image=rgb, view_agreement=agreement,
                         profile=profile, extra_signals=looked)
    return CutoutResult(rgba=_image(rgba), gate=gate, engine=engine.name, passes=passes)
