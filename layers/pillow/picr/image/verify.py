"""Each variant checks itself after encoding, from the decoded bytes, against its ChannelSpec.

The renderer is deterministic, but a bug, a library change or a config mistake would otherwise only show up
when a marketplace suppresses a listing. So every encoded variant is decoded again and measured: size, mode,
metadata, a pure-white border on white channels, the product's fill, and a watermark exactly where allowed.
The result is structured for the manifest; ``failures`` says what is wrong in plain words.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from io import BytesIO

import numpy as np
from PIL import Image, ImageChops

from picr.image.channels import BORDER_RING_PX, MARKETPLACE_MIN_LONG_SIDE, ChannelSpec, WatermarkSpec
from picr.image.render import ALPHA_NOISE_MAX, RenderedVariant, over_white
from picr.image.watermark import watermark_box, watermark_layer

# The measured fill may differ from the spec by this much (absolute, as a fraction of the frame): rounding to
# whole pixels, Lanczos and JPEG edges moved it by under 0.5 % on the dev photos, so 2 % means a real error.
FILL_TOLERANCE = 0.02
# On a white JPEG a pixel is product when some channel is more than this many levels below 255: above JPEG's
# faint ringing in the 8x8 blocks along an edge, low enough that a near-white product (240-250) still counts.
# On the nine dev cutouts every measured box edge landed within 7 px of where the renderer put the product
# (ringing outwards, faint semi-transparent rims inwards): under 0.7 % of a 1080 frame, against the 2 %.
WHITE_TOLERANCE = 4
# A logo-shaped pattern weaker than this many grey levels (at the logo's most opaque pixel) is not a visible
# watermark: about 1.5 % of full scale, the just-noticeable luminance step on a flat patch.
WATERMARK_MIN_CONTRAST = 4.0
# ITU-R BT.601 luma weights, the ones JPEG itself uses.
_LUMA = np.array([0.299, 0.587, 0.114])
_PNG_ALLOWED_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


@dataclass(frozen=True)
class VariantCheck:
    """What was measured on the decoded variant; ``passed`` only if ``failures`` is empty."""

    passed: bool
    checks: dict[str, bool | float | int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict for the manifest."""
        return asdict(self)


def check_variant(
    variant: RenderedVariant, spec: ChannelSpec, watermark: WatermarkSpec, logo: Image.Image | None
) -> VariantCheck:
    """Decode ``variant.data`` and check it against ``spec`` (``logo``: the one used for watermarking)."""
    checks: dict[str, bool | float | int] = {}
    failures: list[str] = []
    label = f"channel {spec.name!r}"

    _check_declared(variant, spec, checks, failures)
    try:
        decoded = Image.open(BytesIO(variant.data))  # in-memory: nothing to close
        decoded.load()
    except Exception as exc:  # any decoder error means the bytes are unusable
        checks["decodes"] = False
        failures.append(f"{label}: the encoded bytes do not decode as an image ({exc})")
        return VariantCheck(passed=False, checks=checks, failures=failures)
    checks["decodes"] = True

    expected_format = "PNG" if spec.format == "png" else "JPEG"
    checks["format_ok"] = decoded.format == expected_format
    if not checks["format_ok"]:
        failures.append(f"{label}: file is {decoded.format}, the channel needs {expected_format}")

    width, height = decoded.size
    checks["width"], checks["height"] = width, height
    checks["size_ok"] = (width, height) == (spec.width, spec.height)
    if not checks["size_ok"]:
        failures.append(f"{label}: image is {width}x{height} px, channel needs {spec.width}x{spec.height}")

    expected_mode = "RGBA" if spec.background == "transparent" else "RGB"
    checks["mode_ok"] = decoded.mode == expected_mode
    if not checks["mode_ok"]:
        failures.append(f"{label}: image mode is {decoded.mode}, the channel needs {expected_mode}")

    metadata = _metadata_found(variant.data)
    checks["metadata_free"] = not metadata
    if metadata:
        failures.append(f"{label}: the file carries metadata it must not have ({', '.join(metadata)})")

    if spec.kind == "marketplace":
        checks["marketplace_size_ok"] = max(width, height) >= MARKETPLACE_MIN_LONG_SIDE
        if not checks["marketplace_size_ok"]:
            failures.append(
                f"{label}: a marketplace image needs {MARKETPLACE_MIN_LONG_SIDE} px on its long side, "
                f"this one has {max(width, height)}"
            )

    if spec.background == "white":
        _check_border(decoded, label, checks, failures)
    stamp_box = watermark_box(decoded.size, logo.size, watermark) if logo is not None else None
    product = _product_mask(decoded)
    if spec.watermark and stamp_box is not None:
        product.paste(0, stamp_box)
    _check_fill(product, spec, label, checks, failures)
    _check_watermark(decoded, spec, watermark, logo, label, checks, failures)

    return VariantCheck(passed=not failures, checks=checks, failures=failures)


