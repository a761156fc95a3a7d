import io
import json
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from PIL import Image

from picr.image.channels import (
    DEFAULT_CHANNEL_CONFIG,
    JPEG_QUALITY_RANGE,
    ChannelConfig,
    ChannelConfigError,
    ChannelSpec,
    WatermarkSpec,
    default_logo,
    drawable_span,
    load_channel_config,
)
from picr.records import RecordError
from tools.make_logo import make_logo

WEB = {"name": "web", "kind": "web", "width": 1600, "height": 1600, "format": "png",
       "background": "transparent", "fill": 0.8, "watermark": True}
MARKET = {"name": "market", "kind": "marketplace", "width": 2000, "height": 2000, "format": "jpeg",
          "background": "white", "fill": 0.9, "watermark": False}


def config_bytes(*channels, **extra):
    return json.dumps({"channels": list(channels), **extra}).encode()


def refusal(raw):
    with pytest.raises(ChannelConfigError) as caught:
        load_channel_config(raw)
    return str(caught.value)


def test_defaults_are_the_three_documented_channels():
    by_name = {spec.name: spec for spec in DEFAULT_CHANNEL_CONFIG.channels}
    web, market, social = by_name["web"], by_name["market"], by_name["social"]
    assert (web.width, web.height, web.format, web.background, web.fill, web.watermark) == (
        1600, 1600, "png", "transparent", 0.8, True)
    assert (market.kind, market.width, market.height, market.format, market.background, market.fill) == (
        "marketplace", 2000, 2000, "jpeg", "white", 0.9)
    assert market.watermark is False
    assert (social.width, social.height, social.format, social.background, social.fill, social.watermark) == (
        1080, 1080, "jpeg", "white", 0.85, True)
    assert (web.ext, web.content_type, market.ext, market.content_type) == (
        "png", "image/png", "jpg", "image/jpeg")


def test_no_file_means_defaults_and_defaults_round_trip_through_json():
    assert load_channel_config(None) is DEFAULT_CHANNEL_CONFIG
    raw = DEFAULT_CHANNEL_CONFIG.to_json().encode()
    assert load_channel_config(raw) == DEFAULT_CHANNEL_CONFIG


def test_a_watermark_on_a_marketplace_channel_is_refused_with_the_channel_named():
    message = refusal(config_bytes(WEB, {**MARKET, "watermark": True}))
    assert "channels[1] 'market'" in message
    assert "marketplace channel can never carry a watermark" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"background": "transparent", "format": "png"}, "must use a white background"),
        ({"width": 800, "height": 800}, "at least 1000 px on its long side"),
    ],
)
def test_marketplace_rules_are_structural(change, words):
    assert words in refusal(config_bytes({**MARKET, **change}))


def test_a_transparent_jpeg_is_refused():
    assert "transparent background needs format 'png'" in refusal(config_bytes({**WEB, "format": "jpeg"}))


def test_shops_add_channels_by_config_alone():
    etsy = {**MARKET, "name": "etsy", "width": 2000, "height": 2000}
    shopify = {**WEB, "name": "shopify", "width": 2048, "height": 2048}
    portrait = {**MARKET, "name": "catalogue-a4", "width": 1240, "height": 1754, "format": "png"}
    config = load_channel_config(config_bytes(WEB, MARKET, etsy, shopify, portrait))
    assert [spec.name for spec in config.channels] == ["web", "market", "etsy", "shopify", "catalogue-a4"]
    assert config.channel("etsy").kind == "marketplace"
    assert config.channel("shopify").width == 2048
    assert config.watermark == WatermarkSpec()


@pytest.mark.parametrize("name", ["Web", "out/web", "", "a" * 33, "web_1", "café", "web "])
def test_channel_names_must_be_safe_s3_prefixes(name):
    message = refusal(config_bytes({**WEB, "name": name}))
    assert "must be 1-32 characters of lowercase a-z, 0-9 or '-'" in message


@pytest.mark.parametrize("name", ["etsy-uk", "a" * 32, "2000"])
def test_valid_channel_names_are_accepted(name):
    assert load_channel_config(config_bytes({**WEB, "name": name})).channels[0].name == name


def test_duplicate_channel_names_are_refused():
    assert "'web' is used twice" in refusal(config_bytes(WEB, {**WEB, "width": 1000, "height": 1000}))


def test_a_typo_in_a_field_is_reported_not_ignored():
    message = refusal(config_bytes({**WEB, "watermak": False}))
    assert "channels[0] 'web'.watermak" in message


def test_every_problem_is_listed_and_the_error_is_a_value_error():
    with pytest.raises(ValueError, match="channel config is invalid") as caught:
        load_channel_config(config_bytes({**MARKET, "fill": 1.5}, {**WEB, "width": 10}))
    message = str(caught.value)
    assert "channels[0] 'market'.fill" in message
    assert "channels[1] 'web'.width" in message
    assert "Value error," not in message


def test_broken_json_gets_a_readable_message():
    assert "not valid JSON" in refusal(b'{"channels": [')
    assert "not valid JSON" in refusal(b"\xff\xfe")


