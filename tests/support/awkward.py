"""A corpus of awkward upload files, built in memory, each with the outcome ingest must give it.

Used by tests/unit/test_photo.py and by the end-to-end runner test: ``build_awkward_corpus()`` maps a file
name (as an owner might upload it) to its bytes and its ``Expected`` outcome. Every file is built here
from a crop of a real dev photo (case 02, binoculars on a jetty: textured and asymmetric, so a wrong
rotation or flip is obvious) or from hand-written bytes; nothing is read from the network.

The builders are independent of picr.image.photo on purpose: EXIF orientations are laid out with numpy from
the EXIF specification's definitions, the Adobe-RGB-like ICC profile is written byte by byte, and the
30000 x 30000 PNG is written row by row with zlib, so no test checks picr against itself.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image, ImageDraw, PngImagePlugin

from tools.shared_data import PHOTOS

pillow_heif.register_heif_opener()

BASE_CASE = "02_binoculars_wooden_jetty"
BASE_SIZE = (640, 480)  # above the intake minimum (400 px long edge), small enough to keep tests fast

# Adobe RGB (1998) primaries, Bradford-adapted to the ICC D50 white, and its 563/256 gamma.
ADOBE_RGB_D50_COLUMNS = (
    (0.60974, 0.31111, 0.01947),
    (0.20528, 0.62567, 0.06087),
    (0.14919, 0.06322, 0.74457),
)
ADOBE_RGB_GAMMA = 563 / 256
ICC_D50 = (0.9642, 1.0, 0.8249)


@dataclass(frozen=True)
class Expected:
    """What ``normalise_upload`` must do with a file."""

    status: str  # "accepted" | "refused"
    reason: str | None = None  # refusal code when refused
    size: tuple[int, int] | None = None  # upright working size when accepted
    mode: str | None = None  # "RGB" | "RGBA" when accepted
    source_format: str | None = None  # when accepted


@dataclass(frozen=True)
class AwkwardFile:
    name: str
    data: bytes
    expected: Expected
    why: str


def accepted(source_format: str, mode: str = "RGB", size: tuple[int, int] = BASE_SIZE) -> Expected:
    return Expected("accepted", size=size, mode=mode, source_format=source_format)


def refused(reason: str) -> Expected:
    return Expected("refused", reason=reason)


# ---------------------------------------------------------------- pictures


@functools.cache
def _base_photo_bytes() -> bytes:
    photo = Image.open(PHOTOS / "cases" / BASE_CASE / "photo.jpg").convert("RGB")
    # A 4:3 crop around the binoculars, then down to BASE_SIZE: product, planks and water all in frame.
    crop = photo.crop((200, 150, 1400, 1050)).resize(BASE_SIZE, Image.Resampling.LANCZOS)
    return crop.tobytes()


def base_photo() -> Image.Image:
    """The upright reference picture (RGB, BASE_SIZE)."""
    return Image.frombytes("RGB", BASE_SIZE, _base_photo_bytes())


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixel layout a camera stores for EXIF ``orientation`` so that a viewer shows ``upright``.

    From the EXIF 2.32 definitions of where row 0 / column 0 of the stored image belong in the view:
    1 top-left, 2 top-right, 3 bottom-right, 4 bottom-left, 5 left-top, 6 right-top, 7 right-bottom,
    8 left-bottom. ``np.rot90`` turns counter-clockwise.
    """
    layouts = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, 1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, -1),
    }
    return np.ascontiguousarray(layouts[orientation](upright))


