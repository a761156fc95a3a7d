"""Predict the time to the last email on Lambda when a whole shoot lands at once: the per-stage service
times measured by ``make load`` (and the cold starts measured by ``make bench``) replayed, event by event,
through the concurrency limits, batch sizes and visibility timeouts that ``template.yaml`` declares.

    python -m tools.load --photos 100 --faults 0 --crash-rate 0 --redeliver 0 > load.json
    python -m tools.bench --only coldstart > bench.json       # or the whole make bench
    python -m tools.burst_sim --load load.json --bench bench.json [--photos 10 100 1000]
        [--set CutoutMaxConcurrency=10 ...] [--account-concurrency 1000] [--clock wall|cpu] [--json]

Read from the template (its parameter defaults, or ``--set``): for every SQS-triggered stage its function's
MemorySize and ReservedConcurrentExecutions, and its event source's queue, BatchSize,
MaximumBatchingWindowInSeconds and ScalingConfig.MaximumConcurrency; each queue's VisibilityTimeout.

Measured, from the two JSON documents:

* seconds per invocation of each stage as ``fixed + per_message × batch size`` (least squares over the
  load run's invocations; a run without injected faults, since a redelivered message is a quick no-op);
* the share of photos the gate holds (they go from the cutout straight to publish, skipping variants);
* a new execution environment's start: the cutout's ``cold − warm`` and each zip function's whole
  process (interpreter and ``import app``), from ``make bench``'s ``coldstart`` section.

``--clock cpu`` replays the CPU seconds measured beside those wall-clock seconds instead (each invocation's
CPU time in the runner's process; the cutout's cold − warm CPU; each zip handler's ``import app`` CPU). On a
machine shared with other work the wall clock counts the time spent waiting for a core, the CPU seconds do
not, so with the machine busy they are the closer estimate of an idle vCPU's time. The cutout's CPU seconds
(onnxruntime's threads added up) are replayed as they are, i.e. as if on one vCPU: an upper bound for
Lambda's more-than-one-vCPU sizes, which then shorten nothing in the replay.

Modelled, from AWS's documentation, not measured here:

* an SQS event source starts with five concurrent batches and adds up to 300 a minute, at most 1,000,
  and never more than its MaximumConcurrency (docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html);
* a function runs at most its ReservedConcurrentExecutions, else what is left of the account's pool
  (``--account-concurrency``, 1,000 by default; new accounts may have less); a batch that finds no
  concurrency left is throttled and its messages come back after the queue's VisibilityTimeout;
* Lambda gives ``memory / 1769`` vCPUs: the cutout's seconds, measured on two cores that onnxruntime both
  uses, are scaled by ``2 / min(2, vCPUs)``; the other stages' seconds are mostly the S3, DynamoDB, SQS and
  SES calls (here moto's emulation of them) and are used as measured;
* at one vCPU's worth or less the function runs the model on one thread (``CutoutSettings.inference_threads``).
  When the bench JSON has ``make bench``'s cutout section, such a size replays the measured seconds plus what
  one thread adds to a cutout there (the median over its photos of ``cutout_one_vcpu`` − ``cutout``), scaled
  by ``1769 / memory``; else the two cores' seconds are scaled as above;
* every new environment pays its start once and stays warm for the rest of the burst; queues and
  EventBridge deliver at once (their tens of milliseconds are left out); Lambda's own environment
  creation is not measurable here and is 0 unless ``--sandbox-s`` says otherwise.

GB-seconds per photo: every invocation's seconds, its environment's start included (Lambda bills the
INIT phase), times its memory, over the photos.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tools.cfn import Resolver, load_template
from tools.embedded_stack import STAGE_OF_QUEUE

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "layers" / "pillow") not in sys.path:
    sys.path.insert(0, str(REPO / "layers" / "pillow"))

from picr.settings import MB_PER_VCPU  # noqa: E402  (the size the cutout's threads are chosen by)

PIPELINE = ("ingest", "cutout", "variants", "publish")
NEXT = {"ingest": "cutout", "cutout": "variants", "variants": "publish", "publish": None}
MEASURED_CORES = 2
START_BATCHES, RAMP_PER_S, MAPPING_MAX = 5, 300 / 60, 1000
GB_S_GOAL = 2.0


@dataclass(frozen=True)
class Stage:
    """One SQS-triggered stage as the template and the measurements describe it."""

    name: str
    function: str
    queue: str
    batch_size: int
    batching_window_s: float
    max_concurrency: int | None
    max_concurrency_parameter: str | None
    reserved: int | None
    memory_mb: int
    memory_parameter: str | None
    visibility_s: float
    fixed_s: float = 0.0
    per_message_s: float = 0.0
    cold_s: float = 0.0
    clock: str = "wall"
    one_thread_extra_s: float | None = None
    """Seconds one model thread adds to a cutout (``make bench``), used at one vCPU's worth and less."""

    def seconds(self, batch: int) -> float:
        """One invocation's seconds on Lambda for ``batch`` messages (warm)."""
        measured = self.fixed_s + self.per_message_s * batch
        if self.name != "cutout":
            return measured
        vcpus = self.memory_mb / MB_PER_VCPU
        if self.clock == "cpu":   # CPU seconds of every thread: as long on one vCPU, shorter on more (not counted)
            return measured / min(1.0, vcpus)
        if vcpus <= 1 and self.one_thread_extra_s is not None:
            return (measured + self.one_thread_extra_s * batch) / vcpus
        return measured * MEASURED_CORES / min(MEASURED_CORES, vcpus)


