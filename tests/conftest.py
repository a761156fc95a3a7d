"""Shared fixtures: moto with fake credentials, and the template's resources created in it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import Clock, now

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("U2NET_HOME", str(REPO / "models"))


@pytest.fixture
def aws(monkeypatch):
    """moto for everything boto3 does in the test; credentials are fake so nothing real is reachable."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws):
    """The template's bucket, queues, tables and rules, created in moto by the local runner's code."""
    from tools.embedded_stack import EmbeddedStack

    return EmbeddedStack()


@pytest.fixture
def job_store(stack):
    from picr.aws.jobs import JobStore

    return JobStore(stack.dynamodb, stack.resolver.resolve({"Ref": "JobsTable"}))


@pytest.fixture
def moto_server(monkeypatch) -> Iterator[str]:
    """A real moto server on 127.0.0.1 (HTTP), empty, with every boto3 client of this process pointed at it."""
    from tests.support.moto_server import serve_moto

    with serve_moto(monkeypatch) as endpoint:
        yield endpoint


@pytest.fixture
def clock() -> Clock:
    """The test's one reading of the process clock (see ``tests/support/clock.py``)."""
    return Clock(now())
