"""Benchmark the variant step: all channels of one ~2000 px cutout, rendered and self-checked.

Goal (not a test): median <= 0.5 s on the dev machine for render + check of the three default channels.
The cutout is a dev photo with its ground-truth mask, scaled so its long side is 2000 px (what ingest
leaves). Default: case 03 (2000x1500, a tall guitar: a typical product share); case 05 (a flower filling
58 % of the frame) is the heavy end.

Usage: ``.venv/bin/python -m tools.bench_variants [repeats] [case]``  (prints JSON)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

from tools.shared_data import CASES

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.image.channels import DEFAULT_CHANNEL_CONFIG, default_logo  # noqa: E402
from picr.image.render import render_variant, render_variants  # noqa: E402
from picr.image.verify import check_variant  # noqa: E402

DEFAULT_CASE = "03_guitar_cluttered_living_room"


def load_cutout(case: str, long_side: int = 2000) -> Image.Image:
    """RGBA cutout from a dev photo + ground-truth mask, resized (Lanczos) to ``long_side`` if needed."""
    cutout = Image.open(CASES / case / "photo.jpg").convert("RGB")
    cutout.putalpha(Image.open(CASES / case / "mask.png").convert("L"))
    if max(cutout.size) != long_side:
        scale = long_side / max(cutout.size)
        size = (round(cutout.width * scale), round(cutout.height * scale))
        cutout = cutout.resize(size, Image.Resampling.LANCZOS)
    return cutout


def _seconds(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def bench_variants(repeats: int = 5, case: str = DEFAULT_CASE) -> dict:
    """Median/min wall time of render + check for every default channel, plus a per-channel breakdown."""
    cutout = load_cutout(case)
    logo = default_logo()
    config = DEFAULT_CHANNEL_CONFIG

    def full_run() -> None:
        for variant, spec in zip(render_variants(cutout, config, logo), config.channels, strict=True):
            if not check_variant(variant, spec, config.watermark, logo).passed:
                raise RuntimeError(f"variant {spec.name} failed its own check")

    full_run()  # warm-up: imports, allocator, logo decode
    totals = [_seconds(full_run) for _ in range(repeats)]

    per_channel: dict[str, dict[str, float | int]] = {}
    for spec in config.channels:
        variant = render_variant(cutout, spec, config.watermark, logo)
        render_times = [_seconds(lambda s=spec: render_variant(cutout, s, config.watermark, logo))
                        for _ in range(repeats)]
        check_times = [_seconds(lambda s=spec, v=variant: check_variant(v, s, config.watermark, logo))
                       for _ in range(repeats)]
        per_channel[spec.name] = {
            "render_median_s": round(statistics.median(render_times), 4),
            "check_median_s": round(statistics.median(check_times), 4),
            "bytes": len(variant.data),
        }
    return {
        "case": case,
        "cutout_size": list(cutout.size),
        "repeats": repeats,
        "median_s": round(statistics.median(totals), 4),
        "min_s": round(min(totals), 4),
        "max_s": round(max(totals), 4),
        "goal_s": 0.5,
        "per_channel": per_channel,
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    chosen = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_CASE
    print(json.dumps(bench_variants(count, chosen), indent=2))
