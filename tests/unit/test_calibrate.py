"""``make calibrate``: the fit (deterministic, on a synthetic signal table whose answer is known), the
operating-point rule, the curve, and the whole command on a handful of corpus photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from picr.segmentation.gate_profile import GateProfile, load_profile
from tools import calibrate
from tools.corpus import build


def synthetic_rows(count: int = 240, seed: int = 3) -> list[dict]:
    """Publish photos whose IoU falls as ``mirror_disagreement`` rises (bad beyond 0.2), hold photos
    (``expected`` hold) with a large ``rival_after_hiding``; ``show_through`` is noise for both."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        kind = index % 3
        mirror = float(rng.uniform(0.0, 0.4))
        rival = float(rng.uniform(0.3, 1.0)) if kind == 2 else float(rng.uniform(0.0, 0.05))
        signals = {"coverage": 0.1, "speckle_share": 0.0, "rival_ratio": 0.0, "mirror_disagreement": mirror,
                   "rival_after_hiding": rival, "show_through": float(rng.normal(0.0, 0.2))}
        iou = 0.99 - 0.5 * max(0.0, mirror - 0.2) * 4 if kind != 2 else 0.0
        rows.append({"id": f"s-{index:03d}", "class": ("plain", "thin", "salient_distractor")[kind],
                     "part": "fit" if index % 4 else "eval", "expected": "hold" if kind == 2 else "publish",
                     "iou": round(iou, 4), "bf": round(iou, 4), "mae": 0.0, "signals": signals, "warnings": [],
                     "passes": 4, "object_fraction": 0.1, "alpha": "unused.png"})
    return rows


def test_the_fit_weighs_the_signals_that_separate_and_not_the_noise():
    rows = [row for row in synthetic_rows() if row["part"] == "fit"]
    fitted = calibrate.fit_profile(rows)
    weights = {term.signal: term.weight for term in fitted.terms}
    assert weights.get("mirror_disagreement", 0) > 1 and weights.get("rival_after_hiding", 0) > 1
    assert weights.get("show_through", 0) < 0.5 * min(weights["mirror_disagreement"], weights["rival_after_hiding"])
    assert all(term.weight > 0 for term in fitted.terms)
    knot = next(term.knot for term in fitted.terms if term.signal == "mirror_disagreement")
    good_values = [row["signals"]["mirror_disagreement"] for row in rows if calibrate.good(row)]
    assert max(good_values) < 0.23                  # good cutouts (IoU >= 0.95) have 0..0.22
    assert knot == pytest.approx(np.quantile(good_values, calibrate.DEFAULT_FIT.knot_quantile), abs=1e-6)
    assert calibrate.fit_profile(rows) == fitted                    # deterministic


def test_weights_are_never_negative_even_for_a_signal_that_goes_with_better_cutouts():
    rows = [row for row in synthetic_rows() if row["part"] == "fit"]
    for row in rows:   # a signal higher on exactly the good photos: a negative weight would reward it
        row["signals"]["outline_fade_px"] = 10.0 + (5.0 if row["iou"] >= 0.95 else 0.0)
    assert all(term.weight >= 0 for term in calibrate.fit_profile(rows).terms)


def test_the_operating_point_is_the_fewest_false_holds_with_leaks_at_most_one_percent():
    points = [{"threshold": 0.2, "published": 100, "leaks": 5, "false_holds": 0},
              {"threshold": 0.5, "published": 90, "leaks": 1, "false_holds": 3},
              {"threshold": 0.6, "published": 90, "leaks": 0, "false_holds": 3},
              {"threshold": 0.9, "published": 40, "leaks": 0, "false_holds": 30},
              {"threshold": 1.0001, "published": 0, "leaks": 0, "false_holds": 60}]
    assert calibrate.choose_threshold(points)["threshold"] == 0.6      # 0.5 leaks 1.1 %; tie goes higher
    assert calibrate.choose_threshold(points[-1:])["threshold"] == 1.0001   # nothing safe: publish nothing


