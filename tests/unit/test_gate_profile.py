"""Gate profiles: the fitted decision, its reasons, and the refusal of a model without a profile measured
on its weights (in the cutout, at the cutout function's cold start, and in ``make``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from picr.segmentation import gate_profile
from picr.segmentation.cutout import make_cutout
from picr.segmentation.gate import NO_PRODUCT
from picr.segmentation.gate_profile import (
    GateProfile,
    ProfileError,
    Term,
    file_sha256,
    load_profile,
    profile_for,
    unfitted,
)
from picr.segmentation.gate_signals import SENTENCES
from tests.conftest import REPO

WEIGHTS = REPO / "models" / "u2netp.onnx"


def profile(**changes) -> GateProfile:
    """Two terms: mirror disagreement past 0.1 and colour contrast below 20 cost confidence."""
    base = dict(model="m", model_sha256="0" * 64, corpus="c", fitted_on="2026-01-01", intercept=3.0, threshold=0.5,
                terms=(Term("mirror_disagreement", 1, 0.1, 0.1, 2.0), Term("colour_contrast", -1, -20.0, 10.0, 1.0)))
    return GateProfile(**{**base, **changes})


CLEAN = {"coverage": 0.1, "speckle_share": 0.0, "rival_ratio": 0.0, "mirror_disagreement": 0.05,
         "colour_contrast": 60.0}


def test_a_cutout_inside_every_knot_gets_the_intercepts_confidence_and_passes():
    result = profile().decide(CLEAN)
    assert result.passed and result.reasons == []
    assert result.confidence == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-4)


def test_each_signal_past_its_knot_costs_confidence_and_says_why_largest_doubt_first():
    result = profile().decide({**CLEAN, "mirror_disagreement": 0.3, "colour_contrast": -20.0})
    # doubts: 2 * (0.3 - 0.1) / 0.1 = 4 and 1 * (20 + 20) / 10 = 4; logit 3 - 8 = -5
    assert result.confidence == pytest.approx(1 / (1 + np.exp(5.0)), abs=1e-4) and not result.passed
    assert set(result.reasons) == {SENTENCES["mirror_disagreement"], gate_profile.SENTENCES["colour_contrast"]}


def test_the_owner_is_told_the_doubts_that_decided_not_every_small_one():
    result = profile().decide({**CLEAN, "mirror_disagreement": 0.3, "colour_contrast": 10.0})
    # doubts 4 and 1, logit 3 - 5 = -2: without the first (4) it would pass, so only that one is named
    assert result.confidence == pytest.approx(1 / (1 + np.exp(2.0)), abs=1e-4) and not result.passed
    assert result.reasons == [SENTENCES["mirror_disagreement"]]


def test_a_signal_that_was_not_measured_adds_no_doubt():
    without = {key: value for key, value in CLEAN.items() if key != "colour_contrast"}
    assert profile().decide(without).confidence == profile().decide(CLEAN).confidence


def test_the_threshold_is_the_operating_point():
    signals = {**CLEAN, "mirror_disagreement": 0.25}                 # logit 3 - 3 = 0: confidence 0.5
    assert profile(threshold=0.5).decide(signals).passed
    assert not profile(threshold=0.51).decide(signals).passed


def test_an_empty_mask_is_held_whatever_the_profile():
    result = profile(intercept=50.0).decide({"coverage": 0.0})
    assert not result.passed and result.reasons == [NO_PRODUCT]


def test_quality_warnings_count_as_a_signal_and_are_named_one_by_one():
    warned = profile(terms=(Term("warnings", 1, 0.0, 1.0, 4.0),))
    assert warned.decide(CLEAN, ["very_dark"]).passed is False
    assert warned.decide(CLEAN, ["very_dark"]).reasons == ["The photo is very dark, so the product's edges are hard "
                                                           "to see."]
    assert warned.decide(CLEAN).passed


def test_signals_are_decided_as_stored_rounded_to_four_decimals():
    edge = profile(intercept=0.0, threshold=0.5, terms=(Term("mirror_disagreement", 1, 0.1, 1.0, 1.0),))
    assert edge.decide({**CLEAN, "mirror_disagreement": 0.10004}).passed   # 0.1000 after rounding: no doubt
    assert edge.decide({**CLEAN, "mirror_disagreement": 0.10004}).scores["mirror_disagreement"] == 0.1


def test_an_unfitted_profile_holds_everything_and_says_so():
    result = unfitted("m").decide(CLEAN)
    assert not result.passed and result.reasons == [gate_profile.UNFITTED_REASON]


def test_a_profile_survives_its_file():
    fitted = profile(report={"eval": {"leaks": 0}})
    again = GateProfile.from_json(json.loads(json.dumps(fitted.to_json())))
    assert again == fitted and again.report == fitted.report


def test_the_committed_u2netp_profile_was_measured_on_the_verified_weights():
    committed = load_profile("u2netp", WEIGHTS)
    assert committed.model_sha256 == file_sha256(WEIGHTS) and committed.terms and 0 < committed.threshold <= 1
    assert committed.corpus == "picr-corpus-1" and committed.fitted_on
    assert committed.report["eval"]["published"] > 0


def test_a_model_without_a_profile_is_refused_with_what_to_do(tmp_path):
    with pytest.raises(ProfileError, match=r"make calibrate MODEL=u2net\b"):
        load_profile("u2net", folder=tmp_path)


def test_a_profile_measured_on_other_weights_is_refused(tmp_path):
    other = tmp_path / "u2netp.onnx"
    other.write_bytes(WEIGHTS.read_bytes() + b"\0")
    with pytest.raises(ProfileError, match="measured on u2netp weights"):
        load_profile("u2netp", other)


class _Local:
    """An engine with weights of its own (like ``LocalEngine``), which must never be asked for a mask."""

    name, input_size = "u2netp", 320

    def __init__(self, weights):
        self.weights = weights

    def predict(self, image):
        raise AssertionError("no cutout without a profile")


def test_the_cutout_refuses_a_local_model_without_a_profile(tmp_path, monkeypatch):
    monkeypatch.setattr(gate_profile, "PROFILES", tmp_path)
    with pytest.raises(ProfileError, match="no gate profile"):
        make_cutout(Image.new("RGB", (640, 480), "white"), _Local(WEIGHTS))


def test_an_engine_without_weights_of_its_own_keeps_the_hand_set_gate():
    class Hosted:
        name, input_size = "hosted", None

    assert profile_for(Hosted()) is None
    assert profile_for(_Local(WEIGHTS)).model == "u2netp"


def test_the_cutout_function_refuses_to_start_without_a_profile(stack, tmp_path, monkeypatch):
    monkeypatch.setattr(gate_profile, "PROFILES", tmp_path)
    with pytest.raises(ProfileError, match="u2netp"):
        stack.handler_of(stack.functions["CutoutFunction"])


def test_make_checks_the_profile_of_the_model_it_runs(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(WEIGHTS, models / "u2netp.onnx")
    command = [sys.executable, "-m", "picr.segmentation.gate_profile"]
    env = {"PYTHONPATH": str(REPO / "layers" / "pillow")}
    ok = subprocess.run([*command, "u2netp", str(models / "u2netp.onnx")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "u2netp" in ok.stdout
    missing = subprocess.run([*command, "u2net", str(models / "u2net.onnx")], capture_output=True, text=True, env=env)
    assert missing.returncode == 1 and "make calibrate MODEL=u2net" in missing.stderr
    made = subprocess.run(["make", "--no-print-directory", "-s", "profile", "MODEL=u2net"], cwd=REPO,
                          capture_output=True, text=True)
    assert made.returncode != 0 and "no gate profile for the model 'u2net'" in made.stderr
