"""A gate profile: the limits of the gate, fitted for one model on the calibration corpus.

A limit measured on one model's masks is an assumption on another's, so the decision is not in code: it
is a committed file per model (``picr/segmentation/profiles/<model>.json``, written by ``make calibrate``) holding the
model file's sha256, the corpus it was fitted on, and a small additive model over the gate's signals:

    doubt_i      = max(0, direction_i · signal_i − knot_i) / scale_i      (0 inside the fitted normal range)
    confidence   = 1 / (1 + exp(−(intercept − Σ weight_i · doubt_i)))    (every weight ≥ 0)
    publish when confidence ≥ threshold

The knot of a signal is where it stops being normal for a good cutout (a quantile of the good cutouts of
the fit part), so a signal inside its normal range can never cost confidence, and each one that is
outside it adds doubt in proportion to how far; the reasons given to the owner are those signals, the
largest doubt first. It is the product of ramps of the hand-set gate, fitted instead of chosen.

A local model without a profile is refused (:class:`ProfileError`), at cold start and in ``make``; the
profile also refuses weights whose sha256 differs from the ones it was measured on.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from picr.segmentation.gate import DEFAULT_THRESHOLDS, NO_PRODUCT, GateResult, warning_reason
from picr.segmentation.gate import SENTENCES as SHAPE_SENTENCES
from picr.segmentation.gate_signals import SENTENCES as LOOK_SENTENCES
from picr.segmentation.gate_signals import pair_imbalance

PROFILES = Path(__file__).resolve().parent / "profiles"
SENTENCES = {**SHAPE_SENTENCES, **LOOK_SENTENCES,
             "warnings": "The photo itself is hard to read (see the photo-quality warnings)."}
UNFITTED_REASON = "The gate has no fitted limits for this model yet, so every cutout is held."


class ProfileError(RuntimeError):
    """No usable profile for a model: none committed, or measured on different weights."""


@dataclass(frozen=True)
class Term:
    """One signal's part of the decision (see the module docstring)."""

    signal: str
    direction: int
    knot: float
    scale: float
    weight: float

    def doubt(self, value: float) -> float:
        return max(0.0, self.direction * value - self.knot) / self.scale


@dataclass(frozen=True)
class GateProfile:
    """The fitted decision for one model, and what it was fitted and measured on."""

    model: str
    model_sha256: str
    corpus: str
    fitted_on: str
    intercept: float
    threshold: float
    terms: tuple[Term, ...]
    rule: str = ""
    report: dict[str, Any] = field(default_factory=dict, compare=False)

    def confidence(self, signals: Mapping[str, float]) -> tuple[float, list[tuple[float, str]]]:
        """Confidence 0..1 and every (weighted doubt, signal) above zero, largest first. A signal that was
        not measured (no closer look, no ring around the product) adds no doubt."""
        doubts = [(term.weight * term.doubt(signals[term.signal]), term.signal)
                  for term in self.terms if signals.get(term.signal) is not None]
        doubts = sorted((item for item in doubts if item[0] > 0), reverse=True)
        logit = self.intercept - sum(doubt for doubt, _ in doubts)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit)))), doubts

    def deciding(self, doubts: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
        """The doubts (largest first) that held the cutout: the fewest without which it would have passed.
        Knots sit inside the good cutouts' range, so a held cutout usually has many small doubts; the owner
        is told the ones that decided, not every one."""
        allowed = (self.intercept - math.log(self.threshold / (1 - self.threshold))
                   if 0 < self.threshold < 1 else -math.inf)
        remaining = sum(doubt for doubt, _ in doubts)
        named = []
        for doubt, name in doubts:
            if remaining <= allowed:
                break
            named.append((doubt, name))
            remaining -= doubt
        return named

    def decide(self, signals: Mapping[str, float], quality_warnings: Sequence[str] = (),
               min_coverage: float = DEFAULT_THRESHOLDS.min_coverage) -> GateResult:
        """The gate's verdict on measured ``signals`` (``gate.measure`` plus ``gate_signals``).

        Signals are rounded to four decimals first, as the job record and the calibration corpus keep
        them, so a verdict recomputed from a stored record is the verdict the cutout got. A mask under
        ``min_coverage`` is no product at all, whatever the profile."""
        codes = list(dict.fromkeys(quality_warnings))
        scores = {name: round(float(value), 4) for name, value in signals.items()}
        if scores["coverage"] < min_coverage:
            return GateResult(passed=False, confidence=0.0, reasons=[NO_PRODUCT], scores={**scores, "confidence": 0.0})
        scores["pair_imbalance"] = round(pair_imbalance(scores.get("rival_ratio", 0.0)), 4)
        scores["warnings"] = float(len(codes))
        confidence, doubts = self.confidence(scores)
        passed = bool(self.terms) and confidence >= self.threshold
        reasons: list[str] = []
        if not passed:
            for _, name in self.deciding(doubts):
                reasons += [warning_reason(code) for code in codes] if name == "warnings" else [SENTENCES[name]]
            reasons = reasons or [UNFITTED_REASON if not self.terms else
                                  "The cutout is unlike the cutouts this model gets right."]
        scores["confidence"] = round(confidence, 4)
        return GateResult(passed=passed, confidence=round(confidence, 4), reasons=reasons, scores=scores)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "model_sha256": self.model_sha256, "corpus": self.corpus,
                "fitted_on": self.fitted_on, "rule": self.rule,
                "decision": {"intercept": self.intercept, "threshold": self.threshold,
                             "terms": [vars(term) for term in self.terms]},
                "report": self.report}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateProfile:
        decision = data["decision"]
        return cls(model=data["model"], model_sha256=data["model_sha256"], corpus=data["corpus"],
                   fitted_on=data["fitted_on"], rule=data.get("rule", ""), intercept=float(decision["intercept"]),
                   threshold=float(decision["threshold"]), terms=tuple(Term(**term) for term in decision["terms"]),
                   report=dict(data.get("report", {})))


