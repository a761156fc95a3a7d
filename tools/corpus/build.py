"""Build the calibration corpus: ≥ 300 generated shop photos with exact masks and an expected outcome.

    python -m tools.corpus.build --out corpus [--ids ID,ID] [--limit N] [--jobs 2]

Every photo is a composite of real cut-outs (Tux Paint's photographic stamps) on real backgrounds
(wallpaper photos, paper scans) from pinned Debian packages (``tools.corpus.sources``), with a drop
shadow, sensor noise and JPEG, 1200–2600 px on the long edge. Each photo belongs to one *class* of
``CLASSES``, which fixes how it is made and what the pipeline should do with it: ``publish`` (the mask
is the product; the gate should publish when the cutout matches it and hold when it does not) or
``hold`` (a person must look, whatever the cutout; the reason says why in plain words).

Output: ``<out>/cases/<id>/photo.jpg`` (JPEG q85–92, 4:2:0), ``mask.png`` (8-bit alpha of what should
be published), ``meta.json`` (the shared scorer's format plus the corpus fields) and
``<out>/manifest.json`` (every case's meta, the packages and the class table). Each photo draws
everything from its own generator, seeded from the corpus version and its id, so any subset is built
byte for byte the same as in the full corpus, in any order and with any number of processes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import multiprocessing
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL
import scipy
from PIL import Image

from tools.corpus import catalogue as cat
from tools.corpus.compose import (
    Cutout,
    crop,
    drop_shadow,
    finish,
    glass_alpha,
    median_lab,
    over,
    place,
    prepare,
    shadow_reach,
    tile,
    to_float,
)
from tools.corpus.sources import PACKAGES, SourceTree, fetch

CORPUS_VERSION = "picr-corpus-1"
PUBLISH, HOLD = "publish", "hold"


@dataclass(frozen=True)
class PhotoClass:
    """One failure class (or control) of a shop photo and the outcome the pipeline owes it."""

    name: str
    count: int
    expected: str
    reason: str
    """Why a person must look (holds), or what a good cutout is (publishes), in plain words."""


CLASSES: tuple[PhotoClass, ...] = (
    PhotoClass("plain", 30, PUBLISH,
               "A product on a plain paper or a calm surface: the easy case, a control for the others."),
    PhotoClass("thin", 45, PUBLISH,
               "A product with thin parts (blades, rods, strings, legs, jaws, necks); publish only a cutout "
               "that keeps them."),
    PhotoClass("low_contrast", 35, PUBLISH,
               "A product on the background closest to its own colour out of eight tried; publish only a "
               "cutout that still finds its outline."),
    PhotoClass("clutter", 40, PUBLISH,
               "A product in a busy real scene with small out-of-focus things lying about; they are "
               "background."),
    PhotoClass("fills_frame", 25, PUBLISH,
               "A product spanning 86-95 % of the frame but whole (a margin on every side)."),
    PhotoClass("two_products", 30, PUBLISH,
               "Two products of similar size shot together on purpose (a set); both belong in the cutout."),
    PhotoClass("salient_distractor", 45, HOLD,
               "A larger, more eye-catching object stands beside the product; the pipeline cannot know which "
               "of the two the owner meant to sell, so a person must choose."),
    PhotoClass("see_through", 40, HOLD,
               "The product is see-through and the background's texture shows through it; where it ends "
               "and how transparent it is needs a person's eye."),
    PhotoClass("glow_flame_smoke", 35, HOLD,
               "A flame, glow or smoke has no hard outline; where it ends is a judgement a person must make."),
    PhotoClass("cut_by_frame", 30, HOLD,
               "The product runs off the edge of the photo, so part of it is missing."),
    PhotoClass("empty", 20, HOLD, "There is no product in the photo."),
)
CLASS_BY_NAME = {c.name: c for c in CLASSES}

MIN_LONG_EDGE, MAX_LONG_EDGE = 1200, 2600
ASPECTS = ((4, 3), (3, 4), (3, 2), (1, 1), (16, 9), (2, 3))
ASPECT_WEIGHTS = (0.4, 0.2, 0.1, 0.1, 0.12, 0.08)
MAX_UPSCALE = 6.0          # stamps are 90-700 px; beyond 6x they are visibly soft
MAX_UPSCALE_GLOW = 9.0     # light and smoke have no detail to lose
PROCESSING = ("background: crop of a photo resized (Lanczos) or a paper scan tiled at native resolution; cut-outs: "
              "premultiplied Lanczos resize, rotation, mirror, optional defocus; drop shadow from the cut-out's "
              "alpha (darkens the background only, not in the mask); alpha-over composite in sRGB; Gaussian "
              "sensor noise; JPEG 4:2:0, no EXIF")


def photo_ids(classes: Iterable[PhotoClass] = CLASSES, limit: int | None = None) -> list[str]:
    """Every photo id (``<class>-NNN``) in build order; ``limit`` keeps the first N of each class."""
    return [f"{c.name}-{n:03d}" for c in classes for n in range(c.count if limit is None else min(limit, c.count))]


def split_of(photo_id: str) -> tuple[PhotoClass, int]:
    name, _, number = photo_id.rpartition("-")
    return CLASS_BY_NAME[name], int(number)


def part_for(photo_id: str) -> str:
    """Every third photo of a class is in the evaluation part; its sources come only from that part."""
    return cat.EVAL if split_of(photo_id)[1] % cat.EVAL_EVERY == 0 else cat.FIT


def seed_for(photo_id: str) -> int:
    return int(hashlib.sha256(f"{CORPUS_VERSION}:{photo_id}".encode()).hexdigest()[:12], 16)


# --------------------------------------------------------------------------------------------------
# sources, loaded once per process
# --------------------------------------------------------------------------------------------------


class Library:
    """Decoded sources, cached: stamps as trimmed RGBA float arrays, backgrounds as Pillow images."""

    def __init__(self, tree: SourceTree) -> None:
        self.tree = tree
        self._stamps: dict[str, np.ndarray] = {}
        self._images: dict[str, Image.Image] = {}

    def stamp(self, source: cat.Source) -> np.ndarray:
        if source.key not in self._stamps:
            rgba = to_float(self.tree.open(source.package, source.path), "RGBA")
            ys, xs = np.nonzero(rgba[..., 3] > 0)
            self._stamps[source.key] = rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1].copy()
        return self._stamps[source.key]

    def image(self, source: cat.Source) -> Image.Image:
        if source.key not in self._images:
            self._images[source.key] = self.tree.open(source.package, source.path).convert("RGB")
        return self._images[source.key]


# --------------------------------------------------------------------------------------------------
# one photo
# --------------------------------------------------------------------------------------------------


def _round(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


class Scene:
    """A photo being composed: the image, the exact mask of what should be published, and the record."""

    def __init__(self, ctx: Context, width: int, height: int) -> None:
        self.ctx, self.width, self.height = ctx, width, height
        self.image = np.zeros((height, width, 3), np.float32)
        self.mask = np.zeros((height, width), np.float32)
        self.sources: list[dict] = []
        self.params: dict = {"size": [width, height]}

    def lay_background(self, source: cat.Source, params: dict | None = None) -> None:
        rng = self.ctx.rng
        if source.layout == "tile":
            paper = to_float(self.ctx.lib.image(source), "RGB")
            ox, oy = int(rng.integers(0, paper.shape[1])), int(rng.integers(0, paper.shape[0]))
            self.image = tile(paper, self.width, self.height, ox, oy)
            laid = {"layout": "tile", "offset": [ox, oy]}
            role = "background (paper scan tiled at native resolution)"
        else:
            box = params["box"] if params else crop_box(rng, self.ctx.lib.image(source).size, self.width, self.height)
            self.image = crop(self.ctx.lib.image(source), self.width, self.height, box)
            laid = {"layout": "crop", "box": list(box)}
            role = f"background (crop {tuple(round(v) for v in box)} resized to {self.width}x{self.height})"
        self.sources.append(source.record(role))
        self.params["background"] = laid

    def add(self, source: cat.Source, cutout: Cutout, x0: int, y0: int, *, in_mask: bool, role: str,
            shadow: dict | None, params: dict) -> None:
        """Lay a cut-out (and its shadow) over the photo. Only the window it can touch is computed: the
        rest of the frame would be multiplied by 1 and added 0."""
        w, h = cutout.size
        if shadow is not None:
            reach = shadow_reach(h, shadow["dx"], shadow["dy"], shadow["sigma"])
            wx0, wy0 = max(0, x0 - reach), max(0, y0 - reach)
            wx1, wy1 = min(self.width, x0 + w + reach), min(self.height, y0 + h + reach)
            if wx1 > wx0 and wy1 > wy0:
                _, alpha = place(cutout, wx1 - wx0, wy1 - wy0, x0 - wx0, y0 - wy0)
                self.image[wy0:wy1, wx0:wx1] = drop_shadow(self.image[wy0:wy1, wx0:wx1], alpha, h, **shadow)
        bx0, by0, bx1, by1 = max(0, x0), max(0, y0), min(self.width, x0 + w), min(self.height, y0 + h)
        if bx1 > bx0 and by1 > by0:
            colour, alpha = place(cutout, bx1 - bx0, by1 - by0, x0 - bx0, y0 - by0)
            self.image[by0:by1, bx0:bx1] = over(colour, alpha, self.image[by0:by1, bx0:bx1])
            below = self.mask[by0:by1, bx0:bx1]
            self.mask[by0:by1, bx0:bx1] = alpha + (1.0 - alpha) * below if in_mask else below * (1.0 - alpha)
        self.sources.append(source.record(role))
        self.params.setdefault("layers", []).append(
            {"source": source.path, "in_mask": in_mask, "position": [x0, y0], "placed_size": list(cutout.size),
             "shadow": shadow, **params})


@dataclass
class Context:
    photo_id: str
    part: str
    rng: np.random.Generator
    lib: Library

    def choose(self, pool: str, exclude: Iterable[str] = (), min_long: int = 0, min_solid: float = 0.0) -> cat.Source:
        """A seeded choice from one pool of this photo's part: stamps at least ``min_long`` px long whose
        solid part (alpha ≥ 0.5) fills at least ``min_solid`` of their box."""
        excluded = set(exclude)
        candidates = [s for s in cat.pool(pool, self.part) if s.key not in excluded]
        for index in self.rng.permutation(len(candidates)):
            source = candidates[int(index)]
            stamp = self.lib.stamp(source)
            if max(stamp.shape[:2]) >= min_long and float((stamp[..., 3] >= 0.5).mean()) >= min_solid:
                return source
        raise LookupError(f"no {pool} source of at least {min_long} px and {min_solid} solid in part {self.part}")

    def choose_from(self, pools: Iterable[str]) -> cat.Source:
        candidates = [s for name in pools for s in cat.pool(name, self.part)]
        return candidates[int(self.rng.integers(len(candidates)))]


def frame(rng: np.random.Generator) -> tuple[int, int]:
    """A phone-like frame: long edge 1200-2600 px, a common aspect (portrait or landscape)."""
    long_edge = int(rng.integers(MIN_LONG_EDGE, MAX_LONG_EDGE + 1))
    a, b = ASPECTS[int(rng.choice(len(ASPECTS), p=ASPECT_WEIGHTS))]
    return (long_edge, round(long_edge * b / a)) if a >= b else (round(long_edge * a / b), long_edge)


def crop_box(rng: np.random.Generator, source_size: tuple[int, int], width: int, height: int,
             zoom: tuple[float, float] = (0.45, 1.0)) -> tuple[float, float, float, float]:
    """A random window of the frame's aspect inside a source photo, 45-100 % of the largest such window."""
    sw, sh = source_size
    if sw / sh > width / height:
        bw, bh = sh * width / height, float(sh)
    else:
        bw, bh = float(sw), sw * height / width
    z = rng.uniform(*zoom)
    bw, bh = bw * z, bh * z
    x0, y0 = rng.uniform(0, sw - bw), rng.uniform(0, sh - bh)
    return (round(x0, 2), round(y0, 2), round(x0 + bw, 2), round(y0 + bh, 2))


