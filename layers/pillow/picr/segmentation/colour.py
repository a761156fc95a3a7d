"""CIE L*a*b* for the gate signals: OpenCV's conversion, with its tables built before the first cutout needs them.

OpenCV builds its L*a*b* tables on the first conversion, in software floating point (for bit-exact results):
~0.1 s of CPU that a cold start would otherwise pay inside its first cutout. Importing this module starts that
build on a thread of its own; OpenCV releases the GIL, so it runs on the second core beside the rest of the
cold start (imports, AWS clients, the model session), which is one Python thread. It saves wall-clock time,
not CPU. OpenCV's table build is not thread-safe, so every conversion here waits for that thread first. The
thread is not a daemon: a process that exits before it is done (a short script importing the gate) waits the
~0.1 s for it, since OpenCV aborts the process when the interpreter shuts down under a running conversion.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np


def _build_tables() -> None:
    cv2.cvtColor(np.zeros((1, 1, 3), np.float32), cv2.COLOR_RGB2LAB)


_TABLES = threading.Thread(target=_build_tables, name="opencv-lab-tables")
_TABLES.start()


def lab(rgb: np.ndarray) -> np.ndarray:
    """L*a*b* (float32, L in 0..100) of an 8-bit RGB image: ``cv2.cvtColor`` of its 0..1 floats."""
    _TABLES.join()
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
