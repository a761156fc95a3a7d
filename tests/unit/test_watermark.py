import numpy as np
import pytest
from PIL import Image

from picr.image.channels import WatermarkSpec, default_logo
from picr.image.watermark import apply_watermark, logo_size_on_frame, watermark_box, watermark_layer


def solid_logo(size=(40, 20), colour=(10, 20, 30), alpha=255):
    return Image.new("RGBA", size, (*colour, alpha))


def test_logo_keeps_its_aspect_and_spans_scale_of_the_shorter_side():
    spec = WatermarkSpec(scale=0.2)
    assert logo_size_on_frame((1000, 800), (354, 120), spec) == (160, 54)
    assert logo_size_on_frame((800, 1000), (120, 354), spec) == (54, 160)
    assert logo_size_on_frame((1600, 1600), (354, 120), spec) == (320, 108)


@pytest.mark.parametrize(
    ("corner", "expected"),
    [
        ("bottom-right", (816, 722, 976, 776)),
        ("bottom-left", (24, 722, 184, 776)),
        ("top-right", (816, 24, 976, 78)),
        ("top-left", (24, 24, 184, 78)),
    ],
)
def test_watermark_box_sits_margin_from_the_chosen_corner(corner, expected):
    spec = WatermarkSpec(scale=0.2, margin=0.03, corner=corner)
    assert watermark_box((1000, 800), (354, 120), spec) == expected


def test_layer_folds_opacity_into_alpha():
    layer = watermark_layer((100, 100), solid_logo((20, 10)), WatermarkSpec(scale=0.2, opacity=0.25))
    assert layer.size == (20, 10)  # no resampling needed: 0.2 * 100 = 20
    assert set(np.asarray(layer)[..., 3].ravel()) == {64}  # 255 * 0.25 rounded
    assert set(map(tuple, np.asarray(layer)[..., :3].reshape(-1, 3))) == {(10, 20, 30)}


def test_apply_on_white_rgb_blends_only_inside_the_box():
    spec = WatermarkSpec(scale=0.2, margin=0.1, opacity=0.5)
    frame = Image.new("RGB", (100, 100), (255, 255, 255))
    stamped = np.asarray(apply_watermark(frame, solid_logo((20, 10)), spec)).astype(int)
    left, top, right, bottom = watermark_box((100, 100), (20, 10), spec)
    assert (left, top, right, bottom) == (70, 80, 90, 90)
    inside = stamped[top:bottom, left:right]
    # alpha 128 (0.5 of 255, rounded): round((c * 128 + 255 * 127) / 255) per channel
    assert set(map(tuple, inside.reshape(-1, 3))) == {(132, 137, 142)}
    outside = stamped.copy()
    outside[top:bottom, left:right] = 255
    assert (outside == 255).all()
    assert np.asarray(frame).min() == 255  # the input is left alone


def test_apply_matches_porter_duff_over_within_rounding():
    rng = np.random.default_rng(7)
    under = rng.integers(0, 256, (60, 80, 4), dtype=np.uint8)
    logo_pixels = rng.integers(0, 256, (15, 30, 4), dtype=np.uint8)
    spec = WatermarkSpec(scale=0.5, margin=0.05, opacity=0.6, corner="top-left")
    stamped = apply_watermark(Image.fromarray(under), Image.fromarray(logo_pixels), spec)
    stamped = np.asarray(stamped).astype(float)
    layer = np.asarray(watermark_layer((80, 60), Image.fromarray(logo_pixels), spec)).astype(float) / 255
    left, top, right, bottom = watermark_box((80, 60), (30, 15), spec)
    dst = under[top:bottom, left:right].astype(float) / 255
    src_a, dst_a = layer[..., 3:], dst[..., 3:]
    out_a = src_a + dst_a * (1 - src_a)
    expected_rgb = (layer[..., :3] * src_a + dst[..., :3] * dst_a * (1 - src_a)) / np.maximum(out_a, 1e-9)
    got = stamped[top:bottom, left:right] / 255
    assert np.abs(got[..., 3:] - out_a).max() <= 0.5 / 255 + 1e-9
    visible = out_a[..., 0] > 0
    assert np.abs(got[..., :3] - expected_rgb)[visible].max() <= 0.5 / 255 + 1e-9


def test_transparent_logo_pixels_leave_partly_transparent_pixels_exactly_as_they_were():
    rng = np.random.default_rng(3)
    under = rng.integers(0, 256, (50, 50, 4), dtype=np.uint8)
    logo = Image.new("RGBA", (25, 25), (200, 0, 0, 0))
    logo.putpixel((12, 12), (200, 0, 0, 255))
    spec = WatermarkSpec(scale=0.5, margin=0.0, opacity=0.5)
    stamped = np.asarray(apply_watermark(Image.fromarray(under), logo, spec))
    changed = np.argwhere((stamped != under).any(axis=2))
    left, top, _, _ = watermark_box((50, 50), (25, 25), spec)
    assert [tuple(p) for p in changed] == [(top + 12, left + 12)]


def test_on_a_transparent_frame_the_logo_keeps_its_colour_at_reduced_alpha():
    frame = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    spec = WatermarkSpec(scale=0.2, margin=0.05, opacity=0.25)
    stamped = np.asarray(apply_watermark(frame, solid_logo(), spec))
    left, top, right, bottom = watermark_box((200, 200), (40, 20), spec)
    assert set(map(tuple, stamped[top:bottom, left:right].reshape(-1, 4))) == {(10, 20, 30, 64)}


def test_the_default_logo_is_a_visible_faint_mark_on_white():
    spec = WatermarkSpec()
    frame = Image.new("RGB", (1080, 1080), (255, 255, 255))
    stamped = np.asarray(apply_watermark(frame, default_logo(), spec)).astype(int)
    luma = stamped @ np.array([0.299, 0.587, 0.114])
    # darkest ink: 255 - 0.25 * (255 - luma(38, 50, 56)) ~ 204; faint, yet clearly there
    assert 195 < luma.min() < 215
    assert (luma < 250).sum() > 2000


def test_same_inputs_same_pixels():
    frame = Image.new("RGB", (640, 480), (240, 235, 230))
    first = apply_watermark(frame, default_logo(), WatermarkSpec())
    second = apply_watermark(frame, default_logo(), WatermarkSpec())
    assert first.tobytes() == second.tobytes()


def test_rejects_modes_it_cannot_composite_onto():
    with pytest.raises(ValueError, match="RGB or RGBA"):
        apply_watermark(Image.new("L", (100, 100)), solid_logo(), WatermarkSpec())
