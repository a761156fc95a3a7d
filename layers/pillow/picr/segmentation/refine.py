"""Mask refinement: turn the model's blurry low-resolution guess into a full-resolution alpha whose
edges follow the photo, and give the edge pixels the product's colour instead of the old background's.

Everything here is box filters and resizes on a reduced grid, plus per-pixel arithmetic on the
outline only, so it costs milliseconds on a 2000 px photo where pymatting's closed-form matting
costs seconds and gigabytes. Full-resolution passes use OpenCV (threaded, vectorised); numpy only
touches the grid and the outline pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class RefineSettings:
    """Knobs of the edge refinement, with the reason for each default.

    work_long_edge: the guided filter is solved on a grid of about this long edge (px) and its linear
        coefficients are applied at full resolution ("fast guided filter", He & Sun 2015). The photo
        is reduced by a whole factor (a 2000 px photo by 5, to 400 px): exact block means, which
        OpenCV computes several times faster than a fractional resize. The grid is still finer than
        the 320 px mask it corrects, and the outline's sharpness comes from the full-resolution
        colours anyway: on the dev photos 400, 500 and 640 px grids scored the same (IoU and
        boundary F within 0.002), the smallest at 40 % of the filter cost of the largest.
    radius: guided-filter window radius on the work grid. The model's edge is only known to about one
        model pixel (1.25–2 grid pixels); a 4-pixel radius lets every window straddle that uncertainty
        so the filter can move the edge onto the photo's real edge.
    eps: regularisation in (0..1 colour)² units. 1e-4 means a colour difference of about 1 % (≈ 2.5 of
        255 levels, the size of JPEG and sensor noise) is not enough to pull the edge; real edges
        have contrasts far above that.
    edge_gain: the filtered alpha is stretched by this factor about 0.5. The filter fits the model's
        blurred edge (a 320 px mask enlarged ~6×), so its output ramps over about twice the width of
        the photo's real edges and leaves a faint fringe on both sides. A gain of 2 halves the ramp
        without moving the 0.5 contour; it brought the soft band on the dev photos to the 2–4 px of
        their true masks and lowered the alpha error (MAE 0.029 → 0.028 over the pass cases).
    """

    work_long_edge: int = 400
    radius: int = 4
    eps: float = 1e-4
    edge_gain: float = 2.0


DEFAULT_REFINE = RefineSettings()


def work_size(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(width, height) scaled so the long edge is at most ``long_edge`` (never enlarged)."""
    scale = min(1.0, long_edge / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduction_factor(width: int, height: int, long_edge: int) -> int:
    """The whole factor that brings the long edge closest to ``long_edge`` (at least 1)."""
    return max(1, round(max(width, height) / long_edge))


def _whole_blocks(values: np.ndarray, factor: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``values`` cut to a whole number of factor×factor blocks, and the grid size (cols, rows)."""
    height, width = values.shape[:2]
    rows, cols = max(1, height // factor), max(1, width // factor)
    return values[: rows * factor, : cols * factor], (cols, rows)


def block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Means over factor×factor blocks; the last ``size % factor`` rows and columns are left out (they
    are covered by edge replication in :func:`block_upsample` and :func:`sample_at`)."""
    if factor == 1:
        return values
    blocks, grid_size = _whole_blocks(values, factor)
    return cv2.resize(blocks, grid_size, interpolation=cv2.INTER_AREA)


def subsample(values: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear samples at the centres of :func:`block_mean`'s blocks: the same grid, without the
    averaging (several times cheaper when the values will be smoothed anyway)."""
    if factor == 1:
        return values
    blocks, grid_size = _whole_blocks(values, factor)
    return cv2.resize(blocks, grid_size, interpolation=cv2.INTER_LINEAR)


def block_upsample(grid: np.ndarray, factor: int, size: tuple[int, int]) -> np.ndarray:
    """Bilinear inverse of :func:`block_mean` back to ``size`` (width, height), pixel centres aligned
    (an exact affine map, so the rows and columns :func:`block_mean` left out get edge values)."""
    if factor == 1:
        return grid
    rows, cols = grid.shape[:2]
    if (cols * factor, rows * factor) == size:   # OpenCV's resize maps centres the same way, faster
        return cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)
    shift = (1 - 1 / factor) / 2   # full-resolution pixel centre x maps to grid x / factor - shift
    to_grid = np.float32([[1 / factor, 0, -shift], [0, 1 / factor, -shift]])
    return cv2.warpAffine(grid, to_grid, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def sample_at(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """Bilinear samples of a reduced ``grid`` at full-resolution pixels (xs, ys); one row per pixel.

    ``scale_*`` is grid size / full size. Pixel centres are mapped, not corners, so a grid made by
    block averaging lines up with the photo. OpenCV's remap takes at most 32767 columns, so the points
    are laid out as rows of 4096.
    """
    count = xs.size
    width = 4096
    rows = max(1, -(-count // width))
    map_x = np.zeros(rows * width, np.float32)
    map_y = np.zeros(rows * width, np.float32)
    map_x[:count] = (xs + 0.5) * scale_x - 0.5
    map_y[:count] = (ys + 0.5) * scale_y - 0.5
    sampled = cv2.remap(grid, map_x.reshape(rows, width), map_y.reshape(rows, width), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    return sampled.reshape(rows * width, -1)[:count]


def mask_between(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """uint8 mask (255) of the pixels with low < value < high, for a uint8 or float32 array."""
    if values.dtype == np.uint8:
        lower, upper = math.floor(low) + 1, math.ceil(high) - 1
    else:
        values = values.astype(np.float32, copy=False)
        lower = float(np.nextafter(np.float32(low), np.float32(np.inf)))
        upper = float(np.nextafter(np.float32(high), np.float32(-np.inf)))
    return cv2.inRange(values, lower, upper)


def pixels_between(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys) of the pixels with low < value < high. OpenCV finds them several times faster than
    ``np.nonzero`` on a 3 MP mask, which matters because this runs on every photo."""
    points = cv2.findNonZero(mask_between(values, low, high))
    if points is None:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    points = points.reshape(-1, 2)   # OpenCV 4 answers N×1×2, OpenCV 5 N×2
    return points[:, 0], points[:, 1]


def flat_index(xs: np.ndarray, ys: np.ndarray, width: int) -> np.ndarray:
    """Row-major positions of pixels (xs, ys): ``np.take`` with these is several times faster than
    indexing with the two coordinate arrays."""
    return ys.astype(np.intp) * width + xs


def _box(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window, edges mirrored."""
    size = 2 * radius + 1
    return cv2.boxFilter(values, -1, (size, size), borderType=cv2.BORDER_REFLECT)


def guided_filter_coefficients(guide: np.ndarray, src: np.ndarray, radius: int,
                               eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al. 2010): per-pixel ``a`` (H×W×3) and ``b`` (H×W) such that
    ``src ≈ a·guide + b`` in every window, already averaged over the windows covering each pixel.

    guide: H×W×3 float32 in 0..1; src: H×W float32. See :func:`_guided_coefficients`.
    """
    coefficients = _guided_coefficients(guide, src, radius, eps)
    return coefficients[..., :3], coefficients[..., 3]


def _guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The guided filter's (a_r, a_g, a_b, b) as one H×W×4 array, box-averaged, ready to be sampled.

    The 3×3 covariance systems are solved with an explicit symmetric inverse, which for a few hundred
    thousand pixels is far cheaper than a batched solve; every term is a contiguous plane and the
    arithmetic runs in place (a third faster than on interleaved channels, same values).
    """
    r, g, b = (np.ascontiguousarray(guide[..., channel]) for channel in range(3))
    means = _box(guide, radius)
    mr, mg, mb = (np.ascontiguousarray(means[..., channel]) for channel in range(3))
    mp = _box(src, radius)

    def cov(x: np.ndarray, y: np.ndarray, mean_x: np.ndarray, mean_y: np.ndarray) -> np.ndarray:
        covariance = _box(x * y, radius)
        covariance -= mean_x * mean_y
        return covariance

    cr, cg, cb = cov(r, src, mr, mp), cov(g, src, mg, mp), cov(b, src, mb, mp)
    rr, rg, rb = cov(r, r, mr, mr), cov(r, g, mr, mg), cov(r, b, mr, mb)
    gg, gb, bb = cov(g, g, mg, mg), cov(g, b, mg, mb), cov(b, b, mb, mb)
    for variance in (rr, gg, bb):
        variance += eps

    def minor(x: np.ndarray, y: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
        value = x * y
        value -= z * w
        return value

    inv_rr, inv_rg, inv_rb = minor(gg, bb, gb, gb), minor(gb, rb, rg, bb), minor(rg, gb, gg, rb)
    inv_gg, inv_gb, inv_bb = minor(rr, bb, rb, rb), minor(rb, rg, rr, gb), minor(rr, gg, rg, rg)
    inv_det = rr * inv_rr
    inv_det += rg * inv_rg
    inv_det += rb * inv_rb
    np.divide(1.0, inv_det, out=inv_det)

    def solve(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        value = x * cr
        value += y * cg
        value += z * cb
        value *= inv_det
        return value

    a_r, a_g, a_b = solve(inv_rr, inv_rg, inv_rb), solve(inv_rg, inv_gg, inv_gb), solve(inv_rb, inv_gb, inv_bb)
    offset = mp - a_r * mr
    offset -= a_g * mg
    offset -= a_b * mb
    return _box(cv2.merge([a_r, a_g, a_b, offset]), radius)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``src`` smoothed inside regions and sharpened onto the edges of ``guide`` (same grid)."""
    a, b = guided_filter_coefficients(guide, src, radius, eps)
    return np.einsum("hwc,hwc->hw", a, guide) + b


def drop_faint_pieces(alpha: np.ndarray) -> np.ndarray:
    """Alpha with every disconnected piece that never reaches half opacity set to 0.

    Such haze is not product by any reading of the mask, but it would stretch the bounding box the
    variant step trims to. Faint pixels attached to an opaque piece (fine hair, a thin wire) stay.
    """
    count, labels = cv2.connectedComponents((alpha > 0.5 / 255).astype(np.uint8), connectivity=8)
    has_opaque = np.bincount(labels[alpha >= 0.5], minlength=count) > 0
    has_opaque[0] = True   # the background label: already zero
    if has_opaque.all():
        return alpha
    return np.where(has_opaque[labels], alpha, 0.0).astype(np.float32)


def _stretch(alpha: np.ndarray, gain: float) -> np.ndarray:
    """Alpha stretched by ``gain`` about 0.5 and clipped to 0..1."""
    return np.clip((alpha - 0.5) * gain + 0.5, 0.0, 1.0).astype(np.float32)


def to_bytes(alpha: np.ndarray) -> np.ndarray:
    """0..1 alpha as uint8 0..255, rounded and saturated (any shape)."""
    return cv2.convertScaleAbs(alpha, alpha=255.0)


@dataclass(frozen=True)
class RefinedMask:
    """The refined alpha (uint8 H×W) and the pixels the refinement fitted (``xs``, ``ys``): every pixel
    outside them is exactly 0 or 255, so they are the only candidates for decontamination."""

    alpha: np.ndarray
    xs: np.ndarray
    ys: np.ndarray


def refine_mask(image: np.ndarray, coarse: np.ndarray, settings: RefineSettings = DEFAULT_REFINE) -> RefinedMask:
    """Full-resolution 8-bit alpha from the model's coarse alpha, guided by the photo.

    image: H×W×3 uint8 photo; coarse: the model's alpha (0..1) at the photo's size. The guided filter is
    solved on the reduced grid, faint detached pieces are dropped there, and the result is enlarged.
    Where that is neither 0 nor 255, the filter's coefficients are applied to the full-resolution
    colours, so the outline gets the photo's own sharpness at a cost proportional to its length, not
    to the photo's area. The alpha is 8-bit from the grid on, which is what is stored: a full-size
    float copy would cost four times the memory and bandwidth for the same file.
    """
    height, width = image.shape[:2]
    factor = reduction_factor(width, height, settings.work_long_edge)
    guide = block_mean(image, factor).astype(np.float32) / 255.0
    src = block_mean(np.ascontiguousarray(coarse, np.float32), factor)
    coefficients = _guided_coefficients(guide, src, settings.radius, settings.eps)
    filtered = np.einsum("hwc,hwc->hw", coefficients[..., :3], guide) + coefficients[..., 3]
    grid_alpha = to_bytes(drop_faint_pieces(_stretch(filtered, settings.edge_gain)))
    alpha = np.ascontiguousarray(block_upsample(grid_alpha, factor, (width, height)))
    xs, ys = pixels_between(alpha, 0, 255)
    if factor > 1 and xs.size:
        # one row per coefficient (a_r, a_g, a_b, b) and per colour channel, one column per pixel
        fitted = np.ascontiguousarray(sample_at(coefficients, xs, ys, 1 / factor, 1 / factor).T)
        where = flat_index(xs, ys, width)
        colour = np.take(image.reshape(-1, 3), where, axis=0).T.astype(np.float32)
        for channel in range(3):
            colour[channel] *= fitted[channel]
        value = fitted[3]
        value += colour.sum(axis=0) / 255.0
        alpha.reshape(-1)[where] = to_bytes(_stretch(value, settings.edge_gain)).reshape(-1)
    return RefinedMask(alpha, xs, ys)


def decontaminate(image: np.ndarray, alpha: np.ndarray, radius_px: int = 16,
                  work_long_edge: int = 400) -> np.ndarray:
    """RGB (uint8 H×W×3) to store under ``alpha``: the product's colour on its edges, the photo's colour
    where the product is opaque, and black where it is fully transparent.

    alpha: float 0..1 or uint8 0..255. Fully transparent pixels are zeroed: the old background is then
    not hidden in the file (anyone could drop the alpha and see the owner's kitchen), and the PNG is
    smaller. The edges' colours are :func:`edge_colours`'s.
    """
    unit = 255.0 if alpha.dtype == np.uint8 else 1.0
    out = cv2.bitwise_and(image, image, mask=mask_between(alpha, 0.0, 2.0 * unit))
    xs, ys = pixels_between(alpha, 0.0, 0.98 * unit)
    where, colours = edge_colours(image, alpha, xs, ys, radius_px, work_long_edge)
    _scatter(out, where, colours)
    return out


def decontaminated_rgba(image: np.ndarray, alpha: np.ndarray,
                        candidates: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The cutout as one RGBA array (uint8 H×W×4): :func:`decontaminate`'s colours under ``alpha``
    (uint8), built in the buffer the PNG is encoded from.

    candidates: (xs, ys) holding every partial pixel (a :class:`RefinedMask`'s); without it the alpha is
    scanned for them.
    """
    rgba = cv2.cvtColor(cv2.bitwise_and(image, image, mask=alpha), cv2.COLOR_RGB2RGBA)   # mask: alpha > 0
    cv2.mixChannels([alpha], [rgba], [0, 3])
    if candidates is None:
        xs, ys = pixels_between(alpha, 0, 249.9)
    else:
        xs, ys = candidates
        values = np.take(alpha.reshape(-1), flat_index(xs, ys, alpha.shape[1]))
        partial = (values > 0) & (values < 249.9)   # the edge band: 0 < α < 0.98
        xs, ys = xs[partial], ys[partial]
    where, colours = edge_colours(image, alpha, xs, ys)
    _scatter(rgba, where, colours)
    return rgba


def edge_colours(image: np.ndarray, alpha: np.ndarray, xs: np.ndarray, ys: np.ndarray, radius_px: int = 16,
                 work_long_edge: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions and uint8 colours (3×N: one row per channel) to store for the partially transparent
    pixels (xs, ys).

    Where alpha is partial the photo is a mix ``I = αF + (1−α)B``. B is estimated by spreading the
    colour of confident background pixels inward, and a smooth F by spreading the colour of confident
    product pixels outward (normalised box blurs of premultiplied colour on a reduced grid; colours are
    smooth at that scale, so a coarse grid suffices). Solving the mix for F keeps the real detail of
    mostly-opaque pixels; for faint pixels that solution is dominated by noise, so the result is blended
    towards the spread-out product colour by α. An edge pixel with no confident product (or background)
    within reach keeps the photo's colour in its place.

    radius_px 16: an edge's soft band is a few pixels wide, so colour taken up to 16 px away still
    belongs to the same surface while clearing the band. work_long_edge 400: the spreading runs on a
    grid reduced by a whole factor (5 for a 2000 px photo), where 16 px are still about 3 cells.
    """
    height, width = alpha.shape
    where = flat_index(xs, ys, width)
    if xs.size == 0:
        return where, np.empty((3, 0), np.uint8)
    unit = 255.0 if alpha.dtype == np.uint8 else 1.0
    factor = reduction_factor(width, height, work_long_edge)
    # the colour grid is only box-blurred further, so plain sampling (no averaging) is enough for it
    small = cv2.cvtColor(subsample(image, factor).astype(np.float32), cv2.COLOR_RGB2RGBA)   # (colour, 1)
    small_alpha = block_mean(alpha, factor).astype(np.float32) / unit
    size = 2 * max(2, round(radius_px / factor)) + 1
    # one row per channel (F·w, w, B·w, w), one column per point: the arithmetic below then runs on
    # contiguous rows, which is several times faster than on the columns of an N×8 array
    sampled = np.ascontiguousarray(sample_at(np.concatenate(
        [_spread_premultiplied(small, confident, size) for confident in (small_alpha >= 0.98, small_alpha <= 0.02)],
        axis=2), xs, ys, 1 / factor, 1 / factor).T)
    observed = np.take(image.reshape(-1, 3), where, axis=0).T.astype(np.float32)
    a = np.take(alpha.reshape(-1), where).astype(np.float32) / unit
    clear = 1.0 - a
    # clear·F and clear·B are (colour·w)·(clear / w); a pixel with no confident colour in reach uses its own
    f_scale, f_lost = _unpremultiply(sampled[3], clear)
    b_scale, b_lost = _unpremultiply(sampled[7], clear)
    inv_a = 1.0 / np.maximum(a, 0.05)
    solved = np.empty_like(observed)
    for channel in range(3):
        # F solved from the mix, then blended towards the spread product colour by α
        clear_bg = sampled[4 + channel] * b_scale
        clear_bg[b_lost] = observed[channel][b_lost] * clear[b_lost]
        clear_fg = sampled[channel] * f_scale
        clear_fg[f_lost] = observed[channel][f_lost] * clear[f_lost]
        row = np.subtract(observed[channel], clear_bg, out=solved[channel])
        row *= inv_a
        np.clip(row, 0.0, 255.0, out=row)
        row *= a
        row += clear_fg
    np.rint(solved, out=solved)
    return where, solved.astype(np.uint8)


def _scatter(pixels: np.ndarray, where: np.ndarray, colours: np.ndarray) -> None:
    """Write 3×N ``colours`` into the first three channels of H×W×C ``pixels`` at flat positions ``where``
    (one 1-D scatter per channel: about twice as fast as a 2-D fancy assignment). ``pixels`` must be
    C-contiguous: a strided array would be flattened into a copy and the writes lost."""
    if not pixels.flags.c_contiguous:
        raise ValueError("pixels must be C-contiguous")
    flat, channels = pixels.reshape(-1), pixels.shape[2]
    at = where * channels
    for channel in range(3):
        flat[at + channel] = colours[channel]


def _spread_premultiplied(colour: np.ndarray, confident: np.ndarray, size: int) -> np.ndarray:
    """Box-blurred (colour·w, w) with w = ``confident``, from (colour, 1): H×W×4, to be sampled and
    divided per point."""
    weighted = colour * confident.astype(np.float32)[..., np.newaxis]
    return cv2.boxFilter(weighted, -1, (size, size), borderType=cv2.BORDER_REFLECT)


def _unpremultiply(weight: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clear / w per point, the points with no confident pixel in reach) from a sampled weight row."""
    lost = np.flatnonzero(weight <= 1e-3)
    return clear / np.maximum(weight, 1e-3), lost
