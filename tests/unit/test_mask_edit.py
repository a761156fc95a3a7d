"""The fix page's mask operations on real photos: tap the product, keep and remove strokes, replay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from picr.pages.edits import Stroke, Tap
from picr.segmentation.mask_edit import apply_edits, brush
from tools.shared_data import CASES


def _case(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    (folder,) = [path for path in CASES.iterdir() if path.name.startswith(prefix)]
    rgb = np.asarray(Image.open(folder / "photo.jpg").convert("RGB"))
    truth = np.asarray(Image.open(folder / "mask.png").convert("L"))
    return rgb, truth


def _iou(alpha: np.ndarray, truth: np.ndarray) -> float:
    a, b = alpha >= 128, truth >= 128
    return float((a & b).sum() / (a | b).sum())


def _near(shape: tuple[int, int], stroke: Stroke, reach: float) -> np.ndarray:
    """Pixels within ``reach`` of the stroke's polyline."""
    line = np.zeros(shape, np.uint8)
    cv2.polylines(line, [np.array(stroke.points, np.int32).reshape(-1, 1, 2)], False, 1, 1)
    return cv2.distanceTransform(1 - line, cv2.DIST_L2, 5) <= reach


@pytest.fixture(scope="module")
def u2netp():
    from picr.segmentation.engine import LocalEngine

    return LocalEngine("u2netp")


def test_a_remove_stroke_through_a_product_takes_its_line_whatever_the_colours_say():
    # The glass jug with its true alpha; a finger drawn across its middle. Before, the band's pixels next to
    # product on either side were all left to GrabCut, which kept the jug's colours: 41 page pixels went.
    rgb, truth = _case("08_")
    stroke = Stroke("remove", ((420, 800), (600, 800), (780, 800)), 40)
    after = brush(rgb, truth, [stroke], engine=None)
    assert not (after > truth).any()  # a remove stroke only takes
    core = _near(truth.shape, stroke, 20) & (truth >= 128)
    assert core.sum() > 10_000 and (after[core] < 128).all()
    far = ~_near(truth.shape, stroke, 40 + 2 * 40 + 24)
    assert np.array_equal(after[far], truth[far])  # nothing changes away from the stroke's neighbourhood


@pytest.mark.slow
def test_a_keep_stroke_brings_back_a_missing_cymbal_and_adds_nothing_far_from_it(u2netp):
    rgb, truth = _case("07_")
    start = truth.copy()
    start[255:345, 505:770] = 0  # the left cymbal, lost
    stroke = Stroke("keep", ((540, 300), (640, 300), (740, 300)), 30)
    after = brush(rgb, start, [stroke], u2netp)
    assert not (after < start).any()  # a keep stroke only adds
    cymbal = truth[255:345, 505:770] >= 128
    back = after[255:345, 505:770] >= 128
    assert (back & cymbal).sum() > 0.8 * cymbal.sum()
    added = (after >= 128) & (start < 128)
    assert not (added & ~_near(truth.shape, stroke, 30 + 2 * 30 + 24)).any()


@pytest.mark.slow
def test_a_tap_finds_the_guitar_the_pipeline_lost_in_the_clutter(u2netp):
    # The pipeline's cutout of case 03 misses the guitar (IoU 0.0, held); one tap on its body redoes it
    # around the object under the finger (0.846 when this test was written).
    rgb, truth = _case("03_")
    start = np.zeros(truth.shape, np.uint8)
    after = apply_edits(rgb, start, [Tap(1655, 1155)], u2netp)
    assert _iou(after, truth) > 0.8
    # replaying the same list gives the same cutout (undo is a shorter list replayed from the held one)
    assert np.array_equal(apply_edits(rgb, start, [Tap(1655, 1155)], u2netp), after)


