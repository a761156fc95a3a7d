"""Measure the cutout stage on the calibration corpus: the committed gate profile's decisions, and every raw
signal for refitting it.

    python -m tools.corpus.evaluate --corpus corpus --out corpus-eval [--part eval] [--ids ...] [--limit N]

Every corpus photo goes through what the pipeline does to it (``tools.score_cases.ingest_photo``:
normalise, ``source.jpg``, quality warnings) and then the cutout stage's own ``make_cutout`` with the
local engine (its bare inference cached in ``<out>/inference/``). Per photo the harness keeps, in
``<out>/cache/<id>-<key>/``, the cutout's 8-bit alpha (``alpha.png``) and ``record.json``: every raw
signal (both extra looks included, measured without any fitted limits), the ingest warnings, and the
shared scorer's IoU, boundary F and MAE against the corpus mask (its ``load_pred`` and ``metrics``,
imported from ``../shared/tools/score.py``). The key hashes the photo's bytes, the model file, the
onnxruntime version and every source file of the ``picr`` package, so a second run reuses the
measurements and any change to the model or the code measures again.

The decision on each photo is the model's committed profile's (``picr.segmentation.gate_profile``), made
from the stored signals. All photos are measured (the fit part is what ``tools.calibrate`` learns from);
the report is on one part, the evaluation part by default: ``<out>/results.json`` (one row per photo,
every part), ``<out>/report.json`` and a table on stdout. A *leak* is a photo published although it
should be held or with IoU < 0.90; a *false hold* is a photo that should be published, was held, and had
IoU ≥ 0.95.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.segmentation.cutout import make_cutout  # noqa: E402
from picr.segmentation.engine import LocalEngine  # noqa: E402
from picr.segmentation.gate import GateResult  # noqa: E402
from picr.segmentation.gate_profile import GateProfile, ProfileError, load_profile, unfitted  # noqa: E402
from tools.score_cases import DEFAULT_SCORER, ingest_photo  # noqa: E402

PICR = REPO / "layers" / "pillow" / "picr"
LEAK_IOU = 0.90
FALSE_HOLD_IOU = 0.95
BOUNDARY_TOLERANCE = 3


def load_scorer(path: Path = DEFAULT_SCORER) -> ModuleType:
    """The shared scorer as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("shared_score", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_version() -> str:
    """Hash of every Python file of the ``picr`` package (any change may move a cutout or a signal)."""
    digest = hashlib.sha256()
    for path in sorted(PICR.rglob("*.py")):
        digest.update(str(path.relative_to(PICR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def model_version(model: str) -> str:
    import onnxruntime

    weights = Path(os.environ.get("U2NET_HOME", REPO / "models")) / f"{model}.onnx"
    return f"{model}:{_sha256(weights.read_bytes())[:16]}:onnxruntime-{onnxruntime.__version__}"


def score_alpha(scorer: ModuleType, mask_path: Path, alpha_path: Path) -> dict[str, float]:
    """IoU, MAE and boundary F of a cutout alpha against the corpus mask, as the shared scorer computes them
    (``load_pred`` resizes a prediction made on the capped photo back to the mask's size)."""
    truth = Image.open(mask_path)
    gt = np.asarray(truth.convert("L"), np.float32) / 255.0
    predicted, note, _ = scorer.load_pred(str(alpha_path), truth.size)
    iou, mae, bf = scorer.metrics(gt, predicted, BOUNDARY_TOLERANCE)
    return {"iou": round(iou, 4), "mae": round(mae, 5), "bf": round(bf, 4), "note": note}


class CachedEngine(LocalEngine):
    """The local engine whose bare inference is remembered in ``folder``, keyed by the model file and the
    exact input tensor. A change to the cutout's or the gate's code re-measures every photo, but the model
    passes it asks for are mostly the same tensors, so only the cheap arithmetic runs again; a new kind of
    look (another crop, an edited photo) is a new tensor and runs the model once."""

    def __init__(self, model_name: str, folder: Path) -> None:
        super().__init__(model_name)
        self.folder = folder
        self.version = model_version(model_name)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        key = _sha256(self.version.encode() + np.ascontiguousarray(tensor).tobytes())[:24]
        path = self.folder / key[:2] / f"{key}.npy"
        if path.exists():
            return np.load(path)
        probability = super().infer(tensor)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{key}.partial.npy")
        np.save(partial, probability)
        partial.replace(path)
        return probability


class Harness:
    """Runs (or recalls) the cutout of each corpus photo and scores it.

    The cutout is measured with an unfitted profile (every signal, both extra looks, no decision), so the
    cached measurements do not depend on any fitted limits; each row's decision is then made from the
    stored signals by ``profile`` (default: the model's committed profile, else the unfitted one, which
    holds everything)."""

    def __init__(self, corpus: Path, out: Path, model: str = "u2netp", scorer: Path = DEFAULT_SCORER,
                 profile: GateProfile | None = None) -> None:
        self.corpus, self.out, self.model = corpus, out, model
        self.scorer = load_scorer(scorer)
        self.scorer_version = _sha256(scorer.read_bytes())[:16]
        self.versions = {"model": model_version(model), "code": code_version(), "scorer": self.scorer_version}
        self.profile = profile or committed_profile(model)
        self._engine = None

    @property
    def engine(self):  # noqa: ANN201 - built on first use: a fully cached run never loads the model
        if self._engine is None:
            self._engine = CachedEngine(self.model, self.out / "inference")
        return self._engine

    def record(self, meta: dict) -> tuple[dict, Path]:
        """The measurements of one photo (signals, warnings, scores against its mask) and its cache
        folder: from the cache when the photo, model and code are unchanged."""
        case = self.corpus / "cases" / meta["id"]
        data = (case / "photo.jpg").read_bytes()
        key = _sha256(f"{_sha256(data)}|{self.versions['model']}|{self.versions['code']}".encode())[:16]
        entry = self.out / "cache" / f"{meta['id']}-{key}"
        record_path = entry / "record.json"
        if record_path.exists():
            record = json.loads(record_path.read_text())
        else:
            image, warnings = ingest_photo(data)
            started = time.perf_counter()
            result = make_cutout(image, self.engine, warnings, profile=unfitted(self.model))
            seconds = time.perf_counter() - started
            entry.mkdir(parents=True, exist_ok=True)
            result.rgba.getchannel("A").save(entry / "alpha.png", compress_level=6)
            record = {"id": meta["id"], "key": key, "versions": self.versions, "warnings": warnings,
                      "size": list(image.size), "scores": result.gate.scores, "passes": result.passes,
                      "seconds": round(seconds, 3)}
        if record.get("scored_with") != self.scorer_version:
            record.update(score_alpha(self.scorer, case / "mask.png", entry / "alpha.png"),
                          scored_with=self.scorer_version)
            record_path.parent.mkdir(parents=True, exist_ok=True)
            record_path.write_text(json.dumps(record, indent=1) + "\n")
        return record, entry

    def measure(self, meta: dict) -> dict:
        """The row for one photo: its measurements and the profile's decision on them."""
        record, entry = self.record(meta)
        return row_for(meta, record, self.profile.decide(record["scores"], record["warnings"]), entry / "alpha.png")


def committed_profile(model: str) -> GateProfile:
    """The model's committed profile, or the unfitted one when it has none yet."""
    try:
        return load_profile(model)
    except ProfileError:
        return unfitted(model)


def source_group(meta: dict) -> str:
    """The source file a photo is built around: its product (or light, flame or smoke), else its background
    (an empty frame). Photos sharing it are near copies, so the fit's cross-validation keeps them in one
    fold, as the fit/evaluation split does."""
    sources = meta.get("source", [])
    subject = [s for s in sources if s["role"].startswith(("product", "light"))]
    return (subject or sources or [{"path": meta["id"]}])[0]["path"]


def row_for(meta: dict, record: dict, gate: GateResult, alpha: Path) -> dict:
    """One photo's row: what it is, the decision, and whether that is a leak or a false hold."""
    decision = "publish" if gate.passed else "hold"
    return {
        "id": meta["id"], "class": meta["class"], "part": meta["part"], "expected": meta["expected"],
        "group": meta.get("group") or source_group(meta),
        "decision": decision, "confidence": gate.confidence, "reasons": gate.reasons,
        "signals": gate.scores, "warnings": record["warnings"], "passes": record["passes"],
        "iou": record["iou"], "bf": record["bf"], "mae": record["mae"],
        "object_fraction": meta["object_fraction"], "alpha": str(alpha),
        "leak": decision == "publish" and (meta["expected"] == "hold" or record["iou"] < LEAK_IOU),
        "false_hold": decision == "hold" and meta["expected"] == "publish" and record["iou"] >= FALSE_HOLD_IOU,
    }


def _mean(rows: list[dict], key: str) -> float | None:
    return round(float(np.mean([row[key] for row in rows])), 4) if rows else None


def summarise(rows: list[dict]) -> dict:
    """Counts, leaks, false holds and published quality over ``rows``."""
    published = [row for row in rows if row["decision"] == "publish"]
    leaks = [row for row in rows if row["leak"]]
    return {
        "photos": len(rows),
        "expected_publish": sum(row["expected"] == "publish" for row in rows),
        "expected_hold": sum(row["expected"] == "hold" for row in rows),
        "published": len(published), "held": len(rows) - len(published),
        "leaks": len(leaks),
        "leaks_expected_hold": sorted(row["id"] for row in leaks if row["expected"] == "hold"),
        "leaks_low_iou": sorted(row["id"] for row in leaks if row["expected"] == "publish"),
        "false_holds": sorted(row["id"] for row in rows if row["false_hold"]),
        "published_mean_iou": _mean(published, "iou"), "published_mean_bf": _mean(published, "bf"),
        "published_min_iou": min((row["iou"] for row in published), default=None),
        "mean_iou": _mean(rows, "iou"),
    }


def report(rows: list[dict], part: str, versions: dict) -> dict:
    chosen = [row for row in rows if part == "all" or row["part"] == part]
    classes = list(dict.fromkeys(row["class"] for row in chosen))
    by_class = {name: summarise([row for row in chosen if row["class"] == name]) for name in classes}
    return {"part": part, "versions": versions, "leak_iou": LEAK_IOU, "false_hold_iou": FALSE_HOLD_IOU,
            "overall": summarise(chosen), "by_class": by_class}


def table(result: dict) -> str:
    """Plain-text table by class (expected outcome, gate decisions, leaks, false holds, published quality)."""
    header = (f"{'class':20s} {'expect':7s} {'n':>4s} {'pub':>4s} {'held':>4s} {'leaks':>5s} {'f.hold':>6s} "
              f"{'pub IoU':>7s} {'pub BF':>6s} {'IoU all':>7s}")
    lines = [f"part: {result['part']}   leak = published and (expected hold or IoU < {LEAK_IOU});   "
             f"false hold = held, expected publish, IoU >= {FALSE_HOLD_IOU}", header, "-" * len(header)]

    def fmt(value: float | None, width: int) -> str:
        return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}s}"

    rows = [*result["by_class"].items(), ("all", result["overall"])]
    for name, s in rows:
        expect = "mixed" if s["expected_publish"] and s["expected_hold"] else (
            "publish" if s["expected_publish"] else "hold")
        lines.append(f"{name:20s} {expect:7s} {s['photos']:4d} {s['published']:4d} {s['held']:4d} {s['leaks']:5d} "
                     f"{len(s['false_holds']):6d} {fmt(s['published_mean_iou'], 7)} {fmt(s['published_mean_bf'], 6)} "
                     f"{fmt(s['mean_iou'], 7)}")
        if name != "all" and name == rows[-2][0]:
            lines.append("-" * len(header))
    return "\n".join(lines)


def select(metas: list[dict], ids: str | None = None, limit: int | None = None) -> list[dict]:
    """The manifest entries named in ``ids`` (comma-separated; all when None), at most ``limit`` per class."""
    if ids:
        wanted = set(ids.split(","))
        metas = [meta for meta in metas if meta["id"] in wanted]
    if limit is not None:
        seen: dict[str, int] = {}
        metas = [meta for meta in metas if (seen.setdefault(meta["class"], 0), seen.update(
            {meta["class"]: seen[meta["class"]] + 1}))[0] < limit]
    return metas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--out", type=Path, default=Path("corpus-eval"))
    parser.add_argument("--part", choices=("eval", "fit", "all"), default="eval", help="the part reported on")
    parser.add_argument("--ids", help="comma-separated photo ids (default: every photo of the manifest)")
    parser.add_argument("--limit", type=int, help="only the first N photos of each class")
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--scorer", type=Path, default=DEFAULT_SCORER)
    args = parser.parse_args(argv)
    os.environ.setdefault("U2NET_HOME", str(REPO / "models"))

    metas = select(json.loads((args.corpus / "manifest.json").read_text())["photos"], args.ids, args.limit)
    harness = Harness(args.corpus, args.out, args.model, args.scorer)
    started = time.perf_counter()
    rows = [harness.measure(meta) for meta in metas]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"versions": harness.versions, "photos": rows}, indent=1) + "\n")
    result = report(rows, args.part, harness.versions)
    result["seconds"] = round(time.perf_counter() - started, 1)
    (args.out / "report.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
