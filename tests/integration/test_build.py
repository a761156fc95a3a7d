"""The deployable artifacts: the cutout container (read statically - no Docker engine here), the pinned
requirements, the build-time model fetch, and ``tools/build.py`` (the Docker-free ``make build``)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from functions.cutout import bake_model
from picr.segmentation.gate_profile import available_profiles
from tools import build, locks

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "functions" / "cutout" / "Dockerfile"
LAYER_REQUIREMENTS = locks.DEPLOYED_LOCKS["layer"]
DEV_MODEL = REPO / "models" / "u2netp.onnx"  # rembg's u2netp release file, fetched by tools/fetch_model.py
HEADROOM_BYTES = 100 * 2**20
"""What every zip function with its layers leaves free of Lambda's 250 MiB unzipped limit."""
ONNXRUNTIME_ARM64_FIX = Version("1.26.0")  # first release with microsoft/onnxruntime#28230 (issue #10038)


# ------------------------------------------------------------------ the Dockerfile, read statically

def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuation lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    ))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE)


def env_of(dockerfile: list[tuple[str, str]]) -> dict[str, str]:
    pairs = [pair for keyword, args in dockerfile if keyword == "ENV" for pair in args.split()]
    return dict(pair.split("=", 1) for pair in pairs)


def stages(dockerfile: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The instructions of each build stage, by its name (``AS``); the unnamed last stage is ``function``."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, args in dockerfile:
        if keyword == "FROM":
            _, _, name = args.partition(" AS ")
            current = found.setdefault(name or "function", [])
        current.append((keyword, args))
    return found


def test_the_base_image_is_the_lambda_python_313_image_for_the_arch_argument(dockerfile) -> None:
    assert dockerfile[0] == ("ARG", "ARCH=arm64")
    built = stages(dockerfile)
    assert list(built) == ["weights", "function"]  # the function's image is the last stage
    assert built["weights"][0] == ("FROM", "public.ecr.aws/lambda/python:3.13-${ARCH} AS weights")
    assert built["function"][0] == ("FROM", "public.ecr.aws/lambda/python:3.13-${ARCH}")


def test_the_image_runs_as_a_non_root_user(dockerfile) -> None:
    users = [args for keyword, args in dockerfile if keyword == "USER"]
    assert users, "no USER instruction: the image would run as root"
    assert users[-1] not in {"root", "0", "0:0"}
    assert [keyword for keyword, _ in dockerfile][-2:] == ["USER", "CMD"]


def test_the_environment_points_the_engine_at_the_baked_weights(dockerfile) -> None:
    env = env_of(stages(dockerfile)["function"])
    assert env["U2NET_HOME"] == "/opt/u2net"
    assert env["PICR_MODEL"] == "${MODEL}"
    assert "NUMBA_CACHE_DIR" not in env  # no numba in the image any more


def test_the_handler_is_app_handler(dockerfile) -> None:
    assert json.loads(dict(dockerfile)["CMD"]) == ["app.handler"]


def test_the_model_is_baked_by_the_weights_stage_and_copied_into_the_function(dockerfile) -> None:
    built = stages(dockerfile)
    for stage in built.values():
        # an ARG before FROM would be out of scope in the stage; the default is the model whose gate
        # profile is committed
        assert ("ARG", "MODEL=u2netp") in stage
    (bake_step,) = [args for keyword, args in built["weights"] if keyword == "RUN" and "bake_model.py" in args]
    assert 'bake_model.py "${MODEL}" /opt/u2net' in bake_step
    function = built["function"]
    assert ("COPY", "--from=weights /opt/u2net /opt/u2net") in function
    assert not [args for _, args in function if "bake_model" in args]
    # the optimised graph is saved beside the weights, by the function's own engine code and onnxruntime
    (optimise,) = [index for index, (keyword, args) in enumerate(function)
                   if keyword == "RUN" and "optimise_model('${MODEL}', Path('/opt/u2net'))" in args]
    assert optimise > function.index(("COPY", "--from=weights /opt/u2net /opt/u2net"))
    assert optimise > function.index(("COPY", "layers/pillow/picr ${LAMBDA_TASK_ROOT}/picr"))
    assert optimise > [keyword for keyword, _ in function].index("RUN")   # after the pip install
    assert bake_model.MODELS.keys() >= {"u2net", "u2netp"}


def test_the_build_refuses_a_model_without_a_profile_measured_on_the_baked_weights(dockerfile) -> None:
    function = stages(dockerfile)["function"]
    (check,) = [args for keyword, args in function if keyword == "RUN" and "load_profile" in args]
    assert "'/opt/u2net/' + sys.argv[1] + '.onnx'" in check and '"${MODEL}"' in check
    assert function.index(("RUN", check)) > function.index(("COPY", "--from=weights /opt/u2net /opt/u2net"))
    assert bake_model.MODELS["u2netp"][0] == "u2netp.onnx"
    assert "u2netp" in available_profiles()


@pytest.mark.parametrize(("stage", "lock"), [("weights", "requirements-build.txt"), ("function", "requirements.txt")])
def test_dependencies_come_from_the_locked_requirements_as_wheels_only(dockerfile, stage, lock) -> None:
    steps = stages(dockerfile)[stage]
    assert ("COPY", f"functions/cutout/{lock} /tmp/{lock}") in steps
    (install,) = [args for keyword, args in steps if keyword == "RUN" and "pip install" in args]
    assert "--only-binary=:all:" in install and f"-r /tmp/{lock}" in install and "--require-hashes" in install


def test_every_copied_path_exists_in_the_build_context(dockerfile) -> None:
    for keyword, args in dockerfile:
        if keyword == "COPY" and not args.startswith("--from="):  # --from copies out of an earlier stage
            source = args.split()[0]
            assert (REPO / source).exists(), source


def test_the_package_is_copied_whole_with_its_templates_as_real_files(dockerfile) -> None:
    templates = REPO / "layers/pillow/picr/templates"
    assert templates.is_dir() and not templates.is_symlink()
    assert all(path.is_file() and not path.is_symlink() for path in templates.iterdir())
    steps = [(keyword, args) for keyword, args in dockerfile if "picr" in args]
    assert steps[0] == ("COPY", "layers/pillow/picr ${LAMBDA_TASK_ROOT}/picr")
    # Nothing removes or re-copies a part of the package afterwards.
    assert not [step for step in steps[1:] if step[0] == "COPY" or "rm " in step[1]], steps
    assert ("COPY", "functions/cutout/app.py ${LAMBDA_TASK_ROOT}/") in dockerfile


def test_notifications_templates_is_a_relative_link_to_the_packages_templates() -> None:
    link = REPO / "notifications" / "templates"
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()
    assert link.resolve() == (REPO / "layers/pillow/picr/templates").resolve()


# ------------------------------------------------------------------ the locks

def test_every_lock_line_is_an_exact_pin_with_hashes() -> None:
    for path in (locks.DEV_LOCK, *locks.DEPLOYED_LOCKS.values()):
        entries = locks.read_lock(path)
        assert entries, path
        for entry in entries:
            assert entry.hashes, f"{path.name}: {entry.name} has no --hash"
        assert path.read_text().startswith("# This file was autogenerated by uv via the following command:\n"
                                           "#    make lock\n"), f"{path.name} was not written by make lock"


def test_every_input_requirement_is_met_by_its_lock() -> None:
    """An edit to a ``*.in`` file without ``make lock`` (or a lock edited by hand) is caught here."""
    inputs = {locks.DEV_LOCK: REPO / "requirements-dev.in",
              **{path: path.with_suffix(".in") for path in locks.DEPLOYED_LOCKS.values()}}
    for lock, source in inputs.items():
        locked = locks.pins(lock, locks.LAMBDA_ARM64 if lock != locks.DEV_LOCK else None)
        for requirement in locks.input_requirements(source):
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{source.name}: {name} is not in {lock.name}"
            assert requirement.specifier.contains(locked[name].version, prereleases=True), (
                f"{lock.name} pins {name}=={locked[name].version}, outside {source.name}'s {requirement}")


def test_the_deployed_locks_are_the_dev_lock_where_they_overlap() -> None:
    """The layer, the image and drive-sync ship exactly the files the tests run against."""
    dev = {entry.name: entry for entry in locks.read_lock(locks.DEV_LOCK)}
    for target, path in locks.DEPLOYED_LOCKS.items():
        for entry in locks.read_lock(path):
            assert entry.name in dev, f"{target} ships {entry.name}, which the tests never installed"
            same = [e for e in locks.read_lock(locks.DEV_LOCK) if e.name == entry.name and e.version == entry.version]
            assert same, f"{target} pins {entry.name}=={entry.version}; the dev lock another version"
            assert entry.hashes <= frozenset().union(*(e.hashes for e in same)), f"{target}: {entry.name} files"


def test_the_dev_venv_is_exactly_the_lock() -> None:
    for name, entry in locks.pins(locks.DEV_LOCK).items():
        assert importlib.metadata.version(name) == entry.version, f"the venv has another {name}: run make"


def test_the_cutout_runtime_pins_an_onnxruntime_that_starts_on_arm64_and_no_rembg() -> None:
    cutout = locks.pins(locks.DEPLOYED_LOCKS["cutout"], locks.LAMBDA_ARM64)
    assert {"onnxruntime", "pillow", "numpy", "opencv-python-headless", "aws-lambda-powertools"} <= set(cutout)
    assert "pydantic" not in cutout  # picr's records are its own (picr.records): 40 ms less at a cold start
    assert not {"onnxruntime-gpu", "opencv-python"} & set(cutout)  # CUDA wheels / a GUI OpenCV
    # rembg and what only rembg needs: 1.4 s and ~190 MB of import at every cold start
    assert not {"rembg", "pymatting", "numba", "llvmlite", "scipy", "scikit-image"} & set(cutout)
    assert Version(cutout["onnxruntime"].version) >= ONNXRUNTIME_ARM64_FIX
    assert Version(cutout["pillow"].version).major == 12


def test_the_weights_stage_pins_rembg_bare_with_the_functions_onnxruntime() -> None:
    build_stage = locks.pins(locks.DEPLOYED_LOCKS["cutout_build"], locks.LAMBDA_ARM64)
    runtime = locks.pins(locks.DEPLOYED_LOCKS["cutout"], locks.LAMBDA_ARM64)
    assert {"rembg", "onnxruntime", "pooch"} <= set(build_stage)
    assert "onnxruntime-gpu" not in build_stage
    assert build_stage["onnxruntime"].version == runtime["onnxruntime"].version


def test_the_layer_ships_only_what_the_zip_functions_import() -> None:
    layer = locks.input_requirements(LAYER_REQUIREMENTS.with_suffix(".in"))
    assert {canonicalize_name(r.name) for r in layer} == {
        "pillow", "pillow-heif", "numpy", "jinja2", "aws-lambda-powertools"}
    assert Version(locks.pins(LAYER_REQUIREMENTS, locks.LAMBDA_ARM64)["pillow"].version).major == 12


def test_the_image_and_the_layer_install_their_locks_with_hash_checking(dockerfile) -> None:
    installs = [args for keyword, args in dockerfile if keyword == "RUN" and "pip install" in args]
    assert len(installs) == 2 and all("--require-hashes" in install for install in installs)
    assert "--require-hashes" in (REPO / "layers" / "pillow" / "Makefile").read_text()


def _probe_wheel(directory: Path, requires: tuple[str, ...] = ()) -> str:
    """Write a minimal pure-Python wheel, ``picr_lock_probe 1.0``, to install through the Makefile offline;
    returns its sha256 (the same bytes for the same ``requires``: fixed member times)."""
    info = "picr_lock_probe-1.0.dist-info"
    files = {
        "picr_lock_probe/__init__.py": "VALUE = 1\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: picr-lock-probe\nVersion: 1.0\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: picr-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    path = directory / "picr_lock_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_installs_only_files_whose_hash_is_in_the_lock(tmp_path: Path) -> None:
    """The Makefile's own venv recipe, offline against a local wheel: a lock naming another sha256, or
    none, or leaving a dependency unpinned is refused and installs nothing; the right one installs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digest = _probe_wheel(wheels)
    venv, lock = tmp_path / "venv", tmp_path / "lock.txt"
    environment = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}

    def make_venv(lock_text: str) -> subprocess.CompletedProcess[str]:
        lock.write_text(lock_text)
        (venv / ".installed").unlink(missing_ok=True)
        return subprocess.run(["make", "-C", str(REPO), "venv", f"VENV={venv}", f"LOCK={lock}"], env=environment,
                              capture_output=True, text=True, timeout=300, check=False)

    def probe_installed() -> bool:
        return any((venv / "lib").glob("python3*/site-packages/picr_lock_probe"))

    wrong = make_venv(f"picr-lock-probe==1.0 --hash=sha256:{'0' * 64}\n")
    assert wrong.returncode != 0 and "DO NOT MATCH THE HASHES" in wrong.stderr
    unhashed = make_venv("picr-lock-probe==1.0\n")
    assert unhashed.returncode != 0 and "Hashes are required in --require-hashes mode" in unhashed.stderr
    assert not probe_installed() and not (venv / ".installed").exists()
    needs_six = _probe_wheel(wheels, requires=("six",))
    unpinned_dependency = make_venv(f"picr-lock-probe==1.0 --hash=sha256:{needs_six}\n")
    assert unpinned_dependency.returncode != 0 and "six" in unpinned_dependency.stderr
    assert not probe_installed()
    _probe_wheel(wheels)
    right = make_venv(f"picr-lock-probe==1.0 --hash=sha256:{digest}\n")
    assert right.returncode == 0, right.stderr
    assert probe_installed() and (venv / ".installed").exists()


# ------------------------------------------------------------------ the build-time model fetch

def rembg_published_models() -> dict[str, tuple[str, str]]:
    """session name -> (release file, md5), read from the installed rembg's download_models code."""
    sessions = Path(importlib.metadata.distribution("rembg").locate_file("rembg/sessions"))
    published = {}
    for path in sessions.glob("*.py"):
        text = path.read_text()
        urls = re.findall(r'"https://github\.com/danielgatis/rembg/releases/download/v0\.0\.0/([^"/]+)"',
                          text)
        sums = re.findall(r'"md5:([0-9a-f]{32})"', text)
        names = re.findall(r'def name\(cls[^)]*\):\s+(?:"""[\s\S]*?"""\s+)?return "([^"]+)"', text)
        if len(urls) == len(sums) == len(names) == 1:
            published[names[0]] = (urls[0], sums[0])
    return published


def test_the_pinned_checksums_are_the_ones_rembg_publishes() -> None:
    published = rembg_published_models()
    assert {"u2net", "u2netp", "isnet-general-use"} <= set(published)
    for model, pinned in bake_model.MODELS.items():
        assert published[model] == pinned, model
    assert bake_model.model_url("u2net") == "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"


def test_bake_verifies_the_weights_and_the_engine_finds_them_there(tmp_path: Path) -> None:
    from picr.segmentation.engine import installed_model

    baked = bake_model.bake("u2netp", tmp_path / "u2net", url=DEV_MODEL.as_uri())
    assert baked == tmp_path / "u2net" / "u2netp.onnx"
    digest = hashlib.md5(baked.read_bytes(), usedforsecurity=False).hexdigest()
    assert digest == bake_model.MODELS["u2netp"][1]
    assert baked.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in baked.parent.iterdir()] == ["u2netp.onnx"]
    assert installed_model("u2netp", tmp_path / "u2net") == baked  # where the function looks, U2NET_HOME


def fake_release_download(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> list[dict]:
    """rembg's download (``pooch.retrieve``) served from ``payload`` instead of GitHub; returns its calls.
    Like a rembg run with MODEL_CHECKSUM_DISABLED, it does not check the hash itself."""
    import pooch

    calls: list[dict] = []

    def retrieve(url, known_hash, fname, path, progressbar=False):
        calls.append({"url": url, "known_hash": known_hash})
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / fname).write_bytes(payload)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    return calls


def test_bake_fetches_through_rembgs_registry_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_release_download(monkeypatch, DEV_MODEL.read_bytes())
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "elsewhere"))
    baked = bake_model.bake("u2netp", tmp_path / "u2net")
    assert calls == [{"url": bake_model.model_url("u2netp"), "known_hash": f"md5:{bake_model.MODELS['u2netp'][1]}"}]
    assert [p.name for p in baked.parent.iterdir()] == ["u2netp.onnx"]  # rembg's scratch folder is gone
    assert baked.read_bytes() == DEV_MODEL.read_bytes()
    assert os.environ["U2NET_HOME"] == str(tmp_path / "elsewhere")  # put back after the fetch


