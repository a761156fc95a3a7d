"""Benchmark the cutout stage against bare model inference and rembg's alpha matting.

    U2NET_HOME=models python -m tools.bench_cutout [--repeats 5] [--matting-repeats 2]
        [--lambda-memory-mb 3584] [--no-rss] [photo ...]

Per photo, in one process; ``cutout`` and ``onnx`` take turns so that machine load hits them alike:

* ``cutout``: the whole ``make_cutout`` (model, second look when it takes one, refinement, gate,
  decontamination, RGBA);
* ``onnx``: the bare ONNX inference on an already prepared input tensor (one model pass), in the cutout's
  own session (``picr.segmentation.engine.session_options``);
* ``onnx_default_options``: the same inference in a session with onnxruntime's default options (memory
  pattern planner on, every graph optimisation), so the price of the memory-saving options is visible. It
  runs in a block of its own after the paired rounds, and its session is closed before the next photo: a
  second session's threads, still spinning after its run, slowed the cutout that followed by 20–36 ms
  (4 paired processes, 2026-11-30), which no Lambda invocation pays (the function holds one session);
* ``cutout_one_vcpu``: the same cutout in a session opened as the function opens it on one vCPU (1769 MB and
  less: one intra-op thread, ``CutoutSettings.inference_threads``), in a block of its own; wall-clock and CPU
  seconds (every thread of the process). On one vCPU's worth of time a cutout takes at least its CPU seconds,
  so the larger of the two is its time there, and that times 1769 MB is its GB-seconds;
* ``rembg_alpha_matting``: ``rembg.remove(photo, session=s, alpha_matting=True)``. It takes seconds,
  so it runs ``--matting-repeats`` times (default 2) instead of ``--repeats``; the output says so.

Medians are reported, with ``cutout / onnx`` (per model pass too, and against the default-options
inference) and ``matting / cutout``. Peak RSS is measured per
configuration in a fresh subprocess (import, engine, one warm-up and one measured run; ``VmHWM`` of
the whole process, as Lambda counts it; Linux only). The benchmark restarts itself under the cutout
function's process variables from template.yaml (glibc's malloc tunables, OpenBLAS's threads), as Lambda
starts the function. GB-seconds per photo = median cutout seconds × the chosen
Lambda memory. The default 3584 MB is the smallest Lambda size with two vCPUs, matching the two cores
this is usually run on; Lambda gives CPU in proportion to memory, so other sizes change the seconds too.

Photos larger than 2000 px are first brought down exactly as ingest does (``normalise_upload``) and
that step is timed separately. Without arguments three photos are used: the dev photo that is
natively 2000 px (case 03, a messy mask with a wide soft band: the refinement's worst case), a 12 MP
photo made from case 06 (upscaled to 4000×3000, JPEG q90, in a temporary folder; a clean mask) and case 04
(2400×1800, capped to 2000×1500: a product at 1.9 % of the frame, so the cutout also takes its second,
closer look). Every cutout adds the gate's two looks (the mirrored photo, the photo with the kept object
hidden) to its own: three model passes for the first two photos, four for case 04. The per-pass ratio is
reported beside the plain one, and ``tools/closer_look_study.py`` measures the cheaper designs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from tools.cfn import load_template, process_variables
from tools.shared_data import CASES

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.image.photo import normalise_upload  # noqa: E402
from picr.segmentation.cutout import make_cutout  # noqa: E402
from picr.segmentation.engine import LocalEngine, installed_model  # noqa: E402
from picr.settings import MB_PER_VCPU  # noqa: E402

DEFAULT_2000 = CASES / "03_guitar_cluttered_living_room" / "photo.jpg"
DEFAULT_12MP_SOURCE = CASES / "06_trumpet_and_cymbal_beige_paper" / "photo.jpg"
DEFAULT_TWO_PASS = CASES / "04_small_cherimoya_white_paper" / "photo.jpg"
CONFIGURATIONS = ("cutout", "onnx", "onnx_default_options", "rembg_alpha_matting")
INTERLEAVED = ("cutout", "onnx")


def make_12mp_photo(folder: Path, source: Path = DEFAULT_12MP_SOURCE) -> Path:
    """A 4000×3000 JPEG (12 MP, what a phone takes) made by upscaling a dev photo."""
    target = folder / "12mp.jpg"
    with Image.open(source) as photo:
        photo.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS).save(target, "JPEG", quality=90)
    return target


def working_image(path: Path) -> tuple[Image.Image, float | None]:
    """The photo as the cutout receives it, and the seconds ingest's normalisation took (None when the
    photo was already within 2000 px and ingest would only re-encode it)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as probe:
        needs_downscale = max(probe.size) > 2000
    if not needs_downscale:
        with Image.open(io.BytesIO(data)) as photo:
            return photo.convert("RGB"), None
    started = time.perf_counter()
    normalised = normalise_upload(data)
    return normalised.image.convert("RGB"), time.perf_counter() - started


