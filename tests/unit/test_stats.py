"""The gate's order statistics (numpy's own answers, without the import numpy's version costs a cold start) and
the overlap of two masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from picr.segmentation.stats import mask_iou, percentile
from tools.shared_data import CASES


def _gradients(path: Path) -> np.ndarray:
    """A photo's gradient magnitudes at the gate's grid size (what ``outline_on_edges`` ranks)."""
    with Image.open(path) as photo:
        grey = np.asarray(photo.convert("L").resize((512, 384)), np.float32)
    smooth = cv2.GaussianBlur(grey, (0, 0), 1.0)
    return cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)).ravel()


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_is_numpys_to_the_last_bit_on_a_photos_gradients(q):
    for path in sorted(CASES.glob("*/photo.jpg"))[:4]:
        values = _gradients(path)
        for part in (values, values[::7], values[:101], values[:1]):
            ours, numpys = percentile(part, q), np.percentile(part, q)
            assert ours == numpys and type(ours) is type(numpys)


def test_percentile_is_numpys_on_ties_and_in_double_precision():
    rng = np.random.default_rng(17)
    for size in (2, 3, 10, 999, 4096):
        for values in (rng.integers(0, 4, size).astype(np.float32), rng.random(size) ** 6):
            for q in (12.5, 33.3, 90, 97.5):
                assert percentile(values, q) == np.percentile(values, q)
    with pytest.raises(ValueError, match="no values"):
        percentile(np.array([], np.float32), 90)


def test_the_overlap_of_two_masks_is_their_shared_pixels_over_their_joint_ones():
    a = np.zeros((40, 60), bool)
    b = np.zeros((40, 60), bool)
    a[10:30, 10:30] = True   # 400 pixels
    b[10:30, 20:40] = True   # 400 pixels, 200 of them shared
    assert mask_iou(a, b) == pytest.approx(200 / 600)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(a, ~a) == 0.0
    empty = np.zeros_like(a)
    assert mask_iou(empty, empty) == 1.0 and mask_iou(empty, empty, empty=0.0) == 0.0
