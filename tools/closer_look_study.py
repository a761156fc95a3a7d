"""Why a small product costs a second full model pass: the cheaper designs, measured side by side.

    U2NET_HOME=models python -m tools.closer_look_study [--out /tmp/closer-look] [--repeats 5]

When the product is small in the frame the cutout takes a second, closer 320×320 look at a crop
around it. That doubles the model time on such photos (about 2.2× one bare inference, against the
≤ 1.5× goal) and is what keeps their edges clean. This script scores the designs that would spend
less model time, on the dev cases with the shared scorer, next to the shipped one:

* ``shipped``: whole photo at 320×320, then the crop at 320×320 when the product is small.
* ``one_look``: the whole photo at 320×320 only (no closer look).
* ``smaller_inputs``: u2netp's graph runs at any size once its declared 1×3×320×320 input is relaxed
  (its Resize ops take their sizes from Shape ops). The first look keeps the photo's aspect with 75 %
  of 320×320's pixels (320×240 for 4:3), the closer look has 40 %: at most 1.15 passes' worth.
* ``locate_160``: a 160×160 look (a quarter of the pixels) only to find the product, then a single
  320×320 look at the crop around it, or at the whole photo when the product is large.

Prints one JSON document: per design the published/held figures, the model cost in 320×320-pass
equivalents (mean and max over the cases) and the median time of the whole cutout on the bench's
small-product photo (case 04, capped to 2000 px) relative to one bare 320×320 inference, measured
interleaved in the same process. Needs the ``onnx`` package (requirements-dev) to relax the model's
declared input size; the deployed function never does that.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.segmentation.cutout import DEFAULT_SETTINGS, CutoutSettings, closer_look_box, make_cutout  # noqa: E402
from picr.segmentation.engine import LocalEngine, session_options  # noqa: E402
from tools.score_cases import DEFAULT_EVAL, DEFAULT_SCORER, load_case_photo, published_summary, run_picr, score  # noqa: E402

STANDARD = (320, 320)
SMALL_PRODUCT_CASE = "04_small_cherimoya_white_paper"

Size = tuple[int, int]


class FreeSizeEngine(LocalEngine):
    """The local engine with the model's declared input size relaxed, so it can look at any size."""

    def __init__(self, model_name: str = "u2netp") -> None:
        super().__init__(model_name)
        import onnx
        import onnxruntime

        model = onnx.load(Path(os.environ["U2NET_HOME"]) / f"{model_name}.onnx")
        for value in (*model.graph.input, *model.graph.output):
            dims = value.type.tensor_type.shape.dim
            dims[2].dim_param, dims[3].dim_param = "height", "width"
        self._onnx = onnxruntime.InferenceSession(model.SerializeToString(), session_options(onnxruntime),
                                                  providers=["CPUExecutionProvider"])
        self.pixels_seen = 0

    def look(self, image: Image.Image, size: Size) -> np.ndarray:
        """The model's probability at ``size``, enlarged to the image."""
        self.pixels_seen += size[0] * size[1]
        probability = self.infer(self.model_input(image, size))
        return cv2.resize(probability, image.size, interpolation=cv2.INTER_LINEAR)


def with_pixels(width: int, height: int, share: float) -> Size:
    """(width, height) in the image's aspect holding ``share`` of 320×320's pixels."""
    scale = math.sqrt(share * STANDARD[0] * STANDARD[1] / (width * height))
    return max(32, round(width * scale)), max(32, round(height * scale))


