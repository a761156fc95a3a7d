"""Cold start as Lambda pays it, and the size of what the cutout image installs; one JSON document.

    python -m tools.coldstart [--runs 5] [--warm 3] [--only cutout zip size]

* ``cutout``: fresh processes of a clean venv holding exactly ``functions/cutout/requirements.txt`` (plus the
  boto3 the Lambda base image provides), with ``picr`` and ``app.py`` laid out as the Dockerfile lays them
  out, the weights and the optimised graph as its build leaves them, and the template's environment,
  against a moto server. Per process: from its start to the first
  cutout written (interpreter, imports, onnxruntime session, first job: S3 read, inference, S3 and DynamoDB
  writes, hand-off), then ``--warm`` more jobs of the same photo in the same process (warm). The figure the
  goal judges, cold − warm, is taken per process (paired), so a machine that slows down during the call
  moves both. Peak RSS (VmHWM) of each process is kept too.
* ``zip``: each zip function's ``import app`` in a fresh process of a venv holding exactly the layer's
  requirements (plus the base runtime's boto3; drive-sync also its own requirements, as its zip has them)
  with the ``picr`` package as the layer ships it (templates as real files, bytecode precompiled). The
  functions take turns, ``--runs`` rounds.
* ``size``: bytes installed by each lock of the cutout image (the function's, and the one its weights stage
  uses), beside the function's lock at ``BASELINE_REV`` (when it still carried rembg).

Every figure is min / median / max over ``--runs`` processes; one unmeasured process first warms the
page cache. The venvs are cached under ``.cache/`` by the hash of what they install.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tools import locks

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
CUTOUT = REPO / "functions" / "cutout"
BASE_IMAGE_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
"""boto3 and what it needs: Lambda's Python runtime provides them, none of our locks do."""
BASELINE_REV = "ed47af4"
"""The last commit whose cutout image installed rembg at run time: the installed size is compared with it."""
COLD_GOAL_S = 0.6
ZIP_IMPORT_GOAL_S = 0.3

CUTOUT_CHILD = """
import json, sys, time
import app
imported, imported_cpu = time.monotonic(), time.process_time()
class Context:
    function_name = "picr-cutout"; memory_limit_in_mb = 3008; aws_request_id = "coldstart"
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:picr-cutout"
    def get_remaining_time_in_millis(self): return 120000
runs, cpu = [], []
for event in json.load(sys.stdin):
    started, started_cpu = time.monotonic(), time.process_time()
    answer = app.handler(event, Context())
    runs.append([started, time.monotonic(), answer])
    cpu.append([started_cpu, time.process_time()])
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"imported": imported, "imported_cpu": imported_cpu, "runs": runs, "cpu": cpu, "peak_rss_mb": hwm}))
"""

IMPORT_CHILD = """
import json, time
started, started_cpu = time.monotonic(), time.process_time()
import app
print(json.dumps({"started": started, "imported": time.monotonic(), "import_cpu": time.process_time() - started_cpu}))
"""
CPU_NOTE = ("*_cpu_s: CPU seconds of the process (every thread; time.process_time), which a machine shared with "
            "other work inflates far less than the wall clock: for the single-threaded interpreter start, imports "
            "and session they are what an idle core takes")


# ------------------------------------------------------------------ venvs and layouts as the artifacts ship


def python313() -> str:
    """A Python 3.13 (the runtime's version) to build the venvs with."""
    for candidate in sorted((Path.home() / ".pyenv" / "versions").glob("3.13*/bin/python3.13")):
        return str(candidate)
    found = shutil.which("python3.13")
    if found is None:
        raise RuntimeError("python3.13 is needed to build the venvs (the functions run python3.13)")
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (parallel test workers may ask for the same venv)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_venv(kind: str, requirements: str) -> Path:
    """The python of a venv under ``.cache/`` holding exactly ``requirements`` (hash-pinned lock text),
    installed as the image installs: wheels only, every file's sha256 checked."""
    venv = CACHE / f"{kind}-venv-{hashlib.sha256(requirements.encode()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    with _locked(venv.with_suffix(".lock")):
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([python313(), "-m", "venv", str(venv)], check=True)
            (venv / "requirements.txt").write_text(requirements)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--only-binary=:all:", "--require-hashes", "-r", str(venv / "requirements.txt")],
                           check=True, timeout=1800)
            (venv / ".complete").touch()
    return python


def _dev_entries(names: Iterable[str], versions: dict[str, str] | None = None) -> list[locks.LockedPackage]:
    """The dev lock's entries (hashes for this machine's platform too) for ``names``; a deployed lock pins
    the same versions (tests/integration/test_build.py proves it), which ``versions`` double-checks."""
    dev = locks.pins(locks.DEV_LOCK)
    entries = []
    for name in names:
        if versions and dev[name].version != versions[name]:
            raise RuntimeError(f"the dev lock pins {name}=={dev[name].version}, the deployed lock {versions[name]}")
        entries.append(dev[name])
    return entries