def unfitted(model: str, model_sha256: str = "") -> GateProfile:
    """A profile with no limits: every signal is measured and every cutout held. ``make calibrate`` runs
    the corpus through it to measure a model that has no profile yet."""
    return GateProfile(model=model, model_sha256=model_sha256, corpus="", fitted_on="", intercept=0.0,
                       threshold=1.0, terms=())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def profile_path(model: str, folder: Path | None = None) -> Path:
    return (folder or PROFILES) / f"{model}.json"


def load_profile(model: str, weights: Path | None = None, folder: Path | None = None) -> GateProfile:
    """The committed profile of ``model`` (in ``folder``, default :data:`PROFILES`); with ``weights``, only
    if it was measured on exactly that file.

    Raises :class:`ProfileError` with what to do: a deployment whose model has no profile must not start,
    because its gate would be guessing."""
    folder = folder or PROFILES
    path = profile_path(model, folder)
    if not path.is_file():
        raise ProfileError(
            f"no gate profile for the model {model!r} (looked for {path}). The gate's limits are fitted per "
            f"model: run `make calibrate MODEL={model}` with its weights in models/, commit the profile it "
            f"writes, or deploy a model that has one ({', '.join(available_profiles(folder)) or 'none'}).")
    if weights is not None and not Path(weights).is_file():
        raise ProfileError(f"no weights for the model {model!r} at {weights}")
    return _checked(path, None if weights is None else Path(weights))


@cache
def _checked(path: Path, weights: Path | None) -> GateProfile:
    """The profile at ``path``, refused unless it was measured on ``weights`` (read and hashed once)."""
    profile = GateProfile.from_json(json.loads(path.read_text()))
    if weights is not None:
        actual = file_sha256(weights)
        if actual != profile.model_sha256:
            raise ProfileError(
                f"the gate profile {path.name} was measured on {profile.model} weights with sha256 "
                f"{profile.model_sha256[:12]}…, but {weights} has {actual[:12]}…: run `make calibrate "
                f"MODEL={profile.model}` for these weights.")
    return profile


def available_profiles(folder: Path | None = None) -> list[str]:
    return sorted(path.stem for path in (folder or PROFILES).glob("*.json"))


def profile_for(engine: object) -> GateProfile | None:
    """The profile an engine's cutouts are gated with: a local model's (it has a weights file) must exist,
    or :class:`ProfileError`; an engine without weights of its own (a hosted API, whose masks cannot be
    measured here) has none and keeps the hand-set limits of ``picr.segmentation.gate``."""
    weights = getattr(engine, "weights", None)
    return None if weights is None else load_profile(engine.name, Path(weights))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m picr.segmentation.gate_profile MODEL [WEIGHTS]``: exit 0 when the model has a usable profile (for
    ``make``), else print why not and exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        profile = load_profile(args[0], Path(args[1]) if len(args) > 1 else None)
    except ProfileError as error:
        print(f"gate profile: {error}", file=sys.stderr)
        return 1
    print(f"gate profile: {profile.model}, fitted {profile.fitted_on} on {profile.corpus}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
