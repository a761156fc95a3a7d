"""The Drive lane against the google-api-python-client's own HTTP mock (``HttpMockSequence``) and moto S3.

Each test scripts Drive's answers in the order the sync asks, and then checks both sides: what the sync
asked Drive for (``request_sequence``) and what it left in the bucket.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from picr.drive_sync import MAX_REMEMBERED, DriveFile, DriveFolder, SyncState, drive_service, service_account_info
from picr.inbox import Inbox, decode_metadata
from picr.stages.drive_sync import STATE_KEY, DriveSyncContext, inbox_name, sync
from picr.storage import ImageBucket
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parent.parent
JPEG = (SAMPLES / "toolbox.jpg").read_bytes()
HEIC = (SAMPLES / "guitar.heic").read_bytes()
FOLDER = "1FolderAbC"
BUCKET = "picr-test-images"
OK = {"status": "200", "content-type": "application/json"}


def drive_file(file_id: str, name: str, md5: str, *, parents: tuple[str, ...] = (FOLDER,), size: int = 1000,
               mime: str = "image/jpeg") -> dict:
    return {"id": file_id, "name": name, "mimeType": mime, "md5Checksum": md5, "size": str(size),
            "modifiedTime": "2026-11-01T10:00:00.000Z", "parents": list(parents), "trashed": False}


def answers(*bodies: object) -> HttpMockSequence:
    """Drive's replies in order: dicts as JSON, bytes as a file's content."""
    return HttpMockSequence([
        (OK, json.dumps(body)) if not isinstance(body, bytes) else ({"status": "200"}, body) for body in bodies
    ])


def folder(http: HttpMockSequence) -> DriveFolder:
    return DriveFolder(build("drive", "v3", http=http, static_discovery=True), FOLDER)


def requests(http: HttpMockSequence) -> list[tuple[str, str, dict]]:
    """(method, path, query) of every request the sync sent."""
    seen = []
    for uri, method, _body, _headers in http.request_sequence:
        parts = urlsplit(uri)
        seen.append((method, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}))
    return seen


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="eu-west-2")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def context(s3, http: HttpMockSequence) -> DriveSyncContext:
    return DriveSyncContext(drive=folder(http), inbox=Inbox(s3, BUCKET), bucket=ImageBucket(s3, BUCKET), s3=s3)


def inbox_versions(s3) -> list[str]:
    return sorted(v["Key"] for v in s3.list_object_versions(Bucket=BUCKET, Prefix="inbox/").get("Versions", []))


def publish_set(s3, job_id: str, product: str) -> None:
    outputs = []
    for channel, ext, fmt in (("market", "jpg", "JPEG"), ("web", "png", "PNG")):
        key = f"out/{channel}/{job_id}.{ext}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=f"{channel} pixels".encode())
        outputs.append({"channel": channel, "key": key, "format": fmt})
    manifest = {"job_id": job_id, "product": product, "source_file": "candle.jpg", "outputs": outputs}
    s3.put_object(Bucket=BUCKET, Key=f"out/manifests/{job_id}.json", Body=json.dumps(manifest).encode())


def always() -> bool:
    return True


def test_two_runs_over_the_same_folder_take_each_photo_once_and_mirror_the_set_back(s3):
    publish_set(s3, "0123456789abcdef0123", "Sea salt candle")
    candle, vase = drive_file("fileA", "candle.jpg", "aaa111"), drive_file("fileB", "vase.HEIC", "bbb222",
                                                                          mime="image/heif")
    first = answers(
        {"startPageToken": "100"},
        {"files": [candle, vase]},
        JPEG, HEIC,
        {"files": []},  # no picr-out subfolder yet
        {"id": "outFolder"},
        {"id": "up1"}, {"id": "up2"},
    )
    report = sync(context(s3, first), should_continue=always)
    assert (report.taken, report.mirrored, report.complete) == (["candle.jpg", "vase.HEIC"],
                                                                ["0123456789abcdef0123"], True)
    assert first._iterable == []  # every scripted answer was asked for
    sent = requests(first)
    assert [(method, path.rsplit("/", 1)[-1]) for method, path, _ in sent] == [
        ("GET", "startPageToken"), ("GET", "files"), ("GET", "fileA"), ("GET", "fileB"), ("GET", "files"),
        ("POST", "files"), ("POST", "files"), ("POST", "files")]
    listing = sent[1][2]
    assert listing["q"] == f"'{FOLDER}' in parents and trashed = false and mimeType contains 'image/'"
    assert sent[2][2]["alt"] == "media"
    uploads = [body for _uri, method, body, _h in first.request_sequence[-2:] if method == "POST"]
    assert [b'"parents": ["outFolder"]' in body for body in uploads] == [True, True]
    assert b"Sea-salt-candle-01234567-market.jpg" in uploads[0] and b"market pixels" in uploads[0]

    candle_key = f"inbox/{inbox_name(as_file(candle))}"
    assert inbox_versions(s3) == sorted([candle_key, f"inbox/{inbox_name(as_file(vase))}"])
    stored = s3.get_object(Bucket=BUCKET, Key=candle_key)
    assert stored["Body"].read() == JPEG and decode_metadata(stored["Metadata"]).lane == "drive"
    assert candle_key.endswith("/candle.jpg")

    renamed = {**candle, "name": "candle-final.jpg"}  # a rename is a change, with the same checksum
    elsewhere = drive_file("fileC", "other.jpg", "ccc333", parents=("anotherFolder",))
    second = answers({"changes": [{"fileId": "fileA", "file": renamed}, {"fileId": "fileC", "file": elsewhere},
                                  {"fileId": "fileD", "removed": True}],
                      "newStartPageToken": "101"})
    again = sync(context(s3, second), should_continue=always)
    assert (again.taken, again.mirrored) == ([], [])
    assert [path.rsplit("/", 1)[-1] for _m, path, _q in requests(second)] == ["changes"]
    assert requests(second)[0][2]["pageToken"] == "100"
    assert len(inbox_versions(s3)) == 2  # no second version, so no second job
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    assert (state["cursor"], state["out_folder_id"]) == ("101", "outFolder")


def as_file(item: dict):

    return DriveFile.from_api(item)


def test_new_content_under_the_same_id_is_a_new_photo_and_oversized_files_are_skipped(s3):
    state = SyncState(cursor="7", taken={"fileA": "aaa111"})
    s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=state.to_json())
    edited = drive_file("fileA", "candle.jpg", "aaa999")
    huge = drive_file("fileH", "huge.jpg", "hhh", size=41 * 1024 * 1024)
    http = answers({"changes": [{"fileId": "fileA", "file": edited}, {"fileId": "fileH", "file": huge}],
                    "nextPageToken": "8"},
                   {"changes": [], "newStartPageToken": "9"},
                   JPEG)
    report = sync(context(s3, http), should_continue=always)
    assert report.taken == ["candle.jpg"]
    assert report.skipped == [f"huge.jpg: {41 * 1024 * 1024} bytes, more than ingest accepts"]
    assert inbox_versions(s3) == ["inbox/drive/fileA-aaa999/candle.jpg"]
    assert [q.get("pageToken") for _m, _p, q in requests(http)[:2]] == ["7", "8"]
    saved = SyncState.from_json(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    assert saved.taken == {"fileA": "aaa999", "fileH": "hhh"} and saved.cursor == "9"


def test_a_run_out_of_time_keeps_its_cursor_and_the_next_run_finishes_without_copying_twice(s3):
    files = {"files": [drive_file("fileA", "a.jpg", "a1"), drive_file("fileB", "b.jpg", "b1")]}
    budget = iter([True, False])
    first = answers({"startPageToken": "50"}, files, JPEG)
    report = sync(context(s3, first), should_continue=lambda: next(budget))
    assert (report.taken, report.complete) == (["a.jpg"], False)
    assert SyncState.from_json(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()).cursor is None
    second = answers({"startPageToken": "51"}, files, JPEG, {"files": []})
    # (the final {"files": []} is never asked for: there is no published set to mirror)
    report = sync(context(s3, second), should_continue=always)
    assert report.taken == ["b.jpg"]
    assert inbox_versions(s3) == ["inbox/drive/fileA-a1/a.jpg", "inbox/drive/fileB-b1/b.jpg"]


def test_a_crash_before_the_state_is_saved_copies_nothing_twice(s3):
    files = {"files": [drive_file("fileA", "a.jpg", "a1")]}
    sync(context(s3, answers({"startPageToken": "1"}, files, JPEG)), should_continue=always)
    s3.delete_object(Bucket=BUCKET, Key=STATE_KEY)  # as if the run died before its state was written
    sync(context(s3, answers({"startPageToken": "2"}, files, JPEG)), should_continue=always)
    assert inbox_versions(s3) == ["inbox/drive/fileA-a1/a.jpg"]


def test_an_existing_out_folder_is_reused_and_each_set_is_mirrored_once(s3):
    publish_set(s3, "aaaaaaaaaaaaaaaaaaaa", "Vase")
    state = SyncState(cursor="5")
    s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=state.to_json())
    http = answers({"changes": [], "newStartPageToken": "6"}, {"files": [{"id": "existingOut"}]},
                   {"id": "u1"}, {"id": "u2"})
    assert sync(context(s3, http), should_continue=always).mirrored == ["aaaaaaaaaaaaaaaaaaaa"]
    folder_query = requests(http)[1][2]["q"]
    assert "name = 'picr-out'" in folder_query and "application/vnd.google-apps.folder" in folder_query
    publish_set(s3, "bbbbbbbbbbbbbbbbbbbb", "Jug")
    http = answers({"changes": [], "newStartPageToken": "7"}, {"id": "u3"}, {"id": "u4"})
    assert sync(context(s3, http), should_continue=always).mirrored == ["bbbbbbbbbbbbbbbbbbbb"]
    assert all(b'"parents": ["existingOut"]' in body for _u, m, body, _h in http.request_sequence if m == "POST")


def test_the_state_stays_small():
    state = SyncState()
    for number in range(MAX_REMEMBERED + 10):
        state.take(as_file(drive_file(f"f{number}", "x.jpg", f"m{number}")))
    restored = SyncState.from_json(state.to_json())
    assert len(restored.taken) == MAX_REMEMBERED
    assert "f0" not in restored.taken and f"f{MAX_REMEMBERED + 9}" in restored.taken


def test_a_folder_id_cannot_break_out_of_the_query(s3):
    http = answers({"startPageToken": "1"}, {"files": []})
    drive = DriveFolder(build("drive", "v3", http=http, static_discovery=True), "x' or name contains '")
    sync(DriveSyncContext(drive=drive, inbox=Inbox(s3, BUCKET), bucket=ImageBucket(s3, BUCKET), s3=s3),
         should_continue=always)
    assert requests(http)[1][2]["q"].startswith("'x\\' or name contains \\'' in parents")


def test_the_placeholder_secret_keeps_the_lane_off_and_a_real_key_builds_a_client():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert service_account_info("REPLACE_ME") is None
    assert service_account_info(json.dumps({"type": "authorized_user"})) is None
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = {"type": "service_account", "client_email": "picr@project.iam.gserviceaccount.com",
           "private_key": pem, "token_uri": "https://oauth2.googleapis.com/token", "project_id": "p"}
    info = service_account_info(json.dumps(key))
    assert info == key
    service = drive_service(info)  # built offline from the bundled discovery document; nothing is sent
    assert service.files().list(q="x").uri.startswith("https://www.googleapis.com/drive/v3/files")


def test_the_scheduled_handler_does_nothing_while_the_secret_is_a_placeholder(aws):
    from tools.process import LocalStack

    stack = LocalStack(REPO / "template.yaml", model="u2netp", models_dir=REPO / "models",
                       parameters={"DriveFolderId": FOLDER})
    event = json.loads((REPO / "events" / "drive_sync.json").read_text())
    assert stack.invoke("DriveSyncFunction", event) == {"status": "not_configured"}
    assert not stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents")
