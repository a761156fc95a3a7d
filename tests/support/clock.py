"""Time in the tests: one reading of the process clock per test, every other time an offset from it.

The handlers, the local runner and moto read the process clock themselves, so a test that mixes their
times with a fixed calendar date breaks as the calendar moves on (``make test-shifted`` runs the suite a
year ahead and a year back to prove none does). Pure functions take ``now`` as an argument and may be
tested at any fixed date; anything that also goes through a handler or moto takes its times from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The process clock (shifted, like everything else, under faketime)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The job store's time format. Not imported from ``picr.runtime``: importing that outside a function's
    environment would create its Powertools metrics without the namespace every later handler call needs."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Clock:
    """A test's ``now``, read once when the test starts."""

    start: datetime

    def at(self, offset: timedelta = timedelta()) -> datetime:
        return self.start + offset

    def iso(self, offset: timedelta = timedelta()) -> str:
        return iso(self.start + offset)
