"""What ingest accepts, by size: in a module of its own (no Pillow), so a function that only needs the byte
limit (the Drive lane skips files ingest would refuse) does not load the image stack for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntakeLimits:
    """What ingest accepts.

    ``max_pixels`` (50 MP) sits above every phone's default photo (12-48 MP) and keeps the worst-case
    decode (an RGBA PNG at the limit is 200 MB) well inside the 1024 MB ingest function.

    ``min_long_edge`` (400 px): the largest channel variant is a 2000 px marketplace square, so a
    400 px photo already needs a 5x upscale there and 2.7x for the 1080 px social square; below that
    the product turns to mush. It also keeps icons, emoji and thumbnails out.

    ``min_short_edge`` (100 px): a frame thinner than this is a strip or banner, not a product photo;
    after padding into a square the product would be a line.

    ``max_edge`` (2000 px) is the working size: enough for every variant (the largest is 2000 px),
    and about a quarter of the cutout model's work compared with a 4032 px original.
    """

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 50_000_000
    min_long_edge: int = 400
    min_short_edge: int = 100
    max_edge: int = 2000

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_pixels, self.min_long_edge, self.min_short_edge, self.max_edge) < 1:
            raise ValueError("intake limits must be positive")
        if self.max_edge < self.min_long_edge:
            raise ValueError("max_edge must not be below min_long_edge")
