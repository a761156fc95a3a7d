"""Cutout in, channel variant out: trim, scale to the channel's fill, centre, composite, watermark, encode.

Everything here is fixed arithmetic on the pixels and the ChannelSpec: no randomness, no clock, no metadata,
so the same cutout and config give the same bytes every time. Colour is kept premultiplied by alpha from the
moment the cutout is trimmed until the product sits on its frame, because resampling or compositing straight
RGBA lets the (arbitrary, usually black) colour of transparent pixels bleed into the product's edge.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from io import BytesIO

import numpy as np
from PIL import Image, ImageChops

from picr.image.channels import ChannelConfig, ChannelSpec, WatermarkSpec
from picr.image.watermark import apply_watermark

# Alpha at or below this (8/255, about 3 %) is segmentation haze, not product: it must not widen the trim box.
# On white such a pixel shifts the background by at most 8 levels, which nobody sees, while a model's faint
# halo can reach the frame edges and would otherwise shrink the product to a fraction of its fill.
ALPHA_NOISE_MAX = 8
# PNG deflate settings, fixed so the bytes are reproducible. Z_RLE on Pillow's filtered rows was both the
# smallest and the fastest option on the dev photos (web 1600x1600: 1.54 MB in 0.09 s, against 1.57 MB in
# 0.52 s for level 6 with Pillow's default Z_FILTERED), because filtered photo rows are mostly short runs.
PNG_COMPRESS_LEVEL = 6
PNG_STRATEGY = zlib.Z_RLE


@dataclass(frozen=True)
class RenderedVariant:
    """One encoded variant plus what the manifest records about it."""

    channel: str
    data: bytes
    width: int
    height: int
    format: str
    ext: str
    content_type: str
    watermarked: bool
    product_box: tuple[int, int, int, int]  # (left, top, right, bottom) where the product was placed
    image: Image.Image = field(repr=False, compare=False)
    """The frame ``data`` encodes (for a preview made without decoding ``data`` again)."""

    @property
    def sha256(self) -> str:
        """Hex digest of the encoded bytes (identical for identical inputs)."""
        return hashlib.sha256(self.data).hexdigest()


def trim_to_alpha(cutout: Image.Image) -> Image.Image:
    """The cutout cropped to the bounding box of its alpha above ALPHA_NOISE_MAX, as RGBA.

    Raises ValueError when the image has no alpha channel or nothing in it is more than haze.
    """
    if "A" not in cutout.getbands():
        raise ValueError(f"cutout has no alpha channel (mode {cutout.mode}); the cutout step must supply one")
    solid = cutout.getchannel("A").point([0 if value <= ALPHA_NOISE_MAX else 255 for value in range(256)])
    box = solid.getbbox()
    if box is None:
        raise ValueError(f"cutout is empty: no pixel has alpha above {ALPHA_NOISE_MAX}/255")
    return cutout.crop(box).convert("RGBA")


def fit_size(product_size: tuple[int, int], spec: ChannelSpec) -> tuple[int, int]:
    """Product size on the frame: as large as fits in fill x width by fill x height, aspect kept.

    On a square frame this makes the product's longer side span exactly ``fill`` of the frame.
    """
    width, height = product_size
    max_w, max_h = spec.max_product_size
    scale = min(max_w / width, max_h / height)
    return min(max_w, max(1, round(width * scale))), min(max_h, max(1, round(height * scale)))


def product_box(product_size: tuple[int, int], spec: ChannelSpec) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the fitted product, centred (ties round towards the top-left)."""
    fitted_w, fitted_h = fit_size(product_size, spec)
    left, top = (spec.width - fitted_w) // 2, (spec.height - fitted_h) // 2
    return left, top, left + fitted_w, top + fitted_h


def over_white(image: Image.Image) -> Image.Image:
    """Flatten an RGBA (or premultiplied RGBa) image onto pure white, exactly: colour + (255 - alpha).

    Works on premultiplied values, so a half-transparent edge pixel becomes a blend of its own colour and
    white and never picks up the black hidden in transparent pixels (no dark fringe). Pillow's RGBA -> RGBa
    conversion rounds colour * alpha / 255 to nearest, and its saturating add clips colour that Lanczos
    overshoot pushed above alpha to white, all in C.
    """
    premultiplied = image if image.mode == "RGBa" else image.convert("RGBA").convert("RGBa")
    red, green, blue, alpha = premultiplied.split()
    uncovered = ImageChops.invert(alpha)
    return Image.merge("RGB", [ImageChops.add(band, uncovered) for band in (red, green, blue)])