def _check_declared(
    variant: RenderedVariant, spec: ChannelSpec, checks: dict[str, bool | float | int], failures: list[str]
) -> None:
    """What the variant says about itself (it ends up in the manifest) must match its spec."""
    declared = (variant.channel, variant.format, variant.width, variant.height, variant.watermarked)
    wanted = (spec.name, spec.format, spec.width, spec.height, spec.watermark)
    checks["declared_ok"] = declared == wanted
    if declared != wanted:
        failures.append(
            f"channel {spec.name!r}: the variant describes itself as {variant.channel!r} {variant.format} "
            f"{variant.width}x{variant.height} watermarked={variant.watermarked}, the spec says "
            f"{spec.name!r} {spec.format} {spec.width}x{spec.height} watermarked={spec.watermark}"
        )


def _on_white(image: Image.Image) -> Image.Image:
    """``image`` as it looks on a white page (RGB); images without alpha are returned as RGB unchanged."""
    return over_white(image) if "A" in image.getbands() else image.convert("RGB")


def _check_border(
    decoded: Image.Image, label: str, checks: dict[str, bool | float | int], failures: list[str]
) -> None:
    width, height = decoded.size
    ring = BORDER_RING_PX
    strips = [(0, 0, width, ring), (0, height - ring, width, height), (0, ring, ring, height - ring),
              (width - ring, ring, width, height - ring)]
    off_white = 0
    for strip in strips:
        pixels = np.asarray(_on_white(decoded.crop(strip)))
        off_white += int(np.count_nonzero((pixels != 255).any(axis=2)))
    checks["border_off_white_px"] = off_white
    checks["border_white"] = off_white == 0
    if off_white:
        failures.append(f"{label}: {off_white} pixels of the {ring} px border are not pure white (#ffffff)")


def _product_mask(decoded: Image.Image) -> Image.Image:
    """L mask (255 = product): alpha above the haze level, or (no alpha) some channel visibly below white."""
    if "A" in decoded.getbands():
        return decoded.getchannel("A").point([255 if v > ALPHA_NOISE_MAX else 0 for v in range(256)])
    darker = [255 if v < 255 - WHITE_TOLERANCE else 0 for v in range(256)]
    red, green, blue = (band.point(darker) for band in decoded.convert("RGB").split())
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _check_fill(
    product: Image.Image,
    spec: ChannelSpec,
    label: str,
    checks: dict[str, bool | float | int],
    failures: list[str],
) -> None:
    """The product's bounding box must span ``fill`` of the frame on its tight side and be centred."""
    width, height = product.size
    box = product.getbbox()
    if box is None:
        checks["fill"] = 0.0
        checks["fill_ok"] = False
        failures.append(f"{label}: no product is visible in the image")
        return
    left, top, right, bottom = box
    fill = max((right - left) / width, (bottom - top) / height)
    off_centre = max(abs(left + right - width) / (2 * width), abs(top + bottom - height) / (2 * height))
    checks["fill"] = round(fill, 4)
    checks["fill_ok"] = abs(fill - spec.fill) <= FILL_TOLERANCE
    checks["off_centre"] = round(off_centre, 4)
    checks["centred"] = off_centre <= FILL_TOLERANCE
    if not checks["fill_ok"]:
        failures.append(
            f"{label}: the product fills {fill:.3f} of the frame, the channel wants {spec.fill:.2f} "
            f"(+/- {FILL_TOLERANCE})"
        )
    if not checks["centred"]:
        failures.append(f"{label}: the product is off centre by {off_centre:.3f} of the frame")


