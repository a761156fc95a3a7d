"""The bucket's lifecycle rules as S3 applies them, for tests: what happens to an object under a key.

S3 applies every enabled rule whose filter matches the key; when several would expire an object, the
earliest expiration wins, and transitions never delete. Only what the template uses is modelled: prefix
filters, ``Expiration.Days``, ``Transitions`` and ``NoncurrentVersionExpiration`` (rules in the shape of
S3's Get/PutBucketLifecycleConfiguration, as ``tools.cfn.s3_lifecycle_rule`` makes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fate:
    expires_after_days: int | None
    """Days after it was written that the current version is deleted (a delete marker); None: never."""
    noncurrent_expires_after_days: int | None
    """Days after it stops being current that a version is deleted for good; None: never."""
    transitions: tuple[tuple[int, str], ...]
    """(days after it was written, storage class), earliest first."""

    @property
    def kept(self) -> bool:
        return self.expires_after_days is None


def _prefix(rule: Mapping[str, Any]) -> str:
    return (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))


def fate(rules: Iterable[Mapping[str, Any]], key: str) -> Fate:
    matching = [rule for rule in rules if rule["Status"] == "Enabled" and key.startswith(_prefix(rule))]
    expirations = [rule["Expiration"]["Days"] for rule in matching if "Days" in rule.get("Expiration", {})]
    noncurrent = [rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in matching
                  if "NoncurrentVersionExpiration" in rule]
    transitions = sorted((t["Days"], t["StorageClass"]) for rule in matching for t in rule.get("Transitions", []))
    return Fate(min(expirations, default=None), min(noncurrent, default=None), tuple(transitions))
