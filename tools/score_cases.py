"""Score the cutout stage on the dev photos, next to plain rembg and rembg with alpha matting.

    U2NET_HOME=models python -m tools.score_cases --out /tmp/score/picr [--no-matting]

For every ``cases/*/photo.jpg`` (long edge capped at 2000 px, as ingest does) it writes:

* ``<out>/<case>.png``: ``make_cutout`` with the local u2netp engine, and ``<out>/held.txt``;
* ``<out>-rembg/<case>.png``: ``rembg.remove(photo, session=s)``;
* ``<out>-rembg-matting/<case>.png``: ``rembg.remove(photo, session=s, alpha_matting=True)`` (slow;
  ``--no-matting`` skips it).

Each folder is scored by the shared scorer (``score.py --eval ... --pred ... --json ...``; ours with
``--held``), and one JSON summary plus a per-case table is printed. The baselines have no gate, so
they publish everything; their numbers are about mask quality only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from tools.shared_data import SHARED

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.image.photo import encode_source, normalise_upload  # noqa: E402
from picr.image.quality import assess_photo_quality  # noqa: E402
from picr.segmentation.cutout import DEFAULT_SETTINGS, CutoutResult, CutoutSettings, make_cutout  # noqa: E402
from picr.segmentation.engine import LocalEngine, SegmentationEngine  # noqa: E402

DEFAULT_EVAL = SHARED / "photos"
DEFAULT_SCORER = SHARED / "tools" / "score.py"


def load_case_photo(path: Path) -> Image.Image:
    """The case photo as ingest hands it on: ``normalise_upload`` (upright, sRGB, long edge ≤ 2000)."""
    return normalise_upload(path.read_bytes()).image.convert("RGB")


def ingest_photo(data: bytes) -> tuple[Image.Image, list[str]]:
    """The photo and warning codes exactly as the cutout stage gets them from ingest: normalised, written
    as ``source.jpg`` (``encode_source``) and decoded again, with ``assess_photo_quality``'s warnings."""
    photo = normalise_upload(data)
    source, _, _ = encode_source(photo)
    with Image.open(io.BytesIO(source)) as opened:
        image = opened.convert("RGBA" if photo.has_transparency else "RGB")
    return image, [warning.code for warning in assess_photo_quality(photo.image)]


def gate_details(result: CutoutResult, seconds: float) -> dict:
    """What a scoring run keeps of one cutout: the gate's decision, confidence, reasons and every signal."""
    return {"held": not result.gate.passed, "confidence": result.gate.confidence,
            "reasons": result.gate.reasons, "scores": result.gate.scores,
            "passes": result.passes, "seconds": round(seconds, 3)}


def run_picr(cases: list[Path], out: Path, engine: SegmentationEngine,
             settings: CutoutSettings = DEFAULT_SETTINGS) -> dict[str, dict]:
    """Cutouts, held.txt and per-case gate details from ``make_cutout``."""
    out.mkdir(parents=True, exist_ok=True)
    details: dict[str, dict] = {}
    for case in cases:
        photo = load_case_photo(case / "photo.jpg")
        started = time.perf_counter()
        result = make_cutout(photo, engine, settings=settings)
        seconds = time.perf_counter() - started
        result.rgba.save(out / f"{case.name}.png")
        details[case.name] = gate_details(result, seconds)
    (out / "held.txt").write_text("".join(f"{name}\n" for name, d in details.items() if d["held"]))
    return details


def run_rembg(cases: list[Path], out: Path, model: str, alpha_matting: bool) -> dict[str, float]:
    """Plain rembg cutouts (optionally with its pymatting pass); returns seconds per case."""
    import rembg

    session = rembg.new_session(model)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    for case in cases:
        photo = load_case_photo(case / "photo.jpg")
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):   # pymatting prints solver warnings to stdout
            cutout = rembg.remove(photo, session=session, alpha_matting=alpha_matting)
        seconds[case.name] = round(time.perf_counter() - started, 3)
        cutout.save(out / f"{case.name}.png")
    return seconds