def rotated_extent(size: tuple[int, int], degrees: float) -> tuple[float, float]:
    w, h = size
    c, s = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    return w * c + h * s, w * s + h * c


def span_scale(stamp: np.ndarray, degrees: float, share: float, width: int, height: int) -> float:
    """Scale at which the rotated stamp spans ``share`` of the frame in its binding direction."""
    rw, rh = rotated_extent((stamp.shape[1], stamp.shape[0]), degrees)
    return share * min(width / rw, height / rh)


def fit_upscale(width: int, height: int, scale: float, cap: float) -> tuple[int, int, float]:
    """Shrink the frame (not below 1200 px long) when a stamp would have to grow more than ``cap`` times."""
    if scale <= cap:
        return width, height, scale
    factor = max(cap / scale, MIN_LONG_EDGE / max(width, height))
    return round(width * factor), round(height * factor), scale * factor


def shadow_params(rng: np.random.Generator, strength: tuple[float, float] = (0.2, 0.5)) -> dict:
    return {"dx": float(rng.uniform(-0.04, 0.04)), "dy": float(rng.uniform(0.0, 0.05)),
            "sigma": float(rng.uniform(0.015, 0.05)), "strength": float(rng.uniform(*strength)),
            "contact": float(rng.uniform(0.0, 0.25))}


