"""Where the shared development data lives: ``../shared`` (photos with true masks, the scorer).

It is not part of this repository. A checkout finds it beside itself; a clone made somewhere else (say
``git clone ~/picr /tmp/fresh``) finds it beside the repository it was cloned from (its ``origin``), and
``PICR_SHARED`` names the folder outright when neither holds it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _origin_checkout() -> Path | None:
    """The local repository this checkout was cloned from, if its origin is a path on this machine."""
    try:
        url = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, check=False, timeout=10).stdout.strip()
    except OSError:
        return None
    path = url.removeprefix("file://")
    return Path(path) if path.startswith("/") else None


def find_shared() -> Path:
    named = os.environ.get("PICR_SHARED")
    if named:
        return Path(named)
    origin = _origin_checkout()
    candidates = [REPO.parent / "shared"] + ([origin.parent / "shared"] if origin else [])
    for candidate in candidates:
        if (candidate / "photos").is_dir():
            return candidate
    raise FileNotFoundError(
        f"the shared development data (photos/, tools/score.py) is in none of {[str(c) for c in candidates]}; "
        "set PICR_SHARED to its folder")


SHARED = find_shared()
PHOTOS = SHARED / "photos"
CASES = PHOTOS / "cases"
SAMPLES = PHOTOS / "samples"