def _check_watermark(
    decoded: Image.Image,
    spec: ChannelSpec,
    watermark: WatermarkSpec,
    logo: Image.Image | None,
    label: str,
    checks: dict[str, bool | float | int],
    failures: list[str],
) -> None:
    """Is the logo in its corner? Decided by which hypothesis leaves a logo-free image under it.

    If the watermark is there, undoing it (``(pixel - a*logo) / (1 - a)``) gives back what lay underneath,
    which has no reason to look like the logo; if it is not, undoing it leaves an inverted logo. Both are
    compared by how strongly the logo's alpha shape shows in them (a least-squares fit on the logo alpha plus
    a plane for the local background), in grey levels at the logo's most opaque pixel. This works over white,
    transparency and product alike; only a logo on something of its own colour stays undecided, and such a
    mark is not visible either.
    """
    if logo is None:
        checks["watermark_checked"] = False
        if spec.watermark:
            failures.append(f"{label}: cannot check the watermark, no logo was given to the check")
        return
    box = watermark_box(decoded.size, logo.size, watermark)
    layer = np.asarray(watermark_layer(decoded.size, logo, watermark), dtype=np.float64)
    alpha = layer[..., 3] / 255.0
    logo_luma = layer[..., :3] @ _LUMA
    seen = np.asarray(_on_white(decoded.crop(box)), dtype=np.float64) @ _LUMA
    undone = (seen - alpha * logo_luma) / (1.0 - alpha)

    peak = float(alpha.max())
    as_seen = abs(_logo_shape_strength(seen, alpha)) * peak
    after_undo = abs(_logo_shape_strength(undone, alpha)) * peak
    found = as_seen >= WATERMARK_MIN_CONTRAST and after_undo < as_seen
    checks["watermark_checked"] = True
    checks["watermark_contrast"] = round(as_seen, 2)
    checks["watermark_residual"] = round(after_undo, 2)
    checks["watermark_found"] = found
    checks["watermark_ok"] = found == spec.watermark
    if spec.watermark and not found:
        failures.append(f"{label}: the watermark is missing or not visible in the {watermark.corner} corner")
    if found and not spec.watermark:
        kind = "a marketplace" if spec.kind == "marketplace" else "this"
        failures.append(f"{label}: a watermark was found, but {kind} channel must not carry one")


def _logo_shape_strength(values: np.ndarray, alpha: np.ndarray) -> float:
    """Least-squares coefficient of the logo alpha in ``values ~ c0 + cx*x + cy*y + k*alpha`` (returns k)."""
    rows, cols = np.indices(values.shape, dtype=np.float64)
    design = np.stack([np.ones(values.size), cols.ravel(), rows.ravel(), alpha.ravel()], axis=1)
    coefficients = np.linalg.lstsq(design, values.ravel(), rcond=None)[0]
    return float(coefficients[3])


def _metadata_found(data: bytes) -> list[str]:
    """Names of metadata blocks in PNG/JPEG bytes (EXIF, ICC, XMP, text, time, comments); empty if none."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_extra_chunks(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_extra_segments(data)
    return []


def _png_extra_chunks(data: bytes) -> list[str]:
    found: list[str] = []
    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind not in _PNG_ALLOWED_CHUNKS:
            found.append(f"PNG chunk {kind.decode('latin-1')}")
        offset += 12 + length
    return found


def _jpeg_extra_segments(data: bytes) -> list[str]:
    """APPn segments other than the JFIF APP0 header, and COM comments, before the image data."""
    found: list[str] = []
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows, no more metadata segments
            break
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        payload = data[offset + 4 : offset + 2 + length]
        if marker == 0xFE:
            found.append("JPEG comment")
        elif 0xE0 <= marker <= 0xEF and not (marker == 0xE0 and payload.startswith(b"JFIF\x00")):
            found.append(f"JPEG APP{marker - 0xE0} segment")
        offset += 2 + length
    return found
