"""Mask refinement: turn the model's blurry low-resolution guess into a full-resolution alpha whose
edges follow the photo, and give the edge pixels the product's colour instead of the old background's.

Everything here is a handful of box filters and resizes (OpenCV + numpy), so it costs tens of
milliseconds on a 2000 px photo where pymatting's closed-form matting costs seconds and gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class RefineSettings:
    """Knobs of the edge refinement, with the reason for each default.

    work_long_edge: the guided filter is solved on a grid this size (long edge, px) and its linear
        coefficients are applied at full resolution ("fast guided filter", He & Sun 2015). 640 is twice
        the 320 px the U²-Net models see, so the grid is finer than the mask it corrects, and a
        2000 px photo is reduced ~3×, which keeps the box filters to a few milliseconds.
    radius: guided-filter window radius on the work grid. The model's edge is only known to about one
        model pixel (2 grid pixels at 640/320); a 4-pixel radius lets every window straddle that
        uncertainty so the filter can move the edge onto the photo's real edge.
    eps: regularisation in (0..1 colour)² units. 1e-4 means a colour difference of about 1 % (≈ 2.5 of
        255 levels, the size of JPEG and sensor noise) is not enough to pull the edge; real edges
        have contrasts far above that.
    edge_gain: the filtered alpha is stretched by this factor about 0.5. The filter fits the model's
        blurred edge (a 320 px mask enlarged ~6×), so its output ramps over about twice the width of
        the photo's real edges and leaves a faint fringe on both sides. A gain of 2 halves the ramp
        without moving the 0.5 contour; it brought the soft band on the dev photos to the 2–4 px of
        their true masks and lowered the alpha error (MAE 0.029 → 0.028 over the pass cases).
    """

    work_long_edge: int = 640
    radius: int = 4
    eps: float = 1e-4
    edge_gain: float = 2.0


DEFAULT_REFINE = RefineSettings()


def work_size(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(width, height) scaled so the long edge is at most ``long_edge`` (never enlarged)."""
    scale = min(1.0, long_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window, edges mirrored."""
    size = 2 * radius + 1
    return cv2.boxFilter(values, -1, (size, size), borderType=cv2.BORDER_REFLECT)


def sample_at(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Bilinear samples of a reduced ``grid`` at full-resolution pixels (xs, ys); one row per pixel.

    ``scale_*`` is grid size / full size. Pixel centres are mapped, not corners, so a grid made with
    ``cv2.resize`` lines up with the photo. OpenCV's remap takes at most 32767 columns, so the points
    are laid out as rows of 4096.
    """
    count = xs.size
    width = 4096
    rows = -(-count // width)
    map_x = np.zeros(rows * width, np.float32)
    map_y = np.zeros(rows * width, np.float32)
    map_x[:count] = (xs + 0.5) * scale_x - 0.5
    map_y[:count] = (ys + 0.5) * scale_y - 0.5
    sampled = cv2.remap(grid, map_x.reshape(rows, width), map_y.reshape(rows, width), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(rows * width, -1)[:count]


def guided_filter_coefficients(guide: np.ndarray, src: np.ndarray, radius: int,
                               eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al. 2010): per-pixel ``a`` (H×W×3) and ``b`` (H×W) such that
    ``src ≈ a·guide + b`` in every window, already averaged over the windows covering each pixel.

    guide: H×W×3 float32 in 0..1; src: H×W float32. The 3×3 covariance systems are solved with an
    explicit symmetric inverse, which for half a million pixels is far cheaper than a batched solve.
    """
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src[..., None], radius) - mean_i * mean_p[..., None]

    def cov(c1: int, c2: int) -> np.ndarray:
        return _box(guide[..., c1] * guide[..., c2], radius) - mean_i[..., c1] * mean_i[..., c2]

    rr, rg, rb = cov(0, 0) + eps, cov(0, 1), cov(0, 2)
    gg, gb, bb = cov(1, 1) + eps, cov(1, 2), cov(2, 2) + eps
    inv_rr = gg * bb - gb * gb
    inv_rg = gb * rb - rg * bb
    inv_rb = rg * gb - gg * rb
    inv_gg = rr * bb - rb * rb
    inv_gb = rb * rg - rr * gb
    inv_bb = rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    cr, cg, cb = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.empty_like(guide)
    a[..., 0] = (inv_rr * cr + inv_rg * cg + inv_rb * cb) / det
    a[..., 1] = (inv_rg * cr + inv_gg * cg + inv_gb * cb) / det
    a[..., 2] = (inv_rb * cr + inv_gb * cg + inv_bb * cb) / det
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, radius), _box(b, radius)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``src`` smoothed inside regions and sharpened onto the edges of ``guide`` (same grid)."""
    a, b = guided_filter_coefficients(guide, src, radius, eps)
    return np.einsum("hwc,hwc->hw", a, guide) + b


def refine_alpha(image: np.ndarray, coarse: np.ndarray, settings: RefineSettings = DEFAULT_REFINE) -> np.ndarray:
    """Full-resolution alpha (float32 H×W, 0..1) from the model's coarse alpha, guided by the photo.

    image: H×W×3 uint8 photo. coarse: the model's alpha at any resolution (it is resized to the grid).
    The guided filter is solved on a reduced grid; its coefficients are upsampled and applied to the
    full-resolution photo only where the upsampled alpha is neither clearly 0 nor clearly 1, so the
    cost at full resolution is proportional to the length of the outline, not to the photo's area.
    """
    height, width = image.shape[:2]
    grid_w, grid_h = work_size(width, height, settings.work_long_edge)
    guide = cv2.resize(image, (grid_w, grid_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    src = cv2.resize(coarse.astype(np.float32), (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    a, b = guided_filter_coefficients(guide, src, settings.radius, settings.eps)
    grid_alpha = _stretch(np.einsum("hwc,hwc->hw", a, guide) + b, settings.edge_gain)
    alpha = cv2.resize(grid_alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    edge_y, edge_x = np.nonzero((alpha > 0.002) & (alpha < 0.998))
    if edge_y.size:
        a_edge = sample_at(a, edge_x, edge_y, grid_w / width, grid_h / height)
        b_edge = sample_at(b, edge_x, edge_y, grid_w / width, grid_h / height)[:, 0]
        colour = image[edge_y, edge_x].astype(np.float32) / 255.0
        alpha[edge_y, edge_x] = _stretch(np.einsum("nc,nc->n", a_edge, colour) + b_edge, settings.edge_gain)
    return alpha


def _stretch(alpha: np.ndarray, gain: float) -> np.ndarray:
    """Alpha stretched by ``gain`` about 0.5 and clipped to 0..1."""
    return np.clip((alpha - 0.5) * gain + 0.5, 0.0, 1.0).astype(np.float32)


def decontaminate(image: np.ndarray, alpha: np.ndarray, radius: int = 12) -> np.ndarray:
    """RGB (uint8 H×W×3) to store under ``alpha``: the product's colour on its edges, the photo's colour
    where the product is opaque, and black where it is fully transparent.

    Where alpha is partial the photo is a mix ``I = αF + (1−α)B``. B is estimated by spreading the
    colour of confident background pixels inward, and a smooth F by spreading the colour of confident
    product pixels outward (normalised box blurs of premultiplied colour on a reduced grid). Solving
    the mix for F keeps the real detail of mostly-opaque pixels; for faint pixels that solution is
    dominated by noise, so the result is blended towards the spread-out product colour by α.
    Fully transparent pixels are zeroed: the old background is then not hidden in the file (anyone
    could remove the alpha and see the owner's kitchen), and the PNG is smaller.
    """
    out = image * (alpha > 0)[..., np.newaxis].astype(np.uint8)
    edge_y, edge_x = np.nonzero((alpha > 0) & (alpha < 0.98))
    if edge_y.size == 0:
        return out
    height, width = alpha.shape
    grid_w, grid_h = work_size(width, height, 640)
    scale_x, scale_y = grid_w / width, grid_h / height
    grid_radius = max(2, round(radius * scale_x))
    small = cv2.resize(image, (grid_w, grid_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    small_alpha = cv2.resize(alpha, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    observed = image[edge_y, edge_x].astype(np.float32)
    fg = _spread_at(small, small_alpha >= 0.98, grid_radius, edge_x, edge_y, scale_x, scale_y, observed)
    bg = _spread_at(small, small_alpha <= 0.02, grid_radius, edge_x, edge_y, scale_x, scale_y, observed)
    a = alpha[edge_y, edge_x][:, np.newaxis]
    solved = np.clip((observed - (1.0 - a) * bg) / np.maximum(a, 0.05), 0.0, 255.0)
    colour = a * solved + (1.0 - a) * fg
    out[edge_y, edge_x] = np.round(colour).astype(np.uint8)
    return out


def _spread_at(colour: np.ndarray, confident: np.ndarray, radius: int, xs: np.ndarray, ys: np.ndarray,
               scale_x: float, scale_y: float, fallback: np.ndarray, levels: int = 3) -> np.ndarray:
    """Colour of the nearest ``confident`` grid pixels, sampled at full-resolution points (xs, ys).

    A normalised box blur of premultiplied colour carries confident colour ``radius`` cells outward;
    points it does not reach try doubled radii (up to ``levels`` sizes), and points still unreached
    keep ``fallback``.
    """
    weight = confident.astype(np.float32)
    premultiplied = colour * weight[..., np.newaxis]
    result = fallback.copy()
    pending = np.ones(xs.size, bool)
    for level in range(levels):
        size = 2 * radius * 2**level + 1
        num = cv2.boxFilter(premultiplied, -1, (size, size), borderType=cv2.BORDER_REFLECT)
        den = cv2.boxFilter(weight, -1, (size, size), borderType=cv2.BORDER_REFLECT)
        grid = np.dstack([num, den])
        sampled = sample_at(grid, xs[pending], ys[pending], scale_x, scale_y)
        reached = sampled[:, 3] > 1e-3
        index = np.flatnonzero(pending)[reached]
        result[index] = sampled[reached, :3] / sampled[reached, 3:4]
        pending[index] = False
        if not pending.any():
            break
    return result
