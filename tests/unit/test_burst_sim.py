"""The burst simulation: the template's limits read as declared, and the replay's arithmetic on cases
small enough to work out by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tools.burst_sim import PIPELINE, candidates, fit, read_stages, replay, with_measurements

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


def test_a_stage_takes_its_limits_from_the_template_not_from_the_simulation(tmp_path):
    """Change the template, and the stages change with it: batch size, visibility timeout, memory, cap."""
    text = TEMPLATE.read_text()
    assert text.count("            BatchSize: 4\n") == 1
    assert text.count("      VisibilityTimeout: 720 # cutout 120 s\n") == 1
    edited = tmp_path / "template.yaml"
    edited.write_text(text.replace("            BatchSize: 4\n", "            BatchSize: 7\n")
                      .replace("      VisibilityTimeout: 720 # cutout 120 s\n", "      VisibilityTimeout: 900\n"))
    stages = read_stages(edited, {"CutoutMemory": "4096"})
    assert stages["variants"].batch_size == 7
    assert stages["cutout"].visibility_s == 900 and stages["cutout"].memory_mb == 4096


def test_the_cutouts_seconds_follow_lambdas_vcpus_and_the_other_stages_do_not():
    """Measured on two cores: at 1769 MB (one vCPU) a cutout second is two, from 3538 MB (two) it is one."""
    stages = read_stages(TEMPLATE, {})
    cutout = replace(stages["cutout"], fixed_s=0.2, per_message_s=1.0)
    assert replace(cutout, memory_mb=1769).seconds(1) == pytest.approx(2.4)
    assert replace(cutout, memory_mb=3538).seconds(1) == pytest.approx(1.2)
    assert replace(cutout, memory_mb=7076).seconds(1) == pytest.approx(1.2)   # no third core measured
    publish = replace(stages["publish"], fixed_s=0.2, per_message_s=0.1, memory_mb=256)
    assert publish.seconds(10) == pytest.approx(1.2)


def test_held_photos_go_from_the_cutout_straight_to_publish():
    stages = only_the_cutout_takes_time(0.0, None)
    stages["variants"] = replace(stages["variants"], per_message_s=1.0)
    result = replay(stages, photos=2, held_share=0.5, account_concurrency=1000)
    assert result["time_to_last_email_s"] == pytest.approx(1.0)   # one photo through variants, 1 s
    variants_gb_s = 1.0 * stages["variants"].memory_mb / 1024
    assert result["stages"]["variants"]["gb_s_per_photo"] == pytest.approx(variants_gb_s / 2, abs=1e-3)


def test_an_uncapped_stage_starts_with_five_batches_and_adds_five_a_second():
    """20 cutouts of 10 s at once: 5 start at 0 s, one more every 0.2 s, the 20th at 3 s, done at 13 s."""
    result = replay(only_the_cutout_takes_time(10.0, None), photos=20, held_share=0.0, account_concurrency=1000)
    assert result["time_to_last_email_s"] == pytest.approx(13.0, abs=0.01)
    assert result["stages"]["cutout"]["peak_concurrency"] == 20
    assert result["limited_by"] == "cutout: the event source's scale-up (5 batches, +300 a minute)"


def test_measurements_are_read_from_make_loads_stages_and_make_bench_coldstart():
    stages = read_stages(TEMPLATE, {})
    load = {"stages": {name: {"invocation_s": [[1, 0.3], [4, 0.9], [10, 2.1]]} for name in PIPELINE}}
    load["stages"]["cutout"] = {"invocation_s": [[1, 1.5], [1, 1.7]]}
    bench = {"coldstart": {"cutout": {"cold_minus_warm_s": {"median": 0.4}},
                           "zip_handler_imports": {"process_s": {"IngestFunction": {"median": 0.25}}}}}
    measured = with_measurements(stages, load, bench, sandbox_s=0.1)
    assert (measured["ingest"].fixed_s, measured["ingest"].per_message_s) == pytest.approx((0.1, 0.2))
    assert measured["ingest"].cold_s == pytest.approx(0.35)
    assert measured["cutout"].per_message_s == pytest.approx(1.6) and measured["cutout"].cold_s == pytest.approx(0.5)
    assert measured["publish"].cold_s == pytest.approx(0.1)   # not in this bench: Lambda's own start only
    assert with_measurements(stages, load, None, 0.0)["cutout"].cold_s == 0.0


def test_the_cpu_clock_replays_the_cpu_seconds_measured_beside_the_wall_clock():
    stages = read_stages(TEMPLATE, {})
    load = {"stages": {name: {"invocation_s": [[1, 9.0]], "invocation_cpu_s": [[1, 0.5]]} for name in PIPELINE}}
    bench = {"coldstart": {"cutout": {"cold_minus_warm_s": {"median": 7.0}, "cold_minus_warm_cpu_s": {"median": 0.4}},
                           "zip_handler_imports": {"process_s": {"IngestFunction": {"median": 5.0}},
                                                   "import_cpu_s": {"IngestFunction": {"median": 0.2}}}}}
    measured = with_measurements(stages, load, bench, sandbox_s=0.0, clock="cpu")
    assert measured["ingest"].per_message_s == 0.5 and measured["ingest"].cold_s == pytest.approx(0.2)
    assert measured["cutout"].cold_s == pytest.approx(0.4)
    # the cutout's CPU seconds are one vCPU's: more memory shortens nothing, less than one vCPU lengthens
    assert replace(measured["cutout"], memory_mb=5307).seconds(1) == pytest.approx(0.5)
    assert replace(measured["cutout"], memory_mb=1769 // 2).seconds(1) == pytest.approx(1.0, rel=1e-3)


def test_the_settings_tried_for_a_capped_cutout_are_its_parameters_maximum_and_more_vcpus():
    stages = read_stages(TEMPLATE, {})
    tries = candidates(TEMPLATE, stages, "cutout: MaximumConcurrency 3 (CutoutMaxConcurrency)")
    assert tries == [{"CutoutMaxConcurrency": "10"}, {"CutoutMemory": "3538"}, {"CutoutMemory": "5307"},
                     {"CutoutMemory": "1769", "CutoutMaxConcurrency": "10"}]


def test_one_vcpu_replays_the_one_thread_cutout_make_bench_measured():
    """At 1769 MB and less the function runs the model on one thread: the replay adds what one thread cost
    the bench's cutouts (their median) to the measured seconds, instead of doubling two cores' seconds."""
    stages = read_stages(TEMPLATE, {})
    load = {"stages": {name: {"invocation_s": [[1, 0.8]], "invocation_cpu_s": [[1, 0.5]]} for name in PIPELINE}}
    photos = [{"median_s": {"cutout": cutout}, "cutout_one_vcpu": {"seconds_on_one_vcpu": one}}
              for cutout, one in ((0.6, 1.0), (0.5, 0.8), (0.7, 1.3))]   # extra 0.4, 0.3, 0.6: median 0.4
    measured = with_measurements(stages, load, {"cutout": {"photos": photos}}, sandbox_s=0.0)["cutout"]
    assert measured.one_thread_extra_s == pytest.approx(0.4)
    assert replace(measured, memory_mb=1769).seconds(1) == pytest.approx(1.2)          # 0.8 + 0.4
    assert replace(measured, memory_mb=1769 // 2).seconds(1) == pytest.approx(2.4, rel=1e-3)
    assert replace(measured, memory_mb=3538).seconds(1) == pytest.approx(0.8)          # two threads, as measured
    without = with_measurements(stages, load, None, sandbox_s=0.0)["cutout"]
    assert without.one_thread_extra_s is None
    assert replace(without, memory_mb=1769).seconds(1) == pytest.approx(1.6)           # two cores' seconds, doubled
