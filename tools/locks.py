"""Read the project's lock files (``uv pip compile --generate-hashes`` output) and the inputs they come from.

``requirements-dev.txt`` is the one lock: every other lock (the layer's, the cutout image's, drive-sync's)
is resolved under it as a constraint by ``make lock``. The tests use this module to prove that, and the
container test to install a venv exactly as the image does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
DEV_LOCK = REPO / "requirements-dev.txt"
DEPLOYED_LOCKS = {
    "layer": REPO / "layers" / "pillow" / "requirements.txt",
    "cutout": REPO / "functions" / "cutout" / "requirements.txt",
    "cutout_build": REPO / "functions" / "cutout" / "requirements-build.txt",  # the image's weights stage
    "drive_sync": REPO / "functions" / "drive_sync" / "requirements.txt",
}
LAMBDA_ARM64 = {"platform_machine": "aarch64", "sys_platform": "linux", "os_name": "posix",
                "platform_system": "Linux", "python_version": "3.13", "python_full_version": "3.13.0",
                "implementation_name": "cpython", "platform_python_implementation": "CPython"}
"""The marker environment of Lambda's python3.13 arm64 runtime (Amazon Linux 2023)."""

_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class LockedPackage:
    """One ``name==version`` entry of a lock, with the sha256 of every file it allows."""

    name: str
    version: str
    marker: str | None
    hashes: frozenset[str]
    text: str

    def applies(self, environment: dict[str, str] | None = None) -> bool:
        """Whether pip installs this entry in ``environment`` (None: this interpreter)."""
        return self.marker is None or Marker(self.marker).evaluate(environment)


def read_lock(path: Path) -> list[LockedPackage]:
    """Every entry of a lock file, in file order. A line that is neither an entry, a hash, a comment nor
    blank is an error: a lock is only what ``make lock`` writes."""
    packages: list[LockedPackage] = []
    current: list[str] = []

    def finish() -> None:
        if current:
            match = _ENTRY.match(current[0])
            assert match is not None
            hashes = frozenset(h for line in current for h in _HASH.findall(line))
            packages.append(LockedPackage(canonicalize_name(match["name"]), match["version"], match["marker"],
                                          hashes, "\n".join(current)))
            current.clear()

    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            finish()
        elif _ENTRY.match(line):
            finish()
            current.append(line)
        elif stripped.startswith("--hash=") and current:
            current.append(line)
        else:
            raise ValueError(f"{path.name}: not a lock line: {line!r}")
    finish()
    return packages


def pins(path: Path, environment: dict[str, str] | None = None) -> dict[str, LockedPackage]:
    """The entries pip would install from ``path`` in ``environment`` (None: this interpreter), by name."""
    chosen: dict[str, LockedPackage] = {}
    for package in read_lock(path):
        if package.applies(environment):
            if package.name in chosen:
                raise ValueError(f"{path.name}: two entries of {package.name} apply in one environment")
            chosen[package.name] = package
    return chosen


def input_requirements(path: Path) -> list[Requirement]:
    """The requirements of a human-edited ``*.in`` file (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def requirements_text(packages: list[LockedPackage]) -> str:
    """A hash-pinned requirements file holding just these entries (for ``pip install --require-hashes``)."""
    return "\n".join(package.text for package in packages) + "\n"
