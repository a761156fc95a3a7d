"""Put the jobs opened before the shop page existed into its list (a one-off, after upgrading a deployed stack).

    python -m tools.backfill_listing [--stack picr] [--region eu-west-1] [--dry-run]

The shop page lists every job through the jobs table's ``by-created`` index, whose key is the ``listing`` and
``created_at`` attributes that ingest has set on every job since the shop page came. A job opened before
has neither, so it is missing from the page (the held filter, which reads ``by-status``, still finds it). This
finds those jobs with one Query of ``by-status`` per state, a page at a time (every job is there exactly once:
no Scan), and sets both on each: ``created_at`` is the time of the job's first history row (when it was
opened), else its event time, else its last update. Each write is conditional, so the command may be stopped
and run again at any time: a job already listed is left as it is, and a second run changes nothing.

Reads the stack's outputs (the jobs table) with your AWS credentials; prints what it did.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "pillow"))

from picr.aws.jobs import JobStore  # after the layer is on the path
from picr.job import Job
from tools.local_env import default_region, deployed_stack


@dataclass
class Backfilled:
    listed: int = 0
    """Jobs put into the shop page's list."""
    already: int = 0
    """Jobs another run (or ingest) listed between this run's read and its write."""


def opened_at(job: Job, jobs: JobStore) -> str:
    """When the job was opened: its first history row, else what it recorded of its upload, else its last move."""
    history = jobs.history(job.job_id)
    return job.created_at or (history[0].at if history else "") or job.event_time or job.updated_at


def backfill(jobs: JobStore, *, dry_run: bool = False) -> Backfilled:
    """List every unlisted job (see the module's doc); with ``dry_run`` only count them."""
    done = Backfilled()
    for job in jobs.unlisted():
        if dry_run or jobs.add_listing(job.job_id, created_at=opened_at(job, jobs)):
            done.listed += 1
        else:
            done.already += 1
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="picr", help="the deployed stack's name (samconfig.toml: picr)")
    parser.add_argument("--region", default=default_region(), help="its region (default: samconfig.toml's)")
    parser.add_argument("--dry-run", action="store_true", help="count the unlisted jobs, change nothing")
    args = parser.parse_args(argv)
    import boto3

    stack = deployed_stack(boto3.client("cloudformation", region_name=args.region), args.stack)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    done = backfill(JobStore(boto3.client("dynamodb", region_name=args.region), outputs["JobsTableName"]),
                    dry_run=args.dry_run)
    verb = "would be listed" if args.dry_run else "listed on the shop page"
    print(f"{done.listed} jobs {verb}; {done.already} were listed meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
