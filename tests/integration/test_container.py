"""The cutout container without Docker: its requirements in a clean venv, its file layout, its handler.

No Docker engine runs here, so this builds what the Dockerfile builds, the parts that can fail without
Docker: ``functions/cutout/requirements.txt`` installed (wheels only, hash-checked, as in the image) into a fresh venv
with nothing else but boto3 (which the Lambda base image provides); ``picr`` and ``app.py`` copied into
a task root exactly as the Dockerfile's COPY lines lay them out; the model where ``U2NET_HOME`` says.
The handler then runs *in that venv*, in its own process, on a real photo, against a moto server: so the
image's runtime needs nothing its lock leaves out (rembg above all). ``tools/coldstart.py`` builds the venv
and the layout (``make bench`` times the same handler there); the venv is cached under ``.cache/`` by the
hash of what it installs, so only the first run installs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import coldstart
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]
CUTOUT = REPO / "functions" / "cutout"
PHOTO = SAMPLES / "toolbox.jpg"
"""A photo u2netp's gate profile publishes: this is about the image's layout, not the gate's judgement."""
INVOKE = """
import json, sys
import app
class Context:
    function_name = "picr-cutout"; memory_limit_in_mb = 6144; aws_request_id = "container-test"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:picr-cutout"
    def get_remaining_time_in_millis(self): return 120000
print(json.dumps(app.handler(json.load(sys.stdin), Context())))
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def container_python() -> Path:
    return coldstart.container_venv()


def test_the_container_requirements_hold_nothing_but_what_the_image_needs(container_python):
    listed = subprocess.run([str(container_python), "-m", "pip", "list", "--format=json"], check=True,
                            capture_output=True, text=True).stdout
    installed = {package["name"].lower().replace("_", "-") for package in json.loads(listed)}
    assert {"onnxruntime", "pillow", "opencv-python-headless", "numpy"} <= installed
    assert "pydantic" not in installed
    assert not {name for name in installed if re.search(r"gpu|cuda|torch|moto|pytest", name)}
    assert not {"rembg", "pymatting", "numba", "llvmlite", "scipy", "scikit-image"} & installed


def test_the_handler_cuts_a_photo_from_the_containers_layout(container_python, moto_server, tmp_path):
    from picr.aws.jobs import JobStore
    from tools.embedded_stack import EmbeddedStack

    stack = EmbeddedStack()
    stack.s3.put_object(Bucket=stack.bucket, Key="inbox/toolbox.jpg", Body=PHOTO.read_bytes())
    ingest = next(c for c in stack.consumers if c.stage == "ingest")
    while stack.poll_once(ingest):
        pass
    cutout = next(c for c in stack.consumers if c.stage == "cutout")
    (message,) = stack.sqs.receive_message(QueueUrl=cutout.queue_url, AttributeNames=["All"])["Messages"]
    event = {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                          "body": message["Body"], "attributes": message.get("Attributes", {}),
                          "messageAttributes": {}, "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                          "eventSourceARN": cutout.queue_arn, "awsRegion": "eu-west-2"}]}
    root = coldstart.task_root(tmp_path / "task")
    home = coldstart.baked_home(tmp_path / "u2net", container_python, root)  # weights + the optimised graph
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **cutout.function.environment,  # the template's environment for picr-cutout ...
        "PICR_MODEL": "u2netp", "U2NET_HOME": str(home),  # ... with the small model baked here
        "HOME": str(tmp_path), "PYTHONPATH": str(root), "PATH": os.environ.get("PATH", ""),
    }
    done = subprocess.run([str(container_python), "-c", INVOKE], input=json.dumps(event), env=env,
                          cwd=tmp_path / "task", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"batchItemFailures": []}
    job_id = json.loads(message["Body"])["job_id"]
    job = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"})).get(job_id)
    assert job.status == "cut" and job.engine == "u2netp"
    cutout_png = stack.s3.get_object(Bucket=stack.bucket, Key=job.cutout_key)["Body"].read()
    assert cutout_png.startswith(b"\x89PNG")
    variants = next(c for c in stack.consumers if c.stage == "variants")
    assert stack.sqs.receive_message(QueueUrl=variants.queue_url)["Messages"]  # handed on, as in production
    assert sys.executable != str(container_python)