def camera_exif(orientation: int | None = None, with_gps: bool = True) -> Image.Exif:
    """EXIF like a phone writes: camera tags, a timestamp and (optionally) a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "samsung"  # Make
    exif[0x0110] = "SM-A536B"  # Model
    exif[0x0132] = "2024:09:03 16:05:41"  # DateTime
    if orientation is not None:
        exif[0x0112] = orientation
    if with_gps:
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"  # GPSLatitudeRef
        gps[2] = (53.0, 20.0, 41.52)  # GPSLatitude
        gps[3] = "W"  # GPSLongitudeRef
        gps[4] = (6.0, 15.0, 29.07)  # GPSLongitude
    return exif


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def oriented_jpeg(orientation: int) -> bytes:
    """The base photo stored for ``orientation`` with that EXIF tag (q95, like a phone's best setting)."""
    stored = stored_for_orientation(np.asarray(base_photo()), orientation)
    exif = camera_exif(orientation, with_gps=False)
    return encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def cutout_alpha(size: tuple[int, int] = BASE_SIZE) -> Image.Image:
    """An off-centre ellipse with a soft edge: what an owner's own cut-out tool would leave."""
    alpha = Image.new("L", size, 0)
    ImageDraw.Draw(alpha).ellipse((120, 60, 480, 420), fill=255)
    edge = np.asarray(alpha, dtype=np.float32)
    # Average with the 4 neighbours: a soft one-pixel edge, without depending on Pillow's filters.
    soft = (
        edge + np.roll(edge, 1, 0) + np.roll(edge, -1, 0) + np.roll(edge, 1, 1) + np.roll(edge, -1, 1)
    ) / 5
    return Image.fromarray(soft.astype(np.uint8))


# ---------------------------------------------------------------- ICC profile


def _s15_fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15_fixed16(v) for v in xyz)


def _gamma_curve_tag(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _description_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">IIHB", 0, 0, 0, 0)
        + b"\0" * 67
    )


def adobe_rgb_icc() -> bytes:
    """An ICC v2 matrix/TRC display profile with Adobe RGB (1998) primaries and gamma, written by hand.

    Pillow's ImageCms can only create sRGB, LAB and XYZ profiles; a profile that really moves colours
    is needed to show the conversion happens (an Adobe RGB (180, 90, 60) is sRGB (205, 90, 56)).
    """
    tags = [
        (b"desc", _description_tag("Adobe RGB (1998) compatible, picr test profile")),
        (b"cprt", b"text\0\0\0\0No copyright, test data\0"),
        (b"wtpt", _xyz_tag(ICC_D50)),
        (b"rXYZ", _xyz_tag(ADOBE_RGB_D50_COLUMNS[0])),
        (b"gXYZ", _xyz_tag(ADOBE_RGB_D50_COLUMNS[1])),
        (b"bXYZ", _xyz_tag(ADOBE_RGB_D50_COLUMNS[2])),
        (b"rTRC", _gamma_curve_tag(ADOBE_RGB_GAMMA)),
        (b"gTRC", _gamma_curve_tag(ADOBE_RGB_GAMMA)),
        (b"bTRC", _gamma_curve_tag(ADOBE_RGB_GAMMA)),
    ]
    data_start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, tag in tags:
        table += signature + struct.pack(">II", data_start + len(body), len(tag))
        body += tag + b"\0" * (-len(tag) % 4)
    header = (
        struct.pack(">I", data_start + len(body))
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + b"".join(_s15_fixed16(v) for v in ICC_D50)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_rgb_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Reference conversion (8-bit Adobe RGB -> 8-bit sRGB, both D65) from the published matrices."""
    adobe_to_xyz = np.array(
        [
            [0.5767309, 0.1855540, 0.1881852],
            [0.2973769, 0.6273491, 0.0752741],
            [0.0270343, 0.0706872, 0.9911085],
        ]
    )
    xyz_to_srgb = np.array(
        [
            [3.2404542, -1.5371385, -0.4985314],
            [-0.9692660, 1.8760108, 0.0415560],
            [0.0556434, -0.2040259, 1.0572252],
        ]
    )
    linear = (np.asarray(rgb, dtype=np.float64) / 255.0) ** ADOBE_RGB_GAMMA
    srgb_linear = np.clip(linear @ adobe_to_xyz.T @ xyz_to_srgb.T, 0.0, 1.0)
    encoded = np.where(
        srgb_linear <= 0.0031308, 12.92 * srgb_linear, 1.055 * srgb_linear ** (1 / 2.4) - 0.055
    )
    return np.rint(encoded * 255.0)


# ---------------------------------------------------------------- hand-written files


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@functools.cache
def pixel_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A black 1-bit greyscale PNG of width x height, written row by row (never held decoded).

    30000 x 30000 compresses to about 110 KB, yet decoding it would take 900 MB (Pillow keeps a
    1-bit image at one byte per pixel) before any conversion to RGB.
    """
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "none" + packed bits
    compressed = [compressor.compress(row) for _ in range(height)]
    compressed.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(compressed))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_claiming_size(width: int, height: int) -> bytes:
    """A valid little JPEG whose frame header is patched to claim width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (90, 120, 60)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def pdf_bytes() -> bytes:
    """A one-page PDF with a line of text (what an invoice dragged into the folder looks like)."""
    stream = b"BT /F1 24 Tf 72 720 Td (Invoice 2041) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def mp4_header() -> bytes:
    """The start of an MP4 video: an ISO-BMFF ftyp box like HEIF's, but with video brands."""
    ftyp = b"ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    return struct.pack(">I", 8 + len(ftyp)) + ftyp + struct.pack(">I", 8) + b"free" + b"\x00" * 64


