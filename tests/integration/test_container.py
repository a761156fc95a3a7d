"""The cutout container without Docker: its requirements in a clean venv, its file layout, its handler.

No Docker engine runs here, so this builds what the Dockerfile builds, the parts that can fail without
Docker: ``functions/cutout/requirements.txt`` installed (wheels only, hash-checked, as in the image) into a fresh venv
with nothing else but boto3 (which the Lambda base image provides); ``picr`` and ``app.py`` copied into
a task root exactly as the Dockerfile's COPY lines lay them out; the model where ``U2NET_HOME`` says.
The handler then runs *in that venv*, in its own process, on a real photo, against a moto server.
The venv is cached under ``.cache/`` by the hash of the requirements, so only the first run installs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import locks
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]
CUTOUT = REPO / "functions" / "cutout"
PHOTO = SAMPLES / "toolbox.jpg"
"""A photo u2netp's gate profile publishes: this is about the image's layout, not the gate's judgement."""
BASE_IMAGE_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
"""boto3 and what it needs: the Lambda base image provides them, the image's requirements do not."""
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


def _python313() -> str:
    for candidate in (Path.home() / ".pyenv" / "versions").glob("3.13*/bin/python3.13"):
        return str(candidate)
    found = shutil.which("python3.13")
    if found is None:
        pytest.fail("python3.13 is needed to build the container's venv (the image runs python3.13)")
    return found


@pytest.fixture(scope="module")
def container_python() -> Path:
    requirements = (CUTOUT / "requirements.txt").read_bytes()
    venv = REPO / ".cache" / f"container-venv-{hashlib.sha256(requirements).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([_python313(), "-m", "venv", str(venv)], check=True)
        # The image's own install, plus the boto3 the Lambda base image provides (at the dev lock's version).
        dev = locks.pins(locks.DEV_LOCK)
        runtime_extras = venv.parent / f"{venv.name}-boto3.txt"
        image = locks.pins(CUTOUT / "requirements.txt")
        runtime_extras.write_text(locks.requirements_text(
            [dev[name] for name in BASE_IMAGE_PACKAGES if name not in image]))
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--only-binary=:all:", "--require-hashes", "-r", str(CUTOUT / "requirements.txt"),
                        "-r", str(runtime_extras)], check=True, timeout=900)
        (venv / ".complete").touch()
    return python


def _task_root(target: Path) -> Path:
    """What the Dockerfile's COPY lines produce under ${LAMBDA_TASK_ROOT}."""
    dockerfile = (CUTOUT / "Dockerfile").read_text()
    assert "COPY layers/pillow/picr ${LAMBDA_TASK_ROOT}/picr" in dockerfile
    assert "COPY functions/cutout/app.py ${LAMBDA_TASK_ROOT}/" in dockerfile
    shutil.copytree(REPO / "layers" / "pillow" / "picr", target / "picr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CUTOUT / "app.py", target / "app.py")
    return target


def test_the_container_requirements_hold_nothing_but_what_the_image_needs(container_python):
    listed = subprocess.run([str(container_python), "-m", "pip", "list", "--format=json"], check=True,
                            capture_output=True, text=True).stdout
    installed = {package["name"].lower().replace("_", "-") for package in json.loads(listed)}
    assert {"rembg", "onnxruntime", "pillow", "pillow-heif", "opencv-python-headless"} <= installed
    assert not {name for name in installed if re.search(r"gpu|cuda|torch|moto|pytest", name)}


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
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **cutout.function.environment,  # the template's environment for picr-cutout ...
        "PICR_MODEL": "u2netp", "U2NET_HOME": str(REPO / "models"),  # ... with the small model baked here
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "HOME": str(tmp_path),
        "PYTHONPATH": str(_task_root(tmp_path / "task")), "PATH": os.environ.get("PATH", ""),
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
