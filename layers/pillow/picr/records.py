"""Validated, frozen records on the standard library's dataclasses: settings, queue messages, channel rules.

A record is checked whenever it is made, so one that exists is valid: every field's type (str, int, float,
bool, a ``Literal``, an optional, a tuple of, a ``dict``, another record), its limits (:func:`limited`) and
the class's own cross-field rules (a ``_rules`` method returning problems in plain words). :func:`parse`
builds one from untrusted data (a message's JSON, an environment's strings), reporting every problem at once,
each at its place (``channels[1].fill``), as :class:`RecordError`.

Why not pydantic, which did this before: importing it cost ~40 ms of every zip handler's ~0.3 s cold import
and as much of the cutout's cold start (``tools/coldstart.py``), for these few checks.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import re
import types
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Literal, Self, Union, dataclass_transform, get_args, get_origin, get_type_hints

Loc = tuple[str | int, ...]
_INVALID = object()
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


@dataclasses.dataclass(frozen=True)
class Limits:
    """A field's bounds: numbers (``ge``/``gt``/``le``), lengths of text and tuples, a pattern for text or for
    each text of a tuple (``item_pattern``)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    item_pattern: str | None = None

    def problems(self, value: object) -> list[str]:
        found = []
        if isinstance(value, int | float) and not isinstance(value, bool):
            for bound, holds, words in ((self.ge, operator.ge, "at least"), (self.gt, operator.gt, "greater than"),
                                        (self.le, operator.le, "at most")):
                if bound is not None and not holds(value, bound):
                    found.append(f"must be {words} {bound:g}")
        if isinstance(value, str | tuple):
            unit = "characters" if isinstance(value, str) else "items"
            if self.min_length is not None and len(value) < self.min_length:
                found.append(f"must have at least {self.min_length} {unit}")
            if self.max_length is not None and len(value) > self.max_length:
                found.append(f"must have at most {self.max_length} {unit}")
        if self.pattern is not None and isinstance(value, str) and not re.search(self.pattern, value):
            found.append(f"must match {self.pattern}")
        if self.item_pattern is not None and isinstance(value, tuple):
            found += [f"item {index} must match {self.item_pattern}" for index, item in enumerate(value)
                      if not (isinstance(item, str) and re.search(self.item_pattern, item))]
        return found


_NO_LIMITS = Limits()


def limited(default: Any = dataclasses.MISSING, **limits: Any) -> Any:
    """A field with :class:`Limits` (and a default, when given): ``max_edge: int = limited(2000, ge=320)``."""
    return dataclasses.field(default=default, metadata={"limits": Limits(**limits)})


def required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def limits_of(cls: type[Record], name: str) -> Limits:
    return next(_limits(field) for field in dataclasses.fields(cls) if field.name == name)


def _limits(field: dataclasses.Field) -> Limits:
    return field.metadata.get("limits", _NO_LIMITS)


def _limit_problems(field: dataclasses.Field, value: object) -> list[Problem]:
    return [Problem((field.name,), "limit", text) for text in _limits(field).problems(value)]


@dataclasses.dataclass(frozen=True)
class Problem:
    loc: Loc
    """Where: field names and list positions, outermost first; empty for a rule of the whole record."""
    kind: Literal["missing", "extra", "type", "limit", "rule"]
    message: str

    def within(self, *outer: str | int) -> Problem:
        return dataclasses.replace(self, loc=(*outer, *self.loc))


class RecordError(ValueError):
    """Data that does not make a valid record; ``problems`` lists every reason."""

    def __init__(self, record: str, problems: Iterable[Problem]) -> None:
        self.record, self.problems = record, list(problems)
        super().__init__(f"{record}: " + "; ".join(f"{place(p.loc) or 'record'}: {p.message}" for p in self.problems))


def place(loc: Loc) -> str:
    """``("channels", 1, "fill")`` → ``channels[1].fill``."""
    text = ""
    for key in loc:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(limited, dataclasses.field))
