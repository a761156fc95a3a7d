"""Photo-quality warnings at ingest: very dark, very bright, very blurry.

They never refuse a photo. The codes and plain sentences travel with the job to the cutout gate, which
can hold a doubtful cutout for review with the reason already worded for the shop owner.

All measures are taken on an analysis copy: greyscale (Rec. 601 luma, Pillow's "L"), box-downscaled to
``analysis_long_edge`` so the numbers do not depend on the upload's resolution. A box filter is used
because it only averages: a sharpening filter (Lanczos) would add Laplacian energy of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from picr.image.photo import capped_size

_MID_GREY = (128, 128, 128, 255)


@dataclass(frozen=True)
class QualityThresholds:
    """When a warning is raised, and why each number is what it is.

    ``dark_mean_luma`` 40: phones expose so that the frame averages near mid-grey (sRGB ~118, 18 %
    reflectance). A mean below 40 (linear 0.021) is more than 3 stops under that: the camera ran out
    of light. Dev photos average 66-243.

    ``blown_luma`` 250 and ``bright_blown_share`` 1/3: "very bright" is measured as the share of the
    frame blown out to white (luma >= 250, where paper texture and product highlights are gone), not
    as mean luminance, because a correctly exposed product on white paper already averages ~243 (dev
    case 04) while keeping its detail (0 % blown). When a third of the frame has no detail left, the
    product's pale parts are very likely gone too. Dev photos: at most 6.4 % blown (case 04). Known limit: an
    upload already on a pure-white (255) backdrop is flagged as well; it is a warning, not a refusal.

    ``blur_laplacian_variance`` 50, ``sharpness_grid`` 8: sharpness is the variance of the 3x3
    Laplacian in the sharpest of 8 x 8 tiles, not over the whole frame, because a sharp small product
    on a plain background (dev case 04: 1.9 % of the frame, about one tile) has a low whole-frame
    variance (34) but a sharp tile (300). Measured at 1000 px: in-focus dev photos score 300-5400;
    the same photos blurred by a 4 px Gaussian at their 1600-2400 px size (edges smeared over about
    10 px, visibly soft even at the 1080 px social size) score 4-22. 50 sits between, a factor 6
    below the least sharp in-focus photo. Known limit: heavy sensor noise reads as detail, so a
    blurred *and* very noisy photo may pass.
    """

    dark_mean_luma: float = 40.0
    blown_luma: int = 250
    bright_blown_share: float = 1 / 3
    blur_laplacian_variance: float = 50.0
    analysis_long_edge: int = 1000
    sharpness_grid: int = 8


@dataclass(frozen=True)
class QualityWarning:
    code: str  # "very_dark" | "very_bright" | "very_blurry"
    message: str  # for the shop owner
    value: float  # the measure that crossed its threshold


@dataclass(frozen=True)
class QualityMeasures:
    """The raw numbers, for the job record and for checking thresholds against real photos."""

    mean_luma: float | None  # None when nothing in the image is opaque
    blown_share: float | None
    sharpness: float


def measure_photo_quality(
    image: Image.Image, thresholds: QualityThresholds = QualityThresholds()
) -> QualityMeasures:
    """Mean luma, blown-out share and sharpest-tile Laplacian variance of an RGB or RGBA image.

    For an upload that is already a cut-out (RGBA), exposure is measured on the opaque pixels only, and
    sharpness on the image laid over flat mid-grey, so the transparent surround neither darkens the
    mean nor counts as a blurry region.
    """
    analysis_size = capped_size(image.size, thresholds.analysis_long_edge)
    if image.mode == "RGBA":
        backdrop = Image.new("RGBA", image.size, _MID_GREY)
        flat = Image.alpha_composite(backdrop, image).convert("L")
        opaque = np.asarray(image.getchannel("A").resize(analysis_size, Image.Resampling.BOX)) >= 128
    else:
        flat = image.convert("L")
        opaque = None
    luma = np.asarray(flat.resize(analysis_size, Image.Resampling.BOX), dtype=np.float32)
    exposed = luma if opaque is None else luma[opaque]
    mean_luma = float(exposed.mean()) if exposed.size else None
    blown_share = float((exposed >= thresholds.blown_luma).mean()) if exposed.size else None
    return QualityMeasures(
        mean_luma, blown_share, sharpest_tile_laplacian_variance(luma, thresholds.sharpness_grid)
    )


def laplacian(luma: np.ndarray) -> np.ndarray:
    """The 3x3 Laplacian (0 1 0 / 1 -4 1 / 0 1 0) over the interior of a 2-D array (no padding)."""
    return luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]


def sharpest_tile_laplacian_variance(luma: np.ndarray, grid: int) -> float:
    """Variance of the Laplacian in each of grid x grid tiles; the largest one."""
    response = laplacian(np.asarray(luma, dtype=np.float32))
    if response.size == 0:
        return 0.0
    return max(
        float(tile.var())
        for band in np.array_split(response, min(grid, response.shape[0]), axis=0)
        for tile in np.array_split(band, min(grid, response.shape[1]), axis=1)
    )


def assess_photo_quality(
    image: Image.Image, thresholds: QualityThresholds = QualityThresholds()
) -> list[QualityWarning]:
    """Warnings for a normalised photo, in a fixed order (dark, bright, blurry); empty when it looks fine."""
    measures = measure_photo_quality(image, thresholds)
    warnings: list[QualityWarning] = []
    if measures.mean_luma is not None and measures.mean_luma < thresholds.dark_mean_luma:
        warnings.append(
            QualityWarning(
                "very_dark",
                "The photo is very dark, so the product's edges may be lost in shadow. "
                "A shot in daylight or under a lamp will cut out more cleanly.",
                measures.mean_luma,
            )
        )
    if measures.blown_share is not None and measures.blown_share > thresholds.bright_blown_share:
        warnings.append(
            QualityWarning(
                "very_bright",
                "Much of the photo is washed out to pure white, so pale parts of the product may vanish. "
                "A shot with softer light or less exposure will cut out more cleanly.",
                measures.blown_share,
            )
        )
    if measures.sharpness < thresholds.blur_laplacian_variance:
        warnings.append(
            QualityWarning(
                "very_blurry",
                "The photo looks blurry: nothing in it is sharp. Hold the phone steady and tap the product "
                "on the screen to focus before taking the picture.",
                measures.sharpness,
            )
        )
    return warnings
