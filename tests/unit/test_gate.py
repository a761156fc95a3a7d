"""The gate on crafted masks: each signal moves the decision for the reason it exists."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from picr.segmentation.gate import GateThresholds, assess_cutout

H, W = 1200, 1600


def disc(cx=800, cy=600, r=250, shape=(H, W)) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    inside = np.hypot(xx - cx, yy - cy) <= r
    # a realistic 2 px anti-aliased edge
    return cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.8)


def photo_with(alpha: np.ndarray, product=(200, 40, 40), background=(236, 232, 224)) -> np.ndarray:
    a = alpha[..., None]
    return np.round(a * np.asarray(product) + (1 - a) * np.asarray(background)).astype(np.uint8)


def test_clean_product_passes_with_full_confidence():
    alpha = disc()
    result = assess_cutout(alpha, image=photo_with(alpha))
    assert result.passed and result.confidence == 1.0 and result.reasons == []
    assert result.scores["coverage"] == pytest.approx(np.pi * 250**2 / (H * W), rel=0.05)
    assert result.scores["edge_width_px"] < 4


def test_small_product_shot_from_afar_passes():
    alpha = disc(r=35)                                  # 0.2 % of the frame
    result = assess_cutout(alpha, image=photo_with(alpha))
    assert result.passed, result.reasons


def test_uint8_alpha_reads_the_same_as_float():
    alpha = disc()
    as_float = assess_cutout(alpha)
    as_bytes = assess_cutout(np.round(alpha * 255).astype(np.uint8))
    assert as_bytes.passed == as_float.passed
    assert as_bytes.scores["coverage"] == pytest.approx(as_float.scores["coverage"], abs=1e-3)


def test_empty_mask_is_held():
    result = assess_cutout(np.zeros((H, W), np.float32))
    assert not result.passed and result.confidence == 0.0
    assert result.reasons == ["No product was found in the photo."]


def test_near_empty_mask_is_held():
    alpha = disc(r=15)                                  # 0.04 % of the frame: a speck
    assert not assess_cutout(alpha).passed


def test_full_mask_is_held():
    result = assess_cutout(np.ones((H, W), np.float32))
    assert not result.passed
    assert any("whole photo" in reason for reason in result.reasons)


def test_speckled_mask_is_held():
    alpha = disc(r=200)
    rng = np.random.default_rng(7)
    for x, y in rng.integers((0, 0), (W, H), size=(400, 2)):
        cv2.circle(alpha, (int(x), int(y)), 6, 1.0, -1)     # 400 islands: ~25 % of the product's area
    result = assess_cutout(alpha)
    assert not result.passed
    assert result.scores["speckle_share"] > 0.15
    assert any("scattered" in reason for reason in result.reasons)


def test_product_cut_by_the_frame_is_held():
    alpha = disc(cx=100, r=300)                         # a third of it is off the left edge
    result = assess_cutout(alpha)
    assert not result.passed
    assert result.scores["frame_contact"] > 0.3
    assert any("edge of the photo" in reason for reason in result.reasons)


def test_a_touch_of_the_frame_is_tolerated():
    alpha = disc(cy=600, r=250)
    alpha[1195:, 790:800] = 1.0                         # a 10 px stray shadow reaching the bottom
    assert assess_cutout(alpha).passed


def test_two_blobs_cost_confidence_but_do_not_hold_alone():
    alpha = np.maximum(disc(cx=450, r=200), disc(cx=1150, r=200))
    result = assess_cutout(alpha)
    assert result.passed
    assert result.confidence == pytest.approx(0.7, abs=0.01)
    assert result.reasons == ["Two separate objects were kept; check that both belong in the picture."]


def test_two_blobs_and_a_blurry_photo_are_held():
    alpha = np.maximum(disc(cx=450, r=200), disc(cx=1150, r=200))
    result = assess_cutout(alpha, quality_warnings=["very_blurry"])
    assert not result.passed
    assert "The photo is blurry, so the product's outline is uncertain." in result.reasons


def test_see_through_body_is_held():
    """A glass jug: alpha 0.55 inside, rising to 0.9 at the outline."""
    outline = disc(r=260)
    body = disc(r=230)
    alpha = np.where(body > 0.5, 0.55, 0.9 * outline).astype(np.float32)
    result = assess_cutout(alpha)
    assert not result.passed
    assert result.scores["body_soft_share"] > 0.5
    assert "Parts of the product came out see-through." in result.reasons


def test_blurry_outline_is_held():
    inside = disc(r=300) > 0.5
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 12)   # edge smeared over ~40 px
    result = assess_cutout(alpha)
    assert not result.passed
    assert result.scores["edge_width_px"] > 12


def test_product_the_colour_of_its_background_is_held():
    alpha = disc()
    same = photo_with(alpha, product=(228, 222, 212))   # cream on off-white: ΔE ≈ 5
    distinct = photo_with(alpha, product=(60, 90, 160))
    held = assess_cutout(alpha, image=same)
    assert not held.passed and held.scores["colour_contrast"] < 10
    assert assess_cutout(alpha, image=distinct).passed


def test_colour_contrast_compares_with_the_surroundings_not_the_photo_border():
    alpha = disc(r=200)
    photo = photo_with(alpha, product=(60, 90, 160))
    photo[:, :80] = photo[:, -80:] = (60, 90, 160)       # a product-coloured frame around the photo
    photo[:80] = photo[-80:] = (60, 90, 160)
    result = assess_cutout(alpha, image=photo)
    assert result.scores["colour_contrast"] > 40 and result.passed


def test_supplied_cutout_skips_the_colour_signal():
    alpha = disc()
    assert "colour_contrast" not in assess_cutout(alpha).scores


def test_disagreeing_looks_are_held_and_agreeing_ones_pass():
    alpha = disc()
    assert assess_cutout(alpha, view_agreement=0.97).passed
    held = assess_cutout(alpha, view_agreement=0.5)
    assert not held.passed
    assert held.scores["view_agreement"] == 0.5


def test_quality_warning_alone_does_not_hold_a_clean_cutout():
    result = assess_cutout(disc(), quality_warnings=["very_dark", "very_dark"])
    assert result.passed and result.confidence == pytest.approx(0.7)
    assert result.reasons == ["The photo is very dark, so the product's edges are hard to see."]


def test_unknown_warning_code_still_gets_a_sentence():
    result = assess_cutout(disc(), quality_warnings=["lens_smudge"])
    assert result.reasons == ["Photo-quality warning: lens smudge."]


def test_thresholds_are_frozen_and_replaceable():
    thresholds = GateThresholds()
    with pytest.raises(dataclasses.FrozenInstanceError):
        thresholds.min_confidence = 0.1
    strict = dataclasses.replace(thresholds, warning_factor=0.4)
    assert not assess_cutout(disc(), quality_warnings=["very_blurry"], thresholds=strict).passed
