"""Time in the live service: the clock the API reads, and service days (datetimes <-> core seconds)."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["Clock", "ServiceDay"]

Clock = Callable[[], _dt.datetime]
"""Returns the current aware datetime (the wall clock in production; tests inject a fixed one)."""


@dataclass(frozen=True, slots=True)
class ServiceDay:
    """One service day: converts between aware datetimes and the core's seconds from midnight."""

    date: _dt.date
    tz: ZoneInfo

    @property
    def midnight(self) -> _dt.datetime:
        """The day's local midnight."""
        return _dt.datetime.combine(self.date, _dt.time(0), tzinfo=self.tz)

    def seconds(self, when: _dt.datetime) -> int:
        """Seconds from this day's midnight to ``when`` (an aware datetime), rounded down."""
        return math.floor((when - self.midnight).total_seconds())

    def at(self, seconds: int) -> _dt.datetime:
        """The aware datetime (in the service time zone) ``seconds`` after midnight."""
        return (self.midnight + _dt.timedelta(seconds=int(seconds))).astimezone(self.tz)

    @classmethod
    def of(cls, when: _dt.datetime, tz: ZoneInfo) -> ServiceDay:
        """The service day that contains ``when``."""
        return cls(when.astimezone(tz).date(), tz)