def _parameter_of(value: Any) -> str | None:
    return value["Ref"] if isinstance(value, dict) and "Ref" in value else None


def read_stages(template_path: Path, parameters: dict[str, str]) -> dict[str, Stage]:
    """Every pipeline stage's limits, from the template with ``parameters`` over its defaults."""
    template = load_template(template_path)
    resolver = Resolver(template, parameters, lambda logical, attribute: logical, {"AWS::Region": "eu-west-2"})
    resources = template["Resources"]
    stages: dict[str, Stage] = {}
    for function, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function" or not resolver.enabled(resource):
            continue
        properties = resource["Properties"]
        for event in properties.get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            queue = resolver.resolve(event["Properties"]["Queue"])
            name = STAGE_OF_QUEUE.get(queue)
            if name not in PIPELINE:
                continue
            scaling = event["Properties"].get("ScalingConfig", {})
            reserved = properties.get("ReservedConcurrentExecutions")
            stages[name] = Stage(
                name=name, function=function, queue=queue,
                batch_size=int(resolver.resolve(event["Properties"].get("BatchSize", 10))),
                batching_window_s=float(resolver.resolve(event["Properties"].get("MaximumBatchingWindowInSeconds", 0))),
                max_concurrency=int(resolver.resolve(scaling["MaximumConcurrency"]))
                if "MaximumConcurrency" in scaling else None,
                max_concurrency_parameter=_parameter_of(scaling.get("MaximumConcurrency")),
                reserved=int(resolver.resolve(reserved)) if reserved is not None else None,
                memory_mb=int(resolver.resolve(properties.get("MemorySize", 128))),
                memory_parameter=_parameter_of(properties.get("MemorySize")),
                visibility_s=float(resolver.resolve(resources[queue]["Properties"].get("VisibilityTimeout", 30))),
            )
    missing = set(PIPELINE) - set(stages)
    if missing:
        raise ValueError(f"the template has no SQS-triggered stage {sorted(missing)}")
    return stages


def fit(pairs: list[list[float]]) -> tuple[float, float]:
    """(fixed, per message) seconds by least squares over (batch size, seconds) pairs, neither negative;
    with one batch size only, all of it per message."""
    sizes = [n for n, _ in pairs]
    if len(set(sizes)) < 2:
        return 0.0, sum(s for _, s in pairs) / sum(sizes)
    mean_n, mean_s = statistics.fmean(sizes), statistics.fmean(s for _, s in pairs)
    slope = (sum((n - mean_n) * (s - mean_s) for n, s in pairs) / sum((n - mean_n) ** 2 for n in sizes))
    slope = max(0.0, slope)
    return max(0.0, mean_s - slope * mean_n), slope


