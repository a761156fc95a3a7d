"""Hostile input at the door: 1,000 mutated JPEG / PNG / HEIC / WebP files through the ingest decode path.

Runs ``tools/fuzz_ingest.py`` in its own process (under an address-space limit, each input under a 5 s
alarm): every input must be normalised or refused with a reason, and memory must stay bounded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_a_thousand_mutated_photos_are_each_accepted_or_refused_with_a_reason():
    done = subprocess.run([sys.executable, "-m", "tools.fuzz_ingest", "--examples", "1000", "--seed", "7"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["examples"] == 1000
    assert report["slowest_s"] < 5
    assert report["peak_rss_mb"] < 500
    # the mutations really reach both sides of the door, or the run proves little
    assert report["outcomes"].get("accepted", 0) > 50
    assert sum(n for outcome, n in report["outcomes"].items() if outcome.startswith("refused:")) > 300
