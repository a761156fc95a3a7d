"""The watermark rule, the dull deterministic way: the logo scaled to a fixed fraction of the frame, put in a
fixed corner at a fixed margin, at low opacity, composited with exact integer arithmetic.

Whether a channel gets a watermark at all is decided by its ChannelSpec (never per image); this module only
knows how to stamp one, and where it goes, so verify.py can look for it in the same place.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from picr.image.channels import WatermarkSpec


def logo_size_on_frame(
    frame_size: tuple[int, int], logo_size: tuple[int, int], spec: WatermarkSpec
) -> tuple[int, int]:
    """Size of the logo on a frame: its longer side is ``scale`` x the frame's shorter side, aspect kept."""
    target = max(1, round(spec.scale * min(frame_size)))
    longer = max(logo_size)
    return max(1, round(logo_size[0] * target / longer)), max(1, round(logo_size[1] * target / longer))


def watermark_box(
    size: tuple[int, int], logo_size: tuple[int, int], spec: WatermarkSpec
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the stamped logo on a frame of ``size``.

    ``logo_size`` is the logo file's own size (before scaling). The logo's edges nearest the chosen corner sit
    ``margin`` x the frame's shorter side from the frame edges, so the same margin holds on any aspect ratio.
    """
    width, height = size
    logo_w, logo_h = logo_size_on_frame(size, logo_size, spec)
    margin = spec.margin_px(size)
    vertical, horizontal = spec.corner.split("-")
    left = margin if horizontal == "left" else width - margin - logo_w
    top = margin if vertical == "top" else height - margin - logo_h
    return left, top, left + logo_w, top + logo_h


def watermark_layer(frame_size: tuple[int, int], logo: Image.Image, spec: WatermarkSpec) -> Image.Image:
    """The logo exactly as stamped on a frame of ``frame_size``: scaled, opacity folded into its alpha (RGBA).

    Scaling uses Lanczos on premultiplied alpha (Pillow premultiplies RGBA for resampling), so the logo's
    anti-aliased edge keeps its colour instead of picking up transparent black.
    """
    layer = logo.convert("RGBA")
    size = logo_size_on_frame(frame_size, logo.size, spec)
    if layer.size != size:
        layer = layer.resize(size, Image.Resampling.LANCZOS)
    opacity_lut = [int(value * spec.opacity + 0.5) for value in range(256)]
    layer.putalpha(layer.getchannel("A").point(opacity_lut))
    return layer


def apply_watermark(image: Image.Image, logo: Image.Image, spec: WatermarkSpec) -> Image.Image:
    """A copy of ``image`` (RGB or RGBA) with the logo composited "over" it in the spec's corner.

    Integer arithmetic with one rounding per channel: where the logo is fully transparent the pixels come back
    unchanged (also on partly transparent RGBA pixels), and the result is the same on every machine.
    """
    if image.mode not in ("RGB", "RGBA"):
        raise ValueError(f"watermark needs an RGB or RGBA image, got {image.mode}")
    layer = watermark_layer(image.size, logo, spec)
    box = watermark_box(image.size, logo.size, spec)
    under = np.asarray(image.crop(box), dtype=np.int64)
    over = np.asarray(layer, dtype=np.int64)
    src_rgb, src_a = over[..., :3], over[..., 3:4]
    dst_rgb = under[..., :3]
    dst_a = under[..., 3:4] if image.mode == "RGBA" else np.full_like(src_a, 255)
    # Porter-Duff "over" in straight alpha, everything scaled by 255*255 so only the final division rounds.
    out_a255 = src_a * 255 + dst_a * (255 - src_a)
    numerator = src_rgb * src_a * 255 + dst_rgb * dst_a * (255 - src_a)
    safe = np.maximum(out_a255, 1)
    out_rgb = np.where(out_a255 > 0, (numerator + safe // 2) // safe, dst_rgb)
    out = np.concatenate([out_rgb, (out_a255 + 127) // 255], axis=2) if image.mode == "RGBA" else out_rgb
    stamped = image.copy()
    stamped.paste(Image.fromarray(out.astype(np.uint8)), box[:2])
    return stamped