def _timed_with_cpu(action: Callable[[], object]) -> tuple[float, float]:
    started, started_cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - started_cpu


def _timed(action: Callable[[], object]) -> float:
    return _timed_with_cpu(action)[0]


def one_vcpu(engine: LocalEngine, photo: Image.Image, repeats: int) -> dict:
    """The cutout as the function runs it on one vCPU: ``engine`` holds a one-thread session."""
    make_cutout(photo, engine)   # warm-up
    wall, cpu = zip(*(_timed_with_cpu(lambda: make_cutout(photo, engine)) for _ in range(repeats)), strict=True)
    seconds = max(statistics.median(wall), statistics.median(cpu))
    return {"lambda_memory_mb": MB_PER_VCPU, "median_s": round(statistics.median(wall), 4),
            "median_cpu_s": round(statistics.median(cpu), 4), "seconds_on_one_vcpu": round(seconds, 4),
            "gb_seconds_per_photo": round(seconds * MB_PER_VCPU / 1024, 3)}


def _runner(configuration: str, engine: LocalEngine, photo: Image.Image) -> Callable[[], object]:
    if configuration == "cutout":
        return lambda: make_cutout(photo, engine)
    if configuration == "onnx":
        tensor = engine.model_input(photo)
        return lambda: engine.infer(tensor)
    if configuration == "onnx_default_options":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(installed_model(engine.name)), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: engine.model_input(photo)}
        return lambda: session.run(None, feed)
    import rembg

    session = rembg.new_session(engine.name)

    def remove_with_matting() -> object:
        with contextlib.redirect_stdout(io.StringIO()):   # pymatting prints solver warnings to stdout
            return rembg.remove(photo, session=session, alpha_matting=True)

    return remove_with_matting


def peak_rss_mb(configuration: str, path: Path, model: str) -> float:
    """Peak resident memory (MB) of a fresh process that runs ``configuration`` on ``path`` twice."""
    command = [sys.executable, "-m", "tools.bench_cutout", "--rss-child", configuration, "--model", model, str(path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "layers" / "pillow")])}
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO, env=env).stdout
    return float(output.strip().splitlines()[-1])


def _rss_child(configuration: str, path: Path, model: str) -> None:
    photo, _ = working_image(path)
    run = _runner(configuration, LocalEngine(model), photo)
    run()
    run()
    # VmHWM: the peak of this process image only (ru_maxrss would carry the parent's peak across exec)
    status = Path("/proc/self/status").read_text()
    print(int(status.split("VmHWM:")[1].split()[0]) / 1024)  # kB -> MB


