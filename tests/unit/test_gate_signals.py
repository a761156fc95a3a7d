"""The gate's new signals: each on real pixels (a corpus or dev photo where it must fire, one where it
must not), and the arithmetic of each on crafted arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from picr.segmentation import gate_signals as gs


def disc(shape=(320, 320), centre=(160, 160), radius=60) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) <= radius


# ---- arithmetic -------------------------------------------------------------------------------------------


def test_mirror_disagreement_is_one_minus_the_iou_of_the_two_looks():
    first = disc().astype(np.float32)
    assert gs.mirror_disagreement(first, first) == 0.0
    shifted = disc(centre=(190, 160)).astype(np.float32)
    overlap = (disc() & disc(centre=(190, 160))).sum() / (disc() | disc(centre=(190, 160))).sum()
    assert gs.mirror_disagreement(first, shifted) == pytest.approx(1 - overlap)
    assert gs.mirror_disagreement(np.zeros((8, 8)), np.zeros((8, 8))) == 0.0


def test_hiding_the_object_fills_its_hole_from_the_surroundings_and_leaves_the_rest_alone():
    yy, xx = np.mgrid[0:320, 0:320]
    wall = np.dstack([xx * 0.5 + 40, yy * 0.4 + 60, np.full((320, 320), 90.0)])   # a smooth wall
    photo = wall.astype(np.uint8)
    kept = disc(centre=(150, 170), radius=50)
    photo[kept] = (230, 20, 30)                                   # a red product
    photo[disc(centre=(270, 60), radius=15)] = (20, 20, 220)      # and a blue thing away from it
    hidden, hole = gs.hide_object(photo, kept)
    assert np.array_equal(hole, gs._grow(kept, 4)) and hidden.shape == photo.shape and hidden.dtype == np.uint8
    assert np.array_equal(hidden[~hole], photo[~hole])            # only the hole is painted
    error = np.abs(hidden.astype(np.float32) - wall)[hole]
    assert float(np.median(error)) < 8 and float(error.max()) < 60   # the wall goes on; nothing red is left
    assert (hidden[hole][:, 0] > 150).sum() == 0


def test_rival_after_hiding_counts_whole_objects_away_from_the_hidden_one():
    kept = disc(radius=40)
    hole = gs._grow(kept, 4)
    look = np.zeros((320, 320), np.float32)
    look[disc(centre=(260, 80), radius=20)] = 0.9           # a second object, well clear of the hole
    assert gs.rival_after_hiding(look, hole, int(kept.sum())) == pytest.approx(disc(radius=20).sum() / kept.sum(),
                                                                              rel=0.02)
    smear = np.zeros((320, 320), np.float32)
    smear[disc(radius=48)] = 1.0                             # the inpainted area found again
    smear[300:, :] = 1.0                                     # a table edge running off the frame
    assert gs.rival_after_hiding(smear, hole, int(kept.sum())) == 0.0


def test_left_after_hiding_sees_objects_running_off_the_frame_and_half_sure_ones():
    kept = disc(radius=40)
    hole = gs._grow(kept, 4)
    nothing = np.zeros((320, 320), np.float32)
    nothing[disc(radius=46)] = 1.0                           # only the inpainting's smear: not counted
    assert gs.left_after_hiding(nothing, hole, int(kept.sum())) == (0.0, 0.0)
    look = nothing.copy()
    look[300:, :] = 0.8                                      # a table edge running off the frame
    look[disc(centre=(260, 80), radius=10)] = 0.3           # a small thing the model is unsure of
    peak, mass = gs.left_after_hiding(look, hole, int(kept.sum()))
    assert peak == pytest.approx(0.8)
    assert mass == pytest.approx((0.8 * 20 * 320 + 0.3 * disc(radius=10).sum()) / kept.sum(), rel=0.01)
    assert gs.rival_after_hiding(look, hole, int(kept.sum())) == 0.0   # the strict reading misses both


def test_missed_by_cutout_is_the_first_looks_mass_away_from_the_kept_object():
    first = np.zeros((320, 320), np.float32)
    first[disc()] = 1.0
    first[150:170, 220:300] = 0.6                            # a thin part the first look saw
    kept = disc()
    assert gs.missed_by_cutout(first, kept) == pytest.approx(0.6 * (300 - 226) * 20 / kept.sum(), rel=0.1)
    assert gs.missed_by_cutout(first, kept | (first > 0.5)) == 0.0


def test_model_soft_band_is_the_uncertain_width_per_outline_cell():
    sharp = disc().astype(np.float32)
    soft = cv2.GaussianBlur(sharp, (0, 0), 6)
    assert gs.model_soft_band(sharp) == 0.0
    assert gs.model_soft_band(soft) > 8


@pytest.mark.parametrize(("ratio", "imbalance"), [(0.0, 0.0), (0.02, 0.0), (0.2, 0.8), (0.9, pytest.approx(0.1))])
def test_pair_imbalance_reads_a_small_second_object_as_doubt(ratio, imbalance):
    assert gs.pair_imbalance(ratio) == imbalance


def test_signed_distance_is_negative_inside_and_positive_outside():
    solid = disc(radius=30)
    distance = gs.signed_distance(solid)
    assert distance[160, 160] == pytest.approx(-30, abs=1.5) and distance[160, 220] == pytest.approx(30, abs=1.5)
    assert (distance[solid] < 0).all() and (distance[~solid] > 0).all()


# ---- on rendered photos: where each photo-side signal must fire and where it must not ------------------


def lab_of(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def composite(alpha: np.ndarray, product: np.ndarray, background: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.round(a * product + (1 - a) * background).astype(np.uint8)


def ramp(shape=(320, 320)) -> np.ndarray:
    """A background whose colour changes across the frame and so across the product: green to red, left to
    right (smooth at the product's scale, like light falling off or a table meeting a wall)."""
    share = (np.mgrid[0:shape[0], 0:shape[1]][1] / (shape[1] - 1)).astype(np.float32)[..., None]
    return share * np.array([210, 60, 50], np.float32) + (1 - share) * np.array([40, 170, 60], np.float32)


def test_show_through_sees_the_background_continue_inside_a_glass_but_not_inside_an_opaque_product():
    solid = disc(radius=70)
    blue = np.array([40, 60, 200], np.float32)
    glass = composite(solid * 0.5, blue, ramp())          # half see-through: the ramp goes on through it
    opaque = composite(solid * 1.0, blue, ramp())
    assert gs.show_through(lab_of(glass), solid) > 0.5
    assert abs(gs.show_through(lab_of(opaque), solid)) < 0.2


def test_outline_fade_is_wide_for_a_glow_and_narrow_for_a_sharp_edge():
    solid = disc(radius=70)
    paper, red = np.array([235, 230, 220], np.float32), np.array([200, 30, 30], np.float32)
    sharp = composite(solid.astype(np.float32), red, paper)
    glow = composite(np.clip(-gs.signed_distance(solid) / 10.0, 0, 1), red, paper)   # 0 → 1 over 10 cells
    px_per_cell = 4.0                                     # a 1280 px photo on this 320 grid
    assert gs.outline_fade_px(lab_of(sharp), solid, px_per_cell) <= 8
    # 10 cells = 40 px from clear to full; the 15–85 % stretch of that is 0.7 × 40 = 28 px (± a cell)
    assert 20 <= gs.outline_fade_px(lab_of(glow), solid, px_per_cell) <= 36


def test_the_outline_lies_on_the_photos_edges_only_where_the_mask_is_right():
    solid = disc(radius=70)
    paper = np.full((320, 320, 3), 225, np.float32)
    photo = composite(solid.astype(np.float32), np.array([30, 30, 160], np.float32), paper)
    gray = lab_of(photo)[..., 0]
    assert gs.outline_on_edges(gray, solid) > 0.9
    assert gs.outline_on_edges(gray, disc(radius=50)) < 0.2          # a mask that cut into the product
