"""How far one tap and any number of strokes could go at best on the simulated owner's photos, given the
model's own edges: the ceiling the fix page's acceptance (issue 16) is measured against.

    python -m tools.owner_bounds [--no-corpus] [--ids ...] [--json out.json] [--other-weights FILE]

The photos are the simulated owner's (``tools.simulated_owner``). Two bounds, each using the true mask, which
the product never sees, so that what the tap's and the strokes' logic lose is told apart from what the
segmentation weights allow:

* **the oracle look**: the model's closer look at the true object's box (plus the tap's closer-look margin),
  refined as the tap refines its looks, keeping the pieces that touch the true object. It is a tap's best
  case: the tap found exactly the object's box, and knew which pieces belong to it.
* **the rim bound** of a cutout: its IoU if every wrong pixel farther than ``rim_px`` from the true outline
  were put right, as if by any number of perfect strokes, leaving the outline's rim as the model and the
  refinement made it. At ``rim_px`` 0 only the two pixels straddling the outline are left; at 1, a band about
  four pixels wide. (The simulated owner's strokes never aim at the rim: it opens 1 px slivers away.)

Per photo: the start, today's tap, the oracle look and the rim bounds of both. With ``--other-weights`` the
oracle look and its bounds are measured again with another ONNX model of the U²-Net / IS-Net kind (input
1×3×S×S, RGB / 255 minus ``--other-mean`` over ``--other-std``, first output a 0..1 foreground probability),
to see what other weights would allow before anything is built on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.pages.edits import Tap  # noqa: E402
from picr.segmentation.engine import SegmentationEngine  # noqa: E402
from picr.segmentation.mask_edit import apply_edits  # noqa: E402
from picr.segmentation.refine import refine_alpha  # noqa: E402
from picr.segmentation.tap import DEFAULT_TAP, closer_look_box, pieces_touching  # noqa: E402
from tools.simulated_owner import (  # noqa: E402
    TARGET_IOU,
    Photo,
    add_photo_arguments,
    innermost_point,
    owner_photos,
    predicted_mask,
    report,
    score,
    truth_at,
)

RIM_PX = (0, 1)


def rim_bound(truth_full: np.ndarray, alpha: np.ndarray, rim_px: int) -> float:
    """IoU of ``alpha`` (8-bit, any size) against ``truth_full`` (0..1) once every wrong pixel farther than
    ``rim_px`` from the true outline is put right."""
    truth = truth_full >= 0.5
    predicted = predicted_mask(truth_full, alpha)
    outline = cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    far = cv2.distanceTransform((~outline).astype(np.uint8), cv2.DIST_L2, 5) > rim_px
    inter, union = int((truth & predicted).sum()), int((truth | predicted).sum())
    missed_far, extra_far = int((truth & ~predicted & far).sum()), int((predicted & ~truth & far).sum())
    fixed_union = union - extra_far
    return 1.0 if fixed_union == 0 else (inter + missed_far) / fixed_union


def true_box(truth: np.ndarray, engine: SegmentationEngine) -> tuple[int, int, int, int]:
    """The true object's box (``truth`` bool, photo size) plus the margin the tap gives its closer look."""
    height, width = truth.shape
    return closer_look_box(truth, (0, 0), width, height, DEFAULT_TAP, engine.input_size or 320)


