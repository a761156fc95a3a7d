"""Colour decontamination: give a cutout's edge pixels the product's colour instead of the old
background's, and blank what is fully transparent.

Per-pixel arithmetic on the outline only, on the reduced grid of :mod:`picr.segmentation.refine`, so it
costs milliseconds on a 2000 px photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from picr.segmentation.refine import (
    block_mean,
    flat_index,
    mask_between,
    pixels_between,
    reduction_factor,
    sample_at,
    subsample,
)


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

    candidates: (xs, ys) holding every partial pixel (a
    :class:`~picr.segmentation.refine.RefinedMask`'s); without it the alpha is scanned for them.
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
