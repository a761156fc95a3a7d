"""The Drive lane through its real client (google-auth's authorised session) against a Drive double, and moto S3.

``tests/support/drive_double.py`` answers as Drive v3 and Google's token endpoint do, at the HTTP transport: each test
scripts Drive's answers in the order the sync asks, and then checks both sides: what the sync asked Drive for
(``drive.calls``) and what it left in the bucket.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from picr.aws.bucket import ImageBucket
from picr.aws.inbox import Inbox
from picr.intake.drive import (
    MAX_REMEMBERED,
    DriveError,
    DriveFile,
    DriveFolder,
    SyncState,
    drive_session,
    service_account_info,
)
from picr.intake.origin import decode_metadata
from picr.stages.drive_sync import STATE_KEY, DriveSyncContext, inbox_name, sync
from tests.support.drive_double import DriveDouble, service_account_key
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]

JPEG = (SAMPLES / "toolbox.jpg").read_bytes()
HEIC = (SAMPLES / "guitar.heic").read_bytes()
FOLDER = "1FolderAbC"
BUCKET = "picr-test-images"


def drive_file(file_id: str, name: str, md5: str, *, parents: tuple[str, ...] = (FOLDER,), size: int = 1000,
               mime: str = "image/jpeg") -> dict:
    return {"id": file_id, "name": name, "mimeType": mime, "md5Checksum": md5, "size": str(size),
            "modifiedTime": "2026-11-01T10:00:00.000Z", "parents": list(parents), "trashed": False}


@pytest.fixture(scope="module")
def key() -> tuple[dict, bytes]:
    return service_account_key()


@pytest.fixture
def drive(key) -> DriveDouble:
    info, public = key
    return DriveDouble(public, info["client_email"])


def folder(drive: DriveDouble, key: tuple[dict, bytes], folder_id: str = FOLDER) -> DriveFolder:
    return DriveFolder(drive_session(key[0], adapter=drive), folder_id)


def sent(drive: DriveDouble) -> list[tuple[str, str, dict]]:
    """(method, path, query) of every request the sync sent to Drive."""
    return [(call.method, call.path, call.query) for call in drive.calls]


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="eu-west-2")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def context(s3, drive, key):
    def make(folder_id: str = FOLDER) -> DriveSyncContext:
        return DriveSyncContext(drive=folder(drive, key, folder_id), inbox=Inbox(s3, BUCKET),
                                bucket=ImageBucket(s3, BUCKET), s3=s3)

    return make


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


def test_two_runs_over_the_same_folder_take_each_photo_once_and_mirror_the_set_back(s3, drive, context):
    publish_set(s3, "0123456789abcdef0123", "Sea salt candle")
    candle, vase = drive_file("fileA", "candle.jpg", "aaa111"), drive_file("fileB", "vase.HEIC", "bbb222",
                                                                          mime="image/heif")
    drive.script(
        {"startPageToken": "100"},
        {"files": [candle, vase]},
        JPEG, HEIC,
        {"files": []},  # no picr-out subfolder yet
        {"id": "outFolder"},
        {"id": "up1"}, {"id": "up2"},
    )
    report = sync(context(), should_continue=always)
    assert (report.taken, report.mirrored, report.complete) == (["candle.jpg", "vase.HEIC"],
                                                                ["0123456789abcdef0123"], True)
    assert drive.answers == []  # every scripted answer was asked for
    assert drive.tokens_issued == 1  # one OAuth token for the whole run, sent with every call
    calls = sent(drive)
    assert [(method, path) for method, path, _ in calls] == [
        ("GET", "/drive/v3/changes/startPageToken"), ("GET", "/drive/v3/files"), ("GET", "/drive/v3/files/fileA"),
        ("GET", "/drive/v3/files/fileB"), ("GET", "/drive/v3/files"), ("POST", "/drive/v3/files"),
        ("POST", "/upload/drive/v3/files"), ("POST", "/upload/drive/v3/files")]
    assert all(query["supportsAllDrives"] == "true" for _m, _p, query in calls)
    listing = calls[1][2]
    assert listing["q"] == f"'{FOLDER}' in parents and trashed = false and mimeType contains 'image/'"
    assert listing["fields"] == ("nextPageToken, files(id, name, mimeType, md5Checksum, modifiedTime, size, "
                                 "parents, trashed)")
    assert calls[2][2]["alt"] == "media"
    assert json.loads(drive.calls[5].body) == {"name": "picr-out", "mimeType": "application/vnd.google-apps.folder",
                                               "parents": [FOLDER]}
    assert [call.query["uploadType"] for call in drive.calls[-2:]] == ["multipart", "multipart"]
    uploads = [call.multipart for call in drive.calls[-2:]]
    assert uploads == [
        ({"name": "Sea-salt-candle-01234567-market.jpg", "parents": ["outFolder"]}, b"market pixels", "image/jpeg"),
        ({"name": "Sea-salt-candle-01234567-web.png", "parents": ["outFolder"]}, b"web pixels", "image/png")]

    candle_key = f"inbox/{inbox_name(as_file(candle))}"
    assert inbox_versions(s3) == sorted([candle_key, f"inbox/{inbox_name(as_file(vase))}"])
    stored = s3.get_object(Bucket=BUCKET, Key=candle_key)
    assert stored["Body"].read() == JPEG and decode_metadata(stored["Metadata"]).lane == "drive"
    assert candle_key.endswith("/candle.jpg")

    renamed = {**candle, "name": "candle-final.jpg"}  # a rename is a change, with the same checksum
    elsewhere = drive_file("fileC", "other.jpg", "ccc333", parents=("anotherFolder",))
    drive.script({"changes": [{"fileId": "fileA", "file": renamed}, {"fileId": "fileC", "file": elsewhere},
                              {"fileId": "fileD", "removed": True}],
                  "newStartPageToken": "101"})
    again = sync(context(), should_continue=always)
    assert (again.taken, again.mirrored) == ([], [])
    assert [path for _m, path, _q in sent(drive)] == ["/drive/v3/changes"]
    assert sent(drive)[0][2]["pageToken"] == "100"
    assert len(inbox_versions(s3)) == 2  # no second version, so no second job
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    assert (state["cursor"], state["out_folder_id"]) == ("101", "outFolder")


def as_file(item: dict) -> DriveFile:
    return DriveFile.from_api(item)


def test_new_content_under_the_same_id_is_a_new_photo_and_oversized_files_are_skipped(s3, drive, context):
    state = SyncState(cursor="7", taken={"fileA": "aaa111"})
    s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=state.to_json())
    edited = drive_file("fileA", "candle.jpg", "aaa999")
    huge = drive_file("fileH", "huge.jpg", "hhh", size=41 * 1024 * 1024)
    drive.script({"changes": [{"fileId": "fileA", "file": edited}, {"fileId": "fileH", "file": huge}],
                  "nextPageToken": "8"},
                 {"changes": [], "newStartPageToken": "9"},
                 JPEG)
    report = sync(context(), should_continue=always)
    assert report.taken == ["candle.jpg"]
    assert report.skipped == [f"huge.jpg: {41 * 1024 * 1024} bytes, more than ingest accepts"]
    assert inbox_versions(s3) == ["inbox/drive/fileA-aaa999/candle.jpg"]
    assert [q.get("pageToken") for _m, _p, q in sent(drive)[:2]] == ["7", "8"]
    saved = SyncState.from_json(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    assert saved.taken == {"fileA": "aaa999", "fileH": "hhh"} and saved.cursor == "9"


def test_a_run_out_of_time_keeps_its_cursor_and_the_next_run_finishes_without_copying_twice(s3, drive, context):
    files = {"files": [drive_file("fileA", "a.jpg", "a1"), drive_file("fileB", "b.jpg", "b1")]}
    budget = iter([True, False])
    drive.script({"startPageToken": "50"}, files, JPEG)
    report = sync(context(), should_continue=lambda: next(budget))
    assert (report.taken, report.complete) == (["a.jpg"], False)
    assert SyncState.from_json(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()).cursor is None
    drive.script({"startPageToken": "51"}, files, JPEG)  # no published set, so no mirroring call follows
    report = sync(context(), should_continue=always)
    assert report.taken == ["b.jpg"] and drive.answers == []
    assert inbox_versions(s3) == ["inbox/drive/fileA-a1/a.jpg", "inbox/drive/fileB-b1/b.jpg"]


def test_a_crash_before_the_state_is_saved_copies_nothing_twice(s3, drive, context):
    files = {"files": [drive_file("fileA", "a.jpg", "a1")]}
    drive.script({"startPageToken": "1"}, files, JPEG)
    sync(context(), should_continue=always)
    s3.delete_object(Bucket=BUCKET, Key=STATE_KEY)  # as if the run died before its state was written
    drive.script({"startPageToken": "2"}, files, JPEG)
    sync(context(), should_continue=always)
    assert inbox_versions(s3) == ["inbox/drive/fileA-a1/a.jpg"]


def test_a_drive_refusal_fails_the_run_with_drives_reason_and_the_next_run_starts_over(s3, drive, context):
    files = {"files": [drive_file("fileA", "a.jpg", "a1")]}
    gone = (404, {"error": {"code": 404, "message": "File not found: fileA."}})
    drive.script({"startPageToken": "1"}, files, gone)
    with pytest.raises(DriveError, match=r"GET /drive/v3/files/fileA: 404 File not found: fileA\."):
        sync(context(), should_continue=always)
    assert SyncState.from_json(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()).cursor is None
    assert inbox_versions(s3) == []
    drive.script({"startPageToken": "2"}, files, JPEG)
    assert sync(context(), should_continue=always).taken == ["a.jpg"]


def test_an_existing_out_folder_is_reused_and_each_set_is_mirrored_once(s3, drive, context):
    publish_set(s3, "aaaaaaaaaaaaaaaaaaaa", "Vase")
    state = SyncState(cursor="5")
    s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=state.to_json())
    drive.script({"changes": [], "newStartPageToken": "6"}, {"files": [{"id": "existingOut"}]},
                 {"id": "u1"}, {"id": "u2"})
    assert sync(context(), should_continue=always).mirrored == ["aaaaaaaaaaaaaaaaaaaa"]
    folder_query = sent(drive)[1][2]["q"]
    assert "name = 'picr-out'" in folder_query and "application/vnd.google-apps.folder" in folder_query
    publish_set(s3, "bbbbbbbbbbbbbbbbbbbb", "Jug")
    drive.script({"changes": [], "newStartPageToken": "7"}, {"id": "u3"}, {"id": "u4"})
    assert sync(context(), should_continue=always).mirrored == ["bbbbbbbbbbbbbbbbbbbb"]
    assert [call.multipart[0]["parents"] for call in drive.calls if call.method == "POST"] == [["existingOut"]] * 2


def test_the_state_stays_small():
    state = SyncState()
    for number in range(MAX_REMEMBERED + 10):
        state.take(as_file(drive_file(f"f{number}", "x.jpg", f"m{number}")))
    restored = SyncState.from_json(state.to_json())
    assert len(restored.taken) == MAX_REMEMBERED
    assert "f0" not in restored.taken and f"f{MAX_REMEMBERED + 9}" in restored.taken


def test_a_folder_id_cannot_break_out_of_the_query(drive, context):
    drive.script({"startPageToken": "1"}, {"files": []})
    sync(context("x' or name contains '"), should_continue=always)
    assert sent(drive)[1][2]["q"].startswith("'x\\' or name contains \\'' in parents")


def test_the_placeholder_secret_keeps_the_lane_off_and_a_real_key_builds_a_session(key):
    assert service_account_info("REPLACE_ME") is None
    assert service_account_info(json.dumps({"type": "authorized_user"})) is None
    info = service_account_info(json.dumps(key[0]))
    assert info == key[0]
    session = drive_session(info)  # offline: the token is fetched on the first call, not here
    assert session.credentials.service_account_email == info["client_email"]
    assert session.credentials.scopes == ["https://www.googleapis.com/auth/drive"] and not session.credentials.valid


def test_the_scheduled_handler_does_nothing_while_the_secret_is_a_placeholder(aws):
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack(parameters={"DriveFolderId": FOLDER})
    event = json.loads((REPO / "events" / "drive_sync.json").read_text())
    assert stack.invoke("DriveSyncFunction", event) == {"status": "not_configured"}
    assert not stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents")
