"""Service days and booking channels: holidays, year-end closures, channel hours, the outside-hours rule."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ondemand.dispatch.calendar import BookingChannel, BookingRules, ServiceCalendar, public_holiday

WEEKDAY_SERVICE = ServiceCalendar(days="weekdays", holidays=False, closures=(((12, 29), (1, 3)),))
PHONE = BookingChannel("phone", share=0.35, opens=9 * 3600, closes=17 * 3600, days="weekdays")
APP = BookingChannel("app", share=0.65)


def test_public_holidays_come_from_the_package() -> None:
    """成人の日 2024 is Monday 8 January, and 12 Feb 2024 is a substitute holiday (振替休日)."""
    assert public_holiday(dt.date(2024, 1, 8)) == "成人の日"
    assert public_holiday(dt.date(2024, 2, 12)) is not None
    assert public_holiday(dt.date(2024, 1, 9)) is None


def test_weekday_service_is_closed_on_a_monday_holiday() -> None:
    """A weekday-only service without holiday service does not run on 2024-01-08 (成人の日), and says why."""
    day = dt.date(2024, 1, 8)
    assert day.weekday() == 0
    assert not WEEKDAY_SERVICE.runs_on(day)
    assert "成人の日" in (WEEKDAY_SERVICE.closed_reason(day) or "")
    assert WEEKDAY_SERVICE.runs_on(dt.date(2024, 1, 9))
    assert ServiceCalendar(days="weekdays", holidays=True).runs_on(day)


def test_year_end_closure_spans_the_new_year() -> None:
    """The 12/29-1/3 closure closes Friday 2023-12-29 and 2024-01-03 but not 2023-12-28 or 2024-01-04."""
    assert not WEEKDAY_SERVICE.runs_on(dt.date(2023, 12, 29))
    assert "annual break" in (WEEKDAY_SERVICE.closed_reason(dt.date(2023, 12, 29)) or "")
    assert not WEEKDAY_SERVICE.runs_on(dt.date(2024, 1, 3))
    assert WEEKDAY_SERVICE.runs_on(dt.date(2023, 12, 28))
    assert WEEKDAY_SERVICE.runs_on(dt.date(2024, 1, 4))
    assert WEEKDAY_SERVICE.next_service_day(dt.date(2023, 12, 29)) == dt.date(2024, 1, 4)


def test_period_bounds_the_service() -> None:
    """Outside a pilot's period the service does not run; service_days lists the days inside it."""
    cal = ServiceCalendar(period=(dt.date(2023, 1, 10), dt.date(2023, 3, 10)))
    assert not cal.runs_on(dt.date(2023, 1, 9))
    assert cal.runs_on(dt.date(2023, 3, 10))
    assert len(cal.service_days(dt.date(2023, 1, 1), dt.date(2023, 12, 31))) == 60


@pytest.mark.parametrize(("rule", "expected"), [("next_open", dt.datetime(2024, 1, 15, 9)), ("lost", None)])
def test_phone_booking_on_friday_evening(rule: str, expected: dt.datetime | None) -> None:
    """A phone booking at 20:00 on Friday 2024-01-12 goes to Monday 09:00 (next_open) or is lost."""
    rules = BookingRules(calendar=WEEKDAY_SERVICE, channels=(APP, PHONE), outside_hours=rule)
    friday = dt.datetime(2024, 1, 12, 20, 0)
    assert friday.weekday() == 4
    assert rules.intake("phone", friday) == expected
    assert rules.intake("app", friday) == friday  # the app is open all day


def test_phone_desk_skips_holiday_and_year_end() -> None:
    """Queued phone bookings skip 成人の日 (Mon 2024-01-08) and the year-end break to the next office day."""
    rules = BookingRules(calendar=WEEKDAY_SERVICE, channels=(APP, PHONE))
    assert rules.intake("phone", dt.datetime(2024, 1, 5, 18)) == dt.datetime(2024, 1, 9, 9)
    assert rules.intake("phone", dt.datetime(2023, 12, 28, 17)) == dt.datetime(2024, 1, 4, 9)
    assert rules.intake("phone", dt.datetime(2024, 1, 9, 8, 30)) == dt.datetime(2024, 1, 9, 9)


@given(
    st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2025, 12, 31)),
)
def test_next_open_is_open_and_nothing_earlier_is(when: dt.datetime) -> None:
    """next_open is open, not before the booking, and the channel is closed the hour before it."""
    t = PHONE.next_open(when, WEEKDAY_SERVICE)
    assert t is not None
    assert t >= when
    assert PHONE.is_open(t, WEEKDAY_SERVICE)
    if t > when:
        assert t.hour * 3600 + t.minute * 60 == PHONE.opens
        probe = max(when, t - dt.timedelta(hours=1))
        assert probe == t or not PHONE.is_open(probe, WEEKDAY_SERVICE)


def test_unknown_channel_is_a_clear_error() -> None:
    """A booking by a channel the service does not have names the channels it has."""
    rules = BookingRules(channels=(APP, PHONE))
    with pytest.raises(ValueError, match="app, phone"):
        rules.intake("fax", dt.datetime(2024, 1, 9, 10))
