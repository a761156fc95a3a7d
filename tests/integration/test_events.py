"""The sample events in ``events/``: one per function, and each one runs through its function's handler with
``make invoke`` (the embedded moto stack, no Docker), the way the README tells users to run them.

The events hold placeholders (``tools/sample_events.py``); ``make invoke`` puts the data they name in the stack
and fills them in. Each run here checks what the handler returned and what it changed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tools.cfn import load_template
from tools.sample_events import event_files, fill, function_of_event, placeholders

REPO = Path(__file__).resolve().parents[2]
FUNCTION_OF_EVENT = function_of_event(load_template(REPO / "template.yaml"))


def test_every_function_has_a_sample_event_and_every_event_a_function():
    template = load_template(REPO / "template.yaml")
    functions = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(FUNCTION_OF_EVENT.values()) == functions
    assert set(FUNCTION_OF_EVENT) == {path.stem for path in event_files()}


def test_the_events_name_nothing_of_one_particular_stack():
    """Names of a bucket, account or region in an event would be somebody else's: placeholders only."""
    for path in event_files():
        text = path.read_text()
        json.loads(text)
        for literal in ("picr-local-images", "123456789012", "eu-west-2", "eu-west-1"):
            assert literal not in text, (path.name, literal)
        assert placeholders(text) <= {"ImagesBucketName", "AppName", "AWS::Region", "AWS::AccountId", "PhotoKey",
                                      "PhotoVersionId", "MailKey", "JobId", "ReadyJobId", "ReviewToken",
                                      "UploadToken", "OwnerToken"}


def make_invoke(event: str) -> dict:
    function = FUNCTION_OF_EVENT[event]
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "invoke", f"FN={function}", f"EVENT=events/{event}.json"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout[result.stdout.index("{\n"):])  # after anything setup printed
    assert report["function"] == function
    return report


def statuses(report: dict) -> list[str]:
    return [row.get("status") for row in report["jobs"]["rows_added"] if row["ts"] != "#current"]


def written(report: dict) -> list[str]:
    return [obj["key"] for obj in report["bucket"]["written"]]


def check_ingest(report: dict) -> None:
    (job,) = {row["job_id"] for row in report["jobs"]["rows_added"]}
    assert report["result"] == {"batchItemFailures": []} and statuses(report) == ["ingested"]
    assert written(report) == [f"originals/{job}/red-mug.jpg", f"work/{job}/source.jpg"]  # kept, normalised
    assert report["queued"] == {"CutoutQueue": [{"job_id": job}]}


def check_stage(status: str, queue: str | None, outputs: str) -> object:
    def check(report: dict) -> None:
        job = report["filled"]["JobId"]
        assert report["result"] == {"batchItemFailures": []} and statuses(report) == [status]
        assert report["jobs"]["rows_changed"][f"{job} #current"]["current_status"][1] == status
        assert written(report) and all(key.startswith(outputs.format(job=job)) for key in written(report))
        assert list(report["queued"]) == ([queue] if queue else [])
    return check


def check_publish(report: dict) -> None:
    check_stage("done", None, "out/")(report)
    assert [mail["kind"] for mail in report["emails"]] == ["ready"]


def check_mail_intake(report: dict) -> None:
    assert report["result"] == {"batchItemFailures": []}
    (photo,) = written(report)
    assert photo.startswith("inbox/mail/") and photo.endswith(".jpg")


def check_result(expected: dict) -> object:
    def check(report: dict) -> None:
        assert report["result"] == expected
        assert report["bucket"]["written"] == [] and report["jobs"] == {"rows_added": [], "rows_changed": {}}
    return check


def check_page(report: dict) -> None:
    assert report["result"]["statusCode"] == 200
    assert report["bucket"]["written"] == [] and report["jobs"] == {"rows_added": [], "rows_changed": {}}


def check_export(report: dict) -> None:
    assert report["result"] == {"batchItemFailures": []}
    (zipped,) = written(report)
    assert zipped.startswith("exports/5eed0f1e2d3c4b5a/") and zipped.endswith(".zip")
    assert [mail["kind"] for mail in report["emails"]] == ["export"] and report["jobs"]["rows_changed"] == {}


EXPECTED = {
    "ingest": check_ingest,
    "cutout": check_stage("cut", "VariantsQueue", "work/{job}/"),
    "variants": check_stage("varied", "PublishQueue", "drafts/{job}/"),
    "publish": check_publish,
    "export": check_export,  # a zip of the published job's market image, and its email
    "mail_intake": check_mail_intake,
    "review": check_page,  # opening a review link shows the page and changes nothing
    "upload": check_page,
    "shop": check_page,  # opening the owner link shows the shop page and changes nothing
    "sweep": check_result({"reminded": [], "redriven": []}),  # nothing held or stranded in a new stack
    "drive_sync": check_result({"status": "not_configured"}),  # the Drive key is still the placeholder
}


@pytest.mark.slow
@pytest.mark.parametrize("event", sorted(FUNCTION_OF_EVENT))
def test_make_invoke_runs_the_sample_event_through_its_handler(event: str) -> None:
    report = make_invoke(event)
    assert set(report["filled"]) == placeholders((REPO / "events" / f"{event}.json").read_text())
    EXPECTED[event](report)


def test_a_malformed_message_fails_only_itself(aws):
    from tools.embedded_stack import EmbeddedStack
    from tools.invoke import LANES, seed, stack_names

    stack = EmbeddedStack(parameters=LANES)
    text = (REPO / "events" / "ingest.json").read_text()
    good = json.loads(fill(text, seed(stack, "IngestFunction", placeholders(text)) | stack_names(stack)))["Records"][0]
    bad = {**good, "messageId": "bad-1", "body": "{not json"}
    result = stack.invoke("IngestFunction", {"Records": [bad, good]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
