"""Channel rules, set once: what each sales channel gets (size, background, fill, watermark).

The config is data (``config/channels.json``), validated here so that a rule the business cannot afford to
get wrong is refused up front instead of being decided per image: a marketplace channel can never carry a
watermark, is always flattened onto white and is at least 1000 px on its long side. Adding a channel (Etsy,
Shopify, ...) is a config change only; the channel name becomes the S3 prefix ``out/<name>/``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from io import BytesIO
from typing import Literal

from PIL import Image

from picr.records import Record, RecordError, limited, parse

# Every pixel of this outer ring of a white-background variant must decode to exactly #ffffff (verify.py).
BORDER_RING_PX = 4
# JPEG codes 8x8 blocks independently (baseline, 4:4:4): a block with no product in it decodes to exact
# white, but one that holds any product pixel may ring across the whole block. So on a white JPEG nothing
# may be drawn inside a block that also holds ring pixels.
JPEG_BLOCK_PX = 8
# Amazon only enables zoom on main images from 1000 px on the long side; the floor for every marketplace.
MARKETPLACE_MIN_LONG_SIDE = 1000
# Qualities whose DC quantiser reproduces 255 exactly for a white block (every one is checked in
# tests/unit/test_channels.py); 20 qualities between 4 and 45 decode white as 254 and would break the border.
JPEG_QUALITY_RANGE = (50, 100)

_CHANNEL_NAME = re.compile(r"[a-z0-9-]{1,32}")

ChannelKind = Literal["web", "marketplace", "social"]
Corner = Literal["bottom-right", "bottom-left", "top-right", "top-left"]


class ChannelConfigError(ValueError):
    """The channel config cannot be used; the message lists every problem in plain words."""


class WatermarkSpec(Record):
    """How the logo is stamped where a channel allows it: one size, corner, margin and opacity for all."""

    scale: float = limited(0.2, gt=0.0, le=0.5)
    """The logo's longer side as a fraction of the frame's shorter side."""
    corner: Corner = "bottom-right"
    margin: float = limited(0.03, ge=0.0, le=0.25)
    """The gap to both frame edges, as a fraction of the shorter side."""
    # Capped at 0.6: a watermark is meant to be faint, and verify.py recovers the pixels under the logo by
    # dividing by (1 - opacity), which needs the logo to stay see-through.
    opacity: float = limited(0.25, gt=0.0, le=0.6)

    def margin_px(self, frame_size: tuple[int, int]) -> int:
        """The margin in pixels on a frame: a fraction of its shorter side, so it looks alike on any aspect."""
        return round(self.margin * min(frame_size))


class ChannelSpec(Record):
    """One output variant: exact pixel size, format, background, product fill and watermark or not."""

    name: str
    """Lowercase [a-z0-9-]{1,32}; becomes the S3 prefix out/<name>/."""
    kind: ChannelKind
    # 6000 px caps a frame and its working copies at a few hundred MB, inside the variants function's memory.
    width: int = limited(ge=64, le=6000)
    height: int = limited(ge=64, le=6000)
    format: Literal["png", "jpeg"]
    background: Literal["transparent", "white"]
    # Above 0.98 the product would touch the white border; under 0.1 it is a speck, i.e. a typo.
    fill: float = limited(gt=0.1, le=0.98)
    """The product's longer side over the frame's matching side."""
    watermark: bool
    jpeg_quality: int = limited(90, ge=JPEG_QUALITY_RANGE[0], le=JPEG_QUALITY_RANGE[1])

    def _rules(self) -> list[str]:
        problems: list[str] = []
        if not _CHANNEL_NAME.fullmatch(self.name):
            problems.append(f"channel name {self.name!r} must be 1-32 characters of lowercase a-z, 0-9 or '-' "
                            "(it becomes the S3 prefix out/<name>/)")
        if self.background == "transparent" and self.format != "png":
            problems.append("a transparent background needs format 'png' (JPEG has no alpha)")
        if self.kind == "marketplace":
            if self.watermark:
                problems.append("a marketplace channel can never carry a watermark (listings get suppressed)")
            if self.background != "white":
                problems.append("a marketplace channel must use a white background")
            if max(self.width, self.height) < MARKETPLACE_MIN_LONG_SIDE:
                problems.append(
                    f"a marketplace channel needs at least {MARKETPLACE_MIN_LONG_SIDE} px on its long side, "
                    f"got {self.width}x{self.height}"
                )
        if self.background == "white" and not self._product_clears_border():
            blocks = " (or the 8x8 JPEG blocks that hold it)" if self.format == "jpeg" else ""
            problems.append(
                f"fill {self.fill} puts the product too close to the edge of a {self.width}x{self.height} "
                f"frame: it would reach the {BORDER_RING_PX} px border{blocks} that must stay pure white; "
                "lower the fill"
            )
        return problems

    @property
    def ext(self) -> str:
        """File extension for the S3 key."""
        return "png" if self.format == "png" else "jpg"

    @property
    def content_type(self) -> str:
        """MIME type for the S3 object."""
        return "image/png" if self.format == "png" else "image/jpeg"

    @property
    def max_product_size(self) -> tuple[int, int]:
        """Largest box the product may occupy: fill times each frame dimension, rounded to whole pixels."""
        return round(self.fill * self.width), round(self.fill * self.height)

    def _product_clears_border(self) -> bool:
        # The centred box only grows towards the border as the product grows, so the largest one decides.
        max_w, max_h = self.max_product_size
        x0, y0 = (self.width - max_w) // 2, (self.height - max_h) // 2
        x_lo, x_hi = drawable_span(self.width, self.format)
        y_lo, y_hi = drawable_span(self.height, self.format)
        return x0 >= x_lo and x0 + max_w <= x_hi and y0 >= y_lo and y0 + max_h <= y_hi


def drawable_span(length: int, fmt: str) -> tuple[int, int]:
    """The [start, end) pixel range along a side of ``length`` px that can hold content on a white variant.

    For PNG (lossless) staying off the ring's pixels is enough; for JPEG content must also stay out of every
    8-px block that holds ring pixels, because a block with any content in it may ring to off-white.
    """
    block = JPEG_BLOCK_PX if fmt == "jpeg" else 1
    return -(-BORDER_RING_PX // block) * block, ((length - BORDER_RING_PX) // block) * block


class ChannelConfig(Record):
    """Every channel a shop publishes to plus the one watermark rule they share."""

    channels: tuple[ChannelSpec, ...] = limited(min_length=1, max_length=20)
    watermark: WatermarkSpec = WatermarkSpec()

    def _rules(self) -> list[str]:
        """Names unique, and every white channel's watermark clear of the pure-white border."""
        problems: list[str] = []
        seen: set[str] = set()
        for channel in self.channels:
            if channel.name in seen:
                problems.append(f"channel name {channel.name!r} is used twice (names must be unique)")
            seen.add(channel.name)
            stamped_on_white = channel.watermark and channel.background == "white"
            if stamped_on_white and not self._watermark_clears_border(channel):
                problems.append(
                    f"channel {channel.name!r}: watermark margin {self.watermark.margin} puts the logo "
                    f"inside the {BORDER_RING_PX} px border that must stay pure white; raise the margin"
                )
        return problems

    def channel(self, name: str) -> ChannelSpec:
        """The spec called ``name`` (KeyError if the config has no such channel)."""
        for spec in self.channels:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def _watermark_clears_border(self, channel: ChannelSpec) -> bool:
        # Only the logo's edges nearest the frame edges matter, and they sit exactly `margin` away.
        margin_px = self.watermark.margin_px((channel.width, channel.height))
        vertical, horizontal = self.watermark.corner.split("-")
        x_lo, x_hi = drawable_span(channel.width, channel.format)
        y_lo, y_hi = drawable_span(channel.height, channel.format)
        x_ok = margin_px >= x_lo if horizontal == "left" else channel.width - margin_px <= x_hi
        y_ok = margin_px >= y_lo if vertical == "top" else channel.height - margin_px <= y_hi
        return x_ok and y_ok


