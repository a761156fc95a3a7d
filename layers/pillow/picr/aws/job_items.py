"""How a job is stored as a DynamoDB item: the job store's (``picr.aws.jobs``) conversions both ways.

DynamoDB has no float, no enum and no nested record; a ``Job`` has all three. Writes are checked by name
against ``Job``'s fields, so a misspelt attribute is a bug found at once, not a field silently never read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from picr.job import Draft, Handoff, Job, PublishedImage, Status

STATUS_ATTRIBUTE = "current_status"
SPENT_TOKENS = "spent_tokens"
"""String set on the current item: ids of one-time review tokens already used on this job."""

KEY_ATTRIBUTES = frozenset({"job_id", "ts"})
_FIELDS = {f.name: f for f in dataclasses.fields(Job)}
_WRITABLE = (frozenset(_FIELDS) - {"job_id", "status", "updated_at", "handoffs", "spent_tokens"}) | {
    handoff.value for handoff in Handoff}
"""What a caller may set on the current item: ``Job`` fields (the state, its time, the key and the spent
tokens move only through ``transition``) and the hand-off flags."""
_RECORDS = {"variants": Draft, "outputs": PublishedImage}
_TUPLES = frozenset(name for name, f in _FIELDS.items() if str(f.type).startswith("tuple["))

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    """DynamoDB has no float type: floats travel as Decimal (rounded, so they stay readable)."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_dynamo(dataclasses.asdict(value))
    if isinstance(value, float):
        return Decimal(str(round(value, 6)))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def dynamo_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}


def plain_values(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def writable(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The attributes to set, by name; a name that is no ``Job`` field or hand-off flag is a bug."""
    unknown = sorted(set(attrs or {}) - _WRITABLE)
    if unknown:
        raise ValueError(f"not fields of a job: {', '.join(unknown)}")
    return {str(key): value for key, value in (attrs or {}).items()}


def _record(cls: type, value: Mapping[str, Any]) -> Any:
    """A nested record from its map, ignoring attributes it does not know (written by an older release)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: item for key, item in value.items() if key in names})


def job_from_item(item: Mapping[str, Any]) -> Job:
    """The ``Job`` a current item describes (plain values: see ``plain_values``)."""
    values: dict[str, Any] = {"status": Status(item[STATUS_ATTRIBUTE]),
                              "handoffs": frozenset(h for h in Handoff if item.get(h.value))}
    for name, value in item.items():
        if name not in _FIELDS or name in values or value is None:
            continue
        if name in _RECORDS:
            value = tuple(_record(_RECORDS[name], entry) for entry in value)
        elif name == SPENT_TOKENS:
            value = frozenset(value)
        elif name in _TUPLES:
            value = tuple(value)
        values[name] = value
    return Job(**values)
