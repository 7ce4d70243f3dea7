"""Service days and booking channels: the calendar rules the simulator and the live API share.

:class:`ServiceCalendar` says on which days a service runs: its ``calendar`` (every day, or
Monday to Friday), whether it runs on public holidays (taken from the maintained ``holidays``
package for the scenario's country, Japan by default, with its substitute holidays 振替休日 and
citizens' holidays 国民の休日), annual closures such as the year-end break (年末年始,
e.g. 29 December to 3 January), single closed dates, and the period the service ran (a pilot's
first and last day).

:class:`BookingChannel` says when a booking channel takes bookings: daily hours on its days
(``every_day``; ``weekdays``, i.e. Monday to Friday except public holidays and the service's
closures, as an office keeps; or ``service_days``), and how long before the ride it stops
taking them (``min_lead_s``). A booking that arrives while its channel is closed is taken at
the channel's next open time (``outside_hours = "next_open"``) or lost (``"lost"``):
:meth:`BookingRules.intake`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ondemand.errors import InvalidRequestError
from ondemand.scenario import ChannelParams, ServiceParams

__all__ = [
    "CHANNEL_DAYS",
    "OUTSIDE_HOURS",
    "BookingChannel",
    "BookingRules",
    "ServiceCalendar",
    "public_holiday",
]

CHANNEL_DAYS = ("every_day", "weekdays", "service_days")
"""Days a channel takes bookings: all days; Monday-Friday except public holidays and the
service's closures (office days); the days the service runs."""
OUTSIDE_HOURS = ("next_open", "lost")
"""What happens to a booking made while its channel is closed."""

_MAX_SEARCH_DAYS = 400


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> dict[_dt.date, str]:
    import holidays

    try:
        table = holidays.country_holidays(country, years=year, language="ja" if country == "JP" else None)
    except NotImplementedError as exc:
        raise ValueError(f"no public-holiday table for country {country!r} in the holidays package") from exc
    return dict(table.items())


def public_holiday(day: _dt.date, country: str = "JP") -> str | None:
    """The name of the public holiday on ``day`` (e.g. ``"成人の日"``), or ``None``.

    From the ``holidays`` package (maintained tables, including Japan's substitute holidays).
    """
    return _holidays(country, day.year).get(day)


def _mmdd(d: _dt.date) -> tuple[int, int]:
    return d.month, d.day


