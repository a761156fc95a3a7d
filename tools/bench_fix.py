"""Preview latency of the fix page: request to result, on a 2000 px photo, through the local runner.

    python -m tools.bench_fix [--repeats 7]      (``make bench`` runs it as its ``fix`` section)

The guitar (case 03, 2000×1500) goes through ingest and the cutout on the local runner and is held. Then,
``--repeats`` times, interleaved so that the machine's load hits them alike:

* ``tap``: a preview POST with one tap, to a review function and a cutout container that are warm but have
  not seen this job yet (the container's remembered images and results are dropped before each run, so
  the photo and the held cutout are read from the bucket and decoded, as for an owner's first tap);
* ``stroke``: the preview POST that follows with one keep stroke added (the container remembers the tap,
  so this is what a stroke costs the owner);
* ``tap_only`` and ``stroke_only``: the bare ``mask_edit`` operations on the same photo, for comparison;
* ``inference_only``: one bare model inference on the whole photo, in the same rounds: a tap is a handful of
  them, so this says how much of a slow run was a slow (shared, busy) machine.

Times are medians with min and max (the machine is shared: the spread says how noisy a run was). The
handlers run in this process; AWS calls go to moto. The first round warms imports and is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools.shared_data import CASES

REPO = Path(__file__).resolve().parents[1]
PHOTO = CASES / "03_guitar_cluttered_living_room" / "photo.jpg"
TAP = {"tap": [1655, 1155]}   # on the guitar's body
STROKE = {"keep": [[1640, 430], [1650, 700], [1660, 950]], "r": 30}   # up its neck
REVIEW_HOST = "reviewfunction.lambda-url.eu-west-2.on.aws"


def _spread(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3)}


def bench_fix(repeats: int = 7) -> dict[str, Any]:
    from moto import mock_aws

    from tests.support.function_url import function_url_event, response_body
    from tools.embedded_stack import EmbeddedStack, fake_credentials

    fake_credentials()

    timings: dict[str, list[float]] = {"tap": [], "stroke": [], "tap_only": [], "stroke_only": [],
                                       "inference_only": []}
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        stack = EmbeddedStack(function_urls={"ReviewFunction": f"https://{REVIEW_HOST}/"})
        stack.s3.put_object(Bucket=stack.bucket, Key="inbox/guitar.jpg", Body=PHOTO.read_bytes())
        stack.drain()
        from picr.aws.jobs import JobStore
        from picr.job import Status
        from picr.links.review import mint_token

        jobs = JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))
        (job,) = jobs.in_status(Status.NEEDS_REVIEW)
        secret = stack.resolver.resolve({"Ref": "ReviewTokenSecret"})
        key = stack.secrets.get_secret_value(SecretId=secret)["SecretString"].encode()
        token = mint_token(key, job_id=job.job_id, action="fix", kind="email", held_at=job.updated_at,
                           expires_at=datetime.now(UTC) + timedelta(hours=6))
        cutout = stack.functions["CutoutFunction"]
        stack.handler_of(cutout)

        def post(edits: list[dict]) -> float:
            body = json.dumps({"t": token, "edits": edits}).encode()
            event = function_url_event("POST", "/fix/preview", host=REVIEW_HOST, body=body, headers={
                "content-type": "application/json", "origin": "null", "sec-fetch-site": "same-origin"})
            started = time.perf_counter()
            response = stack.invoke("ReviewFunction", event)
            elapsed = time.perf_counter() - started
            if response["statusCode"] != 200:
                raise RuntimeError(f"preview refused: {response_body(response)[:300]!r}")
            return elapsed

        from PIL import Image

        from picr.pages.edits import parse_edits
        from picr.segmentation.mask_edit import brush
        from picr.segmentation.tap import tap
        from picr.stages.fix import FixCache

        fix = cutout.module.fix_context
        rgb, start = None, None
        for index in range(repeats + 1):
            fix.cache = FixCache()   # a container that has not seen this job
            tap_s = post([TAP])
            stroke_s = post([TAP, STROKE])
            if rgb is None:
                (rgb, start), = fix.cache._images.values()

            (tapped,) = parse_edits([TAP], (rgb.shape[1], rgb.shape[0]))
            (stroke,) = parse_edits([STROKE], (rgb.shape[1], rgb.shape[0]))
            began = time.perf_counter()
            alpha = tap(Image.fromarray(rgb), (tapped.x, tapped.y), start, fix.engine)
            tap_only = time.perf_counter() - began
            began = time.perf_counter()
            brush(rgb, alpha, [stroke], fix.engine)
            stroke_only = time.perf_counter() - began
            began = time.perf_counter()
            fix.engine.predict(Image.fromarray(rgb))
            inference_only = time.perf_counter() - began
            if index:
                for name, value in (("tap", tap_s), ("stroke", stroke_s), ("tap_only", tap_only),
                                    ("stroke_only", stroke_only), ("inference_only", inference_only)):
                    timings[name].append(value)
    return {
        "photo": f"{PHOTO.parent.name} ({rgb.shape[1]}×{rgb.shape[0]})", "repeats": repeats, "goal_median_s": 3.0,
        **{name: _spread(values) for name, values in timings.items()},
        "runs_s": {name: [round(v, 3) for v in values] for name, values in timings.items()},
        "load_average_1m": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
        "note": "tap/stroke: review handler → Lambda Invoke → cutout handler, request to result, in this process "
                "on moto; *_only: the bare mask operations. u2netp.",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(bench_fix(args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
