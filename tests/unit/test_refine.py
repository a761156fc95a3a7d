"""Edge refinement and colour decontamination on synthetic photos with known alpha."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from picr.segmentation.decontaminate import decontaminate, decontaminated_rgba
from picr.segmentation.refine import (
    block_mean,
    block_upsample,
    drop_faint_pieces,
    guided_filter,
    pixels_between,
    refine_mask,
    sample_at,
)

PAPER = (236, 232, 224)


def model_view(truth: np.ndarray, model_size: int = 320) -> np.ndarray:
    """What a 320 px segmentation model can say about ``truth``: area-averaged to its grid and blown
    back up (blurry edges, thin parts faint)."""
    height, width = truth.shape
    small = cv2.resize(truth.astype(np.float32), (model_size, model_size), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def refine_alpha(photo: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """The refined alpha as 0..1 floats (its 8-bit steps), to compare with true masks."""
    return refine_mask(photo, coarse).alpha.astype(np.float32) / 255


def composite(alpha: np.ndarray, fg, bg) -> np.ndarray:
    a = alpha[..., None]
    return np.round(a * np.asarray(fg, np.float32) + (1 - a) * np.asarray(bg, np.float32)).astype(np.uint8)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    return float((a & b).sum() / (a | b).sum())


def ring_with_hole(size=(1600, 1200), outer=300, inner=110) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - w / 2, yy - h / 2)
    return ((r <= outer) & (r >= inner)).astype(np.float32)


def test_guided_filter_puts_a_blurred_edge_back_onto_the_photo_edge():
    truth = np.zeros((200, 200), np.float32)
    truth[:, 100:] = 1
    guide = composite(truth, (200, 40, 40), PAPER).astype(np.float32) / 255
    blurred = cv2.GaussianBlur(truth, (0, 0), 6)
    out = guided_filter(guide, blurred, radius=8, eps=1e-4)
    steps = np.diff(out[100])
    assert int(np.argmax(steps)) == 99                     # the jump is exactly at the photo's edge
    assert steps.max() > 4 * np.diff(blurred[100]).max()
    flat = np.full((200, 200, 3), 0.5, np.float32)         # no edge in the photo: nothing to follow
    assert np.abs(guided_filter(flat, blurred, radius=8, eps=1e-4) - cv2.blur(blurred, (17, 17))).max() < 0.05


def test_disc_with_a_hole_keeps_its_hole_and_gets_sharper():
    truth = ring_with_hole()
    photo = composite(truth, (200, 40, 40), PAPER)
    coarse = model_view(truth)
    refined = refine_mask(photo, coarse)
    assert refined.alpha.shape == truth.shape and refined.alpha.dtype == np.uint8
    alpha = refined.alpha / 255
    assert alpha[600, 800] < 0.05                   # centre of the hole
    assert alpha[600, 800 + 200] > 0.95             # inside the ring
    assert iou(alpha, truth) >= iou(coarse, truth)
    assert np.abs(alpha - truth).mean() < 0.5 * np.abs(coarse - truth).mean()


def test_thin_line_survives_and_stays_thin():
    """A 3 px rod on a body, which the model marked as one of its pixels (5 px here), blurred."""
    truth = np.zeros((1200, 1600), np.float32)
    truth[300:900, 600:1000] = 1                  # body
    truth[100:300, 801:804] = 1                   # 3 px rod on top of it
    photo = composite(truth, (40, 40, 45), PAPER)
    seen = truth.copy()
    seen[100:300, 800:805] = 1                    # the model's pixel column over the rod
    coarse = model_view(seen)
    alpha = refine_alpha(photo, coarse)
    rod = alpha[110:290, 801:804]
    assert (rod >= 0.5).mean() > 0.95
    assert alpha[110:290, 795].max() < 0.1 and alpha[110:290, 810].max() < 0.1   # not fattened


def test_low_contrast_edge_is_not_invented():
    """Where the photo shows no edge, the refined alpha follows the model instead of noise."""
    truth = np.zeros((600, 800), np.float32)
    truth[150:450, 200:600] = 1
    rng = np.random.default_rng(1)
    photo = np.clip(np.full((600, 800, 3), 128, np.float32) + rng.normal(0, 2, (600, 800, 3)), 0, 255)
    coarse = model_view(truth)
    alpha = refine_alpha(photo.astype(np.uint8), coarse)
    assert iou(alpha, truth) > 0.9


def halo_scene():
    """A grey object with soft (anti-aliased) edges on a saturated green backdrop."""
    truth = cv2.GaussianBlur(ring_with_hole((800, 600), outer=200, inner=0), (0, 0), 2.0)
    object_colour, backdrop = (128, 128, 128), (20, 200, 40)
    return truth, composite(truth, object_colour, backdrop), object_colour


def green_excess(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float32)
    return rgb[..., 1] - (rgb[..., 0] + rgb[..., 2]) / 2


def test_decontaminated_edges_are_not_tinted_by_the_backdrop():
    truth, photo, _ = halo_scene()
    edge = (truth > 0.05) & (truth < 0.95)
    assert green_excess(photo[edge]).mean() > 40          # the photo's edge is green-tinted
    colour = decontaminate(photo, truth)
    assert np.abs(green_excess(colour[edge])).mean() < 6   # the stored colour is the grey object's
    # composited over white the edge no longer glows green
    over_white = composite(truth, (0, 0, 0), (255, 255, 255)) + (colour * truth[..., None]).astype(np.uint8)
    assert np.abs(green_excess(over_white[edge])).mean() < 6


def test_decontaminate_keeps_opaque_pixels_and_blanks_transparent_ones():
    truth, photo, _ = halo_scene()
    colour = decontaminate(photo, truth)
    opaque = truth >= 0.98
    assert np.array_equal(colour[opaque], photo[opaque])
    assert not colour[truth == 0].any()


def test_decontaminate_after_refine_on_a_model_mask():
    """With a refined (not exact) alpha the visible tint, α·|green excess|, still drops by 3×; what
    remains comes from the alpha's own error at the edge, not from the colour estimate."""
    truth, photo, _ = halo_scene()
    alpha = refine_alpha(photo, model_view(truth))
    colour = decontaminate(photo, alpha)
    soft = (alpha > 0.02) & (alpha < 0.98)
    assert soft.sum() > 500
    tint_before = (alpha[soft] * np.abs(green_excess(photo[soft]))).mean()
    tint_after = (alpha[soft] * np.abs(green_excess(colour[soft]))).mean()
    assert tint_after < tint_before / 3