@dataclass(frozen=True, slots=True)
class ServiceCalendar:
    """The days a service runs.

    Parameters
    ----------
    days
        ``"every_day"`` or ``"weekdays"`` (Monday to Friday).
    holidays
        Whether the service runs on public holidays.
    country
        ISO country code of the public holidays (``holidays`` package).
    closures
        Annual closures as ((month, day) first, (month, day) last) closed day, inclusive; a
        closure may run over the new year, e.g. ((12, 29), (1, 3)).
    closed_dates
        Further single days without service.
    period
        First and last day of service, or ``None`` for open-ended. (A scenario's
        ``service.period``, the pilot run it models, is not put here: the live API books real
        dates long after a pilot ended.)
    """

    days: str = "every_day"
    holidays: bool = True
    country: str = "JP"
    closures: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    closed_dates: frozenset[_dt.date] = field(default_factory=frozenset)
    period: tuple[_dt.date, _dt.date] | None = None

    def __post_init__(self) -> None:
        if self.days not in ("every_day", "weekdays"):
            raise ValueError(f"calendar must be 'every_day' or 'weekdays', got {self.days!r}")
        for first, last in self.closures:
            for m, d in (first, last):
                _dt.date(2024, m, d)  # raises ValueError for 02-30 and friends
        if self.period is not None and self.period[1] < self.period[0]:
            raise ValueError(f"period ends ({self.period[1]}) before it starts ({self.period[0]})")

    def in_closure(self, day: _dt.date) -> bool:
        """Whether ``day`` falls in an annual closure or is a closed date."""
        if day in self.closed_dates:
            return True
        md = _mmdd(day)
        for first, last in self.closures:
            if first <= last:
                if first <= md <= last:
                    return True
            elif md >= first or md <= last:  # over the new year
                return True
        return False

    def closed_reason(self, day: _dt.date) -> str | None:
        """Why the service does not run on ``day`` (``None`` when it runs)."""
        if self.period is not None and not (self.period[0] <= day <= self.period[1]):
            return f"the service runs from {self.period[0].isoformat()} to {self.period[1].isoformat()}"
        if day in self.closed_dates:
            return "the service is closed that day"
        if self.in_closure(day):
            spans = ", ".join(f"{a[0]}/{a[1]}-{b[0]}/{b[1]}" for a, b in self.closures)
            return f"the service closes for the annual break ({spans})"
        if self.days == "weekdays" and day.weekday() >= 5:
            return "the service runs on weekdays only"
        if not self.holidays:
            name = public_holiday(day, self.country)
            if name is not None:
                return f"it is a public holiday ({name}) and the service does not run on public holidays"
        return None

    def runs_on(self, day: _dt.date) -> bool:
        """Whether the service runs on ``day``."""
        return self.closed_reason(day) is None

    def next_service_day(self, day: _dt.date) -> _dt.date | None:
        """The first day on or after ``day`` the service runs (``None`` within ~a year)."""
        for k in range(_MAX_SEARCH_DAYS):
            d = day + _dt.timedelta(days=k)
            if self.runs_on(d):
                return d
            if self.period is not None and d > self.period[1]:
                return None
        return None

    def service_days(self, first: _dt.date, last: _dt.date) -> list[_dt.date]:
        """The days from ``first`` to ``last`` (inclusive) on which the service runs."""
        n = (last - first).days + 1
        return [d for d in (first + _dt.timedelta(days=k) for k in range(max(n, 0))) if self.runs_on(d)]