class Design:
    """A segmentation engine (the cutout's protocol) whose first look at a photo and closer look at a
    crop are chosen by the design. A crop is told from a new photo by size: the cutout only takes a
    closer look when the crop is at most 2/3 of the photo in both directions. ``passes`` holds the
    model cost of every photo so far, in 320×320-pass equivalents."""

    def __init__(self, name: str, engine: FreeSizeEngine, first: Callable[[Image.Image], np.ndarray],
                 closer: Callable[[Image.Image], np.ndarray], input_size: int = 320) -> None:
        self.name, self.engine, self.input_size = name, engine, input_size
        self._first, self._closer = first, closer
        self._photo_size: Size = (0, 0)
        self.passes: list[float] = []

    def predict(self, image: Image.Image) -> np.ndarray:
        width, height = self._photo_size
        is_crop = image.width * 1.5 <= width + 1 and image.height * 1.5 <= height + 1
        before = self.engine.pixels_seen
        if is_crop:
            alpha = self._closer(image)
        else:
            self._photo_size = image.size
            self.passes.append(0.0)
            alpha = self._first(image)
        self.passes[-1] += (self.engine.pixels_seen - before) / (STANDARD[0] * STANDARD[1])
        return alpha


def designs(engine: FreeSizeEngine) -> dict[str, tuple[Design, CutoutSettings]]:
    """The four designs, each with the cutout settings it runs under."""
    def standard(image: Image.Image) -> np.ndarray:
        return engine.look(image, STANDARD)

    def locate_then_look(image: Image.Image) -> np.ndarray:
        found = engine.look(image, (160, 160))
        # a small product is looked at closely by make_cutout; a large one needs the full look here
        return found if closer_look_box(found, 160, DEFAULT_SETTINGS) else standard(image)

    never_closer = dataclasses.replace(DEFAULT_SETTINGS, closer_look_gain=math.inf)
    return {
        "shipped": (Design("shipped", engine, standard, standard), DEFAULT_SETTINGS),
        "one_look": (Design("one_look", engine, standard, standard), never_closer),
        "smaller_inputs": (Design("smaller_inputs", engine,
                                  lambda image: engine.look(image, with_pixels(*image.size, 0.75)),
                                  lambda image: engine.look(image, with_pixels(*image.size, 0.40))),
                           DEFAULT_SETTINGS),
        "locate_160": (Design("locate_160", engine, locate_then_look, standard, input_size=160),
                       DEFAULT_SETTINGS),
    }


def timing_ratio(design: Design, settings: CutoutSettings, photo: Image.Image, repeats: int) -> float:
    """Median whole-cutout time over the median bare 320×320 inference, interleaved."""
    tensor = design.engine.model_input(photo)
    make_cutout(photo, design, settings=settings)
    cutouts, bare = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        make_cutout(photo, design, settings=settings)
        cutouts.append(time.perf_counter() - started)
        started = time.perf_counter()
        design.engine.infer(tensor)
        bare.append(time.perf_counter() - started)
    return round(statistics.median(cutouts) / statistics.median(bare), 2)


def study(out: Path, eval_dir: Path, scorer: Path, repeats: int) -> dict:
    engine = FreeSizeEngine()
    cases = sorted(path.parent for path in (eval_dir / "cases").glob("*/photo.jpg"))
    small_product = load_case_photo(eval_dir / "cases" / SMALL_PRODUCT_CASE / "photo.jpg")
    report: dict = {}
    for name, (design, settings) in designs(engine).items():
        folder = out / name
        details = run_picr(cases, folder, design, settings)
        scored = score(scorer, eval_dir, folder, folder / "held.txt")
        report[name] = {
            **{key: scored["summary"][key] for key in ("pass_mean_iou", "pass_mean_bf")},
            **published_summary(scored),
            "model_passes_mean": round(statistics.mean(design.passes), 2),
            "model_passes_max": round(max(design.passes), 2),
            "small_product_cutout_over_onnx": timing_ratio(design, settings, small_product, repeats),
            "cases": {row["case"]: {"iou": row["iou"], "bf": row["bf"], "gate": row["gate"],
                                    "reasons": details[row["case"]]["reasons"]} for row in scored["cases"]},
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/closer-look"))
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--scorer", type=Path, default=DEFAULT_SCORER)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("U2NET_HOME", str(REPO / "models"))  # the verified u2netp; rembg must not download
    print(json.dumps(study(args.out, args.eval, args.scorer, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
