"""Fuzz the ingest decode path: mutated JPEG / PNG / HEIC / WebP files through ``normalise_upload``.

    python -m tools.fuzz_ingest [--examples 1000] [--seed 0]

Every input must end in a normalised photo or a ``Refused`` with a reason — never another exception,
never more than 5 s, never unbounded memory (the process runs under an address-space limit and reports
its peak RSS). Mutations: byte flips, truncation, inserted and deleted runs, duplicated chunks, and
header fields set to extreme values. Prints one JSON line; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import signal
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from tools.shared_data import CASES

REPO = Path(__file__).resolve().parent.parent
PHOTO = CASES / "05_large_red_anemone_mint_paper" / "photo.jpg"
TIME_LIMIT_S = 5
ADDRESS_SPACE_LIMIT = 3 << 30
"""3 GiB of address space: a decoder tricked into a huge allocation fails with MemoryError here (an
unhandled exception, so a finding) instead of exhausting the machine."""


def seeds() -> dict[str, bytes]:
    """Small valid files of every accepted format, made from a real photo."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    with Image.open(PHOTO) as photo:
        base = photo.convert("RGB").resize((480, 390))
    made = {}
    for name, fmt, options in (("jpeg", "JPEG", {"quality": 85, "exif": _exif_with_orientation(6)}),
                               ("png", "PNG", {}), ("webp", "WEBP", {"quality": 80}),
                               ("heic", "HEIF", {"quality": 50})):
        buffer = io.BytesIO()
        base.save(buffer, fmt, **options)
        made[name] = buffer.getvalue()
    return made


def _exif_with_orientation(value: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _on_alarm(_signum: int, _frame: object) -> None:
    raise TimeoutError(f"normalise_upload took longer than {TIME_LIMIT_S} s")


def fuzz(examples: int, seed: int) -> dict:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    sys.path.insert(0, str(REPO / "layers" / "pillow"))
    from picr.image.photo import Refused, normalise_upload

    corpus = seeds()
    outcomes: Counter[str] = Counter()
    slowest = [0.0]

    mutation = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 256)),
        st.tuples(st.just("repeat"), st.integers(0, 1 << 20), st.integers(1, 512)),
        st.tuples(st.just("extreme"), st.integers(0, 64), st.sampled_from([b"\xff\xff", b"\x00\x00",
                                                                           b"\x7f\xff\xff\xff", b"\xff" * 4])),
    )

    def mutate(data: bytes, steps: list) -> bytes:
        buffer = bytearray(data)
        for kind, position, value in steps:
            at = position % (len(buffer) + 1)
            if kind == "flip" and buffer:
                buffer[at % len(buffer)] ^= value
            elif kind == "truncate":
                del buffer[at:]
            elif kind == "insert":
                buffer[at:at] = value
            elif kind == "delete":
                del buffer[at:at + value]
            elif kind == "repeat":
                buffer[at:at] = buffer[at:at + value]
            elif kind == "extreme":  # header fields (sizes, lengths) near the start
                buffer[at:at + len(value)] = value
        return bytes(buffer)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(corpus)), st.lists(mutation, min_size=1, max_size=4))
    def check(name: str, steps: list) -> None:
        data = mutate(corpus[name], steps)
        signal.alarm(TIME_LIMIT_S)
        started = time.perf_counter()
        try:
            normalise_upload(data)
            outcomes["accepted"] += 1
        except Refused as refusal:
            outcomes[f"refused:{refusal.code}"] += 1
        finally:
            signal.alarm(0)
            slowest[0] = max(slowest[0], time.perf_counter() - started)

    check()
    return {"examples": sum(outcomes.values()), "outcomes": dict(sorted(outcomes.items())),
            "slowest_s": round(slowest[0], 3), "peak_rss_mb": round(_peak_rss_mb(), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    warnings.simplefilter("ignore")  # Pillow warns about the corrupt EXIF it is being fed; the outcome is what counts
    signal.signal(signal.SIGALRM, _on_alarm)
    print(json.dumps(fuzz(args.examples, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