@dataclass(frozen=True, slots=True)
class BookingChannel:
    """A way to book (app, phone, web, LINE) with its own hours.

    Parameters
    ----------
    name
        ``app``, ``phone``, ``web`` or ``line``.
    share
        Share of the bookings made through it (the simulator draws a channel per booking).
    opens, closes
        Daily hours in seconds from midnight (``0`` and ``86400``: all day).
    days
        One of :data:`CHANNEL_DAYS`.
    min_lead_s
        The channel takes a ride at least this long before its pickup (e.g. 600: up to 10
        minutes before the ride).
    """

    name: str
    share: float = 1.0
    opens: int = 0
    closes: int = 86_400
    days: str = "every_day"
    min_lead_s: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.opens < self.closes <= 86_400:
            raise ValueError(f"channel {self.name}: hours must satisfy 00:00 <= opens < closes <= 24:00")
        if self.days not in CHANNEL_DAYS:
            raise ValueError(f"channel {self.name}: days must be one of {CHANNEL_DAYS}, got {self.days!r}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"channel {self.name}: share must be between 0 and 1, got {self.share}")

    def open_on(self, day: _dt.date, calendar: ServiceCalendar) -> bool:
        """Whether the channel takes bookings at all on ``day``."""
        if self.days == "every_day":
            return True
        if self.days == "service_days":
            return calendar.runs_on(day)
        return (
            day.weekday() < 5
            and public_holiday(day, calendar.country) is None
            and not calendar.in_closure(day)
        )

    def is_open(self, when: _dt.datetime, calendar: ServiceCalendar) -> bool:
        """Whether the channel takes a booking at local time ``when``."""
        s = when.hour * 3600 + when.minute * 60 + when.second
        return self.opens <= s < self.closes and self.open_on(when.date(), calendar)

    def next_open(self, when: _dt.datetime, calendar: ServiceCalendar) -> _dt.datetime | None:
        """``when`` if the channel is open then, else the next time it opens (``None``: not within a year)."""
        if self.is_open(when, calendar):
            return when
        day = when.date()
        s = when.hour * 3600 + when.minute * 60 + when.second
        for k in range(_MAX_SEARCH_DAYS):
            d = day + _dt.timedelta(days=k)
            if not self.open_on(d, calendar):
                continue
            if k == 0 and s >= self.closes:
                continue
            start = self.opens if k > 0 or s < self.opens else s
            midnight = _dt.datetime.combine(d, _dt.time(), tzinfo=when.tzinfo)
            return midnight + _dt.timedelta(seconds=start)
        return None

    def describe(self) -> str:
        """E.g. ``"phone: weekdays 09:00-17:00"``."""
        hours = (
            "all day"
            if (self.opens, self.closes) == (0, 86_400)
            else f"{_clock(self.opens)}-{_clock(self.closes)}"
        )
        days = {"every_day": "every day", "weekdays": "weekdays", "service_days": "service days"}[self.days]
        return f"{self.name}: {days} {hours}"


@dataclass(frozen=True, slots=True)
class BookingRules:
    """The service's calendar, its booking channels and the rule for bookings outside their hours.

    Parameters
    ----------
    calendar
        The service days.
    channels
        The booking channels (at least one).
    outside_hours
        ``"next_open"``: a booking made while its channel is closed is taken when it next opens;
        ``"lost"``: it is lost (the rider gives up).
    """

    calendar: ServiceCalendar = ServiceCalendar()
    channels: tuple[BookingChannel, ...] = (BookingChannel("app"),)
    outside_hours: str = "next_open"

    def __post_init__(self) -> None:
        if not self.channels:
            raise ValueError("a service needs at least one booking channel")
        if self.outside_hours not in OUTSIDE_HOURS:
            raise ValueError(f"outside_hours must be one of {OUTSIDE_HOURS}, got {self.outside_hours!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The channels' names."""
        return tuple(c.name for c in self.channels)

    def channel(self, name: str) -> BookingChannel:
        """The channel called ``name``.

        Raises
        ------
        InvalidRequestError
            When the service has no such channel.
        """
        for c in self.channels:
            if c.name == name:
                return c
        raise InvalidRequestError(
            f"this service takes no bookings by {name!r}; its channels are {', '.join(self.names)}"
        )

    def intake(self, channel: str, when: _dt.datetime) -> _dt.datetime | None:
        """When a booking made through ``channel`` at ``when`` is taken, or ``None`` if it is lost.

        Open channel: ``when``. Closed: its next open time under ``"next_open"``, ``None``
        under ``"lost"``.
        """
        c = self.channel(channel)
        if c.is_open(when, self.calendar):
            return when
        if self.outside_hours == "lost":
            return None
        return c.next_open(when, self.calendar)

    def shares(self) -> tuple[float, ...]:
        """The channels' shares, normalised to sum to 1."""
        total = sum(c.share for c in self.channels)
        if total <= 0:
            return tuple(1.0 / len(self.channels) for _ in self.channels)
        return tuple(c.share / total for c in self.channels)

    @classmethod
    def from_service(cls, service: ServiceParams) -> BookingRules:
        """The rules of a scenario's ``[service]`` table."""
        calendar = ServiceCalendar(
            days=service.calendar,
            holidays=service.holidays,
            country=service.holiday_country,
            closures=service.closures,
            closed_dates=frozenset(service.closed_dates),
        )  # service.period is the run a scenario models, not a rule: it closes no day
        params: Sequence[ChannelParams] = service.channels or tuple(
            ChannelParams(n, 1.0 / len(service.booking_channels)) for n in service.booking_channels
        )
        channels = tuple(
            BookingChannel(
                name=c.name,
                share=c.share,
                opens=c.opens,
                closes=c.closes,
                days=c.days,
                min_lead_s=c.min_lead_s,
            )
            for c in params
        )
        return cls(calendar=calendar, channels=channels, outside_hours=service.outside_hours)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
