"""Every secret picr reads, through one Powertools ``SecretsProvider`` per function.

Secrets travel as ARNs in the environment and are read at call time, never kept in a variable: the review-
link key (publish, sweep, review), the upload-link key (upload), the hosted engine's API key (cutout) and
the Drive service-account key (drive-sync). Keys are cached for ``MAX_AGE_S``: a rotated secret takes effect
within minutes, and a busy function does not call Secrets Manager for every link or request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider

MAX_AGE_S = 300


class Secrets:
    """Adapter over Secrets Manager; takes its boto3 client so tests pass a moto one (and its own cache)."""

    def __init__(self, client: Any) -> None:
        self._provider = SecretsProvider(boto3_client=client)

    def text(self, secret_id: str, *, fresh: bool = False) -> str:
        """The secret's current string, from the cache unless ``fresh`` (then read now, and cached again)."""
        return str(self._provider.get(secret_id, max_age=MAX_AGE_S, force_fetch=fresh))

    def key(self, secret_id: str) -> Callable[[], bytes]:
        """A signing key or API key, read when called: callers ask per message or request."""
        return lambda: self.text(secret_id).encode()
