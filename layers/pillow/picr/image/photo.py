"""Ingest: turn an uploaded file into one upright, 8-bit sRGB working image, or refuse it at the door.

Everything downstream (the cutout model, the variants, the publish step) assumes one predictable
image, so this module absorbs what phones and editors get wrong: EXIF rotation, HEIC, CMYK, palette,
16-bit and greyscale files, embedded colour profiles, oversized frames and personal metadata.

The format is decided by the file's first bytes, never by its name. Refusals are cheapest-first and
happen before any pixel is decoded wherever the header is enough:

1. ``empty`` / ``too_large``: from the byte count alone (``check_size``; ingest asks it with the size S3
   reports before it downloads anything, so an oversized upload is refused without being read).
2. ``not_an_image``: the first bytes are not a raster image we recognise (PDF, text, video ...).
3. ``unsupported_format``: a real image format we do not accept. BMP, TIFF, AVIF and JPEG XL are
   refused from the magic bytes, so no decoder for them ever runs on an upload; a GIF is opened only
   to tell an animation (6) from a still, which is then refused as unsupported.
4. ``corrupt``: a JPEG/PNG/WebP/HEIF/GIF signature whose header cannot be parsed.
5. ``too_many_pixels``: from the header's width x height, before decoding (Pillow's own
   decompression-bomb limit stays on behind it as the outer bound).
6. ``animated``: an animated GIF, WebP or APNG. Decision: refused rather than silently taking the first
   frame, because the owner may not notice which frame became the product image; the fix for them is
   simple ("send a still photo"). Animated GIF is reported as ``animated`` rather than
   ``unsupported_format`` because that sentence tells the owner what to send instead.
   A multi-picture JPEG (MPO, written by some cameras with an embedded preview) is *not* animated: it
   is read as the JPEG it is, first picture only.
7. ``too_small``: from the header (see ``IntakeLimits``).
8. ``corrupt``: the full decode fails (truncated or damaged data). Pillow's LOAD_TRUNCATED_IMAGES is
   never enabled, so a half-uploaded JPEG is caught here rather than padded with grey.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache

from PIL import Image

from picr.image.formats import ACCEPTED_FOR_OWNER, ACCEPTED_FORMATS, sniff_format
from picr.image.limits import IntakeLimits
from picr.image.normalise import EXIF_TRANSPOSE, exif_orientation, plain_cmyk, settle_alpha, to_8_bit, to_srgb


@cache
def register_heif() -> None:
    """Teach Pillow to open HEIF/HEIC (an iPhone's default). Done before the first open that may meet one,
    not at import: pillow-heif and libheif cost a cold start of every function that never decodes a photo."""
    import pillow_heif

    pillow_heif.register_heif_opener()

REFUSAL_CODES = (
    "empty",
    "too_large",
    "not_an_image",
    "unsupported_format",
    "corrupt",
    "too_many_pixels",
    "animated",
    "too_small",
)


class Refused(Exception):
    """The upload is not processed. ``code`` is one of REFUSAL_CODES; ``message`` is for the shop owner."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class NormalisedPhoto:
    """The working image plus what was done to get it, for the job record and the notes to the owner."""

    image: Image.Image  # "RGB" or "RGBA", 8-bit sRGB, upright, long edge <= max_edge, no metadata
    source_format: str  # "JPEG" | "PNG" | "HEIF" | "WEBP"
    original_size: tuple[int, int]  # upright size before the cap
    has_transparency: bool
    notes: list[str] = field(default_factory=list)


def normalise_upload(data: bytes, limits: IntakeLimits = IntakeLimits()) -> NormalisedPhoto:
    """Decode an upload into an upright 8-bit sRGB working image capped at ``limits.max_edge``.

    Raises Refused (see the module docstring for the order of checks).
    """
    check_size(len(data), limits)
    image_format = sniff_format(data)
    if image_format is None:
        raise Refused("not_an_image", f"This file is not a photo. Please send a {ACCEPTED_FOR_OWNER} photo.")
    if image_format not in ACCEPTED_FORMATS and image_format != "GIF":
        raise _unsupported(image_format)
    image = _open_header(data, image_format, limits)
    with image:
        _check_pixel_count(image.size, limits)
        if _is_animated(image):
            raise Refused(
                "animated",
                f"This is an animation, not a still photo. Please send one still {ACCEPTED_FOR_OWNER} photo.",
            )
        if image_format not in ACCEPTED_FORMATS:
            raise _unsupported(image_format)
        _check_minimum_size(image.size, limits)
        return _decode_and_normalise(image, image_format, limits)


def check_size(size: int, limits: IntakeLimits) -> None:
    """Refuse an upload from its byte count alone (``empty``, ``too_large``)."""
    if not size:
        raise Refused(
            "empty", "The file arrived empty (0 bytes), so the upload probably failed. Please send it again."
        )
    if size > limits.max_bytes:
        raise Refused(
            "too_large",
            f"This file is {size / 2**20:.1f} MB, more than the {limits.max_bytes / 2**20:.0f} MB "
            "we accept. Please send a smaller copy of the photo.",
        )


def _unsupported(image_format: str) -> Refused:
    return Refused(
        "unsupported_format",
        f"{image_format} files are not accepted. Please send the photo as {ACCEPTED_FOR_OWNER}.",
    )


def _corrupt() -> Refused:
    return Refused(
        "corrupt",
        "This photo is damaged or only partly uploaded, so it cannot be opened. Please send it again.",
    )


def _too_many_pixels(limits: IntakeLimits, size: tuple[int, int] | None = None) -> Refused:
    described = f" ({size[0]}×{size[1]})" if size else ""
    return Refused(
        "too_many_pixels",
        f"This picture{described} has more than {limits.max_pixels / 1e6:g} megapixels, far more than a "
        "product photo needs. Please send a normal phone photo or a resized copy.",
    )


def _open_header(data: bytes, image_format: str, limits: IntakeLimits) -> Image.Image:
    """Parse only the header (Pillow opens lazily); the pixels are not decoded yet.

    Pillow refuses sizes beyond twice its MAX_IMAGE_PIXELS at this point, before our own limit runs.
    """
    if image_format == "HEIF":
        register_heif()
    try:
        return Image.open(io.BytesIO(data), formats=[image_format])
    except Image.DecompressionBombError as error:
        raise _too_many_pixels(limits) from error
    except Exception as error:  # any decoder failure on hostile bytes means "cannot be read"
        raise _corrupt() from error


def _check_pixel_count(size: tuple[int, int], limits: IntakeLimits) -> None:
    if size[0] * size[1] > limits.max_pixels:
        raise _too_many_pixels(limits, size)


def _check_minimum_size(size: tuple[int, int], limits: IntakeLimits) -> None:
    if max(size) < limits.min_long_edge or min(size) < limits.min_short_edge:
        raise Refused(
            "too_small",
            f"This picture is only {size[0]}×{size[1]} pixels, too small for a product image. Please send a "
            f"photo at least {limits.min_long_edge} pixels on its longest side and {limits.min_short_edge} "
            "on its shortest.",
        )


def _is_animated(image: Image.Image) -> bool:
    """More than one frame in a GIF, WebP or APNG.

    MPO (a JPEG with an embedded preview) is a still. So is a HEIF holding several images (a burst, or
    an edit next to the original): its primary image is the photo and the only one decoded.
    """
    if image.format == "MPO" or image.format == "HEIF":
        return False
    try:
        return getattr(image, "n_frames", 1) > 1
    except Exception as error:  # counting frames walks the file; a damaged one fails here
        raise _corrupt() from error


def capped_size(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """The size with the long edge brought down to ``max_edge`` (aspect kept); never larger than ``size``."""
    width, height = size
    long_edge = max(width, height)
    if long_edge <= max_edge:
        return size
    scale = max_edge / long_edge
    if width >= height:
        return max_edge, max(1, round(height * scale))
    return max(1, round(width * scale)), max_edge


def _decode_and_normalise(image: Image.Image, image_format: str, limits: IntakeLimits) -> NormalisedPhoto:
    notes: list[str] = []
    stored_size = image.size
    target = capped_size(stored_size, limits.max_edge)
    _decode(image, image_format, target, notes)
    orientation = exif_orientation(image, notes)
    icc_profile = image.info.get("icc_profile")

    working = to_8_bit(plain_cmyk(image, notes), notes)
    if working.size != target:
        working = working.resize(target, Image.Resampling.LANCZOS)
    if target != stored_size:
        notes.append(f"downscaled from {max(stored_size)} px")
    working = to_srgb(working, icc_profile, notes)
    if orientation in EXIF_TRANSPOSE:
        working = working.transpose(EXIF_TRANSPOSE[orientation])
        notes.append(f"rotated (EXIF {orientation})")
    working, has_transparency = settle_alpha(working, notes)

    upright = (stored_size[1], stored_size[0]) if orientation in (5, 6, 7, 8) else stored_size
    return NormalisedPhoto(
        image=pixels_only(working),
        source_format=image_format,
        original_size=upright,
        has_transparency=has_transparency,
        notes=notes,
    )


def _decode(image: Image.Image, image_format: str, target: tuple[int, int], notes: list[str]) -> None:
    """Decode every pixel now, so a truncated or damaged file is refused here and not downstream.

    A JPEG bigger than ``target`` is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (never below
    ``target``; LANCZOS does the rest), so a 12 MP photo never costs a full-size decode.
    """
    stored_size = image.size
    if image_format == "JPEG" and target != stored_size:
        image.draft(image.mode, target)
        if image.size != stored_size:
            notes.append(f"decoded at 1/{round(stored_size[0] / image.size[0])} scale")
    try:
        image.load()
    except Exception as error:  # truncated or damaged pixel data, whatever the decoder raises
        raise _corrupt() from error
    if image_format == "HEIF" and image.info.get("original_orientation") not in (None, 1):
        # libheif applies the HEIF rotation while decoding and pillow-heif resets the EXIF tag to 1.
        notes.append(f"upright per HEIF transform (EXIF {image.info['original_orientation']})")


def pixels_only(image: Image.Image) -> Image.Image:
    """A fresh image with the same pixels and nothing else: no EXIF, GPS, XMP, ICC, comments or text.

    Pillow's encoders pick some metadata up from ``image.info`` (PNG re-embeds ``icc_profile``), so the
    only safe way to strip is to not carry the old image object forward at all.
    """
    return Image.frombytes(image.mode, image.size, image.tobytes())


def encode_source(photo: NormalisedPhoto) -> tuple[bytes, str, str]:
    """Encode the working image for ``work/<job_id>/source.<ext>``: (bytes, ext, content type).

    RGB becomes JPEG quality 95 with 4:4:4 chroma (no colour bleeding at the product's edge for the
    cutout model to learn from); RGBA becomes PNG so the supplied alpha survives. No metadata at all,
    and the same photo always gives the same bytes.
    """
    image = pixels_only(photo.image)
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        image.save(buffer, "PNG", compress_level=6)
        return buffer.getvalue(), "png", "image/png"
    if image.mode != "RGB":
        raise ValueError(f"a normalised photo is RGB or RGBA, not {image.mode}")
    image.save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue(), "jpg", "image/jpeg"
