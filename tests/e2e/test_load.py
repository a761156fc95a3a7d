"""A small shoot under injected faults: every photo ends in exactly one terminal state with one email.

The full 40-photo run is ``make load`` (a benchmark); this is the same code on 8 photos, with API
faults, crashes after the work, redelivery of every message and shuffled delivery all switched on.
"""

from __future__ import annotations

import pytest

from tools.faults import FaultPlan
from tools.load import load

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [3])
def test_shoot_with_faults_loses_and_duplicates_nothing(tmp_path, seed):
    plan = FaultPlan(call_failure_rate=0.10, crash_rate=0.05, redeliveries=1, shuffle=True, seed=seed)
    result = load(8, plan, tmp_path / "out")
    assert result["jobs_terminal"] == 8, result["by_status"]
    assert result["lost"] == 0
    assert result["notifications"] == 8
    assert result["jobs_without_exactly_one_notification"] == []
    assert result["duplicate_emails"] == 0
    assert result["duplicate_outputs"] == 0
    # the burst figures: time to the last email and per-stage service times and queue waits
    assert 0 < result["time_to_last_email_s"] <= result["wall_s"]
    stages = result["stages"]
    assert {"ingest", "cutout", "publish"} <= set(stages)
    assert stages["cutout"]["batch_size_mean"] == 1 and stages["cutout"]["messages"] >= 8  # BatchSize 1
    assert sum(n for n, _ in stages["publish"]["invocation_s"]) == stages["publish"]["messages"]
    assert all(0 <= stage["wait_s"]["p50"] <= stage["wait_s"]["max"] for stage in stages.values())
    # the faults really happened: otherwise this test would prove nothing
    injected = result["faults_injected"]
    assert injected.get("redelivery", 0) >= 8
    assert sum(n for kind, n in injected.items() if kind.startswith("api:")) >= 1
