"""Re-render one channel for every ready product of a deployed stack (or the products named), from their
stored cutouts: after adding or changing a channel in config/channels.json.

    python -m tools.rerender etsy [--job <job id> ...] [--stack picr] [--region eu-west-1]
    python -m tools.rerender --resume <batch id>

Reads the stack's outputs (bucket, tables, variants queue) with your AWS credentials, checks the request
(the channel config must validate and name the channel; at most 1,000 products, all of them ready), opens the
batch and queues one message per product. The stack does the rest: each new image goes beside the old ones,
each manifest is updated, and one summary email arrives when the last product is done. When queueing stops
part-way (SQS refusing a request), it says how far it got and exits 1; ``--resume <batch id>`` queues the
rest of that batch (and nothing twice, however often it is run), so the batch completes and its email comes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "pillow"))

from picr.aws.batches import RerenderBatches  # after the layer is on the path
from picr.aws.bucket import ImageBucket
from picr.aws.jobs import JobStore
from picr.aws.queues import QueueSender
from picr.stages.rerender import RerenderContext, RerenderIncomplete, RerenderRefused, resume_rerender, start_rerender
from tools.local_env import default_region, deployed_stack


def context_for(outputs: dict[str, str], *, s3: Any, dynamodb: Any, sqs: Any) -> RerenderContext:
    """What a re-render of the stack with these outputs needs, over the given clients."""
    return RerenderContext(
        bucket=ImageBucket(s3, outputs["ImagesBucketName"]),
        jobs=JobStore(dynamodb, outputs["JobsTableName"]),
        batches=RerenderBatches(dynamodb, outputs["IdempotencyTableName"]),
        variants_queue=QueueSender(sqs, outputs["VariantsQueueUrl"]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("channel", nargs="?", help="the channel's name in config/channels.json")
    parser.add_argument("--job", action="append", help="a job id to re-render (repeat; default: every ready one)")
    parser.add_argument("--resume", metavar="BATCH", help="queue the rest of a batch whose start was cut short")
    parser.add_argument("--stack", default="picr", help="the deployed stack's name (samconfig.toml: picr)")
    parser.add_argument("--region", default=default_region(), help="its region (default: samconfig.toml's)")
    args = parser.parse_args(argv)
    if bool(args.channel) == bool(args.resume):
        parser.error("name a channel to re-render, or --resume a batch")
    import boto3

    stack = deployed_stack(boto3.client("cloudformation", region_name=args.region), args.stack)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    context = context_for(outputs, s3=boto3.client("s3", region_name=args.region),
                          dynamodb=boto3.client("dynamodb", region_name=args.region),
                          sqs=boto3.client("sqs", region_name=args.region))
    try:
        batch = (resume_rerender(args.resume, context) if args.resume
                 else start_rerender(args.channel, args.job, context, now_s=time.time()))
    except RerenderRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    except RerenderIncomplete as cut_short:
        print(f"{cut_short}\nRun: python -m tools.rerender --resume {cut_short.batch_id}", file=sys.stderr)
        return 1
    print(f"batch {batch.batch_id}: {len(batch.job_ids)} products queued for {batch.channel}; "
          "one email will say when they are done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