def with_measurements(stages: dict[str, Stage], load: dict[str, Any], bench: dict[str, Any] | None,
                      sandbox_s: float, clock: str = "wall") -> dict[str, Stage]:
    """The stages with their measured service times and environment starts: wall-clock seconds, or with
    ``clock="cpu"`` the CPU seconds measured beside them (a machine shared with other work inflates those
    far less: see the module's docstring)."""
    cold = (bench or {}).get("coldstart", bench or {})
    cpu = clock == "cpu"
    zip_starts = cold.get("zip_handler_imports", {}).get("import_cpu_s" if cpu else "process_s", {})
    measured = {}
    for name, stage in stages.items():
        fixed, per_message = fit(load["stages"][name]["invocation_cpu_s" if cpu else "invocation_s"])
        if name == "cutout":
            start = cold.get("cutout", {}).get("cold_minus_warm_cpu_s" if cpu else "cold_minus_warm_s", {})
        else:
            start = zip_starts.get(stage.function, {})
        measured[name] = replace(stage, fixed_s=fixed, per_message_s=per_message, clock=clock,
                                 cold_s=start.get("median", 0.0) + sandbox_s,
                                 one_thread_extra_s=one_thread_extra(bench) if name == "cutout" else None)
    return measured


def one_thread_extra(bench: dict[str, Any] | None) -> float | None:
    """What one model thread adds to a cutout's seconds: the median over ``make bench``'s cutout photos of
    ``cutout_one_vcpu`` − ``cutout`` (None when the bench JSON has no such figures)."""
    photos = [photo for photo in (bench or {}).get("cutout", {}).get("photos", []) if "cutout_one_vcpu" in photo]
    if not photos:
        return None
    return statistics.median(photo["cutout_one_vcpu"]["seconds_on_one_vcpu"] - photo["median_s"]["cutout"]
                             for photo in photos)


# ------------------------------------------------------------------ the replay


@dataclass
class _Mapping:
    """An event source mapping's state during the replay."""

    stage: Stage
    ready: list[tuple[float, int, int]] = field(default_factory=list)   # (visible at, photo, receives)
    active_since: float | None = None
    in_flight: int = 0
    warm: int = 0
    environments: int = 0
    peak: int = 0
    throttled: int = 0
    waits: list[float] = field(default_factory=list)
    gb_s: float = 0.0

    def cap(self, now: float) -> int:
        since = now if self.active_since is None else self.active_since   # 0.0 is a start, not "none yet"
        ramp = START_BATCHES + math.floor(RAMP_PER_S * (now - since) + 1e-9)   # ticks are sums of 0.2 s
        return min(self.stage.max_concurrency or MAPPING_MAX, MAPPING_MAX, ramp)


