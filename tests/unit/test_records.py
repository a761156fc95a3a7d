"""picr.records: a record is checked whenever it is made, and untrusted data is refused with every problem, located."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, Literal

import pytest

from picr.records import Record, RecordError, limited, limits_of, parse, parse_json, parse_json_as, place


class Part(Record):
    label: str = limited(min_length=1, max_length=8)
    weight: float = limited(1.0, gt=0, le=10)


class Order(Record):
    order_id: str = limited(pattern=r"^[0-9a-f]{4}$")
    size: Literal["s", "m"] = "s"
    count: int = limited(1, ge=1)
    gift: bool = False
    note: str | None = None
    parts: tuple[Part, ...] = limited((), max_length=3)
    codes: tuple[str, ...] = limited((), item_pattern=r"^[A-Z]+$")
    extra: dict[str, Any] | None = None

    def _rules(self) -> list[str]:
        return ["a gift needs a note"] if self.gift and not self.note else []


class Reorder(Order):
    previous: str


def problems_of(error: pytest.ExceptionInfo[RecordError]) -> set[tuple[str, str]]:
    return {(place(problem.loc), problem.kind) for problem in error.value.problems}


def test_text_is_read_as_each_fields_type():
    order = parse(Order, {"order_id": "0a1b", "count": "3", "gift": "Yes", "note": "hi", "size": "m"}, from_text=True)
    assert (order.count, order.gift, order.size) == (3, True, "m")
    assert parse(Part, {"label": "a", "weight": "2.5"}, from_text=True).weight == 2.5
    with pytest.raises(RecordError) as refused:
        parse(Order, {"order_id": "0a1b", "count": "three", "gift": "maybe"}, from_text=True)
    assert problems_of(refused) == {("count", "type"), ("gift", "type")}


def test_json_values_are_not_coerced_from_text_but_ints_are_numbers():
    with pytest.raises(RecordError) as refused:
        parse(Order, {"order_id": "0a1b", "count": "3", "gift": 1})
    assert problems_of(refused) == {("count", "type"), ("gift", "type")}
    part = parse(Part, {"label": "a", "weight": 2})
    assert part.weight == 2.0 and isinstance(part.weight, float)


def test_every_problem_is_reported_at_once_and_located():
    data = {"order_id": "nope", "size": "xl", "parts": [{"label": "ok"}, {"label": "", "weight": 11}],
            "codes": ["AB", "c"], "surprise": 1}
    with pytest.raises(RecordError) as refused:
        parse(Order, data)
    assert problems_of(refused) == {("surprise", "extra"), ("size", "type"), ("order_id", "limit"),
                                    ("parts[1].label", "limit"), ("parts[1].weight", "limit"), ("codes", "limit")}
    assert "item 1 must match" in str(refused.value) and "must be at most 10" in str(refused.value)
    # the record's own rules are judged once every field is right
    with pytest.raises(RecordError) as refused:
        parse(Order, {"order_id": "0a1b", "gift": True, "count": 0})
    assert problems_of(refused) == {("count", "limit")}


def test_missing_fields_are_named():
    with pytest.raises(RecordError) as refused:
        parse(Reorder, {})
    assert problems_of(refused) == {("order_id", "missing"), ("previous", "missing")}


def test_a_record_made_in_code_is_checked_too_and_is_frozen():
    with pytest.raises(RecordError, match="size: must be one of 's', 'm'"):
        Order(order_id="0a1b", size="xl")
    with pytest.raises(RecordError, match="a gift needs a note"):
        Order(order_id="0a1b", gift=True)
    order = Order(order_id="0a1b", parts=[Part(label="a")])   # a list made in code is kept as a tuple
    assert order.parts == (Part(label="a"),)
    with pytest.raises(FrozenInstanceError):
        order.count = 2  # type: ignore[misc]
    with pytest.raises(RecordError, match="count"):
        order.replaced(count=0)


def test_json_round_trip_and_the_most_specific_class_first():
    order = Reorder(order_id="0a1b", previous="f00d", parts=(Part(label="a", weight=2),), extra={"k": [1]})
    body = order.to_json()
    assert body.startswith('{"order_id":"0a1b",') and '"parts":[{"label":"a","weight":2}]' in body
    assert parse_json(Reorder, body) == order
    assert parse_json_as((Reorder, Order), body) == order
    assert parse_json_as((Reorder, Order), Order(order_id="0a1b").to_json()) == Order(order_id="0a1b")
    with pytest.raises(RecordError) as refused:   # none fits: the first class's problems
        parse_json_as((Reorder, Order), '{"order_id": "0a1b", "unknown": 1}')
    assert problems_of(refused) == {("unknown", "extra"), ("previous", "missing")}
    with pytest.raises(RecordError, match="not valid JSON"):
        parse_json(Order, b"\xff{")
    with pytest.raises(RecordError, match="must be an object"):
        parse_json(Order, "[1, 2]")


def test_limits_are_readable_for_other_checks():
    assert limits_of(Order, "count").ge == 1 and limits_of(Order, "note").le is None
