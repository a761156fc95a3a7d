"""The images bucket: where every stage's bytes live, and the one place that knows the key layout.

What is kept and what is scratch is decided by prefix, because that is what the bucket's lifecycle rules
can see (``template.yaml``, README "What is kept"):

* kept: ``originals/<job_id>/<name>`` (the upload as it arrived, copied there by ingest),
  ``work/<job_id>/`` (normalised source and cutout), ``rejected/<job_id>/<name>`` (refused originals),
  ``out/<channel>/<job_id>.<ext>`` and ``out/manifests/<job_id>.json`` (published), ``config/``;
* scratch: ``inbox/`` (the drop zone, the trigger), ``drafts/<job_id>/`` (rendered variants before
  publish copies them), ``mail/`` (raw emails before intake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

INBOX = "inbox/"
PRESIGNING = Config(s3={"addressing_style": "virtual"})
"""Client config for presigned links: virtual-hosted addressing names the bucket's regional endpoint
(``<bucket>.s3.<region>.amazonaws.com``); left to itself, botocore signs for the legacy global host."""
SINGLE_COPY_LIMIT = 5 * 2**30
"""CopyObject copies at most 5 GB in one request; a larger object is copied in parts (UploadPartCopy),
still server-side."""
_NOT_FOUND = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
CHANNELS_CONFIG_KEY = "config/channels.json"
LOGO_KEY = "config/logo.png"


def work_key(job_id: str, name: str) -> str:
    return f"work/{job_id}/{name}"


def out_key(channel: str, job_id: str, ext: str) -> str:
    return f"out/{channel}/{job_id}.{ext}"


def manifest_key(job_id: str) -> str:
    return f"out/manifests/{job_id}.json"


def rejected_key(job_id: str, file_name: str) -> str:
    return f"rejected/{job_id}/{file_name}"


def original_key(job_id: str, file_name: str) -> str:
    return f"originals/{job_id}/{file_name}"


def draft_key(job_id: str, channel: str, ext: str) -> str:
    return f"drafts/{job_id}/{channel}.{ext}"


def rerender_draft_key(job_id: str, batch_id: str, channel: str, ext: str) -> str:
    """A re-rendered channel's draft: beside the job's first drafts, one folder per batch (scratch too)."""
    return f"drafts/{job_id}/rerender-{batch_id}/{channel}.{ext}"


def not_found(exc: ClientError) -> bool:
    """S3 says the key (or the version asked for) is not there: 404 on HEAD, NoSuchKey/NoSuchVersion on GET."""
    return exc.response["Error"]["Code"] in _NOT_FOUND


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """What HeadObject says about one version, without its bytes."""

    key: str
    size: int
    version_id: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None
    etag: str | None = None


class ImageBucket:
    """Adapter over one S3 bucket; takes its boto3 S3 client so tests pass a moto one."""

    def __init__(self, client: Any, bucket: str, *, single_copy_limit: int = SINGLE_COPY_LIMIT) -> None:
        self._client = client
        self.name = bucket
        self._copy_config = TransferConfig(multipart_threshold=single_copy_limit)

    def head(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object's size and metadata (that version, else the current one); None when it is not there."""
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response = self._client.head_object(**kwargs)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        return ObjectInfo(key=key, size=int(response["ContentLength"]), version_id=response.get("VersionId"),
                          content_type=response.get("ContentType"), metadata=dict(response.get("Metadata") or {}),
                          last_modified=response.get("LastModified"), etag=response.get("ETag"))

    def current_version(self, key: str) -> str | None:
        """The key's current version id; None when its current version is a delete marker (or it has none)."""
        current = self.head(key)
        return current.version_id if current else None

    def get(self, key: str, version_id: str | None = None) -> StoredObject:
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        response = self._client.get_object(**kwargs)
        return StoredObject(
            key=key,
            data=response["Body"].read(),
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata") or {}),
            version_id=response.get("VersionId"),
        )

    def get_optional(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist (e.g. an optional config file)."""
        try:
            return self.get(key).data
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    def put(self, key: str, data: bytes, content_type: str,
            metadata: dict[str, str] | None = None) -> str | None:
        """Write an object; returns its version id (the bucket is versioned, so rewrites keep history)."""
        response = self._client.put_object(
            Bucket=self.name, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )
        return response.get("VersionId")

    def copy(self, source_key: str, target_key: str, version_id: str | None = None) -> None:
        """Server-side copy: the bytes never pass through the function, whatever the size (boto3's managed
        copy sends one CopyObject up to the single-copy limit, UploadPartCopy parts above it)."""
        copy_source: dict[str, str] = {"Bucket": self.name, "Key": source_key}
        if version_id:
            copy_source["VersionId"] = version_id
        self._client.copy(copy_source, self.name, target_key, Config=self._copy_config)

    def copy_unless_current(self, source_key: str, target_key: str) -> bool:
        """Copy unless the target's current version already has the source's bytes (same ETag: a server-side
        copy keeps it), so a repeated copy adds no second identical version. True when it copied."""
        source, target = self.head(source_key), self.head(target_key)
        if source is not None and target is not None and source.etag and source.etag == target.etag:
            return False
        self.copy(source_key, target_key)
        return True

    def put_unless_current(self, key: str, data: bytes, content_type: str) -> bool:
        """Write unless the current version already holds exactly ``data``. True when it wrote."""
        if self.get_optional(key) == data:
            return False
        self.put(key, data, content_type)
        return True

    def move(self, source_key: str, target_key: str, version_id: str | None = None) -> None:
        """Copy that version (else the current one), then delete the source key if it is still current.

        The delete adds a marker (the versioned original stays recoverable). A newer upload under the same
        key is not hidden, and a repeat after a crash finds the key already gone and only copies again.
        """
        self.copy(source_key, target_key, version_id)
        if version_id is None or self.current_version(source_key) == version_id:
            self._client.delete_object(Bucket=self.name, Key=source_key)

    def renew(self, key: str, *, older_than: datetime) -> bool:
        """Rewrite the object onto itself (server-side) when it was written before ``older_than``.

        The new version starts the bucket's lifecycle clock again; the old one becomes noncurrent (and
        goes with the noncurrent-version rule). True when it was renewed.
        """
        current = self.head(key)
        if current is None or current.last_modified is None or current.last_modified >= older_than:
            return False
        # S3 refuses a copy onto itself that changes nothing; restating the metadata is the change.
        self._client.copy_object(Bucket=self.name, Key=key, CopySource={"Bucket": self.name, "Key": key},
                                 MetadataDirective="REPLACE", Metadata=current.metadata,
                                 ContentType=current.content_type or "application/octet-stream")
        return True

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def presigned_origin(self) -> str:
        """``scheme://host[:port]`` of this bucket's presigned URLs: where a browser posts a presigned form and
        loads a presigned image from (presigning is local: this makes no request)."""
        parts = urlsplit(self.presign(INBOX, 60))
        return f"{parts.scheme}://{parts.netloc}"

    def presign(self, key: str, expires_s: int, *, download_as: str | None = None) -> str:
        """A GET link valid ``expires_s``; with ``download_as`` the browser saves it under that file name."""
        params = {"Bucket": self.name, "Key": key}
        if download_as is not None:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_as}"'
        return self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