class Record:
    """Base of every record; a subclass is made a frozen, keyword-only dataclass and checked when made."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True)(cls)

    def __post_init__(self) -> None:
        problems = []
        for field in dataclasses.fields(self):
            value, hint = getattr(self, field.name), _hints(type(self))[field.name]
            if get_origin(hint) is tuple and isinstance(value, list):   # made in code with a list: kept as a tuple
                value = tuple(value)
                object.__setattr__(self, field.name, value)
            if not _conforms(value, hint):
                problems.append(_wrong_type((field.name,), hint))
                continue
            problems += _limit_problems(field, value)
        if not problems:
            problems = [Problem((), "rule", text) for text in self._rules()]
        if problems:
            raise RecordError(type(self).__name__, problems)

    def _rules(self) -> list[str]:
        """The class's cross-field rules: what breaks them, in plain words (none by default)."""
        return []

    def replaced(self, **changes: Any) -> Self:
        """A copy with ``changes``, checked like any record."""
        return dataclasses.replace(self, **changes)

    def plain(self) -> dict[str, Any]:
        """Fields as JSON values (records as dicts, tuples as lists)."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.plain(), separators=(",", ":"), ensure_ascii=False)


def parse[R: Record](cls: type[R], data: object, *, from_text: bool = False) -> R:
    """A ``cls`` from ``data`` (a mapping), or :class:`RecordError` listing every problem. ``from_text``: the
    values are strings to read as the fields' types (an environment's), e.g. ``"60"`` for an int."""
    if not isinstance(data, Mapping):
        raise RecordError(cls.__name__, [Problem((), "type", "must be an object")])
    fields = {field.name: field for field in dataclasses.fields(cls)}
    problems = [Problem((str(key),), "extra", "is not a field") for key in data if key not in fields]
    values = {}
    for name, field in fields.items():
        if name not in data:
            if required(field):
                problems.append(Problem((name,), "missing", "is required"))
            continue
        value = _converted(_hints(cls)[name], data[name], (name,), from_text, problems)
        if value is not _INVALID:
            values[name] = value
            problems += _limit_problems(field, value)
    if problems:
        raise RecordError(cls.__name__, problems)
    return cls(**values)


def parse_json[R: Record](cls: type[R], body: str | bytes) -> R:
    """A ``cls`` from a JSON document (a queue message's body)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(cls.__name__, [Problem((), "type", f"is not valid JSON: {exc}")]) from exc
    return parse(cls, data)


def parse_json_as(classes: tuple[type[Record], ...], body: str | bytes) -> Record:
    """The first of ``classes`` that ``body`` makes (most specific first: extra keys are refused, so a message
    with more fields never passes as a plainer one); the first class's problems when none fits."""
    failures = []
    for cls in classes:
        try:
            return parse_json(cls, body)
        except RecordError as exc:
            failures.append(exc)
    raise failures[0]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _members(hint: Any) -> tuple[Any, ...]:
    return get_args(hint) if get_origin(hint) in (Union, types.UnionType) else ()


def _conforms(value: object, hint: Any) -> bool:
    """Whether ``value`` already is of type ``hint`` (a record's own check, no conversion)."""
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return any(value == allowed and type(value) is type(allowed) for allowed in get_args(hint))
    if members := _members(hint):
        return any(_conforms(value, member) for member in members)
    if hint is type(None):
        return value is None
    if origin is tuple:
        item = get_args(hint)[0]
        return isinstance(value, tuple) and all(_conforms(each, item) for each in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _converted(hint: Any, value: object, loc: Loc, from_text: bool, problems: list[Problem]) -> Any:
    """``value`` as type ``hint`` (numbers and booleans read from text when ``from_text``; a record from a
    mapping; a tuple from a list), or ``_INVALID`` with the reason added to ``problems``."""
    origin = get_origin(hint)
    if members := _members(hint):
        if value is None and type(None) in members:
            return None
        for member in members:
            trial: list[Problem] = []
            converted = _converted(member, value, loc, from_text, trial)
            if converted is not _INVALID:
                return converted
        problems.append(_wrong_type(loc, hint))
        return _INVALID
    if isinstance(hint, type) and issubclass(hint, Record):
        if isinstance(value, hint):
            return value
        try:
            return parse(hint, value, from_text=from_text)
        except RecordError as exc:
            problems += [problem.within(*loc) for problem in exc.problems]
            return _INVALID
    if origin is tuple and isinstance(value, list | tuple):
        items = [_converted(get_args(hint)[0], each, (*loc, index), from_text, problems)
                 for index, each in enumerate(value)]
        return _INVALID if any(item is _INVALID for item in items) else tuple(items)
    if from_text and isinstance(value, str):
        value = _from_text(hint, value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if _conforms(value, hint):
        return value
    problems.append(_wrong_type(loc, hint))
    return _INVALID


def _wrong_type(loc: Loc, hint: Any) -> Problem:
    return Problem(loc, "type", f"must be {_describe(hint)}")


def _from_text(hint: Any, text: str) -> object:
    try:
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        return text
    if hint is bool and text.strip().lower() in _TRUE | _FALSE:
        return text.strip().lower() in _TRUE
    return text


def _describe(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(allowed) for allowed in get_args(hint))
    if members := _members(hint):
        return " or ".join(_describe(member) for member in members)
    if get_origin(hint) is tuple:
        return f"a list of {_describe(get_args(hint)[0])}"
    names = {Any: "anything", str: "text", int: "an integer", float: "a number", bool: "true or false",
             type(None): "null", dict: "an object"}
    return names.get(hint) or names.get(get_origin(hint)) or f"a {getattr(hint, '__name__', hint)} object"


def _plain(value: object) -> object:
    if isinstance(value, Record):
        return value.plain()
    if isinstance(value, tuple | list):
        return [_plain(each) for each in value]
    return value
