"""The gate's extra looks: what they are taken on is made from the photo and the cutout alone, on real pixels.
The looks themselves (the model's passes) are checked with the real model in tests/unit/test_cutout.py."""

from __future__ import annotations

import numpy as np
from PIL import Image

from picr.segmentation import gate_looks as gl
from picr.segmentation import gate_signals as gs


def disc(shape, centre, radius) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) <= radius


def test_the_model_grid_and_the_hidden_view_are_made_from_the_photo_and_the_cutout_without_the_model():
    photo_rgb = np.zeros((1500, 2000, 3), np.uint8)
    photo_rgb[...] = (200, 190, 170)
    product = disc((1500, 2000), centre=(800, 700), radius=300)
    photo_rgb[product] = (30, 60, 150)
    photo = Image.fromarray(photo_rgb)
    look = product.astype(np.float32)
    grid = gl.on_model_grid(photo, 320, look, look)
    assert grid.view.size == (320, 320) and grid.final is grid.first      # one look: averaged once
    assert grid.first.shape == (320, 320) and grid.first.dtype == np.float32
    assert np.array_equal(np.asarray(grid.view), np.asarray(photo.resize((320, 320), Image.Resampling.LANCZOS,
                                                                         reducing_gap=1.5)))
    closer = gl.on_model_grid(photo, 320, look, np.ones((400, 300), np.float32))
    assert np.array_equal(closer.first, grid.first) and (closer.final == 1.0).all()
    alpha = np.where(product, 255, 0).astype(np.uint8)
    alpha[:, :1000][alpha[:, :1000] == 255] = 120                            # the left half faint: not kept
    kept = gl.kept_on_grid(alpha, 320)
    assert kept.dtype == bool and kept[149, 170] and not kept[149, 140]   # x 1062 and 875, y 700: ×0.16, ×0.213
    whole = gl.kept_on_grid(np.where(product, 255, 0).astype(np.uint8), 320)
    scene = gl.hide_kept_object(grid, whole)
    assert np.array_equal(scene.hole, gs._grow(whole, 4)) and scene.kept is whole
    view = np.asarray(grid.view)
    assert np.array_equal(scene.hidden[~scene.hole], view[~scene.hole])
    assert (scene.hidden[scene.hole][:, 0] > 150).all()     # the product (red 30) is painted over with paper (200)