def _base_runtime(excluding: Iterable[str]) -> list[locks.LockedPackage]:
    return _dev_entries(name for name in BASE_IMAGE_PACKAGES if name not in set(excluding))


def lock_requirements(lock_text: str) -> str:
    """A universal lock (the cutout image's) plus the base image's boto3, as one requirements text."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
        handle.write(lock_text)
        handle.flush()
        names = set(locks.pins(Path(handle.name)))
    return lock_text + "\n" + locks.requirements_text(_base_runtime(names))


def container_venv(lock: Path = CUTOUT / "requirements.txt") -> Path:
    """Python of a venv with exactly the cutout image's runtime lock and the base image's boto3."""
    return cached_venv("container", lock_requirements(lock.read_text()))


def layer_venv(extra_locks: Sequence[Path] = ()) -> Path:
    """Python of a venv with exactly the layer's lock (and ``extra_locks``, a function's own), plus boto3.

    The deployed locks are resolved for arm64 only, so the same versions are installed from the dev lock,
    which lists this machine's wheels too."""
    versions: dict[str, str] = {}
    for lock in (locks.DEPLOYED_LOCKS["layer"], *extra_locks):
        versions |= {name: entry.version for name, entry in locks.pins(lock, locks.LAMBDA_ARM64).items()}
    entries = _dev_entries(sorted(versions), versions) + _base_runtime(versions)
    kind = "layer" if not extra_locks else "layer-" + "-".join(lock.parent.name for lock in extra_locks)
    return cached_venv(kind, locks.requirements_text(entries))


def task_root(target: Path, repo: Path = REPO) -> Path:
    """What the cutout Dockerfile's COPY lines produce under ${LAMBDA_TASK_ROOT}, precompiled as its RUN does."""
    dockerfile = (repo / "functions" / "cutout" / "Dockerfile").read_text()
    for line in ("COPY layers/pillow/picr ${LAMBDA_TASK_ROOT}/picr",
                 "COPY functions/cutout/app.py ${LAMBDA_TASK_ROOT}/"):
        if line not in dockerfile:
            raise RuntimeError(f"the cutout Dockerfile no longer says {line!r}: update tools/coldstart.py")
    shutil.copytree(repo / "layers" / "pillow" / "picr", target / "picr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo / "functions" / "cutout" / "app.py", target / "app.py")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True)
    return target


def baked_home(target: Path, python: Path, root: Path, model: str = "u2netp") -> Path:
    """The image's /opt/u2net: the verified weights (models/) and the optimised graph its build saves beside
    them, written by ``python`` (the container venv's onnxruntime) with the task root's picr."""
    target.mkdir(parents=True)
    (target / f"{model}.onnx").symlink_to(REPO / "models" / f"{model}.onnx")
    script = ("from pathlib import Path; from picr.segmentation.engine import optimise_model; "
              f"optimise_model({model!r}, Path({str(target)!r}))")
    subprocess.run([str(python), "-c", script], check=True, env={**os.environ, "PYTHONPATH": str(root)})
    return target


def layer_root(target: Path) -> Path:
    """The layer's ``python/`` folder as layers/pillow/Makefile builds it: picr, templates included, bytecode
    precompiled (Lambda's /opt is read-only)."""
    site = target / "python"
    shutil.copytree(REPO / "layers" / "pillow" / "picr", site / "picr",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(site)],
                   check=True)
    return site


# ------------------------------------------------------------------ installed size


SIZE_CHILD = """
import importlib.metadata as md, json, sys
sizes = {}
for name in json.loads(sys.argv[1]):
    dist = md.distribution(name)
    sizes[name] = sum(dist.locate_file(f).stat().st_size for f in dist.files or () if dist.locate_file(f).exists())
print(json.dumps(sizes))
"""