def test_sample_at_handles_more_points_than_one_remap_row():
    grid = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    ys, xs = np.nonzero(np.ones((200, 300), bool))       # 60 000 points, > 32 767
    sampled = sample_at(grid, xs, ys, 0.1, 0.1)
    assert sampled.shape == (60000, 1)
    assert sampled[-1, 0] == grid[-1, -1]                 # the last point is sampled too
    # at 1/3 scale the centre of full-resolution pixel (16, 10) is the centre of grid cell (row 3, col 5)
    third = sample_at(grid, np.array([16]), np.array([10]), 1 / 3, 1 / 3)
    assert third[0, 0] == pytest.approx(grid[3, 5], abs=1e-3)


def test_block_mean_and_upsample_keep_pixel_centres_aligned():
    ramp = np.tile(np.arange(100, dtype=np.float32), (31, 1))          # value = x, 100 wide, 31 tall
    grid = block_mean(ramp, 3)
    assert grid.shape == (10, 33)
    assert grid[0, 0] == pytest.approx(1.0) and grid[0, 5] == pytest.approx(16.0)
    back = block_upsample(grid, 3, (100, 31))
    assert back.shape == (31, 100)
    assert np.abs(back[:, 3:97] - ramp[:, 3:97]).max() < 1e-3          # linear data comes back exactly
    assert block_mean(ramp, 1) is ramp


def test_pixels_between_is_exclusive_and_finds_them_all():
    values = np.array([[0.0, 0.001, 0.5], [0.999, 1.0, 0.3]], np.float32)
    xs, ys = pixels_between(values, 0.0, 1.0)
    assert sorted(zip(ys.tolist(), xs.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 0), (1, 2)]
    assert pixels_between(np.zeros((5, 5), np.float32), 0.0, 1.0)[0].size == 0
    as_bytes = np.array([[0, 1, 128], [254, 255, 77]], np.uint8)
    xs, ys = pixels_between(as_bytes, 0, 255)
    assert sorted(zip(ys.tolist(), xs.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 0), (1, 2)]


def test_drop_faint_pieces_removes_detached_haze_only():
    alpha = np.zeros((200, 300), np.float32)
    alpha[50:150, 50:150] = 1.0            # product
    alpha[95:105, 150:200] = 0.3           # faint wire attached to it: stays
    alpha[20:40, 250:280] = 0.3            # detached haze: goes
    alpha[160:190, 250:280] = 0.8          # detached but opaque piece: stays
    cleaned = drop_faint_pieces(alpha)
    assert cleaned[100, 175] == pytest.approx(0.3)
    assert cleaned[30, 265] == 0.0
    assert cleaned[175, 265] == pytest.approx(0.8)
    assert cleaned[100, 100] == 1.0


def test_refine_drops_model_haze_away_from_the_product():
    truth = ring_with_hole(inner=0)
    photo = composite(truth, (200, 40, 40), PAPER)
    coarse = model_view(truth)
    coarse[100:160, 100:200] = 0.3          # a faint smudge the model left in a corner
    alpha = refine_alpha(photo, coarse)
    assert alpha[80:180, 80:220].max() < 0.5 / 255          # nothing left that 8 bits can show


def test_refine_mask_lists_every_partial_pixel_and_nothing_else_is_partial():
    """The decontamination only looks at the listed pixels, so none may be missing."""
    truth, photo, _ = halo_scene()
    refined = refine_mask(photo, model_view(truth))
    listed = np.zeros(truth.shape, bool)
    listed[refined.ys, refined.xs] = True
    partial = (refined.alpha > 0) & (refined.alpha < 255)
    assert partial.sum() > 500
    assert not (partial & ~listed).any()
    assert set(np.unique(refined.alpha[~listed]).tolist()) <= {0, 255}


def test_decontaminated_rgba_is_decontaminate_under_its_alpha_with_or_without_the_candidates():
    truth, photo, _ = halo_scene()
    refined = refine_mask(photo, model_view(truth))
    expected = decontaminate(photo, refined.alpha)
    for candidates in (None, (refined.xs, refined.ys)):
        rgba = decontaminated_rgba(photo, refined.alpha, candidates)
        assert rgba.shape == (*truth.shape, 4) and rgba.dtype == np.uint8
        assert np.array_equal(rgba[..., :3], expected) and np.array_equal(rgba[..., 3], refined.alpha)