def _unpremultiply(premultiplied: Image.Image) -> Image.Image:
    """RGBa -> straight RGBA, colour = round(colour * 255 / alpha) (Pillow's conversion can be a level off).

    Only partly transparent pixels need the division (opaque ones are already straight), which keeps this
    cheap on a large frame. Fully transparent pixels become (0, 0, 0, 0); Lanczos ringing can leave a stray
    colour value there, and colour is clipped to alpha for the same reason.
    """
    values = np.array(premultiplied)  # a writable copy
    alpha = values[..., 3]
    values[alpha == 0] = 0
    rows, cols = np.nonzero((alpha > 0) & (alpha < 255))
    part_alpha = alpha[rows, cols].astype(np.uint32)[:, None]
    colour = np.minimum(values[rows, cols, :3], part_alpha)
    values[rows, cols, :3] = (colour * 255 + part_alpha // 2) // part_alpha
    return Image.fromarray(values)


def _prepare(cutout: Image.Image) -> Image.Image:
    """Trimmed and premultiplied (RGBa): the form every channel starts from."""
    return trim_to_alpha(cutout).convert("RGBa")


def _compose(
    product: Image.Image, spec: ChannelSpec, watermark: WatermarkSpec, logo: Image.Image | None
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Place a trimmed RGBa product on the channel's frame; return the finished pixels and where it went."""
    box = product_box(product.size, spec)
    left, top, right, bottom = box
    placed = product
    if placed.size != (right - left, bottom - top):
        # Lanczos on premultiplied values, with Pillow's fixed-point (integer, reproducible) resampler.
        placed = product.resize((right - left, bottom - top), Image.Resampling.LANCZOS)
    if spec.background == "white":
        image = Image.new("RGB", (spec.width, spec.height), (255, 255, 255))
        image.paste(over_white(placed), (left, top))
    else:
        image = Image.new("RGBA", (spec.width, spec.height), (0, 0, 0, 0))
        image.paste(_unpremultiply(placed), (left, top))
    if spec.watermark:
        if logo is None:
            raise ValueError(f"channel {spec.name!r} is watermarked but no logo was given (see default_logo)")
        image = apply_watermark(image, logo, watermark)
    return image, box


def compose_variant(
    cutout: Image.Image, spec: ChannelSpec, watermark: WatermarkSpec, logo: Image.Image | None
) -> Image.Image:
    """The finished frame before encoding: RGBA for a transparent channel, RGB for a white one."""
    return _compose(_prepare(cutout), spec, watermark, logo)[0]


def encode_variant(image: Image.Image, spec: ChannelSpec) -> bytes:
    """Encode with fixed settings and no metadata (no EXIF, ICC, text or time chunks).

    JPEG: the channel's quality (default 90: mean error 0.1-0.5 levels at a quarter to a third of q100's size
    on the dev photos), 4:4:4 because 4:2:0 smears saturated product colour over 2x2 pixels (worst error 31
    levels against 20 on the red flower) and would put the border ring in the same 16-px chroma blocks as the
    product, ``optimize`` on (Huffman tables fitted to the image: smaller, still deterministic), baseline so
    every 8x8 block decodes on its own.
    PNG: fixed zlib level and strategy, no optimisation passes; Pillow writes no tIME or text chunks.
    """
    buffer = BytesIO()
    if spec.format == "jpeg":
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        rgb.save(
            buffer, format="JPEG", quality=spec.jpeg_quality, subsampling=0, optimize=True, progressive=False
        )
    else:
        image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_STRATEGY)
    return buffer.getvalue()


def _render(
    product: Image.Image, spec: ChannelSpec, watermark: WatermarkSpec, logo: Image.Image | None
) -> RenderedVariant:
    image, box = _compose(product, spec, watermark, logo)
    return RenderedVariant(
        channel=spec.name,
        data=encode_variant(image, spec),
        width=spec.width,
        height=spec.height,
        format=spec.format,
        ext=spec.ext,
        content_type=spec.content_type,
        watermarked=spec.watermark,
        product_box=box,
        image=image,
    )


def render_variant(
    cutout: Image.Image, spec: ChannelSpec, watermark: WatermarkSpec, logo: Image.Image | None
) -> RenderedVariant:
    """One channel's encoded variant from a cutout (RGBA/LA with real alpha). Same inputs -> same bytes."""
    return _render(_prepare(cutout), spec, watermark, logo)


def render_variants(
    cutout: Image.Image, config: ChannelConfig, logo: Image.Image | None
) -> list[RenderedVariant]:
    """Every channel's variant, in config order; trims and premultiplies the cutout once for all of them."""
    product = _prepare(cutout)
    return [_render(product, spec, config.watermark, logo) for spec in config.channels]
