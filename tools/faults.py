"""Fault injection for the local runner: the failures SQS, Lambda and AWS APIs really produce.

* transient API failures — in a share of invocations, one S3 / SES / DynamoDB call made by the handler
  fails with ``ServiceUnavailable`` (boto3's own retries are bypassed, as after they are exhausted);
* crashes at a stage boundary — the handler did its work, then the invocation dies before the batch is
  settled (a timeout, an OOM), so every message of the batch comes back;
* redelivery — SQS delivers a message again after it succeeded (at-least-once delivery);
* out-of-order delivery — queues are polled and batches handled in a shuffled order.

Everything is driven by one seeded RNG, so a failing run can be replayed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

FAULTED_SERVICES = frozenset({"s3", "ses", "dynamodb", "sns"})


@dataclass(frozen=True)
class FaultPlan:
    call_failure_rate: float = 0.0
    crash_rate: float = 0.0
    redeliveries: int = 0
    shuffle: bool = False
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.call_failure_rate or self.crash_rate or self.redeliveries or self.shuffle)


class FaultInjector:
    """Arms faults per invocation; installed as a botocore ``before-call`` hook on the default session."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.injected: Counter[str] = Counter()
        self._in_handler = False
        self._calls = 0
        self._fail_at: int | None = None
        self._deliveries: Counter[str] = Counter()

    def install(self, session: Any) -> None:
        """Register on a boto3 session before any client is made from it (clients copy the hooks)."""
        session.events.register("before-call", self._before_call)

    @contextmanager
    def invocation(self) -> Iterator[None]:
        """One Lambda invocation: maybe arm a failure at its k-th AWS call (k in 1..3: even an invocation that
        finds its work already done makes a few calls, so an armed fault nearly always fires)."""
        self._calls = 0
        self.injected["invocations"] += 1
        self._fail_at = self.rng.randint(1, 3) if self.rng.random() < self.plan.call_failure_rate else None
        self._in_handler = True
        try:
            yield
        finally:
            self._in_handler = False

    def crash_after_work(self) -> bool:
        crashed = self.rng.random() < self.plan.crash_rate
        if crashed:
            self.injected["crash"] += 1
        return crashed

    def redeliver(self, message_id: str) -> bool:
        """True while a successfully handled message still has redeliveries to go."""
        self._deliveries[message_id] += 1
        again = self._deliveries[message_id] <= self.plan.redeliveries
        if again:
            self.injected["redelivery"] += 1
        return again

    def order(self, items: list[Any]) -> list[Any]:
        if self.plan.shuffle:
            items = list(items)
            self.rng.shuffle(items)
        return items

    def _before_call(self, model: Any, **_: Any) -> None:
        if not self._in_handler or model.service_model.service_name not in FAULTED_SERVICES:
            return
        self._calls += 1
        if self._calls == self._fail_at:
            self.injected[f"api:{model.service_model.service_name}"] += 1
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "injected transient fault"},
                 "ResponseMetadata": {"HTTPStatusCode": 503}},
                model.name,
            )
