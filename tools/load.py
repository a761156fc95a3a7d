"""``make load``: a shoot of N photos through the local runner with faults on; prints one JSON report.

A benchmark, not a test (tests/e2e/test_load.py runs a small one): photos in, jobs terminal, notifications,
duplicate outputs and emails, lost photos, dead letters, wall time, the time from the first upload to the
last email (the end of the last publish invocation that settled a message: publish sends the one email
per photo), and per stage the invocations' seconds (wall and CPU) and batch sizes and the messages' waits in their
queue (SQS's SentTimestamp to the receive). The runner is one process polling the queues in turn, so the
waits are this machine's, not Lambda's: ``tools/burst_sim.py`` replays the per-stage service times measured
here through the template's concurrency limits to predict Lambda's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.faults import FaultPlan
from tools.process import REPO, run
from tools.shared_data import PHOTOS

TERMINAL = ("done", "needs_review", "rejected", "superseded")


def shoot(count: int, folder: Path) -> list[Path]:
    """``count`` uploads cycling through the dev photos, each under its own name (so its own job)."""
    sources = sorted(PHOTOS.glob("cases/*/photo.jpg")) + sorted(PHOTOS.glob("samples/*"))
    paths = []
    for index in range(count):
        source = sources[index % len(sources)]
        stem = source.parent.name if source.name == "photo.jpg" else source.stem
        target = folder / f"{index + 1:03d}-{stem}{source.suffix}"
        shutil.copyfile(source, target)
        paths.append(target)
    return paths


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(summary: dict[str, Any], photos: int, wall_s: float) -> dict[str, Any]:
    jobs = summary["jobs"]
    kinds = Counter()
    for job in jobs:
        for path in job["emails"]:
            if path.endswith(".eml"):
                kinds[(job["job_id"], Path(path).stem.rsplit("-", 1)[-1])] += 1
    emails_per_job = Counter(job_id for job_id, _kind in kinds.elements())
    return {
        "photos_in": photos,
        "jobs_terminal": sum(job["status"] in TERMINAL for job in jobs),
        "by_status": dict(Counter(job["status"] for job in jobs)),
        "notifications": sum(kinds.values()),
        "jobs_without_exactly_one_notification": sorted(
            job["input"] for job in jobs if emails_per_job[job["job_id"]] != 1),
        "duplicate_emails": sum(n - 1 for n in kinds.values() if n > 1),
        "duplicate_outputs": len(summary["outputs_with_differing_versions"]),
        "lost": sum(job["status"] not in TERMINAL for job in jobs) + (photos - len(jobs)),
        "dead_letters": summary["dead_letters"],
        "faults_injected": summary["faults_injected"],
        "invocations_with_an_api_fault": round(
            sum(n for kind, n in summary["faults_injected"].items() if kind.startswith("api:"))
            / max(1, summary["faults_injected"].get("invocations", 0)), 3),
        "wall_s": round(wall_s, 2),
        "time_to_last_email_s": _time_to_last_email(summary),
        "stage_invocation_s": {
            stage: {"n": len(times), "p50": round(statistics.median(times), 3),
                    "p95": round(_percentile(times, 0.95), 3)}
            for stage, times in summary["invocation_seconds"].items()
        },
        "stages": _stages(summary["invocations"]),
    }


def _time_to_last_email(summary: dict[str, Any]) -> float | None:
    ends = [call["received_at"] + call["seconds"] for call in summary["invocations"]
            if call["stage"] == "publish" and call["settled"]]
    return round(max(ends) - summary["started_at"], 2) if ends else None


def _stages(invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage: invocations, messages, batch sizes, seconds per invocation and per message, queue waits
    (the service times ``tools/burst_sim.py`` reads)."""
    stages: dict[str, Any] = {}
    for stage in dict.fromkeys(call["stage"] for call in invocations):
        calls = [call for call in invocations if call["stage"] == stage]
        waits = [wait for call in calls for wait in call["waits_s"]]
        messages = sum(call["messages"] for call in calls)
        stages[stage] = {
            "invocations": len(calls), "messages": messages,
            "batch_size_mean": round(messages / len(calls), 2),
            "invocation_s": [[call["messages"], call["seconds"]] for call in calls],
            "invocation_cpu_s": [[call["messages"], call["cpu_s"]] for call in calls],
            "seconds_per_message": round(sum(call["seconds"] for call in calls) / messages, 4),
            "wait_s": {"p50": round(statistics.median(waits), 2), "p95": round(_percentile(waits, 0.95), 2),
                       "max": round(max(waits), 2)},
        }
    return stages


def load(count: int, plan: FaultPlan, out: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        photos = shoot(count, Path(folder))
        started = time.monotonic()
        summary = run(photos, out, quiet=True, faults=plan)
        return report(summary, count, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--faults", type=float, default=0.10, help="share of invocations with a failing API call")
    parser.add_argument("--crash-rate", type=float, default=0.05)
    parser.add_argument("--redeliver", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "load-out")
    args = parser.parse_args(argv)
    plan = FaultPlan(call_failure_rate=args.faults, crash_rate=args.crash_rate, redeliveries=args.redeliver,
                     shuffle=True, seed=args.seed)
    result = load(args.photos, plan, args.out)
    print(json.dumps({"plan": plan.__dict__, **result}, indent=2))
    return 0 if result["lost"] == 0 and result["duplicate_emails"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