def pose(rng: np.random.Generator, max_degrees: float = 12.0) -> tuple[float, bool]:
    return float(np.round(rng.uniform(-max_degrees, max_degrees), 1)), bool(rng.random() < 0.5)


def position(rng: np.random.Generator, cutout: Cutout, width: int, height: int, margin: float = 0.03,
             centre: tuple[float, float] | None = None) -> tuple[int, int]:
    """Top-left corner keeping the cut-out inside the frame with ``margin``; ``centre`` restricts where
    its centre may fall (shares of the frame)."""
    w, h = cutout.size
    lo_x, hi_x = margin * width, width - margin * width - w
    lo_y, hi_y = margin * height, height - margin * height - h
    if centre is not None:
        lo_x, hi_x = max(lo_x, centre[0] * width - w / 2), min(hi_x, centre[1] * width - w / 2)
        lo_y, hi_y = max(lo_y, centre[0] * height - h / 2), min(hi_y, centre[1] * height - h / 2)
    x = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (width - w) / 2
    y = rng.uniform(lo_y, hi_y) if hi_y > lo_y else (height - h) / 2
    return round(x), round(y)


def box_at(cutout: Cutout, x0: int, y0: int) -> tuple[int, int, int, int]:
    bx0, by0, bx1, by1 = cutout.box()
    return x0 + bx0, y0 + by0, x0 + bx1, y0 + by1


def apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: float) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def solid_area(cutout: Cutout) -> float:
    return float((cutout.alpha >= 0.5).sum())


def _stamp_params(scale: float, degrees: float, flip: bool, **more: object) -> dict:
    return {"scale": scale, "rotate": degrees, "flip": flip, **more}


# ---- the classes ----------------------------------------------------------------------------------


def _product_photo(ctx: Context, pool: str, share: tuple[float, float], backgrounds: Iterable[str],
                   min_long: int = 0, shadow_strength: tuple[float, float] = (0.2, 0.5),
                   cap: float = MAX_UPSCALE) -> tuple[Scene, cat.Source, Cutout, int, int, dict]:
    """One product on a background, placed whole: the common core of several classes. The last item is
    the product's generation parameters, for its layer record."""
    rng = ctx.rng
    product = ctx.choose(pool, min_long=min_long)
    stamp = ctx.lib.stamp(product)
    degrees, flip = pose(rng)
    width, height = frame(rng)
    target = float(rng.uniform(*share))
    width, height, scale = fit_upscale(width, height, span_scale(stamp, degrees, target, width, height), cap)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(backgrounds))
    cutout = prepare(stamp, scale, degrees, flip)
    x0, y0 = position(rng, cutout, width, height)
    return scene, product, cutout, x0, y0, _stamp_params(scale, degrees, flip, span=target)


def build_plain(ctx: Context) -> Scene:
    scene, product, cutout, x0, y0, params = _product_photo(ctx, "product", (0.3, 0.7), ("paper", "surface"))
    scene.add(product, cutout, x0, y0, in_mask=True, role="product", shadow=shadow_params(ctx.rng), params=params)
    return scene


def build_thin(ctx: Context) -> Scene:
    busy = bool(ctx.rng.random() < 0.5)
    pools = ("texture", "cluttered") if busy else ("paper", "surface")
    scene, product, cutout, x0, y0, params = _product_photo(ctx, "thin", (0.4, 0.85), pools)
    scene.add(product, cutout, x0, y0, in_mask=True, role="product (thin parts)",
              shadow=shadow_params(ctx.rng, (0.15, 0.4)), params={**params, "busy_background": busy})
    return scene


