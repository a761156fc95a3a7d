"""The simulated owner: fixes every good photo the pipeline holds or cuts with IoU < 0.95 the way a person
looking at the screen would — one tap inside the product, then up to three brush strokes — and reports the
IoU after each step.

    python -m tools.simulated_owner [--corpus corpus --corpus-eval corpus-eval] [--json out.json] [--ids ...]

Photos: the ``expect == pass`` cases of ``../shared/photos`` (the pipeline's cutout made here) and the
``publish`` classes of the calibration corpus (the pipeline's cutout from ``tools.corpus.evaluate``'s
cache, measured again if the code changed), each taken when the gate holds it or its IoU is below 0.95.

Only this script reads the true mask, and only to place the owner's fingers:

* the tap goes to the mask's innermost point (the maximum of its distance transform);
* each stroke goes through the largest region still wrong (missing product → keep, leftover
  background → remove), along the region's longest skeleton path, with the brush radius the region's
  typical half-width (clamped to the page's brush sizes) and a small deterministic wobble, since a
  finger does not follow a centre line exactly.

The operations themselves (``picr.segmentation.mask_edit``) see only the photo, the engine, the cutout and the edits.
Scores are the shared scorer's IoU against the full-size mask (the alpha resized as ``load_pred`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.pages.edits import DEFAULT_LIMITS, Edit, EditLimits, Stroke, Tap  # noqa: E402
from picr.segmentation.mask_edit import apply_edits  # noqa: E402

TARGET_IOU = 0.95
MAX_STROKES = 3
WOBBLE_SHARE = 0.25
"""Amplitude of the finger's sideways wobble, as a share of the brush radius (at most ``WOBBLE_MAX_PX``)."""
WOBBLE_MAX_PX = 6.0
SLIVER_PX = 1
"""Error pixels within this many pixels of the true outline are the outline's own blur, not a region a
person would brush (they are opened away before the largest region is chosen)."""


