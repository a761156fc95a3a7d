"""Build-time model fetch for the cutout image: fetch one rembg model and refuse it unless it matches.

The function itself never downloads (on Lambda the file system is read-only and a download would cost
every cold start) and carries no rembg: the engine opens ``<U2NET_HOME>/<model>.onnx`` with onnxruntime.
So the Dockerfile's first stage, which has rembg installed (functions/cutout/requirements-build.txt),
runs this once into ``/opt/u2net``, and only that folder is copied into the function's image.

The file is fetched by rembg's own session class (``download_models``: its release URL, its md5 checked
as it downloads), then checked again against the md5 pinned here (``MODELS``, rembg 2.0.86's;
``tests/integration/test_build.py`` re-reads them from the installed rembg), so a rembg release that
swapped a model fails the build instead of changing the weights unnoticed. ``--url`` fetches from a mirror
(or a local
file, as the tests do) with the standard library instead, under the same pinned md5.

Usage: ``python bake_model.py <model> <dest_dir> [--url URL]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"

# rembg session name -> (published file, md5). The baked file is named <session name>.onnx, as rembg expects.
MODELS: dict[str, tuple[str, str]] = {
    "u2net": ("u2net.onnx", "60024c5c889badc19c04ad937298a77b"),
    "u2netp": ("u2netp.onnx", "8e83ca70e441ab06c318d82300c84806"),
    "u2net_human_seg": ("u2net_human_seg.onnx", "c09ddc2e0104f800e3e1bb4652583d1f"),
    "u2net_cloth_seg": ("u2net_cloth_seg.onnx", "2434d1f3cb744e0e49386c906e5a08bb"),
    "silueta": ("silueta.onnx", "55e59e0d8062d2f5d013f4725ee84782"),
    "isnet-general-use": ("isnet-general-use.onnx", "fc16ebd8b0c10d971d3513d564d01e29"),
    "isnet-anime": ("isnet-anime.onnx", "6f184e756bb3bd901c8849220a83e38e"),
    "birefnet-general": ("BiRefNet-general-epoch_244.onnx", "7a35a0141cbbc80de11d9c9a28f52697"),
    "birefnet-general-lite": (
        "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx", "4fab47adc4ff364be1713e97b7e66334"
    ),
    "birefnet-portrait": ("BiRefNet-portrait-epoch_150.onnx", "c3a64a6abf20250d090cd055f12a3b67"),
    "birefnet-dis": ("BiRefNet-DIS-epoch_590.onnx", "2d4d44102b446f33a4ebb2e56c051f2b"),
    "birefnet-hrsod": ("BiRefNet-HRSOD_DHU-epoch_115.onnx", "c017ade5de8a50ff0fd74d790d268dda"),
    "birefnet-cod": ("BiRefNet-COD-epoch_125.onnx", "f6d0d21ca89d287f17e7afe9f5fd3b45"),
    "birefnet-massive": (
        "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx", "33e726a2136a3d59eb0fdf613e31e3e9"
    ),
}

ATTEMPTS = 3  # a build-time fetch from GitHub releases; a transient failure should not fail the image
TIMEOUT_S = 60  # per socket read, not for the whole (up to ~1 GB) file


class ChecksumMismatch(RuntimeError):
    """The downloaded bytes are not the model rembg pins: never bake them."""


def model_url(model: str) -> str:
    return f"{RELEASES}/{MODELS[model][0]}"


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, target.open("wb") as out:
        while block := response.read(1 << 20):
            out.write(block)


def fetch_with_rembg(model: str, target: Path) -> None:
    """rembg's own download of ``model`` (its URL; its md5, checked by pooch as it downloads) to ``target``.

    rembg puts models under ``$U2NET_HOME/models/<name>/`` and reads that variable when asked, so it is
    pointed at a scratch folder beside ``target`` for the call.
    """
    from rembg.sessions import sessions  # the build stage's rembg; the function's image has none

    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        previous = os.environ.get("U2NET_HOME")
        os.environ["U2NET_HOME"] = scratch
        try:
            fetched = sessions[model].download_models()
        except ValueError as exc:  # pooch: the file does not have the md5 rembg pins
            raise ChecksumMismatch(f"{model}: {exc}") from exc
        finally:
            if previous is None:
                os.environ.pop("U2NET_HOME", None)
            else:
                os.environ["U2NET_HOME"] = previous
        shutil.move(fetched, target)


def bake(model: str, dest_dir: Path, url: str | None = None) -> Path:
    """Fetch ``model`` into ``dest_dir/<model>.onnx`` and verify it; nothing is left behind on failure."""
    if model not in MODELS:
        raise KeyError(f"unknown rembg model {model!r}; known: {', '.join(sorted(MODELS))}")
    expected = MODELS[model][1]
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{model}.onnx"
    partial = target.with_name(target.name + ".part")
    source = url or f"rembg's {model} session ({model_url(model)})"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            if url:
                download(url, partial)
            else:
                fetch_with_rembg(model, partial)
            break
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if attempt == ATTEMPTS:
                raise
            print(f"download of {source} failed ({exc}); retrying", file=sys.stderr)
            time.sleep(2 * attempt)
    actual = md5_of(partial)
    if actual != expected:
        partial.unlink()
        raise ChecksumMismatch(f"{model}: md5 {actual} from {source}, rembg pins {expected}")
    partial.replace(target)
    target.chmod(0o644)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("dest_dir", type=Path)
    parser.add_argument("--url", help="fetch from here instead of rembg's release URL (same md5 applies)")
    args = parser.parse_args(argv)
    print(bake(args.model, args.dest_dir, args.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
