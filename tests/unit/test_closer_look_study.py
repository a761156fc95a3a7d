"""The closer-look study's instruments: the relaxed model, the pixel budgets and the pass counting.

The study's numbers only mean something if the relaxed graph is the same model (identical answer at
320×320), really runs at other sizes, and the pass count charges what the model actually looked at.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from picr.segmentation.engine import LocalEngine
from tools.closer_look_study import STANDARD, Design, FreeSizeEngine, with_pixels


@pytest.fixture(scope="module")
def free_engine() -> FreeSizeEngine:
    return FreeSizeEngine()


def product_photo(size=(800, 600)) -> Image.Image:
    photo = Image.new("RGB", size, (236, 234, 228))
    width, height = size
    ImageDraw.Draw(photo).rounded_rectangle((width * 0.35, height * 0.3, width * 0.62, height * 0.72), 25,
                                            fill=(180, 40, 35))
    return photo


def test_relaxed_model_answers_exactly_like_the_shipped_one_at_320(free_engine):
    photo = product_photo()
    shipped = LocalEngine()
    expected = shipped.infer(shipped.model_input(photo))
    assert np.array_equal(free_engine.infer(free_engine.model_input(photo)), expected)


def test_relaxed_model_looks_at_other_sizes(free_engine):
    photo = product_photo()
    probability = free_engine.infer(free_engine.model_input(photo, (320, 240)))
    assert probability.shape == (240, 320)
    # the product is found at that size too: the box's centre is product, a corner is background
    assert probability[120, 155] > 0.5 > probability[10, 10]


@pytest.mark.parametrize(("size", "share", "expected"), [((1600, 1200), 0.75, (320, 240)),
                                                        ((1000, 1000), 1.0, (320, 320)),
                                                        ((300, 200), 0.40, (248, 165))])
def test_pixel_budgets_keep_the_aspect(size, share, expected):
    assert with_pixels(*size, share) == expected


def test_passes_charge_the_first_look_and_the_closer_look_to_one_photo(free_engine):
    design = Design("probe", free_engine, lambda image: free_engine.look(image, STANDARD),
                    lambda image: free_engine.look(image, (160, 160)))
    photo = product_photo()
    design.predict(photo)
    design.predict(photo.crop((200, 150, 600, 450)))      # at most 2/3 of the photo: a closer look
    design.predict(product_photo((640, 480)))            # a new photo
    assert design.passes == pytest.approx([1.25, 1.0])
