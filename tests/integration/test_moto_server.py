"""The moto server the browser tests run on starts empty, whatever an earlier test in this process left."""

from __future__ import annotations

import boto3

from tests.support.moto_server import serve_moto


def test_a_second_server_in_the_same_process_finds_nothing_the_first_left(monkeypatch):
    with serve_moto(monkeypatch):
        boto3.client("s3").create_bucket(Bucket="picr-local-images",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    with serve_moto(monkeypatch):
        assert boto3.client("s3").list_buckets()["Buckets"] == []
