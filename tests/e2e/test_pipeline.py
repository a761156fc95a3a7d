"""End to end: the demo photos through the local runner (S3 → EventBridge → SQS → every handler).

One run per module (the same inputs as ``make demo``); the assertions read what a shop owner would get
back: the summary, the decoded images, the manifest and the mail. The two shared samples the small
model cuts badly are run too and must be held, each with one review email carrying the evidence.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.demo import demo_inputs
from tools.process import run
from tools.shared_data import SAMPLES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


HELD_DEMO_INPUTS = {"teddy_bear.jpg", "binoculars_phone_rotated_gps.jpg"}
"""Cut well by u2netp, held by its gate profile (busy backgrounds: see tools/demo.py)."""


@pytest.fixture(scope="module")
def run_of_the_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = run(demo_inputs(tmp_path_factory.mktemp("inputs")), out, quiet=True)
    return out, summary


@pytest.fixture(scope="module")
def result(run_of_the_demo):
    """The demo run with only its published jobs."""
    out, summary = run_of_the_demo
    return out, {**summary, "jobs": [job for job in summary["jobs"] if job["input"] not in HELD_DEMO_INPUTS]}


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    out = tmp_path_factory.mktemp("held")
    summary = run([SAMPLES / "guitar.heic", SAMPLES / "drum_kit.jpg"], out, quiet=True)
    return out, summary


def test_the_demo_publishes_three_samples_and_holds_two_for_review(run_of_the_demo):
    _out, summary = run_of_the_demo
    assert len(summary["jobs"]) == 5 and summary["dead_letters"] == 0
    held = {job["input"]: job for job in summary["jobs"] if job["status"] == "needs_review"}
    assert set(held) == HELD_DEMO_INPUTS
    assert all(job["reasons"] and job["outputs"] == [] for job in held.values())
    assert summary["counts"]["done"] == 3 and summary["counts"]["needs_review"] == 2


def test_every_published_sample_is_done_with_three_variants_and_one_email(result):
    _out, summary = result
    assert len(summary["jobs"]) == 3
    assert {job["input"].rsplit(".", 1)[1] for job in summary["jobs"]} == {"jpg", "heic", "png"}
    for job in summary["jobs"]:
        assert job["status"] == "done", (job["input"], job["reasons"])
        assert sorted(o["channel"] for o in job["outputs"]) == ["market", "social", "web"]
        assert len([p for p in job["emails"] if p.endswith(".eml")]) == 1
        assert job["history"] == ["ingested", "cut", "varied", "done"]
    assert summary["dead_letters"] == 0


def test_the_summary_file_is_the_summary(run_of_the_demo):
    out, summary = run_of_the_demo
    assert json.loads((out / "summary.json").read_text()) == summary


def test_outputs_are_exact_channel_images(result):
    out, summary = result
    for job in summary["jobs"]:
        by_channel = {o["channel"]: o for o in job["outputs"]}
        with Image.open(out / by_channel["market"]["path"]) as market:
            assert (market.format, market.size, market.mode) == ("JPEG", (2000, 2000), "RGB")
            pixels = np.asarray(market)
        ring = np.concatenate([pixels[:4].reshape(-1, 3), pixels[-4:].reshape(-1, 3),
                               pixels[:, :4].reshape(-1, 3), pixels[:, -4:].reshape(-1, 3)])
        assert (ring == 255).all(), job["input"]
        assert not by_channel["market"]["watermarked"]
        with Image.open(out / by_channel["web"]["path"]) as web:
            assert (web.format, web.size, web.mode) == ("PNG", (1600, 1600), "RGBA")
        with Image.open(out / by_channel["social"]["path"]) as social:
            assert (social.format, social.size) == ("JPEG", (1080, 1080))
        assert by_channel["social"]["watermarked"] and by_channel["web"]["watermarked"]


def _product_span(is_product: np.ndarray, watermarked: bool) -> float:
    """The product's longer bounding-box side as a share of the frame, from decoded pixels.

    The faint logo sits in the bottom-right corner of watermarked channels; that corner is left out.
    """
    if watermarked:
        height, width = is_product.shape
        is_product = is_product.copy()
        is_product[int(height * 0.85):, int(width * 0.72):] = False
    rows, cols = np.nonzero(is_product)
    return max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) / max(is_product.shape)


def test_each_channel_fills_its_share_of_the_frame(result):
    """Fill measured from the decoded files: alpha for the PNG, non-white for the JPEGs (±2 %)."""
    out, summary = result
    for job in summary["jobs"]:
        for output in job["outputs"]:
            with Image.open(out / output["path"]) as image:
                pixels = np.asarray(image).astype(int)
            product = pixels[..., 3] > 8 if output["format"] == "PNG" else (255 - pixels).max(axis=2) > 24
            fill = {"web": 0.80, "market": 0.90, "social": 0.85}[output["channel"]]
            span = _product_span(product, output["watermarked"])
            assert abs(span - fill) <= 0.02, (job["input"], output["channel"], span)


def test_manifest_matches_outputs(result):
    import hashlib

    out, summary = result
    for job in summary["jobs"]:
        manifest = json.loads((out / job["manifest"]).read_text())
        assert manifest["job_id"] == job["job_id"]
        assert manifest["source_file"] == job["input"]
        assert manifest["product"] == job["product"]
        assert 0 <= manifest["confidence"] <= 1
        for entry in manifest["outputs"]:
            data = (out / "bucket" / entry["key"]).read_bytes()
            assert entry["bytes"] == len(data)
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_one_ready_email_per_job_names_the_product(result):
    out, summary = result
    for job in summary["jobs"]:
        (eml,) = [p for p in job["emails"] if p.endswith(".eml")]
        message = email.message_from_bytes((out / eml).read_bytes(), policy=email.policy.default)
        assert message["Subject"] == f"{job['product']}: 3 images ready"
        assert message["X-Picr-Job"] == job["job_id"]
        (html,) = [p for p in job["emails"] if p.endswith(".html")]  # the copy to open in a browser
        viewable = (out / html).read_text()
        assert 'src="cid:' not in viewable and viewable.count('src="data:image/jpeg;base64,') == 3


def test_sideways_phone_photo_comes_out_upright_without_gps(run_of_the_demo):
    out, summary = run_of_the_demo
    (job,) = [j for j in summary["jobs"] if j["input"] == "binoculars_phone_rotated_gps.jpg"]
    with Image.open(out / "bucket" / "work" / job["job_id"] / "source.jpg") as source:
        assert source.size == (1600, 1200)
    for path in (out / "bucket").rglob("*"):
        if path.is_file() and ("work" in path.parts or "out" in path.parts):
            data = path.read_bytes()
            assert b"Exif" not in data and b"GPS" not in data, path
            if path.suffix in {".jpg", ".png"}:
                with Image.open(path) as image:
                    assert not image.getexif(), path
                    assert "exif" not in image.info and "icc_profile" not in image.info, path


def test_heic_photo_is_processed(result):
    _out, summary = result
    (job,) = [j for j in summary["jobs"] if j["input"] == "red_anemone.heic"]
    assert job["status"] == "done"
    assert job["product"] == "Red anemone"


def test_badly_cut_samples_are_held_with_the_evidence(held):
    out, summary = held
    for job in summary["jobs"]:
        assert job["status"] == "needs_review", job["input"]
        assert job["reasons"], job["input"]
        assert job["outputs"] == [] and "variants" not in job["messages"], job["input"]
        assert not (out / "bucket" / "out").exists() or not any((out / "bucket" / "out").rglob(f"{job['job_id']}*"))
        (eml,) = [p for p in job["emails"] if p.endswith(".eml")]
        message = email.message_from_bytes((out / eml).read_bytes(), policy=email.policy.default)
        assert message["Subject"] == f"{job['product']}: needs review"
        attachments = sorted(part.get_filename() for part in message.iter_attachments())
        assert attachments == ["cutout.png", "original.jpg"]
