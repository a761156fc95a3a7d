"""The images bucket: where every stage's bytes live, and the one place that knows the key layout.

Prefixes: ``inbox/`` (uploads, the trigger), ``work/<job_id>/`` (normalised source, cutout, draft
variants), ``out/<channel>/<job_id>.<ext>`` and ``out/manifests/<job_id>.json`` (published),
``rejected/<job_id>/<name>`` (refused uploads, kept), ``config/`` (channels and logo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

INBOX = "inbox/"
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


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None


class ImageBucket:
    """Adapter over one S3 bucket; takes its boto3 S3 client so tests pass a moto one."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.name = bucket

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
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
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
        """Server-side copy: the bytes never pass through the function."""
        copy_source: dict[str, str] = {"Bucket": self.name, "Key": source_key}
        if version_id:
            copy_source["VersionId"] = version_id
        self._client.copy_object(Bucket=self.name, Key=target_key, CopySource=copy_source)

    def move(self, source_key: str, target_key: str, version_id: str | None = None) -> None:
        """Copy then delete the source (delete adds a marker; the versioned original stays recoverable)."""
        self.copy(source_key, target_key, version_id)
        self._client.delete_object(Bucket=self.name, Key=source_key)

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def presign(self, key: str, expires_s: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.name, "Key": key}, ExpiresIn=expires_s
        )
