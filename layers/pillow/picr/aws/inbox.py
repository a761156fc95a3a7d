"""The one door every way in uses: a photo written once under ``inbox/`` with where it came from
(``picr.intake.origin``), which starts its job."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from picr.aws.bucket import INBOX
from picr.intake.origin import Origin, encode_metadata


class Inbox:
    """Adapter writing photos under ``inbox/``; takes its boto3 S3 client so tests pass a moto one.

    Each write is conditional (``If-None-Match: *``): a lane that retries after a crash finds its photo
    already there instead of writing a second version, which would start a second job.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def drop(self, name: str, data: bytes, content_type: str, origin: Origin) -> bool:
        """Write ``inbox/<name>`` once; False when it was already there (nothing written)."""
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=f"{INBOX}{name}", Body=data, ContentType=content_type,
                Metadata=encode_metadata(origin), IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                return False
            raise
        return True
