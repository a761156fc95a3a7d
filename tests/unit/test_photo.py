"""Ingest decoding and normalising, on the awkward corpus, the dev photos and small built images."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, ImageOps

from picr.image.formats import ACCEPTED_FORMATS, sniff_format
from picr.image.photo import (
    REFUSAL_CODES,
    IntakeLimits,
    NormalisedPhoto,
    Refused,
    capped_size,
    encode_source,
    normalise_upload,
)
from tests.support.awkward import (
    BASE_SIZE,
    PHOTOS,
    adobe_rgb_icc,
    adobe_rgb_to_srgb,
    base_photo,
    build_awkward_corpus,
    cutout_alpha,
    encode,
    oriented_jpeg,
    pixel_bomb_png,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS = build_awkward_corpus()
DEFAULT_LIMITS = IntakeLimits()
ACCEPTED = sorted(name for name, f in CORPUS.items() if f.expected.status == "accepted")


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def mean_abs_diff(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


def refusal_of(data: bytes, limits: IntakeLimits = DEFAULT_LIMITS) -> Refused:
    with pytest.raises(Refused) as caught:
        normalise_upload(data, limits)
    return caught.value


# ---------------------------------------------------------------- the awkward corpus


def test_corpus_is_large_and_covers_every_refusal_but_size_in_bytes():
    reasons = {f.expected.reason for f in CORPUS.values() if f.expected.status == "refused"}
    assert len(CORPUS) >= 16
    assert reasons == set(REFUSAL_CODES) - {"too_large"}  # 40 MB is tested with a small limit below


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_awkward_file_gets_its_documented_outcome(name):
    awkward = CORPUS[name]
    expected = awkward.expected
    if expected.status == "refused":
        refusal = refusal_of(awkward.data)
        assert refusal.code == expected.reason, refusal.message
        return
    photo = normalise_upload(awkward.data)
    assert (photo.image.size, photo.image.mode, photo.source_format) == (
        expected.size,
        expected.mode,
        expected.source_format,
    ), photo.notes
    assert photo.has_transparency == (expected.mode == "RGBA")
    assert photo.image.info == {}


@pytest.mark.parametrize("name", sorted(n for n, f in CORPUS.items() if f.expected.status == "refused"))
def test_refusal_speaks_to_the_owner(name):
    refusal = refusal_of(CORPUS[name].data)
    assert refusal.code in REFUSAL_CODES
    assert refusal.message.endswith(".") and len(refusal.message.split()) >= 8
    assert "_" not in refusal.message  # no codes or identifiers in the sentence


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_photo_is_its_plain_decode_upright(name):
    """No transform on these small files but orientation, profile and mode: pixels equal a plain decode.

    The reference is Pillow's own decode, turned upright by ImageOps.exif_transpose (HEIF is already
    upright), and converted to sRGB with ImageCms only where a profile is embedded.
    """
    data = CORPUS[name].data
    photo = normalise_upload(data)
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if "icc_profile" in reference.info:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(reference.info["icc_profile"]))
        srgb = ImageCms.createProfile("sRGB")
        reference = ImageCms.profileToProfile(reference, profile, srgb, outputMode=photo.image.mode)
    if reference.mode == "I;16":
        reference = Image.fromarray(np.rint(np.asarray(reference) / 257).astype(np.uint8))
    assert np.array_equal(np.asarray(photo.image), np.asarray(reference.convert(photo.image.mode)))


def test_decision_is_by_content_not_extension():
    assert normalise_upload(CORPUS["really_a_png.jpg"].data).source_format == "PNG"
    assert sniff_format(CORPUS["invoice.pdf"].data) is None
    assert sniff_format(CORPUS["clip.mp4"].data) is None  # same ISO-BMFF box as HEIF, video brands
    assert sniff_format(CORPUS["photo.heic"].data) == "HEIF"
    assert sniff_format(b"BMW invoice, 14 pages, totally not a bitmap") is None
    assert {sniff_format(CORPUS[n].data) for n in ("photo.webp", "photo.heic", "cutout.png")} <= set(
        ACCEPTED_FORMATS
    )


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation):
    upright = pixels(base_photo())
    photo = normalise_upload(oriented_jpeg(orientation))
    assert photo.image.size == BASE_SIZE
    assert photo.original_size == BASE_SIZE
    assert mean_abs_diff(photo.image, upright) < 3.0  # JPEG q95 error only
    assert mean_abs_diff(photo.image, upright[:, ::-1]) > 10.0  # and not its mirror image
    assert mean_abs_diff(photo.image, upright[::-1, ::-1]) > 10.0  # nor upside down
    assert (f"rotated (EXIF {orientation})" in photo.notes) == (orientation != 1)


def test_sideways_phone_photo_with_gps_comes_out_upright_and_clean():
    sample = (PHOTOS / "samples" / "binoculars_phone_rotated_gps.jpg").read_bytes()
    assert Image.open(io.BytesIO(sample)).size == (1200, 1600)  # stored sideways
    photo = normalise_upload(sample)
    assert photo.image.size == (1600, 1200)
    case = Image.open(PHOTOS / "cases" / "02_binoculars_wooden_jetty" / "photo.jpg").convert("RGB")
    assert mean_abs_diff(photo.image, case) < 2.0
    encoded, _, _ = encode_source(photo)
    assert b"GPS" not in encoded and b"Exif" not in encoded and b"samsung" not in encoded


def test_heic_sample_decodes_full_size():
    photo = normalise_upload((PHOTOS / "samples" / "guitar.heic").read_bytes())
    assert photo.source_format == "HEIF"
    assert photo.image.size == (2000, 1500) and photo.image.mode == "RGB"
    case = Image.open(PHOTOS / "cases" / "03_guitar_cluttered_living_room" / "photo.jpg").convert("RGB")
    assert mean_abs_diff(photo.image, case) < 6.0  # HEVC quality 60


# ---------------------------------------------------------------- colour and bit depth


def test_16_bit_grey_is_scaled_not_clipped():
    ramp = np.array([[0, 257 * 64, 32768, 257 * 192, 65535]], dtype=np.uint16).repeat(120, 0).repeat(120, 1)
    photo = normalise_upload(encode(Image.fromarray(ramp), "PNG"))
    assert photo.image.mode == "RGB"
    middle_row = pixels(photo.image)[60, 60::120]
    assert middle_row.tolist() == [[v, v, v] for v in (0, 64, 128, 192, 255)]


def test_16_bit_grey_photo_matches_its_8_bit_picture():
    photo = normalise_upload(CORPUS["grey_16bit.png"].data)
    assert mean_abs_diff(photo.image.convert("L"), base_photo().convert("L")) < 0.6


def test_cmyk_jpeg_has_the_right_colours_not_inverted():
    patches = [(0, 255, 255, 0), (255, 0, 255, 0), (255, 255, 0, 0), (0, 0, 0, 0), (0, 0, 0, 255)]
    rgb_expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)]
    image = Image.new("CMYK", (160 * len(patches), 480))
    for i, patch in enumerate(patches):
        image.paste(patch, (160 * i, 0, 160 * (i + 1), 480))
    data = encode(image, "JPEG", quality=95)
    assert b"Adobe" in data  # APP14: stored inverted, the Photoshop convention
    photo = normalise_upload(data)
    centres = [pixels(photo.image)[240, 160 * i + 80] for i in range(len(patches))]
    for got, want in zip(centres, rgb_expected, strict=True):
        assert np.abs(got - np.array(want)).max() <= 6, (got, want)
    assert "converted from CMYK" in photo.notes


def test_cmyk_jpeg_without_adobe_marker_is_read_as_plain_cmyk():
    """Same patches, stored non-inverted and without the APP14 segment that announces the inversion."""
    # Pillow writes 255 - value, so these store plain red (0, 255, 255, 0) and cyan (255, 0, 0, 0).
    image = Image.new("CMYK", (480, 480), (255, 0, 0, 255))
    image.paste((0, 255, 255, 255), (240, 0, 480, 480))
    data = encode(image, "JPEG", quality=95)
    start = data.index(b"Adobe") - 4  # APP14: FF EE, a 2-byte length, "Adobe"
    assert data[start : start + 2] == b"\xff\xee"
    data = data[:start] + data[start + 2 + int.from_bytes(data[start + 2 : start + 4], "big") :]
    photo = normalise_upload(data)
    assert np.abs(pixels(photo.image)[240, 120] - (255, 0, 0)).max() <= 6  # red, not black
    assert np.abs(pixels(photo.image)[240, 360] - (0, 255, 255)).max() <= 6  # cyan, not white


def _colour_patches(colours: list[tuple[int, int, int]]) -> Image.Image:
    image = Image.new("RGB", (100 * len(colours), 400))
    for i, colour in enumerate(colours):
        image.paste(colour, (100 * i, 0, 100 * (i + 1), 400))
    return image


def test_embedded_profile_is_converted_to_srgb():
    colours = [(180, 90, 60), (60, 160, 80), (30, 60, 200), (128, 128, 128)]
    data = encode(_colour_patches(colours), "PNG", icc_profile=adobe_rgb_icc())
    photo = normalise_upload(data)
    got = np.array([pixels(photo.image)[200, 100 * i + 50] for i in range(len(colours))])
    expected = adobe_rgb_to_srgb(np.array(colours))
    assert np.abs(got - expected).max() <= 2
    assert np.abs(got - np.array(colours)).max() >= 20  # the profile really moved the colours
    assert any(note.startswith("converted to sRGB from embedded profile") for note in photo.notes)


def test_profile_conversion_keeps_an_uploaded_alpha():
    image = _colour_patches([(180, 90, 60)] * 5)
    image.putalpha(cutout_alpha((500, 400)))
    photo = normalise_upload(encode(image, "PNG", icc_profile=adobe_rgb_icc()))
    assert photo.image.mode == "RGBA"
    assert np.array_equal(np.asarray(photo.image.getchannel("A")), np.asarray(cutout_alpha((500, 400))))


def test_broken_profile_is_ignored_not_refused():
    photo = normalise_upload(encode(base_photo(), "JPEG", quality=92, icc_profile=b"not a profile" * 20))
    assert photo.image.size == BASE_SIZE
    assert "embedded colour profile unusable, ignored" in photo.notes


# ---------------------------------------------------------------- transparency


def test_uploaded_cutout_keeps_its_alpha_exactly():
    photo = normalise_upload(CORPUS["cutout.png"].data)
    assert photo.has_transparency and photo.image.mode == "RGBA"
    assert np.array_equal(np.asarray(photo.image.getchannel("A")), np.asarray(cutout_alpha()))


def test_fully_opaque_alpha_is_dropped():
    photo = normalise_upload(CORPUS["opaque_alpha.png"].data)
    assert photo.image.mode == "RGB" and not photo.has_transparency


# ---------------------------------------------------------------- size cap


def test_cap_downscales_landscape_and_portrait_to_the_long_edge():
    landscape = Image.fromarray(np.asarray(base_photo().resize((3000, 2250))))
    photo = normalise_upload(encode(landscape, "PNG", compress_level=1))
    assert photo.image.size == (2000, 1500) and photo.original_size == (3000, 2250)
    assert "downscaled from 3000 px" in photo.notes
    portrait = normalise_upload(
        encode(landscape.transpose(Image.Transpose.ROTATE_90), "PNG", compress_level=1)
    )
    assert portrait.image.size == (1500, 2000)


def test_cap_is_a_parameter_and_never_upscales():
    assert normalise_upload(CORPUS["photo.webp"].data, IntakeLimits(max_edge=400)).image.size == (400, 300)
    assert normalise_upload(CORPUS["photo.webp"].data, IntakeLimits(max_edge=4000)).image.size == BASE_SIZE
    assert capped_size((4032, 3024), 2000) == (2000, 1500)
    assert capped_size((1, 5000), 2000) == (1, 2000)


def test_big_jpeg_is_decoded_at_reduced_scale_without_losing_quality():
    """The draft decode (libjpeg at 1/2) + LANCZOS stays close to a full decode + LANCZOS."""
    big = Image.open(PHOTOS / "cases" / "02_binoculars_wooden_jetty" / "photo.jpg").convert("RGB")
    big = big.resize((4032, 3024), Image.Resampling.LANCZOS)
    data = encode(big, "JPEG", quality=92)
    photo = normalise_upload(data)
    assert photo.image.size == (2000, 1500)
    assert "decoded at 1/2 scale" in photo.notes
    reference = Image.open(io.BytesIO(data)).convert("RGB").resize((2000, 1500), Image.Resampling.LANCZOS)
    assert mean_abs_diff(photo.image, reference) < 1.5


def test_sideways_big_jpeg_is_capped_and_rotated():
    stored = base_photo().resize((3200, 2400)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = normalise_upload(encode(stored, "JPEG", quality=90, exif=exif.tobytes()))
    assert photo.image.size == (2000, 1500) and photo.original_size == (3200, 2400)


# ---------------------------------------------------------------- limits


def test_too_large_counts_bytes_and_the_limit_is_inclusive():
    data = CORPUS["photo.webp"].data
    assert refusal_of(data, IntakeLimits(max_bytes=len(data) - 1)).code == "too_large"
    assert normalise_upload(data, IntakeLimits(max_bytes=len(data))).image.size == BASE_SIZE


def test_pixel_limit_is_a_parameter_checked_from_the_header():
    assert (
        refusal_of(CORPUS["photo.webp"].data, IntakeLimits(max_pixels=640 * 480 - 1)).code
        == "too_many_pixels"
    )
    assert (
        normalise_upload(CORPUS["photo.webp"].data, IntakeLimits(max_pixels=640 * 480)).image.size
        == BASE_SIZE
    )


def test_minimum_size_boundary():
    at_minimum = encode(base_photo().resize((400, 300)), "PNG")
    assert normalise_upload(at_minimum).image.size == (400, 300)
    assert refusal_of(encode(base_photo().resize((399, 299)), "PNG")).code == "too_small"


def test_pillow_safety_switches_stay_on():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS >= 89_478_485


def test_limits_must_make_sense():
    with pytest.raises(ValueError):
        IntakeLimits(max_edge=300, min_long_edge=400)
    with pytest.raises(ValueError):
        IntakeLimits(max_bytes=0)


def test_pixel_bomb_is_refused_in_bounded_memory():
    """Peak RSS of a fresh process ingesting the 30000 x 30000 PNG (a full decode would take ~900 MB)."""
    assert len(pixel_bomb_png()) < 300_000
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "measure_ingest_memory.py"), "--memory"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    bomb = json.loads(done.stdout)["memory"]["bomb_30000_png"]
    assert bomb["outcome"] == "refused" and bomb["code"] == "too_many_pixels"
    assert bomb["peak_rss_mb"] < 300


# ---------------------------------------------------------------- the written source


def _markers(data: bytes) -> list[str]:
    return [marker for marker, _ in Image.open(io.BytesIO(data)).applist]


@pytest.mark.parametrize("name", ACCEPTED)
def test_source_carries_no_metadata(name):
    encoded, ext, content_type = encode_source(normalise_upload(CORPUS[name].data))
    reread = Image.open(io.BytesIO(encoded))
    assert dict(reread.getexif()) == {}
    assert not {"exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp"} & set(reread.info)
    for needle in (
        b"Exif",
        b"GPS",
        b"ICC_PROFILE",
        b"iCCP",
        b"eXIf",
        b"tEXt",
        b"iTXt",
        b"zTXt",
        b"adobe:ns:meta",
    ):
        assert needle not in encoded, needle
    if ext == "jpg":
        assert content_type == "image/jpeg" and reread.format == "JPEG"
        assert _markers(encoded) == ["APP0"]  # JFIF only: no APP1 (EXIF/XMP), APP2 (ICC), COM
    else:
        assert (ext, content_type, reread.format) == ("png", "image/png", "PNG")
        assert set(reread.info) <= {"dpi", "gamma", "aspect"}


def test_source_is_jpeg_q95_444_for_rgb_and_png_for_rgba():
    rgb = normalise_upload(CORPUS["photo.webp"].data)
    encoded, ext, _ = encode_source(rgb)
    reread = Image.open(io.BytesIO(encoded))
    q95 = Image.open(io.BytesIO(encode(rgb.image, "JPEG", quality=95)))
    assert ext == "jpg" and [layer[1:3] for layer in reread.layer] == [(1, 1)] * 3  # 4:4:4
    assert reread.quantization == q95.quantization
    rgba = normalise_upload(CORPUS["cutout.png"].data)
    encoded, ext, _ = encode_source(rgba)
    assert ext == "png" and np.array_equal(
        np.asarray(Image.open(io.BytesIO(encoded))), np.asarray(rgba.image)
    )


def test_source_bytes_are_deterministic():
    for name in ("gps_xmp_comment.jpg", "cutout.png"):
        first = encode_source(normalise_upload(CORPUS[name].data))
        assert encode_source(normalise_upload(CORPUS[name].data)) == first


def test_source_ignores_metadata_a_caller_attached():
    photo = normalise_upload(CORPUS["photo.webp"].data)
    photo.image.info["icc_profile"] = adobe_rgb_icc()
    photo.image.info["exif"] = b"Exif\x00\x00MM\x00*"
    encoded, _, _ = encode_source(photo)
    assert b"ICC_PROFILE" not in encoded and b"Exif" not in encoded


def test_source_refuses_a_mode_that_is_not_rgb_or_rgba():
    photo = NormalisedPhoto(Image.new("L", (500, 400)), "PNG", (500, 400), False)
    with pytest.raises(ValueError):
        encode_source(photo)