def build_low_contrast(ctx: Context) -> Scene:
    rng = ctx.rng
    product = ctx.choose("product")
    stamp = ctx.lib.stamp(product)
    degrees, flip = pose(rng)
    width, height = frame(rng)
    width, height, scale = fit_upscale(width, height, span_scale(stamp, degrees, rng.uniform(0.3, 0.65), width,
                                                                  height), MAX_UPSCALE)
    product_lab = median_lab(stamp[..., :3], stamp[..., 3] >= 0.5)
    tried = []
    for _ in range(8):
        source = ctx.choose_from(("paper", "surface", "texture", "cluttered"))
        if source.layout == "tile":
            look = to_float(ctx.lib.image(source), "RGB")
            box = None
        else:
            box = crop_box(rng, ctx.lib.image(source).size, width, height)
            look = crop(ctx.lib.image(source), max(8, width // 16), max(8, height // 16), box)
        delta_e = float(np.linalg.norm(median_lab(look) - product_lab))
        tried.append((delta_e, len(tried), source, box))
    delta_e, _, source, box = min(tried, key=lambda t: (t[0], t[1]))
    scene = Scene(ctx, width, height)
    scene.lay_background(source, None if box is None else {"box": box})
    cutout = prepare(stamp, scale, degrees, flip)
    x0, y0 = position(rng, cutout, width, height)
    scene.add(product, cutout, x0, y0, in_mask=True, role="product", shadow=shadow_params(rng, (0.0, 0.2)),
              params=_stamp_params(scale, degrees, flip))
    scene.params["delta_e_product_background"] = delta_e
    scene.params["backgrounds_tried"] = [[t[2].path, t[0]] for t in tried]
    return scene


def build_clutter(ctx: Context) -> Scene:
    rng = ctx.rng
    scene, product, cutout, x0, y0, params = _product_photo(ctx, "product", (0.25, 0.5), ("cluttered",))
    keep_clear = box_at(cutout, x0, y0)
    gap = 0.02 * max(scene.width, scene.height)
    used = [product.key]
    for _ in range(int(rng.integers(3, 7))):
        prop = ctx.choose("prop", exclude=used)
        used.append(prop.key)
        stamp = ctx.lib.stamp(prop)
        share = float(rng.uniform(0.05, 0.25))     # of the product's solid area
        scale = math.sqrt(share * solid_area(cutout) / max(1.0, float((stamp[..., 3] >= 0.5).sum())))
        degrees, flip = pose(rng, 30.0)
        blur = float(rng.uniform(1.0, 3.0))
        piece = prepare(stamp, scale, degrees, flip, blur=blur)
        for _ in range(40):
            px, py = position(rng, piece, scene.width, scene.height, margin=0.0)
            if apart(box_at(piece, px, py), keep_clear, gap):
                scene.add(prop, piece, px, py, in_mask=False, role="prop (background, out of focus)",
                          shadow=shadow_params(rng, (0.1, 0.3)),
                          params=_stamp_params(scale, degrees, flip, defocus_sigma=blur, area_share=share))
                break
    scene.add(product, cutout, x0, y0, in_mask=True, role="product", shadow=shadow_params(rng), params=params)
    return scene


def build_fills_frame(ctx: Context) -> Scene:
    rng = ctx.rng
    product = ctx.choose("product", min_long=200, min_solid=0.5)   # a compact product, not a long thin one
    stamp = ctx.lib.stamp(product)
    degrees, flip = pose(rng, 6.0)
    width, height = frame(rng)
    target = float(rng.uniform(0.86, 0.95))
    width, height, scale = fit_upscale(width, height, span_scale(stamp, degrees, target, width, height), MAX_UPSCALE)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(("paper", "surface", "texture")))
    cutout = prepare(stamp, scale, degrees, flip)
    x0, y0 = position(rng, cutout, width, height, margin=0.015)
    scene.add(product, cutout, x0, y0, in_mask=True, role="product (filling the frame, whole)",
              shadow=shadow_params(rng, (0.15, 0.35)), params=_stamp_params(scale, degrees, flip, span=target))
    return scene


def build_two_products(ctx: Context) -> Scene:
    rng = ctx.rng
    first = ctx.choose("product")
    second = ctx.choose("product", exclude=[first.key])
    width, height = frame(rng)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(("paper", "surface", "texture")))
    landscape = width >= height
    half = (width / 2, height) if landscape else (width, height / 2)
    ratio = float(rng.uniform(0.6, 1.0))
    pieces = []
    reference = None
    for source in (first, second):
        stamp = ctx.lib.stamp(source)
        degrees, flip = pose(rng)
        if reference is None:
            scale = span_scale(stamp, degrees, float(rng.uniform(0.55, 0.8)), round(half[0]), round(half[1]))
            scale = min(scale, MAX_UPSCALE)
        else:
            scale = math.sqrt(ratio * reference / max(1.0, float((stamp[..., 3] >= 0.5).sum())))
            scale = min(scale, span_scale(stamp, degrees, 0.85, round(half[0]), round(half[1])))
        cutout = prepare(stamp, scale, degrees, flip)
        if reference is None:
            reference = solid_area(cutout)
        pieces.append((source, cutout, _stamp_params(scale, degrees, flip)))
    for index, (source, cutout, params) in enumerate(pieces):
        w, h = cutout.size
        if landscape:
            lo, hi = index * width / 2 + 0.02 * width, (index + 1) * width / 2 - 0.02 * width - w
            x0 = round(rng.uniform(lo, hi)) if hi > lo else round(index * width / 2 + (width / 2 - w) / 2)
            y0 = position(rng, cutout, width, height)[1]
        else:
            lo, hi = index * height / 2 + 0.02 * height, (index + 1) * height / 2 - 0.02 * height - h
            y0 = round(rng.uniform(lo, hi)) if hi > lo else round(index * height / 2 + (height / 2 - h) / 2)
            x0 = position(rng, cutout, width, height)[0]
        scene.add(source, cutout, x0, y0, in_mask=True, role="product (one of two shot together)",
                  shadow=shadow_params(rng), params=params)
    scene.params["area_ratio"] = solid_area(pieces[1][1]) / max(1.0, solid_area(pieces[0][1]))
    return scene


