import hashlib
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from picr.image.channels import DEFAULT_CHANNEL_CONFIG, ChannelSpec, WatermarkSpec, default_logo
from picr.image.render import (
    ALPHA_NOISE_MAX,
    compose_variant,
    fit_size,
    over_white,
    product_box,
    render_variant,
    render_variants,
    trim_to_alpha,
)
from picr.image.watermark import watermark_box
from tools.shared_data import CASES

WATERMARK = DEFAULT_CHANNEL_CONFIG.watermark


def case_cutout(case: str) -> Image.Image:
    """RGBA cutout from a dev photo and its ground-truth mask (what a perfect cutout step would return)."""
    cutout = Image.open(CASES / case / "photo.jpg").convert("RGB")
    cutout.putalpha(Image.open(CASES / case / "mask.png").convert("L"))
    return cutout


def decode(variant):
    image = Image.open(io.BytesIO(variant.data))
    image.load()
    return image


def spec(**overrides):
    base = {"name": "test", "kind": "web", "width": 400, "height": 400, "format": "png",
            "background": "white", "fill": 0.8, "watermark": False}
    return ChannelSpec(**{**base, **overrides})


def disc_cutout(size: int, colour: tuple[int, int, int], background=(0, 0, 0)) -> Image.Image:
    """A disc with a 2 px anti-aliased rim on fully transparent pixels of another colour."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    distance = np.hypot(xx - size / 2, yy - size / 2)
    alpha = np.clip((size * 0.45 - distance) / 2.0, 0.0, 1.0)
    pixels = np.zeros((size, size, 4), dtype=np.uint8)
    pixels[..., :3] = np.where(alpha[..., None] > 0, colour, background)
    pixels[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return Image.fromarray(pixels)


def measured_fill(image: Image.Image, exclude=None) -> float:
    """Test's own measurement: bbox of alpha > 8, or of pixels more than 5 levels below white."""
    pixels = np.asarray(image)
    product = pixels[..., 3] > 8 if image.mode == "RGBA" else (pixels < 250).any(axis=2)
    if exclude is not None:
        left, top, right, bottom = exclude
        product[top:bottom, left:right] = False
    rows, cols = np.flatnonzero(product.any(axis=1)), np.flatnonzero(product.any(axis=0))
    return max((cols[-1] + 1 - cols[0]) / image.width, (rows[-1] + 1 - rows[0]) / image.height)


# --- trimming and geometry ---------------------------------------------------------------------------------


def test_trim_ignores_alpha_haze_but_keeps_anything_above_it():
    pixels = np.zeros((100, 120, 4), dtype=np.uint8)
    pixels[30:60, 40:90] = (200, 100, 50, 255)
    pixels[0, 0, 3] = ALPHA_NOISE_MAX  # haze in a corner must not stretch the box
    pixels[99, 119, 3] = 3
    trimmed = trim_to_alpha(Image.fromarray(pixels))
    assert trimmed.size == (50, 30)
    assert trimmed.mode == "RGBA"
    pixels[10, 5, 3] = ALPHA_NOISE_MAX + 1  # faint but real: counts
    assert trim_to_alpha(Image.fromarray(pixels)).size == (85, 50)


def test_trim_accepts_la_and_refuses_images_without_alpha_or_product():
    la = Image.new("LA", (20, 20), (0, 0))
    la.paste((255, 255), (5, 5, 10, 15))
    assert trim_to_alpha(la).size == (5, 10)
    with pytest.raises(ValueError, match="no alpha channel"):
        trim_to_alpha(Image.new("RGB", (20, 20)))
    with pytest.raises(ValueError, match="cutout is empty"):
        trim_to_alpha(Image.new("RGBA", (20, 20), (255, 0, 0, ALPHA_NOISE_MAX)))


def test_fit_size_fills_the_matching_dimension():
    square = spec(width=1600, height=1600, fill=0.8)
    assert fit_size((720, 342), square) == (1280, 608)
    assert fit_size((342, 720), square) == (608, 1280)
    assert fit_size((10, 10), square) == (1280, 1280)
    wide = spec(width=1200, height=800, fill=0.9)
    assert fit_size((400, 100), wide) == (1080, 270)  # width-limited
    assert fit_size((100, 400), wide) == (180, 720)  # height-limited
    assert fit_size((1200, 800), wide) == (1080, 720)


