"""Mint the owner link to the shop page (every product, its images, its history, review links for held ones).

    python -m tools.owner_link shop --url https://<id>.lambda-url.eu-west-1.on.aws/ [--days 90]
        [--secret-id picr/owner-link-key]

Reads the deploy-generated key from Secrets Manager with your AWS credentials and prints the link, which works
for --days days (at most a year). Anyone holding it sees the whole shop; putting a new key value
(aws secretsmanager put-secret-value --secret-id picr/owner-link-key ...) revokes every owner link at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "pillow"))

from picr.links.owner import mint_owner_token  # after the layer is on the path
from picr.links.tokens import link_url
from tools.local_env import default_region

DEFAULT_DAYS = 90


def link(base_url: str, key: bytes, owner_id: str, *, now: datetime, days: int = DEFAULT_DAYS) -> str:
    return link_url(base_url, mint_owner_token(key, owner_id, now=now, lifetime=timedelta(days=days)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("owner_id", help="who the link is for: lower-case letters, digits, hyphens (1-32)")
    parser.add_argument("--url", required=True, help="the stack's ShopUrl output")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"how long it works (default {DEFAULT_DAYS})")
    parser.add_argument("--secret-id", default="picr/owner-link-key", help="the owner-link key secret")
    parser.add_argument("--region", default=default_region(), help="the stack's region (default: samconfig.toml's)")
    args = parser.parse_args(argv)
    import boto3

    secret = boto3.client("secretsmanager", region_name=args.region).get_secret_value(SecretId=args.secret_id)
    try:
        print(link(args.url, secret["SecretString"].encode(), args.owner_id, now=datetime.now(UTC), days=args.days))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