def build_salient_distractor(ctx: Context) -> Scene:
    rng = ctx.rng
    scene, product, cutout, x0, y0, params = _product_photo(ctx, "product", (0.14, 0.28),
                                                            ("paper", "surface", "texture", "cluttered"))
    rival = ctx.choose("eye-catcher")
    stamp = ctx.lib.stamp(rival)
    degrees, flip = pose(rng)
    ratio = float(rng.uniform(3.0, 8.0))
    scale = math.sqrt(ratio * solid_area(cutout) / max(1.0, float((stamp[..., 3] >= 0.5).sum())))
    scale = min(scale, span_scale(stamp, degrees, 0.6, scene.width, scene.height), MAX_UPSCALE)
    big = prepare(stamp, scale, degrees, flip)
    gap = 0.02 * max(scene.width, scene.height)
    for _ in range(60):
        bx, by = position(rng, big, scene.width, scene.height, centre=(0.35, 0.65))
        x0, y0 = position(rng, cutout, scene.width, scene.height)
        if apart(box_at(big, bx, by), box_at(cutout, x0, y0), gap):
            break
    else:
        raise RuntimeError(f"{ctx.photo_id}: no room for the product beside the eye-catcher")
    scene.add(rival, big, bx, by, in_mask=False, role="eye-catcher (larger object beside the product, not in the mask)",
              shadow=shadow_params(rng), params=_stamp_params(scale, degrees, flip))
    scene.add(product, cutout, x0, y0, in_mask=True, role="product (the small object the owner sells)",
              shadow=shadow_params(rng), params=params)
    scene.params["rival_area_ratio"] = solid_area(big) / max(1.0, solid_area(cutout))
    return scene


def build_see_through(ctx: Context) -> Scene:
    rng = ctx.rng
    product = ctx.choose("container")
    stamp = ctx.lib.stamp(product).copy()
    inner, rim, edge = float(rng.uniform(0.25, 0.65)), float(rng.uniform(0.8, 0.95)), float(rng.uniform(1.5, 4.0))
    stamp[..., 3] = glass_alpha(stamp[..., 3], inner, rim, edge)
    degrees, flip = pose(rng)
    width, height = frame(rng)
    width, height, scale = fit_upscale(width, height, span_scale(stamp, degrees, rng.uniform(0.35, 0.7), width,
                                                                  height), MAX_UPSCALE)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(("texture", "cluttered")))
    cutout = prepare(stamp, scale, degrees, flip)
    x0, y0 = position(rng, cutout, width, height)
    scene.add(product, cutout, x0, y0, in_mask=True,
              role=f"product made see-through by the builder (alpha {inner:.2f} inside rising to {rim:.2f} at the "
                   "outline, as ../shared/photos/build does for its glass jug)",
              shadow=shadow_params(rng, (0.05, 0.2)),
              params=_stamp_params(scale, degrees, flip, glass_inner=inner, glass_rim=rim, glass_edge_px=edge))
    return scene