def test_the_curve_counts_leaks_and_false_holds_at_every_threshold():
    rows = synthetic_rows(12)
    confidence = np.round(np.linspace(0.05, 0.95, len(rows)), 4)   # the gate reports four decimals
    points = calibrate.curve(rows, confidence)
    assert points[0]["published"] == len(rows) and points[-1]["published"] == 0
    assert points[-1]["false_holds"] == sum(calibrate.good(row) for row in rows)
    for point in points:
        published = confidence >= point["threshold"]
        bad = np.array([not calibrate.publishable(row) for row in rows])
        assert point["leaks"] == int((published & bad).sum())


def test_cross_validated_confidences_come_from_fits_without_the_photo():
    rows = [row for row in synthetic_rows() if row["part"] == "fit"]
    confidence = calibrate.cross_validated_confidence(rows)
    in_sample = np.array([calibrate.verdict(calibrate.fit_profile(rows), row).confidence for row in rows])
    assert confidence.shape == in_sample.shape and not np.allclose(confidence, in_sample)
    assert np.array_equal(confidence, calibrate.cross_validated_confidence(rows))


def test_cross_validation_keeps_photos_of_one_product_in_one_fold(monkeypatch):
    rows = [row for row in synthetic_rows() if row["part"] == "fit"]
    for index, row in enumerate(rows):
        row["group"] = f"product-{index // 4}"          # four photos built around each product
    trained_on: list[list[dict]] = []
    fit = calibrate.fit_profile
    monkeypatch.setattr(calibrate, "fit_profile",
                        lambda train, settings: trained_on.append(train) or fit(train, settings))
    calibrate.cross_validated_confidence(rows)
    assert len(trained_on) > 1
    for train in trained_on:   # a photo judged by this fit shares its product with no photo the fit saw
        seen = {row["id"] for row in train}
        judged = [row for row in rows if row["id"] not in seen]
        assert judged and not {row["group"] for row in judged} & {row["group"] for row in train}


def test_calibrate_reports_the_evaluation_part_with_a_profile_fitted_on_the_fit_part_only():
    rows = synthetic_rows()
    fitted, result = calibrate.calibrate(rows, model="m", model_sha256="a" * 64, corpus="c", fitted_on="2026-01-02",
                                         with_eval=True)
    again = calibrate.fit_profile([row for row in rows if row["part"] == "fit"], threshold=fitted.threshold)
    assert again.terms == fitted.terms                                 # the evaluation rows changed nothing
    assert result["eval"]["overall"]["photos"] == sum(row["part"] == "eval" for row in rows)
    assert fitted.report["eval"]["published"] == result["eval"]["overall"]["published"]
    assert result["eval"]["overall"]["leaks"] <= 1
    assert result["operating_point"]["threshold"] == fitted.threshold


# ---- the command on real photos -----------------------------------------------------------------------

PHOTOS = ["plain-000", "plain-001", "plain-002", "empty-000", "empty-001", "salient_distractor-001",
          "salient_distractor-003"]


@pytest.mark.slow
def test_make_calibrate_on_a_handful_of_photos_writes_a_profile_the_gate_reads(tmp_path):
    corpus = tmp_path / "corpus"
    build.build(corpus, PHOTOS)
    out, profiles = tmp_path / "eval", tmp_path / "profiles"
    assert calibrate.main(["--corpus", str(corpus), "--out", str(out), "--profiles", str(profiles)]) == 0
    written = load_profile("u2netp", folder=profiles)
    assert isinstance(written, GateProfile) and written.corpus == "picr-corpus-1" and written.fitted_on
    result = json.loads((out / "calibration-u2netp.json").read_text())
    assert result["eval"]["overall"]["photos"] == 3 and {"fit", "eval", "operating_point"} <= result.keys()
    assert (out / "calibration-u2netp.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "eval-log.jsonl").read_text().splitlines()) == 1
    assert calibrate.main(["--corpus", str(corpus), "--out", str(out), "--profiles", str(profiles),
                           "--no-eval"]) == 0
    assert len((out / "eval-log.jsonl").read_text().splitlines()) == 1   # a fit-only run does not look
