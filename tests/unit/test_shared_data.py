"""The shared development data is found from any clone: beside it, beside its origin, or where named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools import shared_data


def test_a_named_folder_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICR_SHARED", str(tmp_path))
    assert shared_data.find_shared() == tmp_path


def test_a_clone_made_elsewhere_finds_the_data_beside_its_origin(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.delenv("PICR_SHARED", raising=False)
    origin = tmp_path / "work" / "picr"
    (tmp_path / "work" / "shared" / "photos").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    clone = tmp_path / "elsewhere" / "fresh"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True, capture_output=True)
    monkeypatch.setattr(shared_data, "REPO", clone)
    assert shared_data.find_shared() == tmp_path / "work" / "shared"
    monkeypatch.setattr(shared_data, "REPO", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="PICR_SHARED"):
        shared_data.find_shared()


def test_the_data_this_suite_uses_is_there() -> None:
    assert (shared_data.CASES / "01_toolbox_plain_white_paper" / "mask.png").is_file()
    assert (shared_data.SHARED / "tools" / "score.py").is_file()