def build_glow_flame_smoke(ctx: Context) -> Scene:
    rng = ctx.rng
    product = ctx.choose("glow")
    stamp = ctx.lib.stamp(product)
    degrees, flip = pose(rng, 20.0)
    width, height = frame(rng)
    width, height, scale = fit_upscale(width, height, span_scale(stamp, degrees, rng.uniform(0.3, 0.7), width,
                                                                  height), MAX_UPSCALE_GLOW)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(("paper", "surface", "texture", "cluttered")))
    cutout = prepare(stamp, scale, degrees, flip)
    x0, y0 = position(rng, cutout, width, height)
    scene.add(product, cutout, x0, y0, in_mask=True, role="light, flame or smoke (its own soft alpha)", shadow=None,
              params=_stamp_params(scale, degrees, flip))
    return scene


def build_cut_by_frame(ctx: Context) -> Scene:
    rng = ctx.rng
    scene, product, cutout, x0, y0, params = _product_photo(ctx, "product", (0.35, 0.7),
                                                            ("paper", "surface", "texture"))
    hidden = float(rng.uniform(0.15, 0.45))
    side = ("left", "right", "top", "bottom")[int(rng.integers(4))]
    axis = 1 if side in ("left", "right") else 0
    mass = cutout.alpha.sum(axis=1 - axis)     # alpha per column (left/right) or per row (top/bottom)
    cumulative = np.cumsum(mass) / mass.sum()
    if side in ("left", "top"):
        cut = int(np.searchsorted(cumulative, hidden))           # pixels off the frame on that side
        offset = -cut
    else:
        cut = int(len(mass) - np.searchsorted(cumulative, 1.0 - hidden))
        offset = (scene.width if axis == 1 else scene.height) - len(mass) + cut
    if axis == 1:
        x0 = offset
    else:
        y0 = offset
    scene.add(product, cutout, x0, y0, in_mask=True, role="product (partly outside the frame; the mask is the "
              "visible part)", shadow=shadow_params(rng), params=params)
    visible = float(scene.mask.sum()) / float(cutout.alpha.sum())
    scene.params.update(cut_side=side, hidden_alpha_share=1.0 - visible)
    return scene


def build_empty(ctx: Context) -> Scene:
    width, height = frame(ctx.rng)
    scene = Scene(ctx, width, height)
    scene.lay_background(ctx.choose_from(("paper", "surface", "texture", "cluttered")))
    return scene


BUILDERS: dict[str, Callable[[Context], Scene]] = {
    "plain": build_plain, "thin": build_thin, "low_contrast": build_low_contrast, "clutter": build_clutter,
    "fills_frame": build_fills_frame, "two_products": build_two_products,
    "salient_distractor": build_salient_distractor, "see_through": build_see_through,
    "glow_flame_smoke": build_glow_flame_smoke, "cut_by_frame": build_cut_by_frame, "empty": build_empty,
}


# --------------------------------------------------------------------------------------------------
# encoding, meta, manifest
# --------------------------------------------------------------------------------------------------


def render(photo_id: str, lib: Library) -> tuple[bytes, bytes, dict]:
    """(photo.jpg bytes, mask.png bytes, meta) of one photo."""
    kind, _ = split_of(photo_id)
    seed = seed_for(photo_id)
    rng = np.random.default_rng(seed)
    ctx = Context(photo_id, part_for(photo_id), rng, lib)
    scene = BUILDERS[kind.name](ctx)
    noise = float(rng.uniform(1.0, 3.5))
    quality = int(rng.integers(85, 93))
    photo = finish(scene.image, rng, noise)
    photo_buffer = io.BytesIO()
    photo.save(photo_buffer, format="JPEG", quality=quality, subsampling=2, optimize=True)
    mask_u8 = np.clip(np.round(scene.mask * 255.0), 0, 255).astype(np.uint8)
    mask_buffer = io.BytesIO()
    Image.fromarray(mask_u8, "L").save(mask_buffer, format="PNG", compress_level=6)
    m = mask_u8.astype(np.float32) / 255.0
    present = m > 0.02
    scene.params.update(noise_sigma_255=noise, jpeg_quality=quality, jpeg_subsampling="4:2:0")
    meta = {
        "case": photo_id,
        "id": photo_id,
        "class": kind.name,
        "part": ctx.part,
        "expected": kind.expected,
        "expect": "pass" if kind.expected == PUBLISH else "review",
        "reason": kind.reason,
        "kind": "real" if kind.name == "empty" else "composite",
        "size": [scene.width, scene.height],
        "object_fraction": round(float((m >= 0.5).mean()), 4),
        "partial_alpha_fraction_of_object": round(float(((m > 0.02) & (m < 0.98)).sum() / max(1, present.sum())), 4),
        "source": scene.sources,
        "licence": "; ".join(dict.fromkeys(s["licence"] for s in scene.sources)),
        "params": _round(scene.params),
        "seed": seed,
        "gt_exact": True,
        "processing": PROCESSING,
        "ground_truth": ("empty (no product): all zeros" if kind.name == "empty" else
                         "exact: the composited alpha of the product(s) that should be published; shadows, "
                         "props and eye-catchers are not in it"),
        "corpus_version": CORPUS_VERSION,
    }
    return photo_buffer.getvalue(), mask_buffer.getvalue(), meta


