"""Zip archives streamed from the bucket into the bucket: memory bounded whatever the count and the sizes.

Each member is read from S3 a chunk at a time (the GET's ``StreamingBody``) and written through Python's
``zipfile`` into a ``MultipartWriter``, which uploads the archive as S3 multipart parts of one fixed size and
holds only the part it is filling. So an export of ten images and one of a thousand use the same memory: one
part, one chunk, the interpreter. A failure anywhere aborts the multipart upload, so no half-written zip is
ever visible (the bucket's rule also clears an abandoned upload after 7 days, should the abort itself fail).

The writer cannot seek back (a part, once uploaded, is gone), so ``zipfile`` writes each member's CRC and sizes
in a data descriptor after its bytes, as streaming zip writers do. Members are DEFLATE entries at level 0:
deflate's stored blocks, i.e. the image bytes as they are (JPEG, PNG and WebP are compressed already, so
compressing them again spends CPU for nothing), in the one method every reader accepts with a data
descriptor; some streaming readers (Java's ``ZipInputStream``, which bulk-upload services use) refuse a
``ZIP_STORED`` entry whose sizes come after it.

Takes its boto3 S3 client so tests pass a moto one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MIN_PART_BYTES = 5 * 2**20
"""S3 refuses a multipart part under 5 MiB, but for the last one."""
MAX_PARTS = 10_000
READ_CHUNK_BYTES = 2**20
"""How much of a member is read from S3 at a time."""
ZIP_CONTENT_TYPE = "application/zip"


class MultipartWriter:
    """A write-only, unseekable file over one S3 multipart upload, in parts of exactly ``part_size`` bytes
    (the last may be shorter). Only the part being filled is held in memory."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str, part_size: int) -> None:
        if part_size < MIN_PART_BYTES:
            raise ValueError(f"a multipart part is at least {MIN_PART_BYTES} bytes, not {part_size}")
        self._client, self._bucket, self._key, self._upload_id = client, bucket, key, upload_id
        self._part_size = part_size
        self._part = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        while view:
            room = self._part_size - len(self._part)
            self._part += view[:room]
            view = view[room:]
            if len(self._part) == self._part_size:
                self._upload_part()
        self._written += size
        return size

    def tell(self) -> int:
        return self._written

    @property
    def buffered(self) -> int:
        """Bytes held in memory: the part being filled, never a whole one."""
        return len(self._part)

    def seek(self, *_args: Any) -> int:
        raise io.UnsupportedOperation("a multipart upload cannot seek back")  # zipfile then streams

    def flush(self) -> None:
        """Nothing to do: a part is uploaded when it is full, the last one when the upload completes."""

    def complete(self) -> str | None:
        """Upload what is left as the last part and complete the upload; returns the object's version id."""
        if self._part or not self._parts:
            self._upload_part()
        response = self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
        return response.get("VersionId")

    def _upload_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"an archive of more than {MAX_PARTS} parts of {self._part_size} bytes")
        response = self._client.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                            PartNumber=number, Body=self._part)
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._part = bytearray()  # the uploaded part is let go before the next is filled


@contextmanager
def multipart_upload(client: Any, bucket: str, key: str, *, part_size: int,
                     content_type: str = ZIP_CONTENT_TYPE) -> Iterator[MultipartWriter]:
    """A ``MultipartWriter`` for ``key``; the upload completes when the block ends and is aborted if it raises."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    writer = MultipartWriter(client, bucket, key, upload_id, part_size)
    try:
        yield writer
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    writer.complete()


@dataclass(frozen=True)
class Member:
    """One file of an archive: its name inside the zip and the bucket key its bytes come from."""

    name: str
    key: str


@dataclass(frozen=True)
class ArchiveWritten:
    key: str
    members: int
    bytes: int
    """The archive's size."""


class ArchiveBucket:
    """Writes zip archives of the bucket's own objects into the bucket, streaming (see the module's doc)."""

    def __init__(self, client: Any, bucket: str, *, part_size: int, chunk_size: int = READ_CHUNK_BYTES) -> None:
        self._client = client
        self.name = bucket
        self._part_size = part_size
        self._chunk_size = chunk_size

    def write_zip(self, key: str, members: Iterable[Member]) -> ArchiveWritten:
        """Zip the current version of each member's key, in order, into ``key``; nothing is left at ``key``
        (no object, no open upload) when any member cannot be read."""
        count = 0
        with multipart_upload(self._client, self.name, key, part_size=self._part_size) as out:
            # Not a ``with`` block: on a failure the archive is abandoned as it is (the upload is aborted),
            # not finished with a central directory nobody will read.
            archive = zipfile.ZipFile(out, "w")
            for member in members:
                self._add(archive, member)
                count += 1
            archive.close()
            size = out.tell()
        return ArchiveWritten(key, count, size)

    def _add(self, archive: zipfile.ZipFile, member: Member) -> None:
        response = self._client.get_object(Bucket=self.name, Key=member.key)
        body = response["Body"]
        try:
            info = zipfile.ZipInfo(member.name, date_time=_zip_time(response["LastModified"]))
            info.compress_type, info.compress_level = zipfile.ZIP_DEFLATED, 0  # a ZipInfo's own, not the archive's
            info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped (0 would leave no permission at all)
            info.file_size = int(response["ContentLength"])  # decides zip64 before the bytes are written
            target = archive.open(info, "w")
            for chunk in body.iter_chunks(self._chunk_size):
                target.write(chunk)
            target.close()  # its CRC and sizes, after its bytes
        finally:
            body.close()


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    """A zip entry's time (UTC, whole seconds; the format starts in 1980)."""
    stamp = moment.timetuple()[:6]
    return stamp if stamp[0] >= 1980 else (1980, 1, 1, 0, 0, 0)
