"""Measure ingest: peak memory on a 30000 x 30000 PNG (a limit) and the speed of a 12 MP JPEG (a goal).

    python tools/measure_ingest_memory.py            # both, as JSON
    python tools/measure_ingest_memory.py --memory   # only the memory measurements

Memory is measured in a fresh child process (``--child FILE``) that decodes one file with
``normalise_upload`` and reports its own peak RSS (``VmHWM``; ``ru_maxrss`` is printed too, see
``_peak_rss_mb`` for why it is not the number used), so nothing the parent allocated is counted.
``bench_ingest`` is what ``make bench`` calls.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "layers" / "pillow"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from PIL import Image  # noqa: E402

from picr.image.photo import Refused, encode_source, normalise_upload  # noqa: E402
from tools.shared_data import PHOTOS  # noqa: E402

BENCH_CASE = "02_binoculars_wooden_jetty"
PHONE_SIZE = (4032, 3024)  # a 12 MP phone photo


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    Linux keeps ``ru_maxrss`` across ``exec``, so a child forked from a big parent (pytest holding test
    images) would report the parent's peak; ``VmHWM`` belongs to the new address space only. Where
    there is no /proc, ``ru_maxrss`` is the fallback.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return _ru_maxrss_mb()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kib / 1024


def _child(path: Path) -> None:
    """Decode one file and print the outcome and this process's peak RSS as one JSON line."""
    data = path.read_bytes()
    baseline = _peak_rss_mb()
    try:
        photo = normalise_upload(data)
        outcome = {"outcome": "accepted", "size": list(photo.image.size)}
    except Refused as refusal:
        outcome = {"outcome": "refused", "code": refusal.code}
    peaks = {
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "baseline_rss_mb": round(baseline, 1),
        "ru_maxrss_mb": round(_ru_maxrss_mb(), 1),
    }
    print(json.dumps({**outcome, **peaks}))


def measure_peak_rss(data: bytes) -> dict:
    """Run ``normalise_upload(data)`` in a fresh process; its outcome, peak RSS and pre-decode RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.bin"
        path.write_bytes(data)
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def phone_jpeg(photos_dir: Path = PHOTOS) -> bytes:
    """A 4032 x 3024 JPEG like a phone writes (q90, 4:2:0), upscaled from a dev photo."""
    photo = Image.open(photos_dir / "cases" / BENCH_CASE / "photo.jpg").convert("RGB")
    buffer = io.BytesIO()
    photo.resize(PHONE_SIZE, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90, subsampling=2)
    return buffer.getvalue()


def measure_memory(photos_dir: Path = PHOTOS) -> dict:
    """Peak RSS of ingest on the 30000 x 30000 PNG bomb (must stay < 300 MB) and on a 12 MP JPEG."""
    from tests.support.awkward import pixel_bomb_png

    return {
        "bomb_30000_png": measure_peak_rss(pixel_bomb_png()),
        "phone_12mp_jpeg": measure_peak_rss(phone_jpeg(photos_dir)),
    }


def bench_ingest(repeats: int = 5, photos_dir: Path = PHOTOS) -> dict:
    """Seconds for ``normalise_upload`` + ``encode_source`` on a 12 MP JPEG; goal: median <= 0.5 s."""
    data = phone_jpeg(photos_dir)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        photo = normalise_upload(data)
        encoded, _, _ = encode_source(photo)
        runs.append(time.perf_counter() - start)
    return {
        "name": "ingest_12mp_jpeg",
        "input": f"{PHONE_SIZE[0]}x{PHONE_SIZE[1]} JPEG q90, {len(data)} bytes",
        "output": f"{photo.image.size[0]}x{photo.image.size[1]} JPEG q95 4:4:4, {len(encoded)} bytes",
        "repeats": repeats,
        "median_s": round(statistics.median(runs), 4),
        "min_s": round(min(runs), 4),
        "runs_s": [round(run, 4) for run in runs],
        "goal_median_s": 0.5,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help="only the memory measurements")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    report = {"memory": measure_memory()}
    if not args.memory:
        report["bench"] = bench_ingest(args.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
