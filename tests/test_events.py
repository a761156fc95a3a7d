"""Every sample event in ``events/`` drives its own function's handler against moto.

The samples are what ``sam local invoke -e events/<name>.json`` uses; here each one is fed, in
pipeline order, to the handler the template names, with only the ids moto assigns filled in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picr import jobs as states
from picr.stages.ingest import UploadedObject, job_id_for
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
SAMPLE = SAMPLES / "toolbox.jpg"
OPTIONAL = {"InboundRecipient": "photos@shop.example", "DriveFolderId": "1AbCdEfGhIjKlMnOp"}


def _event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def _with_body(event: dict, body: dict) -> dict:
    event["Records"][0]["body"] = json.dumps(body)
    return event


@pytest.fixture
def full_stack(aws):
    from tools.process import LocalStack

    return LocalStack(REPO / "template.yaml", model="u2netp", models_dir=REPO / "models", parameters=OPTIONAL)


def _function_for(stack, event_name: str) -> str:
    """The function whose code folder has the event's name: events/<dir>.json ↔ functions/<dir>/."""
    matches = [lid for lid, fn in stack.functions.items() if fn.code_dir.name == event_name]
    assert len(matches) == 1, f"events/{event_name}.json matches functions {matches}"
    return matches[0]


def test_every_function_has_a_sample_event(full_stack):
    dirs = {fn.code_dir.name for fn in full_stack.functions.values()}
    assert dirs == {path.stem for path in EVENTS.glob("*.json")}


@pytest.mark.slow
def test_pipeline_samples_drive_their_handlers(full_stack):
    stack = full_stack
    version = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=SAMPLE.read_bytes())["VersionId"]
    for queue in stack.consumers:  # the upload's own EventBridge delivery is not what this test feeds
        stack.sqs.purge_queue(QueueUrl=queue.queue_url)

    ingest = _event("ingest")
    s3_event = json.loads(ingest["Records"][0]["body"])
    assert s3_event["detail"]["bucket"]["name"] == stack.bucket
    s3_event["detail"]["object"]["version-id"] = version
    assert stack.invoke(_function_for(stack, "ingest"), _with_body(ingest, s3_event)) == {"batchItemFailures": []}
    job_id = job_id_for(UploadedObject(stack.bucket, "inbox/toolbox.jpg", "", version))
    from picr.jobs import JobStore

    jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
    assert jobs.get(job_id)["current_status"] == states.INGESTED

    expected = {"cutout": states.CUT, "variants": states.VARIED, "publish": states.DONE}
    for name, status in expected.items():
        event = _event(name)
        body = json.loads(event["Records"][0]["body"])
        result = stack.invoke(_function_for(stack, name), _with_body(event, {**body, "job_id": job_id}))
        assert result == {"batchItemFailures": []}, name
        assert jobs.get(job_id)["current_status"] == status, name

    sweep = stack.invoke(_function_for(stack, "sweep"), _event("sweep"))
    assert sweep == {"reminded": [], "redriven": []}  # the only job is done: neither held nor stranded


def test_malformed_message_fails_only_itself(full_stack):
    stack = full_stack
    version = stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=SAMPLE.read_bytes())["VersionId"]
    good = _event("ingest")["Records"][0]
    s3_event = json.loads(good["body"])
    s3_event["detail"]["object"]["version-id"] = version
    good = {**good, "body": json.dumps(s3_event)}
    bad = {**good, "messageId": "bad-1", "body": "{not json"}
    result = stack.invoke(_function_for(stack, "ingest"), {"Records": [bad, good]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
