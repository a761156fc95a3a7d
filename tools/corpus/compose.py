"""Image operations of the corpus builder, the way matting benchmarks (and ../shared/photos/build) make
composites: float sRGB in 0..1, premultiplied Lanczos resizing of the cut-out, ``I = αF + (1−α)B``.

The ground truth is the cut-out's own alpha, resized, rotated and placed exactly like its colour, so a
composite's mask is exact by construction. A drop shadow darkens only the background and is never in
the mask. Everything is a pure function of its arguments (random numbers come from the caller's seeded
generator), so a photo is rebuilt byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage


def to_float(image: Image.Image, mode: str) -> np.ndarray:
    """The image converted to ``mode`` as float32 in 0..1."""
    return np.asarray(image.convert(mode), dtype=np.float32) / 255.0


def resize_float(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos resize of an H×W or H×W×C float array to ``size`` (W, H), channel by channel in Pillow's F mode."""
    if array.ndim == 2:
        return np.asarray(Image.fromarray(array, "F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    return np.stack([resize_float(array[..., c], size) for c in range(array.shape[2])], axis=-1)


def _rotate(array: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(array, "F").rotate(degrees, Image.Resampling.BICUBIC, expand=True),
                      dtype=np.float32)


@dataclass
class Cutout:
    """A cut-out ready to place: premultiplied colour and alpha, both float32, same H×W."""

    colour: np.ndarray
    alpha: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape[1], self.alpha.shape[0]

    def box(self, floor: float = 0.02) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the pixels with alpha above ``floor``."""
        ys, xs = np.nonzero(self.alpha > floor)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def trimmed(self) -> Cutout:
        x0, y0, x1, y1 = self.box(0.0)
        return Cutout(self.colour[y0:y1, x0:x1].copy(), self.alpha[y0:y1, x0:x1].copy())


def prepare(rgba: np.ndarray, scale: float, rotate: float = 0.0, flip: bool = False, blur: float = 0.0) -> Cutout:
    """Resize (premultiplied Lanczos), rotate, mirror and optionally defocus an RGBA cut-out (float 0..1)."""
    alpha = rgba[..., 3]
    colour = rgba[..., :3] * alpha[..., None]
    height, width = alpha.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    colour, alpha = resize_float(colour, size), resize_float(alpha, size)
    if rotate:
        colour = np.stack([_rotate(colour[..., c], rotate) for c in range(3)], axis=-1)
        alpha = _rotate(alpha, rotate)
    if flip:
        colour, alpha = colour[:, ::-1], alpha[:, ::-1]
    if blur:
        pad = int(3 * blur) + 1   # room for the defocused edge
        colour = np.pad(colour, ((pad, pad), (pad, pad), (0, 0)))
        alpha = np.pad(alpha, pad)
        colour = cv2.GaussianBlur(colour, (0, 0), blur)
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur)
    alpha = np.clip(alpha, 0.0, 1.0)
    # premultiplied colour must stay within alpha after Lanczos ringing
    colour = np.minimum(np.clip(colour, 0.0, 1.0), alpha[..., None])
    return Cutout(np.ascontiguousarray(colour, np.float32), np.ascontiguousarray(alpha, np.float32)).trimmed()


def place(cutout: Cutout, width: int, height: int, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out's colour and alpha in a width×height frame with its top-left corner at (x0, y0); the
    parts outside the frame are cut off."""
    colour = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    w, h = cutout.size
    fx0, fy0 = max(0, -x0), max(0, -y0)
    tx0, ty0 = max(0, x0), max(0, y0)
    tx1, ty1 = min(width, x0 + w), min(height, y0 + h)
    if tx1 > tx0 and ty1 > ty0:
        colour[ty0:ty1, tx0:tx1] = cutout.colour[fy0:fy0 + ty1 - ty0, fx0:fx0 + tx1 - tx0]
        alpha[ty0:ty1, tx0:tx1] = cutout.alpha[fy0:fy0 + ty1 - ty0, fx0:fx0 + tx1 - tx0]
    return colour, alpha


def tile(paper: np.ndarray, width: int, height: int, ox: int, oy: int) -> np.ndarray:
    """A paper scan made to tile, repeated at its native resolution from offset (ox, oy)."""
    th, tw = paper.shape[:2]
    ox, oy = ox % tw, oy % th
    big = np.tile(paper, ((height + oy) // th + 2, (width + ox) // tw + 2, 1))
    return big[oy:oy + height, ox:ox + width].copy()


def crop(photo: Image.Image, width: int, height: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """``box`` (source pixels, same aspect as width:height) of a photo resized to width×height (Lanczos)."""
    return to_float(photo.convert("RGB").resize((width, height), Image.Resampling.LANCZOS, box=box), "RGB")


def _soft(alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide blurs are done at a lower resolution (a shadow has no detail to lose)."""
    if sigma <= 6:
        return cv2.GaussianBlur(alpha, (0, 0), max(sigma, 0.3))
    factor = int(sigma // 3)
    height, width = alpha.shape
    small = cv2.resize(alpha, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _shift(alpha: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``alpha`` moved by whole pixels, zeros shifted in."""
    dx, dy = round(dx), round(dy)
    height, width = alpha.shape
    out = np.zeros_like(alpha)
    xs0, xs1, ys0, ys1 = max(0, -dx), min(width, width - dx), max(0, -dy), min(height, height - dy)
    if xs1 > xs0 and ys1 > ys0:
        out[ys0 + dy:ys1 + dy, xs0 + dx:xs1 + dx] = alpha[ys0:ys1, xs0:xs1]
    return out


def shadow_reach(object_height: float, dx: float, dy: float, sigma: float) -> int:
    """How far (px) beyond the object a drop shadow with these settings can darken anything."""
    return math.ceil((max(abs(dx), abs(dy)) + 4.0 * sigma + 0.05) * object_height) + 2


def drop_shadow(background: np.ndarray, alpha: np.ndarray, object_height: float, dx: float, dy: float,
                sigma: float, strength: float, contact: float) -> np.ndarray:
    """Darken the background under a blurred, offset copy of the object's alpha, plus a tight contact
    shadow. Offsets and sigma are shares of the object's height. The shadow is not in the mask."""
    shade = _soft(_shift(alpha, dx * object_height, dy * object_height), sigma * object_height) * strength
    if contact:
        near = _shift(alpha, 0.004 * object_height, 0.012 * object_height)
        shade = shade + _soft(near, 0.008 * object_height) * contact
    return background * (1.0 - np.clip(shade, 0.0, 0.85)[..., None])


def over(colour: np.ndarray, alpha: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Premultiplied ``colour`` with ``alpha`` over ``below``."""
    return colour + (1.0 - alpha[..., None]) * below


def glass_alpha(alpha: np.ndarray, inner: float, rim: float, width: float) -> np.ndarray:
    """Make an opaque vessel glass-like (as ../shared/photos/build does for its jug): alpha ``inner``
    inside the body, rising to ``rim`` along the outline over ``width`` source pixels, because glass
    looks denser where it is seen at a grazing angle."""
    depth = ndimage.distance_transform_edt(alpha >= 0.5)
    profile = inner + (rim - inner) * np.exp(-np.maximum(depth - 1.0, 0.0) / width)
    return (alpha * profile).astype(np.float32)


def finish(image: np.ndarray, rng: np.random.Generator, noise: float) -> Image.Image:
    """Gaussian sensor noise (``noise``/255 on luma, 60 % of that per channel), then 8-bit RGB."""
    luma = rng.standard_normal((*image.shape[:2], 1), dtype=np.float32) * np.float32(noise)
    chroma = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(0.6 * noise)
    pixels = np.clip(np.round(image * 255.0 + luma + chroma), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def median_lab(rgb: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Per-channel median CIE L*a*b* of float sRGB pixels (optionally only where ``where``)."""
    pixels = rgb[where] if where is not None else rgb.reshape(-1, 3)
    lab = cv2.cvtColor(np.ascontiguousarray(pixels.reshape(1, -1, 3), np.float32), cv2.COLOR_RGB2LAB)
    return np.median(lab.reshape(-1, 3), axis=0)