def test_product_box_is_centred():
    box = product_box((720, 342), spec(width=1600, height=1600, fill=0.8))
    assert box == (160, 496, 1440, 1104)
    left, top, right, bottom = box
    assert left == 1600 - right and top == 1600 - bottom


# --- arithmetic on real pixels -----------------------------------------------------------------------------


def test_resizing_is_premultiplied_so_hidden_colour_does_not_bleed_into_edges():
    """Red disc on transparent *green*: every visible output pixel must be pure red, up- and downscaled."""
    for size in (900, 150):
        cutout = disc_cutout(size, (255, 0, 0), background=(0, 255, 0))
        out = np.asarray(compose_variant(cutout, spec(background="transparent"), WATERMARK, None))
        visible = out[..., 3] > 0
        assert (out[..., 3] < 255).sum() > 100  # there is an anti-aliased rim to look at
        assert set(map(tuple, out[visible][:, :3])) == {(255, 0, 0)}

    # The same resize on straight RGBA, channel by channel, does bleed: the test above can fail.
    cutout = disc_cutout(900, (255, 0, 0), background=(0, 255, 0))
    straight = [band.resize((320, 320), Image.Resampling.LANCZOS) for band in cutout.split()]
    naive = np.asarray(Image.merge("RGBA", straight))
    rim = (naive[..., 3] > 0) & (naive[..., 3] < 255)
    assert naive[rim][:, 1].max() > 50


@pytest.mark.parametrize(("cutout_size", "grey"), [(1200, 230), (300, 230), (1200, 255), (300, 255)])
def test_no_dark_fringe_when_a_light_product_lands_on_white(cutout_size, grey):
    """Nothing darker than the product itself anywhere (lossless PNG). 8-bit premultiplied rounding may cost
    one level on a grey rim; a white product is exact."""
    cutout = disc_cutout(cutout_size, (grey, grey, grey))
    out = np.asarray(compose_variant(cutout, spec(width=400, height=400), WATERMARK, None)).astype(int)
    assert out.min() >= grey - (1 if grey < 255 else 0)
    assert out.max() == 255
    # Straight (not premultiplied) resampling mixes the hidden black into the rim: the fringe this rules out.
    straight = [band.resize((320, 320), Image.Resampling.LANCZOS) for band in trim_to_alpha(cutout).split()]
    naive = np.asarray(Image.merge("RGBA", straight)).astype(int)
    naive_on_white = naive[..., :3] * naive[..., 3:] / 255 + 255 - naive[..., 3:]
    assert naive_on_white.min() < grey - 5


def test_a_white_product_on_the_marketplace_jpeg_stays_pure_white_everywhere():
    cutout = disc_cutout(600, (255, 255, 255))
    market = DEFAULT_CHANNEL_CONFIG.channel("market")
    assert np.asarray(decode(render_variant(cutout, market, WATERMARK, None))).min() == 255


def test_over_white_is_exact_premultiplied_compositing():
    values = np.arange(256, dtype=np.uint16)
    colour, alpha = np.meshgrid(values, values)
    pixels = np.stack([colour, colour, colour, alpha], axis=2).astype(np.uint8)
    flat = np.asarray(over_white(Image.fromarray(pixels))).astype(int)
    expected = np.floor(colour * alpha / 255 + 0.5).astype(int) + 255 - alpha
    assert np.array_equal(flat[..., 0], expected)


# --- determinism -------------------------------------------------------------------------------------------


def golden_cutout() -> Image.Image:
    """80x60 with a 50x30 product (opaque core, 50 % rim) in haze: fits a 100 px frame at 0.5 unscaled."""
    pixels = np.zeros((60, 80, 4), dtype=np.uint8)
    pixels[..., 3] = 4  # haze
    yy, xx = np.mgrid[0:30, 0:50]
    pixels[15:45, 10:60, 0] = 40 + xx * 4
    pixels[15:45, 10:60, 1] = 200 - yy * 5
    pixels[15:45, 10:60, 2] = 90
    pixels[15:45, 10:60, 3] = 255
    pixels[15:45, 10, 3] = pixels[15:45, 59, 3] = pixels[15, 10:60, 3] = pixels[44, 10:60, 3] = 128
    return Image.fromarray(pixels)


