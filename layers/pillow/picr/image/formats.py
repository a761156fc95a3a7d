"""What kind of image a file is, decided from its first bytes, never from its name or declared type.

Ingest refuses by this answer before any decoder runs, and the email lane uses it to tell a photo from a
PDF whatever the attachment claims to be.
"""

from __future__ import annotations

ACCEPTED_FORMATS = ("JPEG", "PNG", "HEIF", "WEBP")
ACCEPTED_FOR_OWNER = "JPEG, PNG, HEIC or WebP"

# ISO-BMFF ("ftyp") brands. Video containers (mp4, mov, 3gp) use the same box, so the brand decides.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
# "BM" alone would also match text; the DIB header sizes that follow it in a real BMP make it specific.
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_format(data: bytes) -> str | None:
    """Name the image format from the first bytes, or None when it is not a raster image we recognise.

    Returns one of ACCEPTED_FORMATS, or the name of a known but refused format ("GIF", "BMP", "TIFF",
    "AVIF", "JPEG XL").
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        return _iso_bmff_image_format(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data.startswith(b"\xff\x0a") or data.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
        return "JPEG XL"
    return None


def _iso_bmff_image_format(data: bytes) -> str | None:
    """HEIF, AVIF, or None for the video files (mp4, mov, 3gp) that share the ISO-BMFF container."""
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if box_size >= 16 else 16, 1024)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _HEIC_BRANDS:
        return "HEIF"
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _GENERIC_HEIF_BRANDS:
        return "HEIF"
    return None
