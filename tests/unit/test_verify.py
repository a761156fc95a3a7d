import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from picr.image.channels import DEFAULT_CHANNEL_CONFIG, ChannelSpec, WatermarkSpec, default_logo
from picr.image.render import compose_variant, encode_variant, render_variant, render_variants
from picr.image.verify import WATERMARK_MIN_CONTRAST, check_variant
from tools.shared_data import CASES

WATERMARK = DEFAULT_CHANNEL_CONFIG.watermark
MARKET = DEFAULT_CHANNEL_CONFIG.channel("market")
SOCIAL = DEFAULT_CHANNEL_CONFIG.channel("social")
WEB = DEFAULT_CHANNEL_CONFIG.channel("web")


@pytest.fixture(scope="module")
def logo():
    return default_logo()


@pytest.fixture(scope="module")
def cutout():
    """The toolbox photo cut out with its ground-truth mask."""
    image = Image.open(CASES / "01_toolbox_plain_white_paper" / "photo.jpg").convert("RGB")
    image.putalpha(Image.open(CASES / "01_toolbox_plain_white_paper" / "mask.png").convert("L"))
    return image


@pytest.fixture(scope="module")
def variants(cutout, logo):
    return {variant.channel: variant for variant in render_variants(cutout, DEFAULT_CHANNEL_CONFIG, logo)}


def unvalidated(spec: ChannelSpec, **changes) -> ChannelSpec:
    """A spec the config would refuse, to simulate a renderer bug (made without the record's checks)."""
    copy = object.__new__(ChannelSpec)
    for name, value in {**vars(spec), **changes}.items():
        object.__setattr__(copy, name, value)
    return copy


def failures_mentioning(result, words):
    return [failure for failure in result.failures if words in failure]


def test_good_variants_pass_every_check(variants, logo):
    for spec in DEFAULT_CHANNEL_CONFIG.channels:
        result = check_variant(variants[spec.name], spec, WATERMARK, logo)
        assert result.passed, result.failures
        assert result.failures == []
        assert result.checks["size_ok"] and result.checks["mode_ok"] and result.checks["metadata_free"]
        assert abs(result.checks["fill"] - spec.fill) <= 0.02
        assert result.checks["watermark_found"] is spec.watermark
    market = check_variant(variants["market"], MARKET, WATERMARK, logo)
    assert market.checks["border_white"] and market.checks["marketplace_size_ok"]
    assert market.checks["watermark_contrast"] < WATERMARK_MIN_CONTRAST


def test_result_is_json_ready_for_the_manifest(variants, logo):
    result = check_variant(variants["social"], SOCIAL, WATERMARK, logo)
    record = json.loads(json.dumps(result.as_dict()))
    assert record["passed"] is True
    assert record["checks"]["width"] == 1080


def test_bytes_that_do_not_decode_are_reported(variants, logo):
    broken = dataclasses.replace(variants["market"], data=variants["market"].data[:1000])
    result = check_variant(broken, MARKET, WATERMARK, logo)
    assert not result.passed
    assert failures_mentioning(result, "do not decode as an image")


def test_wrong_size_is_reported(cutout, logo):
    variant = render_variant(cutout, unvalidated(MARKET, width=1999), WATERMARK, logo)
    result = check_variant(variant, MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "image is 1999x2000 px, channel needs 2000x2000")


def test_a_variant_describing_itself_wrongly_is_reported(variants, logo):
    relabelled = dataclasses.replace(variants["market"], watermarked=True)
    result = check_variant(relabelled, MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "describes itself as 'market' jpeg 2000x2000 watermarked=True")


def test_a_watermark_on_the_marketplace_variant_is_caught(cutout, logo):
    stamped = render_variant(cutout, unvalidated(MARKET, watermark=True), WATERMARK, logo)
    result = check_variant(dataclasses.replace(stamped, watermarked=False), MARKET, WATERMARK, logo)
    assert not result.passed
    assert failures_mentioning(result, "a watermark was found, but a marketplace channel must not carry one")
    assert result.checks["watermark_found"] is True


def test_a_missing_watermark_is_caught(cutout, logo):
    bare = render_variant(cutout, unvalidated(SOCIAL, watermark=False), WATERMARK, logo)
    result = check_variant(dataclasses.replace(bare, watermarked=True), SOCIAL, WATERMARK, logo)
    assert result.failures == [
        "channel 'social': the watermark is missing or not visible in the bottom-right corner"
    ]


def test_a_watermark_on_the_transparent_web_png_is_found_and_its_absence_caught(cutout, logo, variants):
    assert check_variant(variants["web"], WEB, WATERMARK, logo).checks["watermark_found"] is True
    bare = render_variant(cutout, unvalidated(WEB, watermark=False), WATERMARK, logo)
    result = check_variant(dataclasses.replace(bare, watermarked=True), WEB, WATERMARK, logo)
    assert failures_mentioning(result, "watermark is missing")


