"""Photo-quality warnings: none on the dev photos, each on synthetic dark, bright and blurred versions."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from picr.image.photo import normalise_upload
from picr.image.quality import (
    QualityThresholds,
    QualityWarning,
    assess_photo_quality,
    laplacian,
    measure_photo_quality,
    sharpest_tile_laplacian_variance,
)
from tests.support.awkward import PHOTOS, base_photo, cutout_alpha

CASES = sorted(path.parent.name for path in (PHOTOS / "cases").glob("*/photo.jpg"))


@functools.cache
def normalised_case(case: str) -> Image.Image:
    """The case photo as ingest hands it on (capped at 2000 px), which is what gets assessed."""
    return normalise_upload((PHOTOS / "cases" / case / "photo.jpg").read_bytes()).image


def exposed(image: Image.Image, stops: float) -> Image.Image:
    """The same scene shot ``stops`` brighter (+) or darker (-): linear light scaled, sRGB re-encoded."""
    encoded = np.asarray(image, dtype=np.float64) / 255.0
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    linear = np.clip(linear * 2.0**stops, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return Image.fromarray(np.rint(srgb * 255).astype(np.uint8))


def codes(warnings: list[QualityWarning]) -> list[str]:
    return [w.code for w in warnings]


def test_dev_photos_are_all_present():
    assert len(CASES) == 10


@pytest.mark.parametrize("case", CASES)
def test_normal_photo_gets_no_warning(case):
    assert assess_photo_quality(normalised_case(case)) == []


@pytest.mark.parametrize("case", CASES)
def test_photo_six_stops_under_is_very_dark(case):
    """Darkening also shrinks every edge's contrast (by up to 60x here), so "very_blurry" may join it."""
    warnings = assess_photo_quality(exposed(normalised_case(case), -6))
    assert codes(warnings)[0] == "very_dark"
    assert set(codes(warnings)) <= {"very_dark", "very_blurry"}
    assert warnings[0].value < QualityThresholds().dark_mean_luma


@pytest.mark.parametrize("case", CASES)
def test_photo_four_stops_over_is_very_bright(case):
    warnings = assess_photo_quality(exposed(normalised_case(case), +4))
    assert "very_bright" in codes(warnings)
    assert "very_dark" not in codes(warnings)


@pytest.mark.parametrize("case", CASES)
def test_photo_blurred_by_4_px_is_very_blurry(case):
    (warning,) = assess_photo_quality(normalised_case(case).filter(ImageFilter.GaussianBlur(4)))
    assert warning.code == "very_blurry"
    assert warning.value < QualityThresholds().blur_laplacian_variance


def test_mildly_dark_photo_is_not_flagged():
    """Two stops under is a dim photo, not a failed one; the grey deck (case 09) is dark to begin with."""
    for case in CASES:
        if case.startswith("09"):
            continue
        assert "very_dark" not in codes(assess_photo_quality(exposed(normalised_case(case), -2))), case


def test_messages_are_sentences_for_the_owner():
    dark_blurred = exposed(base_photo(), -6).filter(ImageFilter.GaussianBlur(6))
    white = Image.new("RGB", (800, 600), (255, 255, 255))
    warnings = assess_photo_quality(dark_blurred) + assess_photo_quality(white)
    assert sorted(codes(warnings)) == ["very_blurry", "very_blurry", "very_bright", "very_dark"]
    for warning in warnings:
        assert warning.message.endswith(".") and "_" not in warning.message
        assert math.isfinite(warning.value)


def test_small_sharp_product_on_plain_background_is_not_blurry():
    """Sharpness comes from the sharpest tile: a whole-frame variance would call this blurry."""
    paper = np.full((1200, 1600), 235, dtype=np.uint8)
    paper += np.random.default_rng(4).integers(0, 3, paper.shape, dtype=np.uint8)  # faint paper grain
    image = Image.fromarray(paper).convert("RGB")
    ImageDraw.Draw(image).rectangle((700, 500, 820, 620), fill=(40, 60, 150))  # 0.75 % of the frame
    whole_frame = float(laplacian(np.asarray(image.convert("L"), dtype=np.float32)).var())
    assert whole_frame < QualityThresholds().blur_laplacian_variance
    assert assess_photo_quality(image) == []


def test_laplacian_is_the_3x3_kernel():
    luma = np.zeros((5, 5), dtype=np.float32)
    luma[2, 2] = 1.0
    expected = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)
    assert np.array_equal(laplacian(luma), expected)
    assert sharpest_tile_laplacian_variance(np.full((50, 50), 90.0), 8) == 0.0
    assert sharpest_tile_laplacian_variance(np.zeros((2, 2)), 8) == 0.0


def test_cutout_is_measured_on_its_opaque_pixels():
    """A transparent surround must not make an uploaded cut-out "very dark" (transparent RGB is black)."""
    product = base_photo()
    product.putalpha(cutout_alpha())
    black_behind = Image.new("RGBA", product.size, (0, 0, 0, 0))
    black_behind.paste(product, mask=cutout_alpha())
    measures = measure_photo_quality(black_behind)
    assert assess_photo_quality(black_behind) == []
    assert measures.mean_luma is not None and measures.mean_luma > 60
    empty = Image.new("RGBA", (800, 600), (0, 0, 0, 0))
    assert measure_photo_quality(empty).mean_luma is None
    assert codes(assess_photo_quality(empty)) == ["very_blurry"]


def test_measures_do_not_depend_on_resolution():
    """Measured on a copy capped at 1000 px: the same photo at 2000 and 1000 px gives the same verdict."""
    large = normalised_case("03_guitar_cluttered_living_room")
    assert large.size == (2000, 1500)
    small = large.resize((1000, 750), Image.Resampling.BOX)
    big_measures, small_measures = measure_photo_quality(large), measure_photo_quality(small)
    assert big_measures.mean_luma == pytest.approx(small_measures.mean_luma, abs=0.5)
    assert big_measures.sharpness == pytest.approx(small_measures.sharpness, rel=0.05)


def test_thresholds_are_parameters():
    photo = normalised_case(CASES[0])
    assert codes(assess_photo_quality(photo, QualityThresholds(dark_mean_luma=255))) == ["very_dark"]
    assert codes(assess_photo_quality(photo, QualityThresholds(blur_laplacian_variance=1e9))) == [
        "very_blurry"
    ]