def score(scorer: Path, eval_dir: Path, pred: Path, held: Path | None = None) -> dict:
    """Run the shared scorer on one prediction folder and return its JSON."""
    result_json = pred / "score.json"
    command = [sys.executable, str(scorer), "--eval", str(eval_dir), "--pred", str(pred), "--json", str(result_json)]
    if held is not None:
        command += ["--held", str(held)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result_json.read_text())


def per_case_table(ours: dict, details: dict[str, dict], baselines: dict[str, dict]) -> str:
    """Plain-text table: our IoU/BF/MAE, the gate's decision and reasons, and each baseline's IoU/BF."""
    names = list(baselines)
    header = f"{'case':40s} {'expect':6s} {'IoU':>6s} {'BF':>6s} {'MAE':>7s} {'gate':9s} {'conf':>5s}"
    header += "".join(f" {name + ' IoU/BF':>22s}" for name in names) + "  reasons"
    lines = [header, "-" * len(header)]
    baseline_rows = {name: {row["case"]: row for row in result["cases"]} for name, result in baselines.items()}
    for row in ours["cases"]:
        detail = details[row["case"]]
        line = (f"{row['case'][:40]:40s} {row['expect']:6s} {row['iou']:6.3f} {row['bf']:6.3f} {row['mae']:7.4f} "
                f"{row['gate']:9s} {detail['confidence']:5.2f}")
        for name in names:
            other = baseline_rows[name][row["case"]]
            line += f" {other['iou']:>14.3f}/{other['bf']:.3f}"
        lines.append(line + "  " + " | ".join(detail["reasons"]))
    return "\n".join(lines)


def published_summary(ours: dict) -> dict:
    """Means over the published cutouts and the acceptance checks that depend on the gate."""
    published = [row for row in ours["cases"] if row["gate"] == "published"]
    held = [row for row in ours["cases"] if row["gate"] == "held"]

    def mean(rows: list[dict], key: str) -> float | None:
        return round(sum(row[key] for row in rows) / len(rows), 4) if rows else None

    return {
        "published": len(published), "held": len(held),
        "published_mean_iou": mean(published, "iou"), "published_mean_bf": mean(published, "bf"),
        "published_min_iou": min((row["iou"] for row in published), default=None),
        "review_cases_published": [row["case"] for row in published if row["expect"] == "review"],
        "held_with_iou_ge_0.95": [row["case"] for row in held if row["iou"] >= 0.95],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for our cutouts; baselines go beside it")
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="photo set with cases/ (default: shared)")
    parser.add_argument("--scorer", type=Path, default=DEFAULT_SCORER)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--no-matting", action="store_true", help="skip the slow rembg alpha-matting baseline")
    parser.add_argument("--no-baselines", action="store_true", help="only run and score our cutouts")
    args = parser.parse_args(argv)
    os.environ.setdefault("U2NET_HOME", str(REPO / "models"))  # the baked u2netp; rembg must not download

    cases = sorted(path.parent for path in (args.eval / "cases").glob("*/photo.jpg"))
    details = run_picr(cases, args.out, LocalEngine(args.model))
    ours = score(args.scorer, args.eval, args.out, args.out / "held.txt")

    baselines: dict[str, dict] = {}
    timings: dict[str, dict[str, float]] = {}
    runs = [] if args.no_baselines else [("rembg", False)] + ([] if args.no_matting else [("rembg-matting", True)])
    for name, matting in runs:
        folder = args.out.parent / f"{args.out.name}-{name}"
        timings[name] = run_rembg(cases, folder, args.model, matting)
        baselines[name] = score(args.scorer, args.eval, folder)

    summary = {
        "ours": {**ours["summary"], **published_summary(ours)},
        **{name: result["summary"] for name, result in baselines.items()},
        "seconds_per_case": {"ours": {name: d["seconds"] for name, d in details.items()}, **timings},
        "cases": {name: {k: v for k, v in d.items() if k != "seconds"} for name, d in details.items()},
    }
    print(json.dumps(summary, indent=2))
    print()
    print(per_case_table(ours, details, baselines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
