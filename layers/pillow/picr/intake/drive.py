"""The Drive lane: a Google Drive folder mirrored into ``inbox/``, and finished sets mirrored back.

Two pieces, both free of AWS:

* ``DriveFolder``, the adapter over Drive's v3 REST API, called through an authorised ``requests`` session
  (google-auth's ``AuthorizedSession``; tests give the session a transport adapter that answers as Drive does).
  No Google API client library: googleapiclient alone was 109 MiB of drive-sync's 250 MiB allowance, for
  the six calls below.
* ``SyncState``, the small JSON object the sync keeps between runs (in S3, ``config/drive-state.json``).

"New since a cursor" uses Drive's changes feed, not file times: a cursor is a changes page token, and
every file added to (or changed in) the folder after it appears in the next ``changes.list``. File times
cannot be the cursor because Drive keeps the *original* modification time of an uploaded file: a photo
taken last week and dropped in the folder today would sort behind a time cursor and never be seen.

A file is taken once per content: ``taken`` remembers the checksum copied for each Drive file id, so a
rename (which shows up as a change) copies nothing, while new content under the same id is a new photo.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

FOLDER_MIME = "application/vnd.google-apps.folder"
DRIVE_SCOPES = ("https://www.googleapis.com/auth/drive",)
"""Full Drive scope: the sync reads the shared folder and writes the finished sets into a subfolder of it.
Only what is shared with the service account is reachable, whatever the scope."""

DRIVE_API = "https://www.googleapis.com/drive/v3"
DRIVE_UPLOAD_API = "https://www.googleapis.com/upload/drive/v3"
REQUEST_TIMEOUT_S = (10, 60)
"""Connect and read timeouts of one Drive call: a stalled connection fails the call (and the run, which
the next run repeats) long before Lambda's own timeout could cut the run off between a copy and its state."""
SHARED_DRIVES = {"supportsAllDrives": "true"}
"""On every call: the folder may live in a shared drive."""

FILE_FIELDS = "id, name, mimeType, md5Checksum, modifiedTime, size, parents, trashed"
MAX_REMEMBERED = 5000
"""How many taken files and mirrored sets the state remembers (newest kept). At a few hundred photos a
month that is over a year; an older file only matters if it changes again, and then it is a new photo."""


class DriveError(RuntimeError):
    """Drive refused a call; the message carries Drive's own reason (``error.message`` of its JSON)."""


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


def multipart_related(metadata: dict[str, Any], data: bytes, mime_type: str) -> tuple[bytes, str]:
    """Drive's multipart upload body (RFC 2387): the file's JSON metadata, then its bytes; and its
    Content-Type. The boundary is random, so no photo can contain it by accident of its content."""
    boundary = f"picr-{secrets.token_hex(16)}"
    body = b"".join([
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
        json.dumps(metadata).encode(),
        f"\r\n--{boundary}\r\nContent-Type: {mime_type}\r\n\r\n".encode(),
        data,
        f"\r\n--{boundary}--\r\n".encode(),
    ])
    return body, f'multipart/related; boundary="{boundary}"'


class DriveFolder:
    """One watched Drive folder, through an authorised ``requests`` session (``drive_session``)."""

    def __init__(self, session: Any, folder_id: str) -> None:
        self._session = session
        self.folder_id = folder_id

    def cursor(self) -> str:
        """A changes cursor for "now": every change after this call appears after it."""
        return self._json("GET", f"{DRIVE_API}/changes/startPageToken")["startPageToken"]

    def images(self) -> Iterator[DriveFile]:
        """Every image directly in the folder (the first run's backlog)."""
        query = f"{_quoted(self.folder_id)} in parents and trashed = false and mimeType contains 'image/'"
        yield from self._list(query)

    def changed_images(self, cursor: str) -> tuple[list[DriveFile], str]:
        """Images in the folder added or changed since ``cursor``, and the cursor to use next time."""
        found: list[DriveFile] = []
        token = cursor
        while True:
            response = self._json("GET", f"{DRIVE_API}/changes", params={
                "pageToken": token, "spaces": "drive", "includeRemoved": "false",
                "includeItemsFromAllDrives": "true", "pageSize": "100",
                "fields": f"nextPageToken, newStartPageToken, changes(fileId, removed, file({FILE_FIELDS}))",
            })
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
        return self._call("GET", f"{DRIVE_API}/files/{file_id}", params={"alt": "media"}).content

    def subfolder(self, name: str) -> str:
        """The id of the subfolder ``name`` of the watched folder, created when missing."""
        query = (f"{_quoted(self.folder_id)} in parents and trashed = false and mimeType = '{FOLDER_MIME}' "
                 f"and name = {_quoted(name)}")
        for existing in self._list(query):
            return existing.id
        created = self._json("POST", f"{DRIVE_API}/files", params={"fields": "id"},
                             json={"name": name, "mimeType": FOLDER_MIME, "parents": [self.folder_id]})
        return created["id"]

    def upload(self, folder_id: str, name: str, data: bytes, mime_type: str) -> str:
        """Create a file in ``folder_id`` (a simple multipart upload: variants are a few MB at most)."""
        body, content_type = multipart_related({"name": name, "parents": [folder_id]}, data, mime_type)
        created = self._json("POST", f"{DRIVE_UPLOAD_API}/files", params={"uploadType": "multipart", "fields": "id"},
                             data=body, headers={"Content-Type": content_type})
        return created["id"]

    def _list(self, query: str) -> Iterator[DriveFile]:
        token = None
        while True:
            params = {"q": query, "spaces": "drive", "pageSize": "100", "includeItemsFromAllDrives": "true",
                      "orderBy": "createdTime", "fields": f"nextPageToken, files({FILE_FIELDS})"}
            if token:
                params["pageToken"] = token
            response = self._json("GET", f"{DRIVE_API}/files", params=params)
            for item in response.get("files", []):
                yield DriveFile.from_api(item)
            token = response.get("nextPageToken")
            if not token:
                return

    def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return self._call(method, url, **kwargs).json()

    def _call(self, method: str, url: str, *, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self._session.request(method, url, params={**(params or {}), **SHARED_DRIVES},
                                         timeout=REQUEST_TIMEOUT_S, **kwargs)
        if response.status_code >= 400:
            raise DriveError(f"{method} {url.removeprefix('https://www.googleapis.com')}: "
                             f"{response.status_code} {_drive_reason(response)}")
        return response


def _drive_reason(response: Any) -> str:
    """Drive's own words for a refusal (its JSON ``error.message``), else the HTTP reason."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.reason)


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


def drive_session(info: dict[str, Any], adapter: Any = None) -> Any:
    """An authorised ``requests`` session for the service account: it fetches and refreshes the OAuth token
    itself (a signed JWT exchanged at the key's ``token_uri``) and sends it with every Drive call.

    ``adapter`` is a ``requests`` transport adapter that then carries every request, the token exchange
    included (the tests answer as Google does); without one, requests go to Google."""
    import requests
    from google.auth.transport.requests import AuthorizedSession, Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_info(info, scopes=list(DRIVE_SCOPES))
    token_session = requests.Session()
    session = AuthorizedSession(credentials, auth_request=Request(token_session))
    if adapter is not None:
        for transport in (session, token_session):
            transport.mount("https://", adapter)
    return session