def installed_bytes(python: Path, names: Iterable[str]) -> dict[str, int]:
    """Bytes on disk of each installed distribution (every file its RECORD lists, bytecode included)."""
    done = subprocess.run([str(python), "-c", SIZE_CHILD, json.dumps(sorted(names))], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def lock_size(lock_text: str) -> dict[str, Any]:
    """Installed MB of what ``lock_text`` (a universal lock) installs, with its five largest packages."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
        handle.write(lock_text)
        handle.flush()
        names = list(locks.pins(Path(handle.name)))
    sizes = installed_bytes(cached_venv("container", lock_requirements(lock_text)), names)
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    return {"mb": round(sum(sizes.values()) / 2**20, 1), "packages": len(sizes),
            "largest_mb": {name: round(size / 2**20, 1) for name, size in largest}}


def measure_sizes() -> dict[str, Any]:
    baseline_text = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BASELINE_REV}:functions/cutout/requirements.txt"],
        check=True, capture_output=True, text=True).stdout
    runtime = lock_size((CUTOUT / "requirements.txt").read_text())
    baseline = lock_size(baseline_text)
    return {
        "function_image": runtime,
        "weights_stage": lock_size((CUTOUT / "requirements-build.txt").read_text()),
        "baseline": {"rev": BASELINE_REV, **baseline},
        "function_over_baseline": round(runtime["mb"] / baseline["mb"], 3),
        "goal": "function_over_baseline <= 0.6",
        "note": "files each lock's distributions install (RECORD), bytecode included; boto3 not counted "
                "(the Lambda base image has it)",
    }


# ------------------------------------------------------------------ the moto stack the children talk to


@contextlib.contextmanager
def moto_stack() -> Iterator[Any]:
    """A moto server on 127.0.0.1 with the template's resources (the local runner's EmbeddedStack); every
    boto3 client of this process, and the environment handed to children, point at it."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    from moto.server import ThreadedMotoServer

    from tools.embedded_stack import EmbeddedStack, fake_credentials
    from tools.invoke import LANES

    fake_credentials()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    DEFAULT_PROVIDERS.clear()
    sys.path.insert(0, str(REPO / "layers" / "pillow"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the stack's structured logs
            # every optional lane on, so every function of the template exists
            stack = EmbeddedStack(parameters=LANES)
        yield stack
    finally:
        DEFAULT_PROVIDERS.clear()
        server.stop()
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous


def child_environment(function_environment: dict[str, str], python_path: Sequence[Path], home: Path) -> dict[str, str]:
    """A function's environment as Lambda gives it: the template's variables, credentials, nothing of ours."""
    return {
        **{key: value for key, value in os.environ.items() if key.startswith("AWS_")},
        **function_environment,
        "PYTHONPATH": os.pathsep.join(map(str, python_path)), "HOME": str(home),
        "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
    }


def _spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}


# ------------------------------------------------------------------ cutout cold start


def cutout_events(stack: Any, photo: Path, count: int) -> list[dict[str, Any]]:
    """``count`` cutout jobs of ``photo`` (uploaded, ingested), as the SQS events Lambda would pass."""
    consumers = {consumer.stage: consumer for consumer in stack.consumers}
    for _ in range(count):
        stack.s3.put_object(Bucket=stack.bucket, Key=f"inbox/coldstart-{time.monotonic_ns()}{photo.suffix}",
                            Body=photo.read_bytes())
    with contextlib.redirect_stdout(io.StringIO()):
        while stack.poll_once(consumers["ingest"]):
            pass
    cutout = consumers["cutout"]
    events = []
    while len(events) < count:
        messages = stack.sqs.receive_message(QueueUrl=cutout.queue_url, AttributeNames=["All"],
                                             MaxNumberOfMessages=10)["Messages"]
        events += [{"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": cutout.queue_arn, "awsRegion": "eu-west-2"}]}
            for m in messages]
    return events[:count]


def measure_cutout(stack: Any, photo: Path, runs: int, warm: int) -> dict[str, Any]:
    python = container_venv()
    cutout = next(c for c in stack.consumers if c.stage == "cutout")
    cold, warm_s, init, first, rss, differences = [], [], [], [], [], []
    cold_cpu, warm_cpu, init_cpu, differences_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        root = task_root(Path(scratch) / "task")
        home = baked_home(Path(scratch) / "u2net", python, root)
        env = child_environment({**cutout.function.environment, "PICR_MODEL": "u2netp", "U2NET_HOME": str(home)},
                                [root], Path(scratch))
        for index in range(runs + 1):   # the first process only warms the page cache
            events = cutout_events(stack, photo, 1 + warm)
            spawned = time.monotonic()
            done = subprocess.run([str(python), "-c", CUTOUT_CHILD], input=json.dumps(events), env=env,
                                  cwd=root, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"the cutout handler failed in its container venv:\n{done.stderr[-3000:]}")
            report = json.loads(done.stdout.strip().splitlines()[-1])
            if any(answer != {"batchItemFailures": []} for _, _, answer in report["runs"]):
                raise RuntimeError(f"a cutout job failed: {report['runs']}")
            if not index:
                continue
            (first_start, first_end, _), *later = report["runs"]
            warm_runs = [end - start for start, end, _ in later]
            cold.append(first_end - spawned)
            init.append(report["imported"] - spawned)
            first.append(first_end - first_start)
            warm_s.append(statistics.median(warm_runs))
            differences.append(cold[-1] - warm_s[-1])
            rss.append(report["peak_rss_mb"])
            (_, first_cpu_end), *later_cpu = report["cpu"]
            cold_cpu.append(first_cpu_end)   # process CPU counts from the process's start
            init_cpu.append(report["imported_cpu"])
            warm_cpu.append(statistics.median(end - start for start, end in later_cpu))
            differences_cpu.append(cold_cpu[-1] - warm_cpu[-1])
    return {
        "photo": str(photo), "processes": runs, "warm_jobs_per_process": warm,
        "cold_s": _spread(cold), "warm_s": _spread(warm_s), "cold_minus_warm_s": _spread(differences),
        "init_s": _spread(init), "first_job_s": _spread(first), "peak_rss_mb": _spread(rss, 1),
        "cold_cpu_s": _spread(cold_cpu), "warm_cpu_s": _spread(warm_cpu),
        "cold_minus_warm_cpu_s": _spread(differences_cpu), "init_cpu_s": _spread(init_cpu),
        "goal": f"cold_minus_warm_s median <= {COLD_GOAL_S}", "cpu_note": CPU_NOTE,
        "note": "cold: process start to the first job's cutout written and handed on (interpreter, imports, "
                "session, first job); init: process start to `import app` done; warm: median of the later jobs "
                "of the same process; cold − warm paired per process",
    }