def bench_cutout(photo_paths: Sequence[Path], repeats: int = 5, matting_repeats: int = 2,
                 lambda_memory_mb: int = 3584, model: str = "u2netp", measure_rss: bool = True) -> dict:
    """Median timings, their ratios, peak RSS and GB-seconds per photo (JSON-ready)."""
    engine = LocalEngine(model)
    one_thread = LocalEngine(model, threads=1)
    report: dict = {"model": model, "repeats": repeats, "matting_repeats": matting_repeats,
                    "note": f"rembg_alpha_matting runs {matting_repeats}× (seconds each), the others {repeats}×; "
                            "medians; cutout and onnx take turns in one process, onnx_default_options runs after them",
                    "lambda_memory_mb": lambda_memory_mb, "photos": []}
    for path in map(Path, photo_paths):
        photo, ingest_seconds = working_image(path)
        runs = {name: _runner(name, engine, photo) for name in INTERLEAVED}
        for run in runs.values():
            run()  # warm-up: first-call allocations in onnxruntime and OpenCV
        times: dict[str, list[float]] = {name: [] for name in INTERLEAVED}
        for _ in range(repeats):
            for name, run in runs.items():
                times[name].append(_timed(run))
        default_options = _runner("onnx_default_options", engine, photo)
        default_options()   # warm-up
        times["onnx_default_options"] = [_timed(default_options) for _ in range(repeats)]
        del default_options   # its session and threads go before the next photo's rounds
        on_one_vcpu = one_vcpu(one_thread, photo, repeats)
        result = make_cutout(photo, engine)
        matting_times = [_timed(_runner("rembg_alpha_matting", engine, photo)) for _ in range(matting_repeats)]
        with Image.open(path) as original:
            original_size = original.size
        medians = {name: statistics.median(values) for name, values in times.items()}
        cutout_s, onnx_s = medians["cutout"], medians["onnx"]
        passes = max(1, result.passes)
        # paired: each round's cutout over the same round's inference, so drifting load hits both
        per_round = [c / (o * passes) for c, o in zip(times["cutout"], times["onnx"], strict=True)]
        matting_s = statistics.median(matting_times) if matting_times else None
        entry = {
            "photo": str(path), "original_size": list(original_size), "working_size": list(photo.size),
            "ingest_downscale_s": None if ingest_seconds is None else round(ingest_seconds, 4),
            "model_passes": result.passes, "gate_passed": result.gate.passed,
            "median_s": {**{name: round(value, 4) for name, value in medians.items()},
                         "rembg_alpha_matting": None if matting_s is None else round(matting_s, 3)},
            "runs_s": {**{name: [round(t, 4) for t in values] for name, values in times.items()},
                       "rembg_alpha_matting": [round(t, 3) for t in matting_times]},
            "cutout_over_onnx": round(cutout_s / onnx_s, 2),
            "cutout_over_onnx_per_pass": round(cutout_s / (onnx_s * passes), 2),
            "cutout_over_onnx_per_pass_paired": {"min": round(min(per_round), 2),
                                                 "median": round(statistics.median(per_round), 2),
                                                 "max": round(max(per_round), 2)},
            # each one's fastest run: the one least slowed by other work on a shared machine
            "cutout_over_onnx_per_pass_fastest": round(min(times["cutout"]) / (min(times["onnx"]) * passes), 2),
            "cutout_over_default_options_onnx_per_pass": round(cutout_s / (medians["onnx_default_options"] * passes),
                                                               2),
            "onnx_over_default_options_onnx": round(onnx_s / medians["onnx_default_options"], 2),
            "matting_over_cutout": None if matting_s is None else round(matting_s / cutout_s, 1),
            "gb_seconds_per_photo": round(cutout_s * lambda_memory_mb / 1024, 3),
            "cutout_one_vcpu": {**on_one_vcpu,
                                "over_cutout": round(on_one_vcpu["seconds_on_one_vcpu"] / cutout_s, 2)},
        }
        if measure_rss:
            entry["peak_rss_mb"] = {name: round(peak_rss_mb(name, path, model), 1) for name in CONFIGURATIONS}
        report["photos"].append(entry)
    return report


def in_cutout_process_environment(module: str, argv: Sequence[str]) -> None:
    """Restart this benchmark as ``python -m module argv`` under the cutout function's process variables
    (``tools.cfn.process_variables``: glibc's malloc tunables, OpenBLAS's threads) unless it already runs
    under them: they act when a process starts, and the warm cutout is measured as Lambda runs it."""
    wanted = process_variables(load_template(REPO / "template.yaml"), "CutoutFunction")
    if all(os.environ.get(name) == value for name, value in wanted.items()):
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], {**os.environ, **wanted})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    in_cutout_process_environment("tools.bench_cutout", argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matting-repeats", type=int, default=2)
    parser.add_argument("--lambda-memory-mb", type=int, default=3584)
    parser.add_argument("--model", default="u2netp")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--rss-child", choices=CONFIGURATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("U2NET_HOME", str(REPO / "models"))  # the baked u2netp; rembg must not download
    if args.rss_child:
        _rss_child(args.rss_child, args.photos[0], args.model)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        photos = args.photos or [DEFAULT_2000, make_12mp_photo(Path(scratch)), DEFAULT_TWO_PASS]
        report = bench_cutout(photos, args.repeats, args.matting_repeats, args.lambda_memory_mb, args.model,
                              measure_rss=not args.no_rss)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