def replay(stages: dict[str, Stage], photos: int, held_share: float, account_concurrency: int) -> dict[str, Any]:
    """Every photo uploaded at t = 0, run through the stages; the figures of the run."""
    mappings = {name: _Mapping(stages[name]) for name in PIPELINE}
    events: list[tuple[float, int, str, Any]] = []
    sequence = 0
    in_flight_total = 0
    emails: list[float] = []
    next_tick = -1.0

    def push(time: float, kind: str, payload: Any) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (time, sequence, kind, payload))

    def held(photo: int) -> bool:
        return math.floor((photo + 1) * held_share) > math.floor(photo * held_share)

    def arrive(name: str, photo: int, time: float) -> None:
        mapping = mappings[name]
        mapping.ready.append((time, photo, 0))
        if mapping.active_since is None:
            mapping.active_since = time
        push(time + mapping.stage.batching_window_s, "dispatch", None)

    def dispatch(now: float) -> None:
        nonlocal in_flight_total, next_tick
        for name in PIPELINE:
            mapping = mappings[name]
            stage = mapping.stage
            while True:
                visible = [message for message in mapping.ready if message[0] <= now]
                if not visible or mapping.in_flight >= mapping.cap(now):
                    break
                batch = sorted(visible)[: stage.batch_size]
                for message in batch:
                    mapping.ready.remove(message)
                limit = stage.reserved if stage.reserved is not None else account_concurrency
                if mapping.in_flight >= limit or (stage.reserved is None and in_flight_total >= account_concurrency):
                    mapping.throttled += 1   # back in the queue once its visibility timeout ends
                    for _, photo, receives in batch:
                        mapping.ready.append((now + stage.visibility_s, photo, receives + 1))
                    push(now + stage.visibility_s, "dispatch", None)
                    break
                start = 0.0
                if mapping.warm:
                    mapping.warm -= 1
                else:
                    mapping.environments += 1
                    start = stage.cold_s
                seconds = start + stage.seconds(len(batch))
                mapping.gb_s += seconds * stage.memory_mb / 1024
                mapping.waits += [now - visible_at for visible_at, _, _ in batch]
                mapping.in_flight += 1
                in_flight_total += 1
                mapping.peak = max(mapping.peak, mapping.in_flight)
                push(now + seconds, "done", (name, [photo for _, photo, _ in batch]))
        backlog = any(m.ready and m.in_flight < (m.stage.max_concurrency or MAPPING_MAX) for m in mappings.values())
        if backlog and next_tick <= now:
            next_tick = now + 1 / RAMP_PER_S   # a mapping may have scaled up, or messages become visible, by then
            push(next_tick, "dispatch", None)

    for photo in range(photos):
        arrive("ingest", photo, 0.0)
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "done":
            name, batch = payload
            mapping = mappings[name]
            mapping.in_flight -= 1
            in_flight_total -= 1
            mapping.warm += 1
            for photo in batch:
                following = "publish" if name == "cutout" and held(photo) else NEXT[name]
                if following is None:
                    emails.append(now)
                else:
                    arrive(following, photo, now)
        dispatch(now)
    return {
        "photos": photos, "time_to_last_email_s": round(max(emails), 2),
        "gb_s_per_photo": round(sum(m.gb_s for m in mappings.values()) / photos, 3),
        "stages": {name: {"environments_started": m.environments, "peak_concurrency": m.peak,
                          "throttled_batches": m.throttled, "gb_s_per_photo": round(m.gb_s / photos, 3),
                          "wait_s": {"p50": round(statistics.median(m.waits), 2), "max": round(max(m.waits), 2)}}
                   for name, m in mappings.items() if m.waits},
        "limited_by": limiting_setting(mappings),
    }


def limiting_setting(mappings: dict[str, _Mapping]) -> str:
    """The stage whose messages waited longest, and the limit it ran into."""
    name, mapping = max(mappings.items(), key=lambda item: max(item[1].waits, default=0.0))
    stage = mapping.stage
    if stage.max_concurrency is not None and mapping.peak >= stage.max_concurrency:
        setting = stage.max_concurrency_parameter or "MaximumConcurrency"
        return f"{name}: MaximumConcurrency {stage.max_concurrency} ({setting})"
    if mapping.throttled:
        return f"{name}: concurrency (reserved or the account's pool) exhausted, throttled batches wait the " \
               f"{stage.visibility_s:.0f} s VisibilityTimeout"
    if mapping.peak < MAPPING_MAX:
        return f"{name}: the event source's scale-up (5 batches, +300 a minute)"
    return f"{name}: its service time"


# ------------------------------------------------------------------ scenarios


