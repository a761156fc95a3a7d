"""The corpus harness: it runs the cutout stage's own code on corpus photos, keeps every gate signal and
the cutout alpha, scores exactly as the shared scorer does, reuses its measurements, and counts leaks
and false holds the way the report says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.corpus import build, evaluate
from tools.score_cases import DEFAULT_SCORER

PHOTOS = ["plain-000", "empty-001", "salient_distractor-003"]
SIGNALS = {"coverage", "pieces", "speckle_share", "rival_ratio", "edge_width_px", "body_soft_share",
           "frame_contact", "confidence"}


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[Path, Path, dict]:
    corpus = tmp_path_factory.mktemp("corpus")
    build.build(corpus, PHOTOS)
    out = tmp_path_factory.mktemp("eval")
    evaluate.main(["--corpus", str(corpus), "--out", str(out), "--part", "all"])
    return corpus, out, json.loads((out / "results.json").read_text())


def test_every_photo_has_its_decision_signals_alpha_and_scores(measured):
    corpus, _, results = measured
    rows = {row["id"]: row for row in results["photos"]}
    assert sorted(rows) == sorted(PHOTOS)
    for photo_id, row in rows.items():
        meta = json.loads((corpus / "cases" / photo_id / "meta.json").read_text())
        assert row["class"] == meta["class"] and row["expected"] == meta["expected"] and row["part"] == meta["part"]
        assert row["decision"] in ("publish", "hold") and 0.0 <= row["confidence"] <= 1.0
        assert row["signals"]["confidence"] == row["confidence"]
        assert (row["decision"] == "hold") == (row["confidence"] < 0.5)
        alpha = Image.open(row["alpha"])
        photo = Image.open(corpus / "cases" / photo_id / "photo.jpg")
        assert alpha.mode == "L" and max(alpha.size) == min(2000, max(photo.size))   # ingest caps at 2000 px
        assert 0.0 <= row["iou"] <= 1.0 and 0.0 <= row["bf"] <= 1.0
    assert set(rows["plain-000"]["signals"]) >= SIGNALS
    assert rows["plain-000"]["iou"] > 0.5                 # the product was found
    assert rows["empty-001"]["decision"] == "hold"


def test_scores_are_the_shared_scorers_own(measured, tmp_path):
    corpus, _, results = measured
    pred = tmp_path / "pred"
    pred.mkdir()
    for row in results["photos"]:
        shutil.copy(row["alpha"], pred / f"{row['id']}.png")
    scored = tmp_path / "score.json"
    subprocess.run([sys.executable, str(DEFAULT_SCORER), "--eval", str(corpus), "--pred", str(pred),
                    "--json", str(scored)], check=True, capture_output=True)
    theirs = {case["case"]: case for case in json.loads(scored.read_text())["cases"]}
    for row in results["photos"]:
        assert (row["iou"], row["bf"], row["mae"]) == (theirs[row["id"]]["iou"], theirs[row["id"]]["bf"],
                                                       theirs[row["id"]]["mae"])


def test_a_second_run_reuses_the_measurements_without_the_model(measured, monkeypatch):
    corpus, out, results = measured
    monkeypatch.setattr(evaluate.Harness, "engine", property(lambda self: pytest.fail("the model ran again")))
    evaluate.main(["--corpus", str(corpus), "--out", str(out), "--part", "all"])
    assert json.loads((out / "results.json").read_text()) == results


def test_changed_code_is_measured_again(measured, monkeypatch, tmp_path):
    corpus, out, results = measured
    shutil.copytree(out, tmp_path / "eval")
    monkeypatch.setattr(evaluate, "code_version", lambda: "changed")
    evaluate.main(["--corpus", str(corpus), "--out", str(tmp_path / "eval"), "--ids", "plain-000"])
    entries = sorted(p.name for p in (tmp_path / "eval" / "cache").iterdir() if p.name.startswith("plain-000"))
    assert len(entries) == 2
    again = json.loads((tmp_path / "eval" / "results.json").read_text())["photos"][0]
    before = next(row for row in results["photos"] if row["id"] == "plain-000")
    assert again["iou"] == before["iou"] and again["signals"] == before["signals"]   # same code in fact


def _row(photo_id: str, expected: str, decision: str, iou: float, cls: str = "c") -> dict:
    return {"id": photo_id, "class": cls, "part": "eval", "expected": expected, "decision": decision, "iou": iou,
            "bf": iou, "leak": decision == "publish" and (expected == "hold" or iou < evaluate.LEAK_IOU),
            "false_hold": decision == "hold" and expected == "publish" and iou >= evaluate.FALSE_HOLD_IOU}


def test_report_counts_leaks_and_false_holds():
    rows = [_row("a", "publish", "publish", 0.97), _row("b", "publish", "publish", 0.85),
            _row("c", "hold", "publish", 0.99), _row("d", "publish", "hold", 0.96),
            _row("e", "publish", "hold", 0.93), _row("f", "hold", "hold", 0.2, cls="x")]
    result = evaluate.report(rows, "eval", {})
    overall = result["overall"]
    assert overall["leaks"] == 2 and overall["leaks_low_iou"] == ["b"] and overall["leaks_expected_hold"] == ["c"]
    assert overall["false_holds"] == ["d"]
    assert overall["published"] == 3 and overall["held"] == 3
    assert overall["published_mean_iou"] == pytest.approx(np.mean([0.97, 0.85, 0.99]), abs=1e-4)
    assert set(result["by_class"]) == {"c", "x"} and result["by_class"]["x"]["leaks"] == 0
    assert "all" in evaluate.table(result)
