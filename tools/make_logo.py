"""Draw picr's default watermark logo, ``layers/pillow/picr/image/assets/logo.png``.

The mark is built only from Pillow's geometric primitives (rectangles, ellipses, arcs, a polygon) so the file
is byte-for-byte reproducible without fonts: FreeType output changes between versions. It is drawn at 4x and
box-averaged down (``Image.reduce``), which gives exact area-coverage anti-aliasing. One dark slate colour on
transparency: at watermark opacity it reads as a faint grey mark on white and on light products.

Usage: ``.venv/bin/python tools/make_logo.py [output.png]``
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (354, 120)
SUPERSAMPLE = 4
INK = (38, 50, 56)
STROKE = 13
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "layers/pillow/picr/image/assets/logo.png"


def _draw_mark(draw: ImageDraw.ImageDraw, s: int) -> None:
    """A picture-frame icon followed by the letters p i c r, all in 1x coordinates scaled by ``s``."""

    def box(x0: float, y0: float, x1: float, y1: float) -> list[int]:
        return [round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s)]

    stroke = STROKE * s
    # Icon: rounded frame, a mountain range and a sun.
    draw.rounded_rectangle(box(8, 10, 108, 110), radius=20 * s, outline=255, width=11 * s)
    draw.polygon([(x * s, y * s) for x, y in [(26, 96), (52, 58), (68, 78), (78, 67), (92, 96)]], fill=255)
    draw.ellipse(box(70, 28, 90, 48), fill=255)
    # Letters on a 50 px x-height, baseline at y=100.
    top, base = 46, 100
    # p: bowl plus a stem with a short descender.
    draw.ellipse(box(132, top, 186, base), outline=255, width=stroke)
    draw.rectangle(box(132, top, 132 + STROKE, 112), fill=255)
    # i: stem and dot.
    draw.rectangle(box(202, top, 202 + STROKE, base), fill=255)
    draw.ellipse(box(200, 20, 217, 37), fill=255)
    # c: a ring opened on the right.
    draw.arc(box(232, top, 286, base), start=42, end=318, fill=255, width=stroke)
    # r: stem and shoulder.
    draw.rectangle(box(302, top, 302 + STROKE, base), fill=255)
    draw.arc(box(302, top, 360, base + 22), start=192, end=300, fill=255, width=stroke)


def make_logo() -> Image.Image:
    """The logo as an RGBA image of SIZE: INK colour, alpha = anti-aliased coverage of the mark."""
    big = Image.new("L", (SIZE[0] * SUPERSAMPLE, SIZE[1] * SUPERSAMPLE), 0)
    _draw_mark(ImageDraw.Draw(big), SUPERSAMPLE)
    coverage = big.reduce(SUPERSAMPLE)
    logo = Image.new("RGBA", SIZE, (*INK, 0))
    logo.putalpha(coverage)
    return logo


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    # compress_level fixed and no metadata, so re-running the script rewrites identical bytes.
    make_logo().save(output, format="PNG", compress_level=9)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