def golden_logo() -> Image.Image:
    logo = Image.new("RGBA", (20, 7), (30, 40, 50, 0))
    logo.paste((30, 40, 50, 255), (2, 1, 18, 6))
    return logo


# sha256 of the decoded pixels (not the file: zlib and libjpeg builds may differ). This tiny render needs no
# resampling, so it pins only this package's own arithmetic: trim, placement, compositing, watermark.
GOLDEN = {
    "white": "51524e09cc5f7a3ff21cc5e0ad6960890c78894fcd6f77ab07feec8b40e5a957",
    "transparent": "64d035dee9ce2a80d0fe1bc8298d07b5c8c1bd10d949ee3aa584e22dfd3c1ba8",
}


@pytest.mark.parametrize("background", ["white", "transparent"])
def test_golden_render_of_a_tiny_synthetic_cutout(background):
    channel = spec(width=100, height=100, fill=0.5, background=background, watermark=True)
    watermark = WatermarkSpec(scale=0.2, margin=0.05, opacity=0.25)
    variant = render_variant(golden_cutout(), channel, watermark, golden_logo())
    assert variant.product_box == (25, 35, 75, 65)
    pixels = decode(variant).tobytes()
    assert hashlib.sha256(pixels).hexdigest() == GOLDEN[background]


@pytest.fixture(scope="module")
def toolbox():
    return case_cutout("01_toolbox_plain_white_paper")


def test_same_cutout_and_config_give_identical_bytes(toolbox):
    logo = default_logo()
    first = render_variants(toolbox, DEFAULT_CHANNEL_CONFIG, logo)
    again = case_cutout("01_toolbox_plain_white_paper")
    second = render_variants(again, DEFAULT_CHANNEL_CONFIG, default_logo())
    assert [v.data for v in first] == [v.data for v in second]
    singles = [render_variant(toolbox, spec, WATERMARK, logo) for spec in DEFAULT_CHANNEL_CONFIG.channels]
    assert first == singles
    assert len({v.sha256 for v in first}) == 3


def test_output_carries_no_metadata_even_when_the_cutout_did(toolbox):
    tagged = toolbox.copy()
    exif = Image.Exif()
    exif[0x010F] = "picr-test-camera"
    tagged.info.update({"icc_profile": b"fake icc", "exif": exif.tobytes(), "dpi": (300, 300)})
    for variant in render_variants(tagged, DEFAULT_CHANNEL_CONFIG, default_logo()):
        image = decode(variant)
        if variant.format == "png":
            assert image.info == {}
        else:
            assert set(image.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
        assert not image.getexif()
        assert b"picr-test-camera" not in variant.data


# --- real photos, measured from decoded pixels -------------------------------------------------------------


@pytest.fixture(scope="module", params=["01_toolbox_plain_white_paper", "05_large_red_anemone_mint_paper",
                                        "10_teddy_bear_autumn_leaves_low_contrast"])
def rendered_case(request):
    cutout = case_cutout(request.param)
    logo = default_logo()
    return {variant.channel: variant for variant in render_variants(cutout, DEFAULT_CHANNEL_CONFIG, logo)}


def test_marketplace_variant_is_a_pure_white_bordered_2000_jpeg_without_watermark(rendered_case):
    variant = rendered_case["market"]
    image = decode(variant)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (2000, 2000))
    assert (variant.ext, variant.content_type, variant.watermarked) == ("jpg", "image/jpeg", False)
    pixels = np.asarray(image)
    ring = np.ones((2000, 2000), dtype=bool)
    ring[4:-4, 4:-4] = False
    assert (pixels[ring] == 255).all()
    assert abs(measured_fill(image) - 0.90) <= 0.02
    # Where the watermark would go, everything outside the product's box is untouched white.
    box = watermark_box(image.size, default_logo().size, WATERMARK)
    free = np.zeros((2000, 2000), dtype=bool)
    free[box[1]:box[3], box[0]:box[2]] = True
    left, top, right, bottom = variant.product_box
    free[top:bottom, left:right] = False
    assert free.sum() > 10_000  # most of the logo's place is clear of the product
    assert (pixels[free] == 255).all()