def avif_header() -> bytes:
    """The start of an AVIF file (ftyp avif/mif1/miaf); refused on these bytes alone."""
    ftyp = b"ftypavif\x00\x00\x00\x00avifmif1miafMA1B"
    return struct.pack(">I", 8 + len(ftyp)) + ftyp + b"\x00\x00\x00\x20meta" + b"\x00" * 28


# ---------------------------------------------------------------- the corpus


def _frames(count: int) -> list[Image.Image]:
    base = base_photo()
    return [base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else base for i in range(count)]


@functools.cache
def _corpus() -> tuple[AwkwardFile, ...]:
    base = base_photo()
    grey = np.asarray(base.convert("L"), dtype=np.uint16)
    cutout = base.copy()
    cutout.putalpha(cutout_alpha())
    text_chunks = PngImagePlugin.PngInfo()
    text_chunks.add_text("Comment", "shot on the kitchen counter")
    text_chunks.add_itxt("Description", "Bougie à la fleur de sel")
    photo_jpeg = encode(base, "JPEG", quality=92)
    frames = _frames(3)
    files = [
        *(
            AwkwardFile(f"orientation_{n}.jpg", oriented_jpeg(n), accepted("JPEG"), f"EXIF orientation {n}")
            for n in range(2, 9)
        ),
        AwkwardFile(
            "gps_xmp_comment.jpg",
            encode(
                base,
                "JPEG",
                quality=92,
                exif=camera_exif().tobytes(),
                comment=b"Sea salt candle, shelf 4",
                xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>',
            ),
            accepted("JPEG"),
            "camera EXIF with a GPS position, an XMP packet and a JPEG comment",
        ),
        AwkwardFile(
            "adobe_rgb_profile.jpg",
            encode(base, "JPEG", quality=92, icc_profile=adobe_rgb_icc()),
            accepted("JPEG"),
            "an embedded Adobe-RGB-like ICC profile",
        ),
        AwkwardFile(
            "grey_16bit.png",
            encode(Image.fromarray(grey * 257), "PNG"),
            accepted("PNG"),
            "16-bit greyscale PNG (Pillow's own I;16 -> RGB would turn it white)",
        ),
        AwkwardFile(
            "cmyk.jpg",
            encode(base.convert("CMYK"), "JPEG", quality=95),
            accepted("JPEG"),
            "CMYK JPEG, stored Adobe-inverted",
        ),
        AwkwardFile(
            "greyscale.jpg", encode(base.convert("L"), "JPEG", quality=92), accepted("JPEG"), "8-bit grey"
        ),
        AwkwardFile("photo.webp", encode(base, "WEBP", quality=90), accepted("WEBP"), "still lossy WebP"),
        AwkwardFile(
            "photo.heic", encode(base, "HEIF", quality=90), accepted("HEIF"), "HEIC as iPhones write"
        ),
        AwkwardFile(
            "rotated_6.heic",
            encode(
                Image.fromarray(stored_for_orientation(np.asarray(base), 6)),
                "HEIF",
                quality=90,
                exif=camera_exif(6).tobytes(),
            ),
            accepted("HEIF"),
            "HEIC stored sideways (HEIF irot box from EXIF 6)",
        ),
        AwkwardFile(
            "rotated_6.png",
            encode(
                Image.fromarray(stored_for_orientation(np.asarray(base), 6)),
                "PNG",
                exif=camera_exif(6).tobytes(),
            ),
            accepted("PNG"),
            "PNG stored sideways with an eXIf orientation",
        ),
        AwkwardFile(
            "multi_picture.jpg",
            encode(base, "MPO", save_all=True, append_images=[base.resize((160, 120))], quality=92),
            accepted("JPEG"),
            "multi-picture JPEG (MPO) with a preview image: a still, not an animation",
        ),
        AwkwardFile("really_a_png.jpg", encode(base, "PNG"), accepted("PNG"), "PNG bytes named .jpg"),
        AwkwardFile(
            "cutout.png",
            encode(cutout, "PNG", pnginfo=text_chunks, exif=camera_exif().tobytes()),
            accepted("PNG", mode="RGBA"),
            "already a transparent cut-out, with text chunks and EXIF",
        ),
        AwkwardFile(
            "opaque_alpha.png",
            encode(base.convert("RGBA"), "PNG"),
            accepted("PNG"),
            "RGBA whose alpha is 255 everywhere",
        ),
        AwkwardFile(
            "palette_transparent.png",
            encode(cutout.quantize(64).convert("P"), "PNG", transparency=0),
            accepted("PNG", mode="RGBA"),
            "palette PNG with a transparent index",
        ),
        AwkwardFile(
            "one_pixel.png",
            encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
            refused("too_small"),
            "1 x 1",
        ),
        AwkwardFile(
            "banner_strip.png",
            encode(base.resize((1200, 60)), "PNG"),
            refused("too_small"),
            "a 1200 x 60 strip",
        ),
        AwkwardFile(
            "bomb_30000.png",
            pixel_bomb_png(),
            refused("too_many_pixels"),
            "30000 x 30000 PNG in about 110 KB",
        ),
        AwkwardFile(
            "claims_64mp.jpg",
            jpeg_claiming_size(8000, 8000),
            refused("too_many_pixels"),
            "JPEG header claiming 8000 x 8000 (below Pillow's own bomb limit)",
        ),
        AwkwardFile(
            "animated.gif",
            encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
            refused("animated"),
            "3-frame GIF",
        ),
        AwkwardFile(
            "animated.webp",
            encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
            refused("animated"),
            "3-frame WebP",
        ),
        AwkwardFile(
            "animated.png",
            encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
            refused("animated"),
            "3-frame APNG",
        ),
        AwkwardFile("still.gif", encode(base, "GIF"), refused("unsupported_format"), "a still GIF"),
        AwkwardFile("photo.bmp", encode(base, "BMP"), refused("unsupported_format"), "BMP"),
        AwkwardFile("photo.tiff", encode(base, "TIFF"), refused("unsupported_format"), "TIFF"),
        AwkwardFile("photo.avif", avif_header(), refused("unsupported_format"), "AVIF (ftyp avif)"),
        AwkwardFile("invoice.pdf", pdf_bytes(), refused("not_an_image"), "a PDF"),
        AwkwardFile("notes.txt", "Sea salt candle, 200 g, £14\n".encode(), refused("not_an_image"), "text"),
        AwkwardFile("clip.mp4", mp4_header(), refused("not_an_image"), "video (ISO-BMFF like HEIF)"),
        AwkwardFile("empty.jpg", b"", refused("empty"), "zero bytes"),
        AwkwardFile(
            "truncated.jpg",
            photo_jpeg[: len(photo_jpeg) * 6 // 10],
            refused("corrupt"),
            "JPEG cut off at 60 %",
        ),
        AwkwardFile(
            "truncated.png", encode(base, "PNG")[:50_000], refused("corrupt"), "PNG cut off mid-IDAT"
        ),
        AwkwardFile(
            "garbage_after_magic.jpg",
            b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
            refused("corrupt"),
            "JPEG signature followed by junk",
        ),
    ]
    names = [f.name for f in files]
    assert len(names) == len(set(names)), "duplicate names in the awkward corpus"
    return tuple(files)


def build_awkward_corpus() -> dict[str, AwkwardFile]:
    """Every awkward file by upload name (a fresh dict each call; the bytes are built once per process)."""
    return {f.name: f for f in _corpus()}


def awkward_files() -> dict[str, bytes]:
    return {f.name: f.data for f in _corpus()}


def expected_outcomes() -> dict[str, Expected]:
    return {f.name: f.expected for f in _corpus()}
