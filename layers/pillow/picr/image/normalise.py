"""From decoded pixels to the one working image everything downstream assumes: 8-bit sRGB, upright,
RGB or RGBA (transparency only when it hides something).

Each step appends a note saying what it did, for the job record and the owner. A photo is never refused
here: an unreadable EXIF block or an unusable colour profile is noted and passed over.
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageCms

# The transpose that turns stored pixels upright, per EXIF orientation (1 = already upright).
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112

_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def exif_orientation(image: Image.Image, notes: list[str]) -> int:
    """EXIF orientation 1-8; a missing, odd or unreadable EXIF block means "as stored" (never a refusal)."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a mangled EXIF block is common after some editors; the pixels are still fine
        notes.append("EXIF unreadable, orientation left as stored")
        return 1
    if value not in range(1, 9):
        notes.append(f"ignored invalid EXIF orientation {value!r}")
        return 1
    return int(value)


def plain_cmyk(image: Image.Image, notes: list[str]) -> Image.Image:
    """Undo Pillow's Adobe inversion for a CMYK JPEG that does not follow the Adobe convention.

    Photoshop stores CMYK JPEGs inverted and marks them with an Adobe APP14 segment; Pillow assumes
    that convention for every CMYK JPEG. Without the marker the values are plain CMYK, and Pillow's
    reading would turn red into black.
    """
    if image.mode != "CMYK" or image.format not in ("JPEG", "MPO") or "adobe" in image.info:
        return image
    notes.append("CMYK without Adobe marker, read as plain CMYK")
    return ImageChops.invert(image)


def to_8_bit(image: Image.Image, notes: list[str]) -> Image.Image:
    """Bring any decoded mode to L, RGB, RGBA or CMYK (CMYK kept so its own profile can convert it)."""
    mode = image.mode
    if mode in ("L", "RGB", "RGBA", "CMYK"):
        return image
    if mode.startswith("I"):  # PNG's 16-bit greyscale: "I;16" (or "I")
        notes.append(f"scaled 16-bit ({mode}) to 8-bit")
        return _scale_16_bit_to_l(image)
    if mode == "P":
        notes.append("converted from palette")
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode in ("LA", "PA", "La", "RGBa"):
        notes.append(f"converted from {mode}")
        return image.convert("RGBA")
    notes.append(f"converted from {mode}")
    return image.convert("RGB")


def _scale_16_bit_to_l(image: Image.Image) -> Image.Image:
    """Scale 0..65535 to 0..255 with rounding; Pillow's own conversion clips, turning mid-grey white.
    (numpy is imported here, for this rare 16-bit input only: the functions that import this module for the
    common path would load it at every cold start.)"""
    import numpy as np

    values = np.asarray(image, dtype=np.float64)
    scaled = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def to_srgb(image: Image.Image, icc_profile: bytes | None, notes: list[str]) -> Image.Image:
    """Convert through the embedded ICC profile when there is a usable one, else by Pillow's formulas.

    Perceptual intent: for the matrix profiles phones embed (Display P3, Adobe RGB) lcms treats it as
    relative colorimetric; for printing (CMYK) profiles it is the photographic choice.
    """
    output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    if icc_profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            converted = ImageCms.profileToProfile(image, source, _SRGB_PROFILE, outputMode=output_mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            notes.append("embedded colour profile unusable, ignored")
        else:
            assert converted is not None
            notes.append(f"converted to sRGB from embedded profile {_profile_name(source)!r}")
            return converted
    if image.mode == "CMYK":
        notes.append("converted from CMYK")
    elif image.mode == "L":
        notes.append("converted from greyscale")
    return image if image.mode == output_mode else image.convert(output_mode)


def _profile_name(profile: ImageCms.ImageCmsProfile) -> str:
    """The profile's own description, printable and short: it is untrusted text going into notes."""
    try:
        description = ImageCms.getProfileDescription(profile)
    except ImageCms.PyCMSError:
        return "unnamed"
    return "".join(ch for ch in description if ch.isprintable()).strip()[:60] or "unnamed"


def settle_alpha(image: Image.Image, notes: list[str]) -> tuple[Image.Image, bool]:
    """Keep real transparency (an uploaded cut-out); drop an alpha channel that hides nothing."""
    if image.mode != "RGBA":
        return image, False
    lowest_alpha, _ = image.getchannel("A").getextrema()
    if lowest_alpha == 255:
        notes.append("dropped fully opaque alpha channel")
        return image.convert("RGB"), False
    notes.append("kept transparency (upload is already a cut-out)")
    return image, True