def _pieces(truth: np.ndarray) -> list[np.ndarray]:
    """The true mask's objects, largest first."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((truth >= 128).astype(np.uint8), connectivity=8)
    order = sorted(range(1, count), key=lambda label: -stats[label, cv2.CC_STAT_AREA])
    return [labels == label for label in order]


def _innermost(piece: np.ndarray) -> Tap:
    distance = cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return Tap(int(x), int(y))


@pytest.mark.slow
def test_the_first_tap_picks_the_product_and_a_later_tap_adds_another(u2netp):
    # Case 06 holds two objects; the cutout starts with both. A tap means "this is the product", so the
    # first tap leaves the other out (in a cluttered room that is the bottle beside the doll): the cymbal is
    # 0.3 of the trumpet's size, too small to be its companion. A second tap, on the cymbal, adds it back
    # without losing the first.
    rgb, truth = _case("06_")
    first, second = _pieces(truth)[:2]
    after_first = apply_edits(rgb, truth.copy(), [_innermost(first)], u2netp)
    assert (after_first[first] >= 128).mean() > 0.8
    assert (after_first[second] >= 128).mean() < 0.1
    both = apply_edits(rgb, after_first, [_innermost(second)], u2netp, earlier=[_innermost(first)])
    assert (both[first] >= 128).mean() > 0.8
    assert (both[second] >= 128).mean() > 0.8


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "not reached yet: of the tap's ten looks, the six from crops up to 0.6 of the photo see the flower's "
    "centre as the object under the finger and the four from larger crops see the flower; the agreement "
    "picks the centre (IoU 0.094). Letting the cutout's own piece join the looks does not settle it: "
    "unguarded, it took a cluttered photo's tap from 0.948 to 0.140 (its piece was a merged blob); guarded "
    "by overlap with the looks' choice, it never reaches this flower"))
def test_a_tap_on_the_middle_of_a_flower_the_cutout_holds_whole_keeps_the_flower(u2netp):
    rgb, truth = _case("05_")
    after = apply_edits(rgb, truth.copy(), [_innermost(truth >= 128)], u2netp)
    assert _iou(after, truth) > 0.9


def _filling_the_frame(rgb: np.ndarray, truth: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its true mask enlarged about the product until it spans ``share`` of the frame."""
    ys, xs = np.nonzero(truth >= 128)
    height, width = truth.shape
    k = share * min(width / (xs.max() - xs.min() + 1), height / (ys.max() - ys.min() + 1))
    centre_x, centre_y = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    warp = np.float32([[k, 0, width / 2 - k * centre_x], [0, k, height / 2 - k * centre_y]])
    return (cv2.warpAffine(rgb, warp, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
            cv2.warpAffine(truth, warp, (width, height), flags=cv2.INTER_LINEAR))


@pytest.mark.slow
def test_a_tap_on_a_product_filling_the_frame_that_the_cutout_holds_whole_keeps_it_whole(u2netp):
    # The binoculars enlarged to 85 % of the frame, cut out whole. Crops centred on the finger each see part
    # of them, and their agreement used to replace the whole with a part (IoU 0.81 when this test was
    # written); the cutout's own piece now competes with them as the same object (0.93).
    rgb, truth = _filling_the_frame(*_case("02_"), 0.85)
    after = apply_edits(rgb, truth.copy(), [_innermost(truth >= 128)], u2netp)
    assert _iou(after, truth) > 0.9


def _with_a_second(rgb: np.ndarray, truth: np.ndarray, scale: float, left: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo with a copy of its product, ``scale`` times as large, pasted on the paper at x = ``left`` (its
    top level with the product's), and the true mask of both."""
    ys, xs = np.nonzero(truth >= 128)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
    piece = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA).astype(np.float32)
    cover = cv2.resize(truth[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
    photo, both = rgb.astype(np.float32), truth.copy()
    window = np.s_[y0:y0 + size[1], left:left + size[0]]
    photo[window] = piece * cover + photo[window] * (1 - cover)
    both[window] = np.maximum(both[window], (cover[..., 0] * 255).astype(np.uint8))
    return photo.astype(np.uint8), both


@pytest.mark.slow
@pytest.mark.parametrize(("scale", "left", "kept"), [
    # Two cherimoyas of one size on white paper, both cut out (as a shop shoots a pair). The tap on one used
    # to replace the cutout with it alone (IoU 0.498 against both); a companion of its size now stays.
    (1.0, 500, "both"),
    # A copy two and a half times the product's size: the eye-catching thing the model prefers to a small
    # product. The tap keeps the product alone.
    (2.5, 250, "product"),
], ids=["a pair of one size", "beside a far larger object"])
def test_a_tap_keeps_another_object_of_the_cutout_only_if_it_is_of_the_product_s_size(u2netp, scale, left, kept):
    rgb, truth = _case("04_")
    photo, both = _with_a_second(rgb, truth, scale, left)
    after = apply_edits(photo, both.copy(), [_innermost(truth >= 128)], u2netp)
    assert _iou(after, both if kept == "both" else truth) > 0.9


def _with_cable(rgb: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Case 01's photo with a dark cable (5 px, anti-aliased) drawn from the toolbox's right edge across the
    paper: a part thinner than any finger. Returns the photo, the cable's pixels off the toolbox and its path."""
    ys, _ = np.nonzero(truth >= 128)
    y0 = (int(ys.min()) + int(ys.max())) // 2
    x0 = int(np.nonzero(truth[y0] >= 128)[0].max()) - 5
    path = [(x0, y0), (x0 + 120, y0 + 40), (x0 + 240, y0 + 60), (x0 + 330, y0 + 130)]
    drawn = np.zeros(truth.shape, np.uint8)
    cv2.polylines(drawn, [np.array(path, np.int32).reshape(-1, 1, 2)], False, 1, 5, cv2.LINE_AA)
    cover = cv2.GaussianBlur(drawn.astype(np.float32), (0, 0), 0.7)[..., None]
    photo = (rgb * (1 - cover) + np.array([40, 40, 45], np.float32) * cover).astype(np.uint8)
    return photo, (cover[..., 0] >= 0.5) & (truth < 128), path


@pytest.mark.slow
def test_a_keep_stroke_along_a_part_thinner_than_the_finger_adds_the_part_not_the_paper_around_it(u2netp):
    # The finger (radius 20) follows the cable a little off its line. The model finds nothing there, and the
    # stroke used to add its whole band: ~10,000 pixels of paper around a 2,400-pixel cable. Now the band's
    # pixels are decided by colour against the toolbox and the paper beside them.
    rgb, truth = _case("01_")
    photo, cable, path = _with_cable(rgb, truth)
    stroke = Stroke("keep", tuple((x + 3, y - 2) for x, y in path), 20)
    after = brush(photo, truth, [stroke], u2netp)
    added = (after >= 128) & (truth < 128)
    assert (added & cable).sum() > 0.9 * cable.sum()
    near_cable = cv2.dilate(cable.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (added & ~near_cable).sum() < 0.1 * cable.sum()


@pytest.mark.slow
def test_a_keep_stroke_where_neither_the_model_nor_the_colours_find_a_part_takes_the_band(u2netp):
    # Across bare paper (a part the colour of its background, as the drum kit's chrome stands on white paper
    # are): the finger decides, and the band as drawn is added.
    rgb, truth = _case("01_")
    stroke = Stroke("keep", ((200, 1000), (300, 1000), (400, 1000)), 16)
    after = brush(rgb, truth, [stroke], u2netp)
    band = _near(truth.shape, stroke, 16)
    assert (after[band] >= 128).mean() > 0.8


@pytest.mark.slow
def test_a_keep_stroke_from_the_product_out_along_a_lost_part_adds_the_part(u2netp):
    # The finger starts on the toolbox and runs out along the cable. The model finds the toolbox under the
    # band's first half; judged on the whole band, that counted as finding something, and the stroke added
    # nothing of the cable. Judged on the part the cutout lacks, the model finds nothing and the colours
    # take the cable.
    rgb, truth = _case("01_")
    photo, cable, path = _with_cable(rgb, truth)
    start = (path[0][0] - 200, path[0][1])
    stroke = Stroke("keep", (start, *((x + 3, y - 2) for x, y in path)), 20)
    after = brush(photo, truth, [stroke], u2netp)
    added = (after >= 128) & (truth < 128)
    assert (added & cable).sum() > 0.9 * cable.sum()
    near_cable = cv2.dilate(cable.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert (added & ~near_cable).sum() < 0.1 * cable.sum()
