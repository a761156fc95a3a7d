"""The gate's two extra model looks at a photo: mirrored, and with the kept object hidden.

The signals of ``picr.segmentation.gate_signals`` that compare looks (the wrong object, a guess) need the model
twice more per photo. What those looks need apart from the model (the photo at its input size, the cutout's
own looks averaged down to that grid, the kept object inpainted) is made by functions that never call it, so
the cutout can prepare it on one core while the other finishes the mask (``picr.segmentation.cutout.SECOND_CORE``);
:func:`take_looks` then makes the two passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from picr.segmentation.engine import SegmentationEngine
from picr.segmentation.gate_signals import (
    DEFAULT_SIGNALS,
    SignalSettings,
    hide_object,
    left_after_hiding,
    mirror_disagreement,
    missed_by_cutout,
    model_soft_band,
    on_grid,
    rival_after_hiding,
)


@dataclass(frozen=True)
class ModelGrid:
    """The photo at the model's input size and the cutout's own looks averaged down to that grid: made as
    soon as the looks exist, without the model, so it can be made on one core while the other refines."""

    view: Image.Image
    """The photo at the model's input size (``side``×``side``), shrunk as the engine shrinks it."""
    first: np.ndarray
    """The look at the whole photo, on the model grid."""
    final: np.ndarray
    """The look the mask was refined from (the closer look at the crop, else the first), on the model grid."""


@dataclass(frozen=True)
class HiddenView:
    """The model-size view with the kept object hidden: what the hidden-object look is taken on."""

    grid: ModelGrid
    hidden: np.ndarray
    """``grid.view`` with the kept object and a rim around it inpainted (uint8 RGB)."""
    hole: np.ndarray
    """What was hidden (bool)."""
    kept: np.ndarray
    """The cutout (alpha ≥ 0.5) on the model grid (bool)."""


@dataclass(frozen=True)
class Looks:
    """The two extra looks the signals compare with the cutout's own, all on the model's grid."""

    scene: HiddenView
    """What they were taken on, with the cutout's own looks and the kept object on the same grid."""
    mirrored: np.ndarray
    """The look at the mirrored photo, flipped back."""
    hidden: np.ndarray
    """The look at the photo with the kept object hidden."""


EXTRA_LOOKS = 2
"""Model passes :func:`take_looks` adds to the cutout's own (the mirrored photo, the hidden object)."""


def on_model_grid(photo: Image.Image, side: int, coarse: np.ndarray, final: np.ndarray) -> ModelGrid:
    """``photo`` shrunk to the model's ``side`` (Lanczos, as the engine shrinks it), and ``coarse`` (the first
    look) and ``final`` (the look the mask came from; any size) averaged down to that grid."""
    view = photo.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=1.5)
    first = on_grid(coarse, (side, side))   # a one-look cutout's final look is its first: averaged once
    return ModelGrid(view=view, first=first, final=first if final is coarse else on_grid(final, (side, side)))


def kept_on_grid(alpha: np.ndarray, side: int) -> np.ndarray:
    """The cutout ``alpha`` (uint8, the photo's size) on the model's ``side``×``side`` grid (bool: alpha ≥ 0.5)."""
    return on_grid(alpha, (side, side)) >= 127.5


def hide_kept_object(grid: ModelGrid, kept: np.ndarray, settings: SignalSettings = DEFAULT_SIGNALS) -> HiddenView:
    """The ``kept`` object (:func:`kept_on_grid`) hidden in the model-size view. No model call: the inpainting
    is single-threaded OpenCV, the costliest step outside the model, and runs beside the decontamination."""
    hidden, hole = hide_object(np.asarray(grid.view), kept, settings)
    return HiddenView(grid=grid, hidden=hidden, hole=hole, kept=kept)


def take_looks(engine: SegmentationEngine, scene: HiddenView) -> Looks:
    """Two more model passes at the model's input size: the photo mirrored, and the photo with the kept
    object hidden (:func:`hide_kept_object`)."""
    mirrored = engine.predict(scene.grid.view.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[:, ::-1]
    hidden = engine.predict(Image.fromarray(scene.hidden))
    return Looks(scene=scene, mirrored=mirrored, hidden=hidden)


def look_signals(looks: Looks, settings: SignalSettings = DEFAULT_SIGNALS) -> dict[str, float]:
    """The signals that compare the model's looks (model grid). With ``gate_signals.outline_signals`` they are
    every signal of ``picr.segmentation.gate_signals`` but ``pair_imbalance`` (a reading of the shape signal
    ``rival_ratio``, derived where the decision is made)."""
    grid, hole, kept = looks.scene.grid, looks.scene.hole, looks.scene.kept
    kept_cells = int(kept.sum())
    return {
        "mirror_disagreement": mirror_disagreement(grid.first, looks.mirrored),
        "rival_after_hiding": rival_after_hiding(looks.hidden, hole, kept_cells, settings),
        "missed_by_cutout": missed_by_cutout(grid.first, kept, settings),
        **dict(zip(("hidden_peak", "hidden_mass"),
                   left_after_hiding(looks.hidden, hole, kept_cells, settings), strict=True)),
        "model_soft_band": model_soft_band(grid.final),
    }