def test_the_watermark_is_told_apart_over_a_textured_product_too(logo):
    """A busy product under the logo (fill 0.98 reaches the corner) must not hide it or fake it."""
    rng = np.random.default_rng(11)
    texture = Image.fromarray(rng.integers(60, 256, (100, 100, 3), dtype=np.uint8)).resize((800, 800))
    product = texture.convert("RGBA")
    channel = ChannelSpec(name="busy", kind="social", width=1080, height=1080, format="jpeg",
                          background="white", fill=0.98, watermark=True)
    stamped = check_variant(render_variant(product, channel, WATERMARK, logo), channel, WATERMARK, logo)
    assert stamped.passed, stamped.failures
    bare_spec = unvalidated(channel, watermark=False)
    bare = check_variant(render_variant(product, bare_spec, WATERMARK, logo), bare_spec, WATERMARK, logo)
    assert bare.passed, bare.failures
    assert bare.checks["watermark_found"] is False


def test_an_off_white_border_is_caught(cutout, logo, variants):
    image = compose_variant(cutout, MARKET, WATERMARK, logo)
    image.putpixel((1000, 1), (250, 250, 250))
    tampered = dataclasses.replace(variants["market"], data=encode_variant(image, MARKET))
    result = check_variant(tampered, MARKET, WATERMARK, logo)
    assert not result.checks["border_white"]
    assert failures_mentioning(result, "of the 4 px border are not pure white (#ffffff)")


def test_a_wrong_fill_is_caught(cutout, logo):
    variant = render_variant(cutout, unvalidated(MARKET, fill=0.7), WATERMARK, logo)
    result = check_variant(variant, MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "the product fills 0.70")


def test_an_off_centre_product_is_caught(cutout, logo, variants):
    image = compose_variant(cutout, MARKET, WATERMARK, logo)
    shifted = Image.new("RGB", image.size, (255, 255, 255))
    shifted.paste(image.crop((0, 0, 1900, 2000)), (92, 0))
    tampered = dataclasses.replace(variants["market"], data=encode_variant(shifted, MARKET))
    result = check_variant(tampered, MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "off centre")


def test_an_empty_frame_is_caught(variants, logo):
    blank = encode_variant(Image.new("RGB", (2000, 2000), (255, 255, 255)), MARKET)
    result = check_variant(dataclasses.replace(variants["market"], data=blank), MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "no product is visible")


def test_metadata_in_the_file_is_caught(cutout, logo, variants):
    exif = Image.Exif()
    exif[0x010F] = "camera"
    buffer = io.BytesIO()
    compose_variant(cutout, MARKET, WATERMARK, logo).save(buffer, format="JPEG", quality=90, subsampling=0,
                                                          exif=exif.tobytes(), comment=b"hello")
    tampered = dataclasses.replace(variants["market"], data=buffer.getvalue())
    result = check_variant(tampered, MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "metadata it must not have (JPEG APP1 segment, JPEG comment)")

    text = PngInfo()
    text.add_text("Software", "something")
    png = io.BytesIO()
    compose_variant(cutout, WEB, WATERMARK, logo).save(png, format="PNG", pnginfo=text)
    tampered = dataclasses.replace(variants["web"], data=png.getvalue())
    assert failures_mentioning(check_variant(tampered, WEB, WATERMARK, logo), "PNG chunk tEXt")


def test_wrong_mode_and_format_are_caught(cutout, logo, variants):
    result = check_variant(variants["web"], unvalidated(WEB, background="white"), WATERMARK, logo)
    assert failures_mentioning(result, "image mode is RGBA, the channel needs RGB")
    as_png = encode_variant(compose_variant(cutout, MARKET, WATERMARK, logo), WEB)
    result = check_variant(dataclasses.replace(variants["market"], data=as_png), MARKET, WATERMARK, logo)
    assert failures_mentioning(result, "file is PNG, the channel needs JPEG")


def test_a_small_marketplace_image_is_caught(cutout, logo):
    small = unvalidated(MARKET, width=800, height=800)
    result = check_variant(render_variant(cutout, small, WATERMARK, logo), small, WATERMARK, logo)
    assert result.failures == [
        "channel 'market': a marketplace image needs 1000 px on its long side, this one has 800"
    ]


def test_without_the_logo_a_watermark_cannot_be_confirmed(variants):
    result = check_variant(variants["social"], SOCIAL, WATERMARK, None)
    assert failures_mentioning(result, "cannot check the watermark")
    assert check_variant(variants["market"], MARKET, WATERMARK, None).passed


def test_a_different_watermark_spec_is_looked_for_where_it_says(cutout, logo):
    top_left = WatermarkSpec(corner="top-left", opacity=0.4)
    variant = render_variant(cutout, SOCIAL, top_left, logo)
    assert check_variant(variant, SOCIAL, top_left, logo).passed
    assert failures_mentioning(check_variant(variant, SOCIAL, WATERMARK, logo), "watermark is missing")
