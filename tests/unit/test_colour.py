"""The gate's L*a*b*: exactly OpenCV's, whether or not its tables were built ahead on their own thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from picr.segmentation import colour
from tools.shared_data import CASES

REPO = Path(__file__).resolve().parents[2]


def test_lab_is_opencvs_conversion_of_the_photos_unit_floats():
    with Image.open(CASES / "03_guitar_cluttered_living_room" / "photo.jpg") as photo:
        rgb = np.asarray(photo.convert("RGB").resize((512, 384), Image.Resampling.BOX))
    ours = colour.lab(rgb)
    assert not colour._TABLES.is_alive()   # the tables' thread is done before the first conversion
    assert ours.dtype == np.float32 and ours.shape == (384, 512, 3)
    assert np.array_equal(ours, cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB))
    assert ours[..., 0].min() >= 0.0 and ours[..., 0].max() <= 100.0


def test_a_process_that_exits_while_the_tables_are_built_exits_cleanly():
    """A script that imports the gate and ends at once (the image build's profile check does) must not die with
    the tables half built: OpenCV aborts the process when the interpreter shuts down under a conversion."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "pillow")}
    codes = [subprocess.run([sys.executable, "-c", "import picr.segmentation.colour"], env=env, capture_output=True,
                            timeout=120, check=False).returncode for _ in range(8)]
    assert codes == [0] * 8