_LIBRARY: Library | None = None


def _worker_init(tree_root: str) -> None:
    global _LIBRARY
    _LIBRARY = Library(SourceTree(Path(tree_root)))


def _build_one(job: tuple[str, str]) -> dict:
    photo_id, out = job
    assert _LIBRARY is not None
    photo, mask, meta = render(photo_id, _LIBRARY)
    folder = Path(out) / "cases" / photo_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "photo.jpg").write_bytes(photo)
    (folder / "mask.png").write_bytes(mask)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def write_manifest(out: Path) -> dict:
    """``manifest.json`` over every case now in ``out/cases`` (sorted by id), with the packages and classes."""
    metas = [json.loads(p.read_text()) for p in sorted((out / "cases").glob("*/meta.json"))]
    counts: dict[str, dict[str, int]] = {}
    for meta in metas:
        counts.setdefault(meta["class"], {cat.FIT: 0, cat.EVAL: 0})[meta["part"]] += 1
    manifest = {
        "corpus_version": CORPUS_VERSION,
        "built_with": {"python": sys.version.split()[0], "numpy": np.__version__, "pillow": PIL.__version__,
                       "scipy": scipy.__version__, "opencv": cv2.__version__},
        "packages": [{"registry": "debian (bookworm)", "package": p.name, "version": p.version,
                      "deb_sha256": p.sha256, "licence": p.licence} for p in PACKAGES.values()],
        "classes": [{"class": c.name, "count": c.count, "expected": c.expected, "reason": c.reason} for c in CLASSES],
        "split": "by source file: every third file of each pool (by name hash) is in the eval part, and an eval "
                 "photo uses eval files only (tools/corpus/catalogue.py)",
        "counts": counts,
        "photos": metas,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def build(out: Path, ids: list[str], jobs: int = 1, cache: Path | None = None) -> list[dict]:
    """Build ``ids`` into ``out`` and rewrite the manifest; returns the built photos' metas in id order."""
    tree = fetch(cache=cache)
    work = [(photo_id, str(out)) for photo_id in ids]
    (out / "cases").mkdir(parents=True, exist_ok=True)
    if jobs <= 1:
        _worker_init(str(tree))
        metas = [_build_one(job) for job in work]
    else:
        with multiprocessing.get_context("fork").Pool(jobs, _worker_init, (str(tree),)) as workers:
            metas = list(workers.imap(_build_one, work, chunksize=1))
    write_manifest(out)
    return metas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("corpus"))
    parser.add_argument("--ids", help="comma-separated photo ids to build (default: all)")
    parser.add_argument("--limit", type=int, help="only the first N photos of each class")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--cache", type=Path, help="package cache (default: ~/.cache/picr-corpus)")
    args = parser.parse_args(argv)
    every = photo_ids()
    ids = args.ids.split(",") if args.ids else photo_ids(limit=args.limit)
    unknown = sorted(set(ids) - set(every))
    if unknown:
        parser.error(f"unknown ids: {', '.join(unknown)}")
    if not args.ids and args.limit is None and (args.out / "cases").exists():
        shutil.rmtree(args.out / "cases")   # a full build leaves nothing stale behind
    started = time.perf_counter()
    metas = build(args.out, ids, args.jobs, args.cache)
    seconds = time.perf_counter() - started
    by_class: dict[str, int] = {}
    for meta in metas:
        by_class[meta["class"]] = by_class.get(meta["class"], 0) + 1
    print(json.dumps({"built": len(metas), "seconds": round(seconds, 1), "out": str(args.out),
                      "by_class": by_class}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
