"""The simulated owner's ceilings (tools.owner_bounds): the rim bound, the true box and the oracle look."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from tools.owner_bounds import oracle_look, rim_bound, summary, true_box
from tools.simulated_owner import score

SIZE = (240, 180)   # width, height


def _disc(centre: tuple[int, int], radius: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask.astype(bool)


def _alpha(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 255, 0).astype(np.uint8)


def test_a_cutout_one_pixel_off_everywhere_is_all_rim_and_no_stroke_could_fix_it():
    truth = _disc((120, 90), 50).astype(np.float32)
    shifted = _alpha(_disc((121, 90), 50))
    assert score(truth, shifted) < 0.98
    assert rim_bound(truth, shifted, 0) == rim_bound(truth, shifted, 1) == score(truth, shifted)


def test_wrong_pixels_away_from_the_outline_are_what_strokes_could_fix():
    truth = _disc((120, 90), 50).astype(np.float32)
    with_leftover_and_hole = _disc((120, 90), 50) | _disc((20, 20), 10)
    with_leftover_and_hole &= ~_disc((120, 90), 15)
    alpha = _alpha(with_leftover_and_hole)
    assert score(truth, alpha) < 0.9
    assert rim_bound(truth, alpha, 0) == 1.0


def test_an_edge_too_far_out_is_fixed_only_beyond_the_rim():
    truth = _disc((120, 90), 50).astype(np.float32)
    grown = _alpha(_disc((120, 90), 54))
    bounds = [rim_bound(truth, grown, px) for px in (4, 2, 1, 0)]
    assert score(truth, grown) == bounds[0] < bounds[1] < bounds[2] < bounds[3] < 1.0


def test_the_bound_is_taken_at_the_true_masks_size():
    truth = _disc((240, 180), 100, (480, 360)).astype(np.float32)
    half_size = _alpha(_disc((120, 90), 50))
    with_leftover = _alpha(_disc((120, 90), 50) | _disc((20, 20), 15))
    assert score(truth, with_leftover) < score(truth, half_size) < 1.0   # an enlarged edge is off by a pixel
    assert rim_bound(truth, with_leftover, 1) == pytest.approx(score(truth, half_size))


class _RedFinder:
    """Sees red things: the probability is how much redder than green a pixel is (real pixels, no model)."""

    input_size = 320

    def predict(self, image: Image.Image) -> np.ndarray:
        rgb = np.asarray(image.convert("RGB"), np.float32)
        return np.clip((rgb[..., 0] - rgb[..., 1]) / 128.0, 0.0, 1.0)


def _photo() -> tuple[Image.Image, np.ndarray]:
    """Two red discs on grey noise; the product is the left one."""
    rng = np.random.default_rng(7)
    rgb = np.clip(rng.normal(120, 12, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)
    product, other = _disc((70, 90), 35), _disc((185, 90), 30)
    rgb[product | other] = (200, 40, 40)
    return Image.fromarray(rgb, "RGB"), product


def test_the_true_box_is_the_objects_box_with_the_taps_margin():
    _, product = _photo()
    x0, y0, x1, y1 = true_box(product, _RedFinder())
    assert x0 < 35 and y0 < 55 and x1 > 106 and y1 > 126
    assert (x0, y0) >= (0, 0) and (x1, y1) <= SIZE


def test_the_oracle_look_keeps_only_the_true_objects_pieces():
    photo, product = _photo()
    alpha = oracle_look(photo, product, true_box(product, _RedFinder()), _RedFinder())
    assert alpha.shape == product.shape and alpha.dtype == np.uint8
    assert score(product.astype(np.float32), alpha) > 0.95
    assert not (alpha[_disc((185, 90), 30)] >= 128).any()


def test_the_summary_counts_each_column_and_the_best_of_three():
    rows = [
        {"photo": "a", "source": "corpus:thin", "start": 0.96, "tap": 0.90, "oracle": 0.80},
        {"photo": "b", "source": "corpus:thin", "start": 0.50, "tap": 0.60, "oracle": 0.97},
        {"photo": "c", "source": "shared", "start": 0.10, "tap": 0.95, "oracle": 0.20},
        {"photo": "d", "source": "shared", "start": 0.10, "tap": 0.20, "oracle": 0.30},
    ]
    result = summary(rows)
    assert result["reached"] == {"start": 1, "tap": 1, "oracle": 1, "best_of_start_tap_oracle": 3}
    assert result["by_class"]["thin"]["best_of_start_tap_oracle"] == 2
    assert (result["tap_needs"], result["fixed_needs"]) == (3, 4)
