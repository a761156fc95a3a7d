"""The burst simulation: the template's limits read as declared, and the replay's arithmetic on cases
small enough to work out by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tools.burst_sim import PIPELINE, fit, read_stages, replay

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


def test_the_stages_carry_the_templates_batch_sizes_limits_memory_and_visibility_timeouts():
    stages = read_stages(TEMPLATE, {})
    cutout = stages["cutout"]
    assert (cutout.function, cutout.queue, cutout.batch_size) == ("CutoutFunction", "CutoutQueue", 1)
    assert cutout.max_concurrency == 3 and cutout.max_concurrency_parameter == "CutoutMaxConcurrency"
    assert (cutout.memory_mb, cutout.memory_parameter, cutout.visibility_s) == (3008, "CutoutMemory", 720)
    assert (stages["ingest"].batch_size, stages["ingest"].max_concurrency) == (5, None)
    assert (stages["variants"].batch_size, stages["publish"].batch_size) == (4, 10)
    assert stages["publish"].memory_mb == 512 and stages["publish"].visibility_s == 360
    changed = read_stages(TEMPLATE, {"CutoutMaxConcurrency": "10", "CutoutMemory": "5307"})["cutout"]
    assert (changed.max_concurrency, changed.memory_mb) == (10, 5307)


def test_fit_recovers_a_fixed_and_a_per_message_cost():
    assert fit([[1, 0.3], [4, 0.9], [10, 2.1]]) == pytest.approx((0.1, 0.2))
    assert fit([[1, 0.5], [1, 0.7]]) == pytest.approx((0.0, 0.6))   # one batch size: all per message


def only_the_cutout_takes_time(seconds: float, max_concurrency: int | None, cold_s: float = 0.0,
                               visibility_s: float = 720.0) -> dict:
    stages = read_stages(TEMPLATE, {})
    quiet = {name: replace(stages[name], fixed_s=0.0, per_message_s=0.0, cold_s=0.0, batch_size=1) for name in PIPELINE}
    # 3538 MB is two vCPUs: the two measured cores' seconds are kept as they are
    quiet["cutout"] = replace(quiet["cutout"], per_message_s=seconds, max_concurrency=max_concurrency,
                              memory_mb=3538, cold_s=cold_s, visibility_s=visibility_s)
    return quiet


def test_a_capped_stage_works_through_the_burst_in_rounds_and_names_its_setting():
    result = replay(only_the_cutout_takes_time(1.0, 2), photos=10, held_share=0.0, account_concurrency=1000)
    assert result["time_to_last_email_s"] == pytest.approx(5.0)            # 10 photos, 2 at a time, 1 s each
    assert result["stages"]["cutout"]["peak_concurrency"] == 2
    assert result["limited_by"] == "cutout: MaximumConcurrency 2 (CutoutMaxConcurrency)"
    assert result["gb_s_per_photo"] == pytest.approx(3538 / 1024, abs=1e-3)


def test_each_new_environment_pays_its_start_once():
    result = replay(only_the_cutout_takes_time(1.0, 2, cold_s=0.5), photos=10, held_share=0.0, account_concurrency=1000)
    assert result["time_to_last_email_s"] == pytest.approx(5.5)
    assert result["stages"]["cutout"]["environments_started"] == 2


def test_a_throttled_batch_waits_out_the_queues_visibility_timeout():
    """With the account's concurrency used up, the second photo's batch is throttled and comes back only when
    its visibility timeout ends: that is what the template's VisibilityTimeout costs a burst."""
    stages = {name: replace(stage, visibility_s=30.0)
              for name, stage in only_the_cutout_takes_time(1.0, None).items()}
    result = replay(stages, photos=2, held_share=0.0, account_concurrency=1)
    # both uploads reach ingest at once; the second batch finds the one slot taken
    assert result["stages"]["ingest"]["throttled_batches"] == 1
    assert result["time_to_last_email_s"] == pytest.approx(31.0)
    assert result["limited_by"].startswith("ingest:") and "30 s VisibilityTimeout" in result["limited_by"]