def oracle_look(photo: Image.Image, truth: np.ndarray, box: tuple[int, int, int, int],
                engine: SegmentationEngine) -> np.ndarray:
    """The model's refined look at ``box``, cut to the pieces touching the true object (8-bit alpha at the
    photo's size; ``truth`` bool at the photo's size)."""
    rgb = np.asarray(photo)
    x0, y0, x1, y1 = box
    alpha = np.zeros(truth.shape, np.float32)
    alpha[y0:y1, x0:x1] = refine_alpha(rgb[y0:y1, x0:x1], engine.predict(photo.crop(box)))
    kept = pieces_touching(alpha >= 0.5, truth)
    near = cv2.dilate(kept.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return cv2.convertScaleAbs(np.where(near, alpha, 0.0), alpha=255.0)


class OnnxLook:
    """Another model's 0..1 foreground probability for a photo, for the oracle look only (no gate profile,
    no closer-look rules: it is measured, not used)."""

    def __init__(self, weights: Path, size: int, mean: float, std: float) -> None:
        import onnxruntime

        self._session = onnxruntime.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.input_size: int | None = size
        self.mean, self.std = mean, std

    def predict(self, image: Image.Image) -> np.ndarray:
        side = self.input_size or 320
        small = np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR), np.float32)
        tensor = ((small / 255.0 - self.mean) / self.std).transpose(2, 0, 1)[np.newaxis]
        probability = self._session.run(None, {self._input: np.ascontiguousarray(tensor)})[0][0, 0]
        return cv2.resize(np.clip(probability, 0.0, 1.0).astype(np.float32), image.size,
                          interpolation=cv2.INTER_LINEAR)


def _cutout_columns(prefix: str, truth_full: np.ndarray, alpha: np.ndarray) -> dict[str, float]:
    columns = {prefix: score(truth_full, alpha)}
    columns.update({f"{prefix}_rim{px}": rim_bound(truth_full, alpha, px) for px in RIM_PX})
    return columns


def measure(photo: Photo, engine: SegmentationEngine, other: OnnxLook | None = None) -> dict:
    """One photo's row: the start, today's tap, the oracle look (and the other model's), with rim bounds."""
    rgb = np.asarray(photo.image)
    truth = truth_at(photo.truth, photo.image.size)
    tapped = apply_edits(rgb, photo.start, [Tap(*innermost_point(truth))], engine)
    row = {"photo": photo.name, "source": photo.source, "start": photo.start_iou}
    row.update(_cutout_columns("tap", photo.truth, tapped))
    box = true_box(truth, engine)   # the same box for the other model: the tap's margin, not one of its own
    row.update(_cutout_columns("oracle", photo.truth, oracle_look(photo.image, truth, box, engine)))
    if other is not None:
        row.update(_cutout_columns("other", photo.truth, oracle_look(photo.image, truth, box, other)))
    return row


def summary(rows: list[dict]) -> dict:
    """Photos at or above the target, per column and per class; and the best of the start, today's tap and
    the oracle look, per photo (what a tap that always chose right among them would reach)."""
    columns = [key for key in rows[0] if key not in ("photo", "source")] if rows else []
    classes: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        classes[row["source"].split(":")[-1]].append(row)

    def reached(group: list[dict]) -> dict[str, int]:
        counts = {key: sum(row[key] >= TARGET_IOU for row in group) for key in columns}
        counts["best_of_start_tap_oracle"] = sum(max(row["start"], row["tap"], row["oracle"]) >= TARGET_IOU
                                                 for row in group)
        return counts

    return {"photos": len(rows), "target_iou": TARGET_IOU, "tap_needs": -(-6 * len(rows) // 10),
            "fixed_needs": -(-9 * len(rows) // 10), "reached": reached(rows),
            "by_class": {name: {"photos": len(group), **reached(group)} for name, group in sorted(classes.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_photo_arguments(parser)
    parser.add_argument("--other-weights", type=Path, help="another model's ONNX file, for its oracle look")
    parser.add_argument("--other-size", type=int, default=1024)
    parser.add_argument("--other-mean", type=float, default=0.5)
    parser.add_argument("--other-std", type=float, default=1.0)
    args = parser.parse_args(argv)
    engine, photos = owner_photos(args)
    other = (OnnxLook(args.other_weights, args.other_size, args.other_mean, args.other_std)
             if args.other_weights else None)
    rows = []
    for photo in photos:
        rows.append({key: round(value, 4) if isinstance(value, float) else value
                     for key, value in measure(photo, engine, other).items()})
        print(json.dumps(rows[-1]), flush=True, file=sys.stderr)
    report(summary(rows), rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