def test_fill_is_bounded_so_the_product_never_touches_the_border():
    assert "fill" in refusal(config_bytes({**MARKET, "fill": 0.99}))
    # 0.98 on the default sizes leaves every edge block of the JPEG free of product.
    assert load_channel_config(config_bytes({**MARKET, "fill": 0.98})).channels[0].fill == 0.98
    small = {**WEB, "width": 500, "height": 500, "background": "white", "fill": 0.98}
    # 500 px at 0.98 leaves a 5 px margin: clear of a lossless PNG's 4 px ring, not of a JPEG's first block.
    assert load_channel_config(config_bytes(small)).channels[0].fill == 0.98
    assert "8x8 JPEG blocks" in refusal(config_bytes({**small, "format": "jpeg"}))


def test_drawable_span_keeps_jpeg_content_out_of_the_ring_blocks():
    assert drawable_span(1080, "jpeg") == (8, 1072)
    assert drawable_span(1004, "jpeg") == (8, 1000)
    assert drawable_span(1001, "jpeg") == (8, 992)
    assert drawable_span(1001, "png") == (4, 997)


def ring_off_white_after_jpeg(size: int, start: int, end: int) -> int:
    frame = np.full((size, size, 3), 255, dtype=np.uint8)
    frame[start:end, start:end] = 0
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=90, subsampling=0, optimize=True)
    decoded = np.asarray(Image.open(buffer).convert("RGB"))
    ring = np.ones((size, size), dtype=bool)
    ring[4:-4, 4:-4] = False
    return int((decoded[ring] != 255).any(axis=1).sum())


@pytest.mark.parametrize("size", [64, 77, 100])
def test_drawable_span_is_tight_one_pixel_more_breaks_the_white_border(size):
    start, end = drawable_span(size, "jpeg")
    assert ring_off_white_after_jpeg(size, start, end) == 0
    assert ring_off_white_after_jpeg(size, start - 1, end) > 0
    assert ring_off_white_after_jpeg(size, start, end + 1) > 0


def test_a_watermark_margin_inside_the_white_border_is_refused_for_white_channels_only():
    social = {**MARKET, "name": "social", "kind": "social", "width": 1080, "height": 1080, "watermark": True}
    assert "watermark margin 0.0" in refusal(config_bytes(social, watermark={"margin": 0.0}))
    config = load_channel_config(config_bytes(WEB, watermark={"margin": 0.0, "corner": "top-left"}))
    assert config.watermark.corner == "top-left"


def test_watermark_spec_bounds():
    with pytest.raises(RecordError):
        WatermarkSpec(opacity=0.9)
    with pytest.raises(RecordError):
        WatermarkSpec(corner="middle")
    with pytest.raises(RecordError):
        WatermarkSpec(scale=0.0)


def test_specs_are_immutable():
    with pytest.raises(FrozenInstanceError):
        DEFAULT_CHANNEL_CONFIG.channels[0].fill = 0.5


def test_jpeg_quality_outside_the_white_safe_range_is_refused():
    assert "jpeg_quality" in refusal(config_bytes({**MARKET, "jpeg_quality": 30}))


def test_every_allowed_jpeg_quality_keeps_white_blocks_pure_white():
    """The border guarantee rests on the DC quantiser reproducing 255: check every allowed quality."""
    frame = np.full((64, 64, 3), 255, dtype=np.uint8)
    frame[24:40, 24:40] = (200, 30, 40)
    image = Image.fromarray(frame)
    for quality in range(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=True)
        decoded = np.asarray(Image.open(buffer).convert("RGB"))
        assert (decoded[:16] == 255).all() and (decoded[-16:] == 255).all(), quality
        assert (decoded[:, :16] == 255).all() and (decoded[:, -16:] == 255).all(), quality


def test_some_low_jpeg_quality_would_break_pure_white():
    """Why the range starts at 50: at some lower qualities a white block decodes as 254."""
    white = Image.new("RGB", (16, 16), (255, 255, 255))
    broken = []
    for quality in range(1, JPEG_QUALITY_RANGE[0]):
        buffer = io.BytesIO()
        white.save(buffer, format="JPEG", quality=quality, subsampling=0)
        if (np.asarray(Image.open(buffer).convert("RGB")) != 255).any():
            broken.append(quality)
    assert broken


def test_default_logo_is_the_asset_tools_make_logo_draws():
    logo = default_logo()
    assert logo.mode == "RGBA"
    assert logo.size == (354, 120)
    alpha = np.asarray(logo.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255
    assert 0.15 < (alpha > 127).mean() < 0.6
    assert np.array_equal(np.asarray(logo), np.asarray(make_logo()))


def test_default_logo_returns_a_fresh_image_each_time():
    first = default_logo()
    first.putpixel((0, 0), (1, 2, 3, 4))
    assert default_logo().getpixel((0, 0)) != (1, 2, 3, 4)


def test_config_model_accepts_python_objects_too():
    config = ChannelConfig(channels=[ChannelSpec(**WEB)])
    assert config.channel("web").fill == 0.8
    with pytest.raises(KeyError):
        config.channel("nope")