def test_bake_refuses_what_rembg_fetched_when_it_is_not_the_pinned_model(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(DEV_MODEL.read_bytes())
    data[len(data) // 2] ^= 0xFF
    fake_release_download(monkeypatch, bytes(data))
    with pytest.raises(bake_model.ChecksumMismatch, match="u2netp"):
        bake_model.bake("u2netp", tmp_path / "u2net")
    assert list((tmp_path / "u2net").iterdir()) == []


def test_bake_refuses_weights_that_do_not_match_and_leaves_nothing(tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.onnx"
    data = bytearray(DEV_MODEL.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(bake_model.ChecksumMismatch, match="u2netp"):
        bake_model.bake("u2netp", tmp_path / "u2net", url=tampered.as_uri())
    assert list((tmp_path / "u2net").iterdir()) == []


def test_bake_rejects_an_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="not-a-model"):
        bake_model.bake("not-a-model", tmp_path)


# ------------------------------------------------------------------ tools/build.py, without building

def test_the_plan_builds_every_zip_function_and_the_layer_and_skips_the_image() -> None:
    plan = build.read_plan(REPO / "template.yaml")
    assert plan.image_functions == ("CutoutFunction",)
    assert plan.layers == ("PicrLayer",)
    assert {f.logical_id for f in plan.zip_functions} == {
        "IngestFunction", "VariantsFunction", "PublishFunction", "SweepFunction", "DriveSyncFunction",
        "MailIntakeFunction", "ReviewFunction", "UploadFunction", "ShopFunction", "ExportFunction"}
    assert all(f.layers == ("PicrLayer",) for f in plan.zip_functions)
    command = build.sam_build_command(REPO / "template.yaml", Path("/b"), Path("/c"), plan)
    assert command[command.index("--exclude") + 1] == "CutoutFunction"
    assert "--use-container" not in command


def fake_layer(root: Path, package: Path, shared_object: Path) -> Path:
    site = root / "python"
    shutil.copytree(package, site / "picr", symlinks=True)
    (site / "PIL").mkdir(parents=True)
    shutil.copy(shared_object, site / "PIL" / "_imaging.so")
    return root


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A minimal picr source package with its templates inside it, like the real one."""
    source = tmp_path / "src" / "picr"
    (source / "templates").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "templates" / "ready.html").write_text("<p>{{ product }} is ready</p>")
    return source


def host_shared_object() -> Path:
    """A real compiled extension of this machine (x86_64 here): exactly what must never reach Graviton."""
    import PIL._imaging

    return Path(PIL._imaging.__file__)


def test_elf_machine_reads_the_architecture_of_real_binaries(tmp_path: Path) -> None:
    machines = {"x86_64": 62, "aarch64": 183}
    assert build.elf_machine(host_shared_object()) == machines[os.uname().machine]
    text = tmp_path / "notes.txt"
    text.write_text("not a binary")
    assert build.elf_machine(text) is None


def test_verify_layer_flags_host_binaries_and_symlinked_templates(tmp_path: Path, package: Path) -> None:
    if os.uname().machine == "aarch64":
        pytest.skip("the host's own binaries are aarch64 here")
    layer = fake_layer(tmp_path / "layer", package, host_shared_object())
    templates = layer / "python" / "picr" / "templates"
    shutil.rmtree(templates)
    templates.symlink_to(package / "templates")  # a layer that kept a link instead of the files
    problems = build.verify_layer(layer, package)
    assert any("PIL/_imaging.so is not aarch64" in p for p in problems)
    assert any("templates" in p for p in problems)


def test_verify_layer_accepts_real_templates_and_catches_a_missing_or_stale_file(tmp_path: Path,
                                                                                package: Path) -> None:
    layer = tmp_path / "layer"
    shutil.copytree(package, layer / "python" / "picr")
    (layer / "python" / "PIL").mkdir()
    aarch64_header = b"\x7fELF" + bytes(14) + build.ELF_MACHINE_AARCH64.to_bytes(2, "little")
    (layer / "python" / "PIL" / "_imaging.so").write_bytes(aarch64_header)
    assert build.verify_layer(layer, package) == []
    (package / "naming.py").write_text("X = 1\n")
    (layer / "python" / "picr" / "templates" / "ready.html").write_text("stale")
    problems = build.verify_layer(layer, package)
    assert "picr/naming.py is not a real file in the layer" in problems
    assert "picr/templates/ready.html differs from its source" in problems


def test_verify_build_flags_a_function_carrying_host_binaries(tmp_path: Path, package: Path) -> None:
    if os.uname().machine == "aarch64":
        pytest.skip("the host's own binaries are aarch64 here")
    build_dir = tmp_path / "build"
    shutil.copytree(package, build_dir / "PicrLayer" / "python" / "picr")
    (build_dir / "PicrLayer" / "python" / "PIL").mkdir()
    aarch64_header = b"\x7fELF" + bytes(14) + build.ELF_MACHINE_AARCH64.to_bytes(2, "little")
    (build_dir / "PicrLayer" / "python" / "PIL" / "_imaging.so").write_bytes(aarch64_header)
    function = build_dir / "DriveSyncFunction"
    (function / "cryptography").mkdir(parents=True)
    (function / "app.py").write_text("")
    plan = build.BuildPlan((build.ZipFunction("DriveSyncFunction", ("PicrLayer",)),), ("PicrLayer",), ())
    assert build.verify_build(build_dir, plan, package) == []
    shutil.copy(host_shared_object(), function / "cryptography" / "_rust.abi3.so")
    assert build.verify_build(build_dir, plan, package) == [
        "DriveSyncFunction/cryptography/_rust.abi3.so is not aarch64 (ELF machine 62)"]


# ------------------------------------------------------------------ the real build (pip + sam build)

def snapshot(tmp_path: Path) -> Path:
    """A still copy of what the build reads, so engineers editing the tree mid-build cannot race it."""
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("template.yaml", "samconfig.toml"):
        root.mkdir(exist_ok=True)
        shutil.copy(REPO / name, root / name)
    for name in ("layers", "notifications", "functions"):
        shutil.copytree(REPO / name, root / name, symlinks=True, ignore=ignore)
    return root


@pytest.mark.slow
def test_make_build_produces_an_arm64_layer_with_real_templates(tmp_path: Path) -> None:
    """About 6 s with a warm pip cache (the first run downloads ~45 MB of aarch64 wheels)."""
    root = snapshot(tmp_path)
    build_dir = tmp_path / "build"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tools.build", "--template", str(root / "template.yaml"),
         "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"),
         "--package-source", str(root / "layers/pillow/picr")],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    site = build_dir / "PicrLayer" / "python"
    sources = sorted((root / "notifications" / "templates").iterdir())
    assert sources
    for source in sources:
        built = site / "picr" / "templates" / source.name
        assert built.is_file() and not built.is_symlink(), built
        assert built.read_bytes() == source.read_bytes()
    assert not (site / "picr" / "templates").is_symlink()
    pillow_extensions = list((site / "PIL").glob("*.so"))
    assert pillow_extensions
    assert {build.elf_machine(path) for path in pillow_extensions} == {build.ELF_MACHINE_AARCH64}
    layer_mb = build.tree_size(build_dir / "PicrLayer") / 2**20
    # Lambda's 250 MB covers function + layers unzipped; 200 keeps room for code and the next dependency.
    assert layer_mb < 200, f"layer is {layer_mb:.0f} MB unzipped"
    for function in ("IngestFunction", "VariantsFunction", "PublishFunction", "SweepFunction", "DriveSyncFunction"):
        assert (build_dir / function / "app.py").is_file()
    drive_sync = locks.pins(locks.DEPLOYED_LOCKS["drive_sync"], locks.LAMBDA_ARM64)
    for name, entry in drive_sync.items():  # the function's own dependencies, at the locked versions
        assert list(build_dir.glob(f"DriveSyncFunction/{name.replace('-', '_')}-{entry.version}.dist-info")), name
    assert not (build_dir / "CutoutFunction").exists()
    # Every zip function with its layer keeps 100 MiB of Lambda's 250 MiB for the next dependency or fix
    # (drive-sync was 232 MiB with googleapiclient; it is the largest).
    plan = build.read_plan(root / "template.yaml")
    unzipped = {f.logical_id: build.tree_size(build_dir / f.logical_id)
                + sum(build.tree_size(build_dir / layer) for layer in f.layers) for f in plan.zip_functions}
    too_big = {name: f"{size / 2**20:.0f} MiB" for name, size in unzipped.items()
               if size > build.UNZIPPED_LIMIT_BYTES - HEADROOM_BYTES}
    assert not too_big, f"less than 100 MiB of headroom under Lambda's 250 MiB: {too_big}"
    print(f"\nlayer {layer_mb:.1f} MB unzipped, drive-sync with its layer "
          f"{unzipped['DriveSyncFunction'] / 2**20:.1f} MiB, build {elapsed:.1f} s")
