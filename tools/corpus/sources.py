"""The calibration corpus's raw material: pinned Debian packages, fetched and checked before use.

Every pixel of the corpus comes from files other people made and shipped in Debian (bookworm)
packages. Each package is named with its exact version and the sha256 of its ``.deb``; ``fetch``
downloads it with ``apt-get download <pkg>=<version>``, refuses a file whose sha256 differs, and
unpacks it with ``dpkg-deb -x`` into a cache shared by every checkout on the machine (the sha256 check
makes sharing safe). The held-out list of the project's separate evaluation set is read from
``../shared/photos/HELD_OUT_SOURCES.txt``; ``SourceTree.open`` refuses any file on it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tools.fetch_model import sha256_of
from tools.shared_data import PHOTOS

REPO = Path(__file__).resolve().parents[2]
HELD_OUT_LIST = PHOTOS / "HELD_OUT_SOURCES.txt"
REGISTRY = "debian (bookworm)"


@dataclass(frozen=True)
class Package:
    """One pinned Debian package: the exact version and the sha256 of its ``.deb`` file."""

    name: str
    version: str
    sha256: str
    licence: str
    """What the package's debian/copyright says for the files used (per-file licences are in the catalogue)."""


PACKAGES: dict[str, Package] = {p.name: p for p in (
    Package("tuxpaint-stamps-default", "2022.06.04-1",
            "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34",
            "GPL-2 (debian/copyright, Files: *, (c) 2002-2022 Bill Kendrick and Tux Paint contributors)"),
    Package("mypaint-data-extras", "2.0.1-9",
            "9d5971baa5eb411309940ea2cfe11aa7f6ec2c39e7f9ecd2bbef81fc6404b1d1",
            "CC0-1.0 (debian/copyright, Files: backgrounds/ramon/* and backgrounds/mrmamurk/*)"),
    Package("plasma-workspace-wallpapers", "4:5.27.5-2",
            "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
            "GPL-2+ (debian/copyright, Files: *, (c) 2014 KDE Visual Design Group)"),
    Package("lomiri-wallpapers-16.04", "20.04.0-2",
            "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
            "per file (debian/copyright of lomiri-wallpapers)"),
    Package("mate-backgrounds", "1.26.0-1",
            "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
            "GPL-2+ (debian/copyright, per file)"),
)}


def default_cache() -> Path:
    """``$PICR_CORPUS_CACHE``, else ``$XDG_CACHE_HOME/picr-corpus`` (``~/.cache/picr-corpus``)."""
    if os.environ.get("PICR_CORPUS_CACHE"):
        return Path(os.environ["PICR_CORPUS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "picr-corpus"


def deb_name(package: Package) -> str:
    """The file name ``apt-get download`` gives the package (``:`` of an epoch is written ``%3a``)."""
    return f"{package.name}_{package.version.replace(':', '%3a')}_all.deb"


class SourceError(RuntimeError):
    """A package could not be fetched, or a file differs from the pinned one, or is held out."""


def _download(package: Package, debs: Path) -> Path:
    target = debs / deb_name(package)
    command = ["apt-get", "download", "-q", f"{package.name}={package.version}"]
    for attempt in range(2):
        done = subprocess.run(command, cwd=debs, capture_output=True, text=True)
        if done.returncode == 0 and target.exists():
            return target
        if attempt == 0:   # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
    raise SourceError(f"apt-get download {package.name}={package.version} failed: {done.stderr.strip()[-400:]}")


def fetch(names: Iterable[str] = PACKAGES, cache: Path | None = None) -> Path:
    """Make sure every named package is downloaded, sha256-checked and unpacked; returns the tree root.

    The tree is ``<cache>/x/<package>/usr/...``. A package already unpacked from the pinned file is
    not fetched again. A lock file serialises concurrent callers (parallel test workers).
    """
    cache = cache or default_cache()
    debs, tree = cache / "debs", cache / "x"
    debs.mkdir(parents=True, exist_ok=True)
    tree.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in names:
            package = PACKAGES[name]
            stamp = tree / f".{name}.sha256"
            if stamp.exists() and stamp.read_text().strip() == package.sha256:
                continue
            deb = debs / deb_name(package)
            if not deb.exists() or sha256_of(deb) != package.sha256:
                deb.unlink(missing_ok=True)
                deb = _download(package, debs)
            actual = sha256_of(deb)
            if actual != package.sha256:
                deb.unlink()
                raise SourceError(f"{deb.name}: sha256 {actual} is not the pinned {package.sha256}")
            staging = Path(tempfile.mkdtemp(dir=tree, prefix=f".{name}-"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
            shutil.rmtree(tree / name, ignore_errors=True)
            staging.rename(tree / name)
            stamp.write_text(package.sha256 + "\n")
    return tree


def read_held_out(path: Path = HELD_OUT_LIST) -> frozenset[tuple[str, str]]:
    """(package, path) pairs the corpus must never use. A missing list is an error, never "nothing held out"."""
    pairs = set()
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        package, _, file_path = line.partition("\t")
        pairs.add((package.strip(), file_path.strip()))
    if not pairs:
        raise SourceError(f"{path} lists no held-out file; refusing to trust it")
    return frozenset(pairs)


class SourceTree:
    """Read access to the unpacked packages that refuses held-out files and records what was opened."""

    def __init__(self, root: Path, held_out: frozenset[tuple[str, str]] | None = None) -> None:
        self.root = root
        self.held_out = read_held_out() if held_out is None else held_out
        self.opened: set[tuple[str, str]] = set()

    def open(self, package: str, path: str) -> Image.Image:
        if (package, path) in self.held_out:
            raise SourceError(f"{package} {path} is held out and must not be used")
        if package not in PACKAGES:
            raise SourceError(f"{package} is not a pinned package")
        self.opened.add((package, path))
        image = Image.open(self.root / package / path.lstrip("/"))
        image.load()
        return image
