"""The Drive lane: a Google Drive folder mirrored into ``inbox/``, and finished sets mirrored back.

Two pieces, both free of AWS:

* ``DriveFolder``, the adapter over a googleapiclient Drive v3 ``service`` (tests build one on the
  library's own ``HttpMockSequence``).
* ``SyncState``, the small JSON object the sync keeps between runs (in S3, ``config/drive-state.json``).

"New since a cursor" uses Drive's changes feed, not file times: a cursor is a changes page token, and
every file added to (or changed in) the folder after it appears in the next ``changes.list``. File times
cannot be the cursor because Drive keeps the *original* modification time of an uploaded file: a photo
taken last week and dropped in the folder today would sort behind a time cursor and never be seen.

A file is taken once per content: ``taken`` remembers the checksum copied for each Drive file id, so a
rename (which shows up as a change) copies nothing, while new content under the same id is a new photo.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

FOLDER_MIME = "application/vnd.google-apps.folder"
DRIVE_SCOPES = ("https://www.googleapis.com/auth/drive",)
"""Full Drive scope: the sync reads the shared folder and writes the finished sets into a subfolder of it.
Only what is shared with the service account is reachable, whatever the scope."""

FILE_FIELDS = "id, name, mimeType, md5Checksum, modifiedTime, size, parents, trashed"
MAX_REMEMBERED = 5000
"""How many taken files and mirrored sets the state remembers (newest kept). At a few hundred photos a
month that is over a year; an older file only matters if it changes again, and then it is a new photo."""


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    mime_type: str
    md5: str | None
    modified_time: str
    size: int | None

    @property
    def version(self) -> str:
        """What identifies this content: the checksum (binary files always have one), else its time."""
        return self.md5 or self.modified_time

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> DriveFile:
        size = item.get("size")
        return cls(id=item["id"], name=item.get("name") or item["id"], mime_type=item.get("mimeType", ""),
                   md5=item.get("md5Checksum"), modified_time=item.get("modifiedTime", ""),
                   size=int(size) if size is not None else None)


def _quoted(value: str) -> str:
    """A value inside single quotes in a Drive query (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class DriveFolder:
    """One watched Drive folder, through a googleapiclient Drive v3 ``service`` object."""

    def __init__(self, service: Any, folder_id: str) -> None:
        self._files = service.files()
        self._changes = service.changes()
        self.folder_id = folder_id

    def cursor(self) -> str:
        """A changes cursor for "now": every change after this call appears after it."""
        response = self._changes.getStartPageToken(supportsAllDrives=True).execute()
        return response["startPageToken"]

    def images(self) -> Iterator[DriveFile]:
        """Every image directly in the folder (the first run's backlog)."""
        query = f"{_quoted(self.folder_id)} in parents and trashed = false and mimeType contains 'image/'"
        yield from self._list(query)

    def changed_images(self, cursor: str) -> tuple[list[DriveFile], str]:
        """Images in the folder added or changed since ``cursor``, and the cursor to use next time."""
        found: list[DriveFile] = []
        token = cursor
        while True:
            response = self._changes.list(
                pageToken=token, spaces="drive", includeRemoved=False, supportsAllDrives=True,
                includeItemsFromAllDrives=True, pageSize=100,
                fields=f"nextPageToken, newStartPageToken, changes(fileId, removed, file({FILE_FIELDS}))",
            ).execute()
            for change in response.get("changes", []):
                item = change.get("file") or {}
                if (not change.get("removed") and not item.get("trashed")
                        and self.folder_id in (item.get("parents") or [])
                        and str(item.get("mimeType", "")).startswith("image/")):
                    found.append(DriveFile.from_api(item))
            if "newStartPageToken" in response:
                return found, response["newStartPageToken"]
            token = response["nextPageToken"]

    def download(self, file_id: str) -> bytes:
        return self._files.get_media(fileId=file_id, supportsAllDrives=True).execute()

    def subfolder(self, name: str) -> str:
        """The id of the subfolder ``name`` of the watched folder, created when missing."""
        query = (f"{_quoted(self.folder_id)} in parents and trashed = false and mimeType = '{FOLDER_MIME}' "
                 f"and name = {_quoted(name)}")
        for existing in self._list(query):
            return existing.id
        created = self._files.create(
            body={"name": name, "mimeType": FOLDER_MIME, "parents": [self.folder_id]}, fields="id",
            supportsAllDrives=True,
        ).execute()
        return created["id"]

    def upload(self, folder_id: str, name: str, data: bytes, mime_type: str) -> str:
        """Create a file in ``folder_id`` (a simple multipart upload: variants are a few MB at most)."""
        from googleapiclient.http import MediaIoBaseUpload

        media = MediaIoBaseUpload(io.BytesIO(data), mimetype=mime_type, resumable=False)
        created = self._files.create(body={"name": name, "parents": [folder_id]}, media_body=media,
                                     fields="id", supportsAllDrives=True).execute()
        return created["id"]

    def _list(self, query: str) -> Iterator[DriveFile]:
        token = None
        while True:
            response = self._files.list(
                q=query, spaces="drive", pageSize=100, pageToken=token, supportsAllDrives=True,
                includeItemsFromAllDrives=True, orderBy="createdTime", fields=f"nextPageToken, files({FILE_FIELDS})",
            ).execute()
            for item in response.get("files", []):
                yield DriveFile.from_api(item)
            token = response.get("nextPageToken")
            if not token:
                return


@dataclass
class SyncState:
    """What the sync remembers between runs; small JSON, newest entries kept (``MAX_REMEMBERED``)."""

    cursor: str | None = None
    taken: dict[str, str] = field(default_factory=dict)  # Drive file id -> version copied into inbox/
    mirror_after: str | None = None  # LastModified of the newest manifest mirrored back
    mirrored: dict[str, str] = field(default_factory=dict)  # job id -> its manifest's LastModified
    out_folder_id: str | None = None

    def is_taken(self, file: DriveFile) -> bool:
        return self.taken.get(file.id) == file.version

    def take(self, file: DriveFile) -> None:
        self.taken.pop(file.id, None)  # re-inserted last: dict order is the age order pruning uses
        self.taken[file.id] = file.version

    def mirror(self, job_id: str, last_modified: str) -> None:
        self.mirrored[job_id] = last_modified
        self.mirror_after = max(self.mirror_after or "", last_modified)

    def to_json(self) -> bytes:
        for remembered in (self.taken, self.mirrored):
            for stale in list(remembered)[: max(0, len(remembered) - MAX_REMEMBERED)]:
                del remembered[stale]
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> SyncState:
        if not data:
            return cls()
        known = {name: value for name, value in json.loads(data).items() if name in cls.__dataclass_fields__}
        return cls(**known)


def service_account_info(secret: str) -> dict[str, Any] | None:
    """The service-account key in the Drive secret, or None while it is still the deploy-time placeholder
    (or anything else that is not a key): the lane stays off until the owner puts a real key there."""
    try:
        info = json.loads(secret)
    except ValueError:
        return None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        return None
    return info if info.get("client_email") and info.get("private_key") else None


def drive_service(info: dict[str, Any]) -> Any:
    """A Drive v3 client for the service account, built from the library's bundled discovery document
    (no discovery request at start)."""
    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    credentials = service_account.Credentials.from_service_account_info(info, scopes=list(DRIVE_SCOPES))
    return build("drive", "v3", credentials=credentials, cache_discovery=False, static_discovery=True)