def candidates(template_path: Path, stages: dict[str, Stage], limited: str) -> list[dict[str, str]]:
    """Settings worth trying for the limiting stage: its MaximumConcurrency parameter at the template's
    MaxValue, its memory parameter one and two steps up (more vCPUs for a CPU-bound stage), and one vCPU
    (the cheapest GB-seconds per photo, one model thread) with that MaximumConcurrency."""
    parameters = load_template(template_path).get("Parameters", {})
    stage = stages[limited.split(":", 1)[0]]
    tries: list[dict[str, str]] = []
    widest: dict[str, str] = {}
    if stage.max_concurrency_parameter and "MaxValue" in parameters[stage.max_concurrency_parameter]:
        widest = {stage.max_concurrency_parameter: str(parameters[stage.max_concurrency_parameter]["MaxValue"])}
        tries.append(widest)
    if stage.memory_parameter:
        ceiling = int(parameters[stage.memory_parameter].get("MaxValue", stage.memory_mb))
        for memory in (2 * MB_PER_VCPU, 3 * MB_PER_VCPU):
            if stage.memory_mb < memory <= ceiling:
                tries.append({stage.memory_parameter: str(memory)})
        floor = int(parameters[stage.memory_parameter].get("MinValue", stage.memory_mb))
        if floor <= MB_PER_VCPU < stage.memory_mb:
            tries.append({stage.memory_parameter: str(MB_PER_VCPU), **widest})
    return tries


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    load = json.loads(args.load.read_text())
    bench = json.loads(args.bench.read_text()) if args.bench else None
    overrides = dict(item.split("=", 1) for item in args.set)
    held_share = load["by_status"].get("needs_review", 0) / max(1, load["photos_in"])

    def run(parameters: dict[str, str]) -> dict[str, Any]:
        stages = with_measurements(read_stages(args.template, parameters), load, bench, args.sandbox_s, args.clock)
        return {"settings": parameters, "service_s": {
            name: {"fixed": round(s.fixed_s, 3), "per_message": round(s.per_message_s, 3),
                   "lambda_batch": round(s.seconds(s.batch_size), 3), "environment_start": round(s.cold_s, 3),
                   "batch_size": s.batch_size, "max_concurrency": s.max_concurrency, "memory_mb": s.memory_mb}
            for name, s in stages.items()},
            "bursts": [replay(stages, n, held_share, args.account_concurrency) for n in args.photos]}, stages

    baseline, stages = run(overrides)
    largest = baseline["bursts"][-1]
    alternatives = []
    for change in candidates(args.template, stages, largest["limited_by"]):
        result, _ = run({**overrides, **change})
        burst = result["bursts"][-1]
        alternatives.append({"change": change, "photos": burst["photos"],
                             "time_to_last_email_s": burst["time_to_last_email_s"],
                             "gb_s_per_photo": burst["gb_s_per_photo"],
                             "cutout_gb_s_per_photo": burst["stages"]["cutout"]["gb_s_per_photo"],
                             "cutout_environments": burst["stages"]["cutout"]["environments_started"],
                             "within_cost_goal": burst["gb_s_per_photo"] <= GB_S_GOAL})
    return {"clock": args.clock, "held_share": round(held_share, 3), "account_concurrency": args.account_concurrency,
            "sandbox_s": args.sandbox_s, **baseline, "alternatives_for_the_largest_burst": alternatives}


def table(result: dict[str, Any]) -> str:
    """The README's table: one row per burst."""
    lines = ["| photos at once | time to last email | GB-s per photo (cutout) | cutout environments | limited by |",
             "| --- | --- | --- | --- | --- |"]
    for burst in result["bursts"]:
        cutout = burst["stages"]["cutout"]
        lines.append(f"| {burst['photos']:,} | {burst['time_to_last_email_s']:.0f} s | {burst['gb_s_per_photo']:.2f} "
                     f"({cutout['gb_s_per_photo']:.2f}) | {cutout['environments_started']} | {burst['limited_by']} |")
    for alternative in result["alternatives_for_the_largest_burst"]:
        change = ", ".join(f"{key}={value}" for key, value in alternative["change"].items())
        lines.append(f"| {alternative['photos']:,} with {change} | {alternative['time_to_last_email_s']:.0f} s | "
                     f"{alternative['gb_s_per_photo']:.2f} ({alternative['cutout_gb_s_per_photo']:.2f}) | "
                     f"{alternative['cutout_environments']} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", type=Path, required=True, help="make load's JSON (its stages section)")
    parser.add_argument("--bench", type=Path, help="make bench's JSON (its coldstart section); else no cold starts")
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--photos", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--set", action="append", default=[], metavar="PARAMETER=VALUE",
                        help="a template parameter other than its default (repeatable)")
    parser.add_argument("--account-concurrency", type=int, default=1000)
    parser.add_argument("--sandbox-s", type=float, default=0.0,
                        help="Lambda's own environment creation, added to every measured start (not measurable here)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="replay wall-clock seconds, or the CPU seconds measured beside them")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    args = parser.parse_args(argv)
    result = simulate(args)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
