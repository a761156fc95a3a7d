"""The streaming zip writer (picr.aws.archives) on real image bytes in moto's S3: the zip opens with ``zipfile``,
every file is byte for byte its source object, the archive goes up in parts of one fixed size (at least the
5 MiB S3 takes, but for the last), only one part is ever held, and a failure leaves nothing behind."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from picr.aws.archives import MIN_PART_BYTES, ArchiveBucket, Member, MultipartWriter, multipart_upload

BUCKET = "picr-archive-test"


@pytest.fixture
def s3(aws):
    import boto3

    client = boto3.client("s3", region_name="eu-west-2")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return client


def photo(seed: int, size: tuple[int, int], fmt: str) -> bytes:
    """A noisy photo-like image (noise does not compress: the files are as large as real photos)."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, size[0], dtype=np.float32)[None, :, None]
    pixels = np.clip(gradient + rng.normal(0, 40, (size[1], size[0], 3)), 0, 255).astype("uint8")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, **({"quality": 92} if fmt != "PNG" else {}))
    return out.getvalue()


@pytest.fixture
def images(s3) -> dict[str, bytes]:
    """JPEG, PNG and WebP under out/, one PNG over 10 MB so a file spans parts."""
    made = {
        "out/market/a.jpg": photo(1, (1200, 1200), "JPEG"),
        "out/web/b.png": photo(2, (2200, 2000), "PNG"),
        "out/social/c.webp": photo(3, (1080, 1080), "WEBP"),
        "out/market/d.jpg": photo(4, (900, 700), "JPEG"),
    }
    assert len(made["out/web/b.png"]) > 10 * 2**20
    for key, data in made.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return made


def part_sizes(s3) -> list[int]:
    """The size of every part any upload sends from here on."""
    sizes: list[int] = []
    s3.meta.events.register("before-parameter-build.s3.UploadPart",
                            lambda params, **_: sizes.append(len(params["Body"])))
    return sizes


def test_the_zip_opens_and_every_file_is_its_source_object_byte_for_byte(s3, images):
    sizes = part_sizes(s3)
    members = [Member(f"file-{n}.{key.rsplit('.', 1)[1]}", key) for n, key in enumerate(images)]
    written = ArchiveBucket(s3, BUCKET, part_size=MIN_PART_BYTES, chunk_size=64 * 1024).write_zip(
        "exports/e/picr.zip", members)
    stored = s3.get_object(Bucket=BUCKET, Key="exports/e/picr.zip")
    data = stored["Body"].read()
    assert (written.members, written.bytes, len(data)) == (4, len(data), written.bytes)
    assert stored["ContentType"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every CRC checks out
        assert archive.namelist() == [member.name for member in members]
        for member in members:
            assert archive.read(member.name) == images[member.key]
        for info in archive.infolist():
            # deflate's stored blocks (no recompression), sizes after the data, readable once unzipped
            assert info.compress_type == zipfile.ZIP_DEFLATED and info.flag_bits & 0x08
            assert info.compress_size < info.file_size * 1.01 and info.external_attr >> 16 == 0o644
    assert len(sizes) == -(-len(data) // MIN_PART_BYTES) >= 3
    assert all(size == MIN_PART_BYTES for size in sizes[:-1]) and 0 < sizes[-1] <= MIN_PART_BYTES
    assert sum(sizes) == len(data)


def test_the_writer_holds_at_most_one_part_whatever_it_is_given(s3):
    sizes = part_sizes(s3)
    data = np.random.default_rng(9).integers(0, 256, 3 * MIN_PART_BYTES + 12345, dtype=np.uint8).tobytes()
    held = []
    with multipart_upload(s3, BUCKET, "exports/raw.bin", part_size=MIN_PART_BYTES) as out:
        for start in range(0, len(data), 777_777):  # writes that straddle part boundaries
            out.write(data[start:start + 777_777])
            held.append(out.buffered)
        assert out.tell() == len(data)
    assert max(held) < MIN_PART_BYTES
    assert sizes == [MIN_PART_BYTES] * 3 + [12345]
    assert s3.get_object(Bucket=BUCKET, Key="exports/raw.bin")["Body"].read() == data


def test_a_member_that_cannot_be_read_aborts_the_upload_and_leaves_nothing(s3, images):
    aborted = []
    s3.meta.events.register("before-parameter-build.s3.AbortMultipartUpload",
                            lambda params, **_: aborted.append(params["UploadId"]))
    members = [Member(f"{n}.bin", key) for n, key in enumerate(images)]
    members.insert(2, Member("gone.jpg", "out/market/not-there.jpg"))
    with pytest.raises(ClientError, match="NoSuchKey"):
        ArchiveBucket(s3, BUCKET, part_size=MIN_PART_BYTES).write_zip("exports/e/picr.zip", members)
    assert len(aborted) == 1
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="exports/")


def test_a_part_under_five_mebibytes_is_refused_before_anything_is_sent(s3):
    with pytest.raises(ValueError, match="at least"):
        MultipartWriter(s3, BUCKET, "exports/x.zip", "upload-id", MIN_PART_BYTES - 1)
