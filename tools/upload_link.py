"""Mint the upload page link for one person or device (the link id goes onto every job uploaded with it).

    python -m tools.upload_link shop --url https://<id>.lambda-url.eu-west-1.on.aws/ [--secret-id picr/upload-link-key]

Reads the deploy-generated key from Secrets Manager with your AWS credentials and prints the link. Anyone
holding the link can upload; putting a new key value (aws secretsmanager put-secret-value) revokes them all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "pillow"))

from picr.links.tokens import link_url  # after the layer is on the path
from picr.links.upload import mint_link_token
from tools.local_env import default_region


def link(base_url: str, key: bytes, link_id: str) -> str:
    return link_url(base_url, mint_link_token(key, link_id))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("link_id", help="who the link is for: lower-case letters, digits, hyphens (1-32)")
    parser.add_argument("--url", required=True, help="the stack's UploadUrl output")
    parser.add_argument("--secret-id", default="picr/upload-link-key", help="the upload-link key secret")
    parser.add_argument("--region", default=default_region(), help="the stack's region (default: samconfig.toml's)")
    args = parser.parse_args(argv)
    import boto3

    secret = boto3.client("secretsmanager", region_name=args.region).get_secret_value(SecretId=args.secret_id)
    print(link(args.url, secret["SecretString"].encode(), args.link_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