DEFAULT_CHANNEL_CONFIG = ChannelConfig(
    channels=(
        ChannelSpec(name="web", kind="web", width=1600, height=1600, format="png", background="transparent",
                    fill=0.80, watermark=True),
        ChannelSpec(name="market", kind="marketplace", width=2000, height=2000, format="jpeg",
                    background="white", fill=0.90, watermark=False),
        ChannelSpec(name="social", kind="social", width=1080, height=1080, format="jpeg", background="white",
                    fill=0.85, watermark=True),
    ),
    watermark=WatermarkSpec(),
)


def load_channel_config(raw: bytes | None) -> ChannelConfig:
    """Parse ``config/channels.json``; ``None`` (no file in the bucket) means the shipped defaults.

    Raises ChannelConfigError listing every problem, each prefixed with where it is (e.g. ``channels[1]
    'market'``), so a shop owner editing the JSON can fix it without reading a traceback.
    """
    if raw is None:
        return DEFAULT_CHANNEL_CONFIG
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChannelConfigError(f"channel config is not valid JSON: {exc}") from exc
    try:
        return parse(ChannelConfig, data)
    except RecordError as exc:
        lines = [f"- {_where(problem.loc, data)}{problem.message}" for problem in exc.problems]
        raise ChannelConfigError("channel config is invalid:\n" + "\n".join(lines)) from None


def _where(loc: tuple[int | str, ...], data: object) -> str:
    """Human location of a validation error, naming the channel when the JSON gave it a name."""
    if not loc:
        return ""
    parts: list[str] = []
    for index, key in enumerate(loc):
        if isinstance(key, int) and parts:
            parts[-1] += f"[{key}]"
            if loc[:index] == ("channels",):
                name = _channel_name(data, key)
                if name:
                    parts[-1] += f" {name!r}"
        else:
            parts.append(str(key))
    return ".".join(parts) + ": "


def _channel_name(data: object, index: int) -> str | None:
    if isinstance(data, dict):
        channels = data.get("channels")
        if isinstance(channels, list) and index < len(channels) and isinstance(channels[index], dict):
            name = channels[index].get("name")
            return name if isinstance(name, str) else None
    return None


@cache
def _logo_png_bytes() -> bytes:
    return files("picr.image").joinpath("assets/logo.png").read_bytes()


def default_logo() -> Image.Image:
    """The shipped watermark logo (``assets/logo.png``, made by tools/make_logo.py) as a fresh RGBA image."""
    with Image.open(BytesIO(_logo_png_bytes())) as logo:
        return logo.convert("RGBA")