def test_web_variant_is_a_transparent_1600_png(rendered_case):
    variant = rendered_case["web"]
    image = decode(variant)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (1600, 1600))
    assert variant.watermarked
    box = watermark_box(image.size, default_logo().size, WATERMARK)
    assert abs(measured_fill(image, exclude=box) - 0.80) <= 0.02
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[0, 0] == 0 and alpha[-1, 0] == 0  # the page shows through around the product


def test_social_variant_is_a_1080_jpeg_with_the_watermark_in_its_corner(rendered_case):
    variant = rendered_case["social"]
    image = decode(variant)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (1080, 1080))
    pixels = np.asarray(image).astype(int)
    ring = np.ones((1080, 1080), dtype=bool)
    ring[4:-4, 4:-4] = False
    assert (pixels[ring] == 255).all()
    logo = default_logo()
    box = watermark_box(image.size, logo.size, WATERMARK)
    assert abs(measured_fill(image, exclude=box) - 0.85) <= 0.02
    # The logo's ink shows, faintly, exactly where the logo is opaque.
    ink = np.asarray(logo.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS))[..., 3] > 200
    corner = pixels[box[1]:box[3], box[0]:box[2]].mean(axis=2)
    assert corner[ink].mean() < 225
    assert corner[~ink].mean() > corner[ink].mean() + 20


def test_non_square_channel_fits_the_product_inside_fill_of_both_sides():
    channel = spec(width=1200, height=800, fill=0.9, format="jpeg")
    for width, height in ((400, 100), (100, 400)):
        pixels = np.zeros((height + 20, width + 20, 4), dtype=np.uint8)
        pixels[10:-10, 10:-10] = (30, 60, 90, 255)
        image = decode(render_variant(Image.fromarray(pixels), channel, WATERMARK, None))
        assert image.size == (1200, 800)
        assert abs(measured_fill(image) - 0.9) <= 0.01


def test_a_watermarked_channel_without_a_logo_is_an_error_not_a_silent_skip(toolbox):
    with pytest.raises(ValueError, match="no logo"):
        render_variant(toolbox, DEFAULT_CHANNEL_CONFIG.channel("social"), WATERMARK, None)


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(product=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
       frame=st.tuples(st.integers(64, 3000), st.integers(64, 3000)), fill=st.floats(0.11, 0.98))
def test_fitted_product_touches_fill_on_one_side_and_is_centred(product, frame, fill):
    channel = spec(width=frame[0], height=frame[1], fill=fill, background="transparent")
    max_w, max_h = channel.max_product_size
    left, top, right, bottom = product_box(product, channel)
    assert right - left <= max_w and bottom - top <= max_h
    assert right - left == max_w or bottom - top == max_h
    assert abs(left - (frame[0] - right)) <= 1 and abs(top - (frame[1] - bottom)) <= 1


@settings(max_examples=25, deadline=None)
@given(width=st.integers(64, 1200), height=st.integers(64, 1200), fill=st.floats(0.5, 0.98))
def test_whatever_validation_accepts_keeps_a_jpeg_border_pure_white(width, height, fill):
    """A black product as large as the spec allows still leaves the 4 px ring exactly white after JPEG."""
    try:
        channel = spec(width=width, height=height, fill=fill, format="jpeg")
    except ValueError:
        return  # refused up front: nothing to render
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    decoded = np.asarray(decode(render_variant(Image.fromarray(pixels), channel, WATERMARK, None)))
    ring = np.ones((height, width), dtype=bool)
    ring[4:-4, 4:-4] = False
    assert (decoded[ring] == 255).all()
    assert (decoded[height // 2, width // 2] < 10).all()
