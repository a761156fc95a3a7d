"""Small previews of a photo or a cutout: the thumbnails in the emails and the images on the review page.

A cutout is shown over a checkerboard when asked, so a hole in a white product reads as a hole instead of
vanishing into a white background.
"""

from __future__ import annotations

import io

from PIL import Image, ImageColor, ImageOps

THUMBNAIL_MAX_EDGE = 240
"""Thumbnails are shown at most 240 CSS px wide: two fit side by side on a 600 px email column."""

CHECKER_SQUARE_PX = 8
"""Checkerboard square size in thumbnail pixels: large enough to read as 'transparent' at 240 px."""

JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_QUALITY = 85
_CHECKER_LIGHT = (255, 255, 255)
_CHECKER_DARK = (204, 204, 204)


def make_thumbnail(
    image_bytes: bytes, max_edge: int = THUMBNAIL_MAX_EDGE, background: str = "white"
) -> bytes:
    """A small JPEG of any image, alpha flattened onto `background`.

    `background` is a colour (`"white"`, `"#f0f0f0"`, ...) or `"checkerboard"`, which shows a cutout's
    transparent parts as transparent rather than hiding a hole in a white product on white.
    """
    image = load_downscaled(image_bytes, max_edge)
    return encode_jpeg(flatten(image, background))


def thumbnail_of(image: Image.Image, max_edge: int = THUMBNAIL_MAX_EDGE, background: str = "white") -> bytes:
    """`make_thumbnail` of an image still in memory (a variant just rendered): its encoded file need not be
    decoded again, which for a 1600 px PNG costs more than the rest of the thumbnail."""
    return encode_jpeg(flatten(_shrunk(image.copy(), max_edge), background))


def load_downscaled(image_bytes: bytes, max_edge: int) -> Image.Image:
    """Decode, turn upright by EXIF, and shrink so the long edge is at most `max_edge` (never enlarge)."""
    with Image.open(io.BytesIO(image_bytes)) as opened:
        image = _shrunk(ImageOps.exif_transpose(opened), max_edge)
        image.load()
    return image


_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


def _shrunk(image: Image.Image, max_edge: int) -> Image.Image:
    """``image`` with its long edge at most ``max_edge`` (never enlarged; shrunk in place unless it has alpha).

    Pillow resizes an image with alpha in premultiplied form, but on that path it drops ``reducing_gap`` and
    runs the Lanczos kernel over every source pixel: 37 ms for a 1600 px RGBA frame. Premultiplied here, the
    thumbnail is first reduced by a whole factor as an RGB one is (15 ms), from the same premultiplied pixels.
    """
    if max_edge < 1:
        raise ValueError("max_edge must be positive")
    if image.mode in _PREMULTIPLIED and max(image.size) > max_edge:
        premultiplied = image.convert(_PREMULTIPLIED[image.mode])
        premultiplied.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
        return premultiplied.convert(image.mode)
    image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    return image


def flatten(image: Image.Image, background: str) -> Image.Image:
    """RGB image with any transparency composited over `background`."""
    rgba = image.convert("RGBA")
    if background == "checkerboard":
        base = _checkerboard(rgba.size)
    else:
        base = Image.new("RGBA", rgba.size, ImageColor.getrgb(background))
    return Image.alpha_composite(base.convert("RGBA"), rgba).convert("RGB")


def _checkerboard(size: tuple[int, int]) -> Image.Image:
    """Light and dark squares, the top-left one light. Pillow alone (one pixel per square, enlarged by a whole
    factor with nearest-neighbour): the functions that show thumbnails do not load numpy for it."""
    width, height = size
    columns, rows = -(-width // CHECKER_SQUARE_PX), -(-height // CHECKER_SQUARE_PX)
    squares = Image.new("1", (columns, rows))
    squares.putdata([(column + row) % 2 for row in range(rows) for column in range(columns)])
    dark = squares.resize((columns * CHECKER_SQUARE_PX, rows * CHECKER_SQUARE_PX), Image.Resampling.NEAREST)
    return Image.composite(Image.new("RGB", size, _CHECKER_DARK), Image.new("RGB", size, _CHECKER_LIGHT),
                           dark.crop((0, 0, width, height)))


def encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def image_size(image_bytes: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(image_bytes)) as image:
        return image.size
