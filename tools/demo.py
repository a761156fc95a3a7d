"""``make demo``: the whole pipeline, locally, on a handful of sample photos, into ./demo-out.

The demo set is built from ``../shared/photos`` each time (nothing derived from them is committed):
three phone samples as they are — one sideways with EXIF orientation and GPS tags — plus two case
photos re-encoded the way phones and shops send them (a HEIC, and a large PNG that ingest caps at
2000 px). The small local model (u2netp) cuts all five cleanly; its gate profile publishes three (the
toolbox, the anemone, the cherimoya) and holds the teddy bear on autumn leaves and the binoculars on a
jetty for review, because with the product hidden the model still sees much in those busy backgrounds:
that is the price of a gate fitted never to publish a doubtful cutout (README, "Calibration corpus").

The two other shared samples, ``guitar.heic`` (a cluttered room) and ``drum_kit.jpg`` (thin stands),
are cut badly by u2netp and are held too; see them with
``make process IN=../shared/photos/samples OUT=samples-out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from PIL import Image

from tools.process import REPO, run
from tools.shared_data import PHOTOS

AS_IS = ("toolbox.jpg", "teddy_bear.jpg", "binoculars_phone_rotated_gps.jpg")
CONVERTED = (("05_large_red_anemone_mint_paper", "red_anemone.heic", "HEIF", {"quality": 70}),
             ("04_small_cherimoya_white_paper", "cherimoya.png", "PNG", {}))


def demo_inputs(folder: Path) -> list[Path]:
    import pillow_heif

    pillow_heif.register_heif_opener()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in AS_IS:
        paths.append(Path(shutil.copyfile(PHOTOS / "samples" / name, folder / name)))
    for case, name, fmt, options in CONVERTED:
        target = folder / name
        if not target.exists():
            with Image.open(PHOTOS / "cases" / case / "photo.jpg") as photo:
                photo.convert("RGB").save(target, fmt, **options)
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "demo-out")
    args = parser.parse_args(argv)
    inputs = demo_inputs(args.out.parent / f"{args.out.name}-inputs")
    summary = run(inputs, args.out)
    print(json.dumps(summary["counts"]))
    print(f"""
Done. Look at:
  {args.out}/summary.json        one entry per photo: status, reasons, scores, outputs, emails
  {args.out}/bucket/out/         the published images (web/, market/, social/, manifests/)
  {args.out}/bucket/work/        each job's normalised source and cutout
  {args.out}/mail/               every email as .eml and as .html (open it in a browser)""")
    counts = summary["counts"]
    return 0 if counts["done"] + counts["needs_review"] == len(inputs) and not summary["dead_letters"] else 1


if __name__ == "__main__":
    sys.exit(main())
