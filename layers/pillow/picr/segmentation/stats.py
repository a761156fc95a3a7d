"""Statistics the gate and the tap read: order statistics computed without numpy's masked-array module, and
the overlap of two masks.

``np.percentile`` calls ``np.unique``, which checks for a masked array and so imports ``numpy.ma`` on first
use: 50-100 ms of the cutout's first job after a cold start, for one 90th percentile.
"""

from __future__ import annotations

import math

import numpy as np


def percentile(values: np.ndarray, q: float) -> np.floating:
    """``np.percentile(values, q)`` (its default, linear method), to the last bit, for finite values: the
    same two neighbours of the virtual index ``(n - 1) * q / 100`` and numpy's interpolation between them, in
    the values' own precision."""
    flat = np.ravel(values)
    if flat.size == 0:
        raise ValueError("percentile of no values")
    last = flat.size - 1
    virtual = last * (q / 100)
    below = last if virtual >= last else math.floor(virtual)
    above = min(below + 1, last)
    ordered = np.partition(flat, (below, above))
    low, high = ordered[below], ordered[above]
    weight = virtual - below
    step = high - low
    # numpy interpolates from the nearer neighbour (np.lib._function_base_impl._lerp)
    return high - step * (1 - weight) if weight >= 0.5 else low + step * weight


def mask_iou(a: np.ndarray, b: np.ndarray, empty: float = 1.0) -> float:
    """Intersection over union of two boolean masks; ``empty`` when both are empty (two looks that agree
    on nothing found agree, unless the caller says otherwise)."""
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else empty