def truth_at(truth_full: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The true mask (0..1) at the photo's ``size`` (width, height), as the bool mask the fingers are placed on."""
    return cv2.resize(truth_full.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5


def innermost_point(truth: np.ndarray) -> tuple[int, int]:
    """(x, y) of the true mask's innermost pixel: the maximum of its distance transform."""
    distance = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def _largest_error(truth: np.ndarray, predicted: np.ndarray, open_px: int = SLIVER_PX) -> tuple[np.ndarray, str] | None:
    """The largest connected region still wrong (after an opening of ``open_px``), and the brush that fixes it."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE if open_px > SLIVER_PX else cv2.MORPH_CROSS,
                                       (2 * open_px + 1, 2 * open_px + 1))
    best: tuple[int, np.ndarray, str] | None = None
    for mode, wrong in (("keep", truth & ~predicted), ("remove", predicted & ~truth)):
        opened = cv2.morphologyEx(wrong.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
        if count <= 1:
            continue
        label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[label, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, labels == label, mode)
    return None if best is None else (best[1], best[2])


def _longest_path(skeleton: np.ndarray) -> list[tuple[int, int]]:
    """The skeleton's longest geodesic path (two breadth-first searches), as (x, y) pixels."""
    ys, xs = np.nonzero(skeleton)
    pixels = set(zip(xs.tolist(), ys.tolist(), strict=True))

    def farthest(start: tuple[int, int]) -> tuple[tuple[int, int], dict]:
        parent = {start: start}
        queue = deque([start])
        last = start
        while queue:
            last = queue.popleft()
            x, y = last
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    step = (x + dx, y + dy)
                    if step in pixels and step not in parent:
                        parent[step] = last
                        queue.append(step)
        return last, parent

    end, _ = farthest(next(iter(pixels)))
    other, parent = farthest(end)
    path = [other]
    while path[-1] != end:
        path.append(parent[path[-1]])
    return path


@dataclass(frozen=True)
class Brushes:
    """The page's brush radius range, in photo pixels."""

    smallest: int
    largest: int


THICK_MIN_SHARE = 0.002
"""A region wider than the smallest brush is worth a stroke first when it covers this share of the photo."""
PHONE_CSS_WIDTH = 390
SMALLEST_BRUSH_CSS_PX = 3
"""The page's smallest brush is 3 CSS px across the radius; on a 390 px wide phone showing the whole photo
that is about 0.8 % of the photo's width, which is as fine as a finger can be asked to draw."""


def brushes_for(size: tuple[int, int], limits: EditLimits = DEFAULT_LIMITS) -> Brushes:
    """The brush radii (photo pixels) the page offers on a phone showing the whole photo."""
    smallest = max(limits.min_radius_px, round(SMALLEST_BRUSH_CSS_PX * size[0] / PHONE_CSS_WIDTH))
    return Brushes(smallest, int(limits.max_radius_share * max(size)))


def error_stroke(truth: np.ndarray, alpha: np.ndarray, brushes: Brushes, seed: int) -> Stroke | None:
    """A stroke through the largest region still wrong, drawn as a person would (see the module doc)."""
    from skimage.morphology import skeletonize

    # what a person sees first: the largest region wider than the smallest brush, else the largest of all
    found = _largest_error(truth, alpha >= 128, max(SLIVER_PX, brushes.smallest // 2))
    if found is None or found[0].sum() < THICK_MIN_SHARE * truth.size:
        found = _largest_error(truth, alpha >= 128)
    if found is None:
        return None
    region, mode = found
    x, y, w, h = cv2.boundingRect(region.astype(np.uint8))
    crop = region[y:y + h, x:x + w]
    reduce = max(1, int(np.ceil(max(w, h) / 400)))   # a big region's skeleton on a coarser grid
    small = cv2.resize(crop.astype(np.uint8), (max(1, w // reduce), max(1, h // reduce)),
                       interpolation=cv2.INTER_NEAREST) if reduce > 1 else crop.astype(np.uint8)
    if not small.any():
        small = cv2.resize(crop.astype(np.uint8), (max(1, w // reduce), max(1, h // reduce)),
                           interpolation=cv2.INTER_AREA) > 0
    skeleton = skeletonize(small.astype(bool))
    if not skeleton.any():
        skeleton = small.astype(bool)
    path = np.array(_longest_path(skeleton), np.float64) * reduce + (reduce - 1) / 2 + (x, y)
    distance = cv2.distanceTransform(np.pad(crop.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    on_path = distance[np.clip(path[:, 1].astype(int) - y, 0, h - 1), np.clip(path[:, 0].astype(int) - x, 0, w - 1)]
    radius = int(np.clip(round(float(np.percentile(on_path, 75)) * 1.2), brushes.smallest, brushes.largest))
    step = max(2, radius // 2)
    keep_every = max(1, int(step))
    points = path[::keep_every]
    if len(points) == 0 or not np.array_equal(points[-1], path[-1]):
        points = np.vstack([points, path[-1:]])
    # a finger's wobble across the path: a slow sine, phase from the seed (deterministic)
    if len(points) > 1:
        direction = np.gradient(points, axis=0)
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
        phase = (seed % 7) / 7 * 2 * np.pi
        amplitude = min(WOBBLE_SHARE * radius, WOBBLE_MAX_PX)
        wobble = amplitude * np.sin(np.linspace(0, 3 * np.pi, len(points)) + phase)
        points = points + normal * wobble[:, None]
    height, width = truth.shape
    points = np.clip(np.round(points), 0, [width - 1, height - 1]).astype(int)
    return Stroke(mode, tuple((int(px), int(py)) for px, py in points[:DEFAULT_LIMITS.max_points_per_stroke]),
                  radius)


def predicted_mask(truth_full: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The cutout as the shared scorer sees it: the 8-bit alpha resized (bilinear) to the true mask's size, at 0.5."""
    height, width = truth_full.shape
    resized = alpha.astype(np.float32) / 255.0
    if resized.shape != truth_full.shape:
        resized = np.asarray(Image.fromarray(resized, "F").resize((width, height), Image.Resampling.BILINEAR))
    return resized >= 0.5


def score(truth_full: np.ndarray, alpha: np.ndarray) -> float:
    """The shared scorer's IoU: the alpha resized (bilinear) to the true mask's size, both at 0.5."""
    truth, predicted = truth_full >= 0.5, predicted_mask(truth_full, alpha)
    union = int((truth | predicted).sum())
    return 1.0 if union == 0 else float((truth & predicted).sum() / union)


def fix_photo(photo: Image.Image, start: np.ndarray, truth_full: np.ndarray, engine: object,
              seed: int = 0) -> dict:
    """One photo: IoU at the start, after the tap and after each stroke, and the edits made."""
    rgb = np.asarray(photo.convert("RGB"))
    truth = truth_at(truth_full, photo.size)
    brushes = brushes_for(photo.size)
    edits: list[Edit] = [Tap(*innermost_point(truth))]
    started = time.perf_counter()
    alpha = apply_edits(rgb, start, edits, engine)
    row = {"start": score(truth_full, start), "tap": score(truth_full, alpha), "strokes": []}
    for index in range(MAX_STROKES):
        if ([row["tap"], *row["strokes"]])[-1] >= TARGET_IOU:
            break   # it looks right on the screen: the owner publishes
        stroke = error_stroke(truth, alpha, brushes, seed + index)
        if stroke is None:
            break
        edits.append(stroke)
        alpha = apply_edits(rgb, alpha, [stroke], engine)   # the same as replaying every edit from the start
        row["strokes"].append(score(truth_full, alpha))
    row["seconds"] = round(time.perf_counter() - started, 2)
    row["edits"] = [{"tap": [e.x, e.y]} if isinstance(e, Tap) else
                    {"mode": e.mode, "points": len(e.points), "radius": e.radius} for e in edits]
    return row


@dataclass(frozen=True)
class Photo:
    """One photo to fix: where it comes from, what the pipeline made of it, and its true mask."""

    name: str
    source: str
    image: Image.Image
    start: np.ndarray
    truth: np.ndarray
    held: bool
    start_iou: float


def shared_photos(engine: object, ids: set[str] | None = None) -> list[Photo]:
    """The ``expect == pass`` dev photos (of ``ids``, if given), cut by the pipeline here, that it holds or cuts
    below the target."""
    from picr.segmentation.cutout import make_cutout
    from tools.score_cases import ingest_photo
    from tools.shared_data import CASES

    found = []
    for case in sorted(CASES.iterdir()):
        meta = json.loads((case / "meta.json").read_text())
        if meta.get("expect") != "pass" or (ids and case.name not in ids):
            continue
        image, warnings = ingest_photo((case / "photo.jpg").read_bytes())
        result = make_cutout(image, engine, warnings)
        start = np.asarray(result.rgba.getchannel("A"))
        truth = np.asarray(Image.open(case / "mask.png").convert("L"), np.float32) / 255.0
        iou = score(truth, start)
        if not result.gate.passed or iou < TARGET_IOU:
            found.append(Photo(case.name, "shared", image.convert("RGB"), start, truth, not result.gate.passed, iou))
    return found


def corpus_photos(corpus: Path, evaluation: Path, ids: set[str] | None = None) -> list[Photo]:
    """The corpus photos of the ``publish`` classes that the gate holds or that come out below the target,
    with the pipeline's alpha from ``tools.corpus.evaluate``'s cache (measured again if the code changed)."""
    from tools.corpus.evaluate import Harness
    from tools.score_cases import ingest_photo

    harness = Harness(corpus, evaluation)
    metas = json.loads((corpus / "manifest.json").read_text())["photos"]
    found = []
    for meta in metas:
        if meta["expected"] != "publish" or (ids and meta["id"] not in ids):
            continue
        row = harness.measure(meta)
        if row["decision"] == "publish" and row["iou"] >= TARGET_IOU:
            continue
        case = corpus / "cases" / meta["id"]
        image, _ = ingest_photo((case / "photo.jpg").read_bytes())
        start = np.asarray(Image.open(row["alpha"]).convert("L"))
        truth = np.asarray(Image.open(case / "mask.png").convert("L"), np.float32) / 255.0
        found.append(Photo(meta["id"], f"corpus:{meta['class']}", image.convert("RGB"), start, truth,
                           row["decision"] == "hold", score(truth, start)))
    return found


def table(rows: list[dict]) -> str:
    lines = [f"{'photo':36s} {'source':22s} {'gate':5s} {'start':>6s} {'tap':>6s} {'+1':>6s} {'+2':>6s} {'+3':>6s}"]
    for row in rows:
        after = [f"{value:6.3f}" for value in row["strokes"]] + ["     -"] * (MAX_STROKES - len(row["strokes"]))
        lines.append(f"{row['photo']:36s} {row['source']:22s} {'held' if row['held'] else 'pub':5s} "
                     f"{row['start']:6.3f} {row['tap']:6.3f} " + " ".join(after))
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict:
    count = len(rows)
    tap_ok = sum(row["tap"] >= TARGET_IOU for row in rows)
    fixed = sum(max([row["tap"], *row["strokes"]]) >= TARGET_IOU for row in rows)
    return {"photos": count, "tap_ok": tap_ok, "tap_share": round(tap_ok / count, 3) if count else None,
            "tap_goal": 0.6, "fixed": fixed, "fixed_share": round(fixed / count, 3) if count else None,
            "fixed_goal": 0.9, "target_iou": TARGET_IOU}


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the photos (and where the rows go), shared with ``tools.owner_bounds``."""
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus")
    parser.add_argument("--corpus-eval", type=Path, default=REPO / "corpus-eval")
    parser.add_argument("--no-corpus", action="store_true", help="only the shared dev photos")
    parser.add_argument("--ids", help="comma-separated photo names (dev case names or corpus ids)")
    parser.add_argument("--json", type=Path, help="write the rows and the summary here")


def owner_photos(args: argparse.Namespace) -> tuple[object, list[Photo]]:
    """The local u2netp engine and the photos ``args`` choose: the shared dev photos, then the corpus's."""
    os.environ.setdefault("U2NET_HOME", str(REPO / "models"))
    from picr.segmentation.engine import LocalEngine

    engine = LocalEngine("u2netp")
    ids = set(args.ids.split(",")) if args.ids else None
    photos = shared_photos(engine, ids)
    if not args.no_corpus and (args.corpus / "manifest.json").exists():
        photos += corpus_photos(args.corpus, args.corpus_eval, ids)
    return engine, photos


def report(result: dict, rows: list[dict], path: Path | None) -> None:
    """The summary on standard output; the summary and the rows in ``path``, if given."""
    print(json.dumps(result, indent=1))
    if path:
        path.write_text(json.dumps({"summary": result, "photos": rows}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_photo_arguments(parser)
    args = parser.parse_args(argv)
    engine, photos = owner_photos(args)
    rows = []
    for index, photo in enumerate(photos):
        row = fix_photo(photo.image, photo.start, photo.truth, engine, seed=index)
        rows.append({"photo": photo.name, "source": photo.source, "held": photo.held, **row})
        print(table(rows[-1:]).splitlines()[1], f"{row['seconds']:6.1f}s", flush=True, file=sys.stderr)
    print(table(rows))
    report(summary(rows), rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