# ------------------------------------------------------------------ zip handler imports


def measure_zip_imports(stack: Any, runs: int) -> dict[str, Any]:
    from tools.build import read_plan

    functions = [stack.functions[f.logical_id] for f in read_plan(REPO / "template.yaml").zip_functions]
    imports: dict[str, list[float]] = {f.logical_id: [] for f in functions}
    processes: dict[str, list[float]] = {f.logical_id: [] for f in functions}
    import_cpu: dict[str, list[float]] = {f.logical_id: [] for f in functions}
    with tempfile.TemporaryDirectory() as scratch:
        site = layer_root(Path(scratch) / "layer")
        pythons = {}
        for function in functions:
            own = function.code_dir / "requirements.txt"
            pythons[function.logical_id] = layer_venv([own] if own.exists() else [])
        for index in range(runs + 1):
            for function in functions:
                env = child_environment(function.environment, [function.code_dir, site], Path(scratch))
                spawned = time.monotonic()
                done = subprocess.run([str(pythons[function.logical_id]), "-c", IMPORT_CHILD], env=env,
                                      cwd=scratch, capture_output=True, text=True, timeout=120)
                exited = time.monotonic()
                if done.returncode != 0:
                    raise RuntimeError(f"{function.logical_id} does not import:\n{done.stderr[-3000:]}")
                report = json.loads(done.stdout.strip().splitlines()[-1])
                if index:
                    imports[function.logical_id].append(report["imported"] - report["started"])
                    processes[function.logical_id].append(exited - spawned)
                    import_cpu[function.logical_id].append(report["import_cpu"])
    return {
        "processes_per_function": runs, "goal_s": ZIP_IMPORT_GOAL_S,
        "import_s": {name: _spread(values) for name, values in imports.items()},
        "process_s": {name: _spread(values) for name, values in processes.items()},
        "slowest_import_median_s": max(statistics.median(values) for values in imports.values()),
        "import_cpu_s": {name: _spread(values) for name, values in import_cpu.items()},
        "slowest_import_cpu_median_s": max(statistics.median(values) for values in import_cpu.values()),
        "cpu_note": CPU_NOTE,
        "note": "import_s: `import app` (module scope: settings, clients) with the layer's packages; "
                "process_s: the whole process, interpreter start and exit included",
    }


def measure(runs: int = 5, warm: int = 3, only: Iterable[str] = ("cutout", "zip", "size"),
            photo: Path | None = None) -> dict[str, Any]:
    """The sections asked for, as one JSON-ready dict."""
    chosen = set(only)
    report: dict[str, Any] = {}
    if "size" in chosen:
        report["installed_size"] = measure_sizes()
    if chosen & {"cutout", "zip"}:
        from tools.bench_cutout import DEFAULT_2000

        with moto_stack() as stack:
            if "cutout" in chosen:
                report["cutout"] = measure_cutout(stack, photo or DEFAULT_2000, runs, warm)
            if "zip" in chosen:
                report["zip_handler_imports"] = measure_zip_imports(stack, runs)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured fresh processes (each section)")
    parser.add_argument("--warm", type=int, default=3, help="warm jobs after the cold one, per cutout process")
    parser.add_argument("--only", nargs="*", choices=["cutout", "zip", "size"])
    parser.add_argument("--photo", type=Path, help="the cutout's photo (default: the bench's 2000 px photo)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.warm, args.only or ("cutout", "zip", "size"), args.photo), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
