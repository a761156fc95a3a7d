"""The review function's side of a fix: a synchronous Lambda Invoke of the cutout function.

Synchronous because the owner is waiting for the preview (its latency is ``make bench``'s ``fix`` section): a
round trip through the cutout queue would add the queue's delivery and the page's polling to every tap and
stroke, and a warm container answers a stroke from the results it remembers.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

INVOKE_CONFIG = Config(connect_timeout=3, read_timeout=25, retries={"total_max_attempts": 1})
"""One attempt, answered within the review function's own 30 s: a retried preview would run the model
twice for one tap, and the page lets the owner try again."""


class FixFailed(RuntimeError):
    """The cutout function could not be reached or failed; nothing was changed."""


class LambdaFixer:
    """Calls the cutout function with a ``{"fix": ...}`` request and returns its JSON answer."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                           Payload=json.dumps(request).encode())
            payload = response["Payload"].read()
        except (ClientError, BotoCoreError) as exc:
            raise FixFailed(f"the cutout function could not be called: {exc}") from exc
        if response.get("FunctionError"):
            raise FixFailed(f"the cutout function failed: {payload[:300].decode('utf-8', 'replace')}")
        return json.loads(payload)
