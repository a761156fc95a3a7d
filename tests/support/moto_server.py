"""A real moto server on 127.0.0.1 (HTTP), with every boto3 client of this process pointed at it.

moto keeps its accounts in this process's memory, shared by every server it starts, so a server would find
what an earlier test's server left behind (its bucket: ``BucketAlreadyOwnedByYou``). Each server is reset
when it starts and when it stops, so every test that asks for one gets an empty AWS.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _reset(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()


@contextmanager
def serve_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Yields the server's endpoint while every boto3 client of this process talks to it."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    from moto.server import ThreadedMotoServer

    with monkeypatch.context() as patched:
        # every name is set before the server's thread starts: adding a name to the C environment while
        # another thread reads it can crash the process (tools.embedded_stack.interpreter_environment);
        # giving an existing name its value, as the endpoint gets it below, cannot
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-2",
                            "AWS_REGION": "eu-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}.items():
            patched.setenv(name, value)
        patched.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        patched.setenv("AWS_ENDPOINT_URL", endpoint)
        _reset(endpoint)
        # Powertools keeps one default secrets client per process: one made before this test would miss the
        # server, and one made during it would point later tests at a server that is gone.
        DEFAULT_PROVIDERS.clear()
        try:
            yield endpoint
        finally:
            DEFAULT_PROVIDERS.clear()
            _reset(endpoint)
            server.stop()
