"""The one clock all rule code reads (DESIGN: "Time is injected").

Services call `clock.now()`; pure rules take the time as an argument. Tests swap the clock with
`use_clock(FrozenClock(...))` and move it with `advance()`; nothing else reads the wall clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """Anything that tells the current instant, timezone-aware, in UTC."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(tz=UTC)


class FrozenClock:
    """A clock that stands still until moved; for tests and simulations."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move the clock forward (or back, with a negative delta) and return the new time."""
        self._at += delta
        return self._at

    def set(self, at: dt.datetime) -> None:
        """Put the clock at an instant."""
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._at = at.astimezone(UTC)


_current: Clock = SystemClock()


def now() -> dt.datetime:
    """The current instant from the configured clock, in UTC."""
    return _current.now()


def get_clock() -> Clock:
    """The clock in use."""
    return _current


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Use `clock` for the duration of the block (tests, simulations)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
