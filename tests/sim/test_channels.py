"""The simulator applies the booking channels' hours: closed-channel bookings are queued or lost."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ondemand.dispatch.policy import ServicePolicy
from ondemand.scenario import ChannelParams
from ondemand.sim.engine import run_day
from ondemand.sim.events import BookingLost, RequestSubmitted
from ondemand.sim.kpis import compute_kpis, request_outcomes
from tests.sim.fakes import GridArea
from tests.sim.helpers import scenario, trip

AREA = GridArea(4)
PHONE = ChannelParams("phone", 0.35, opens=9 * 3600, closes=17 * 3600, days="weekdays")
APP = ChannelParams("app", 0.65)


def _day(rule: str, trips: list[Any], date: str = "2024-01-15") -> list[Any]:
    sc = scenario("senboku", reoptimise_every_s=0, channels=(APP, PHONE), outside_hours=rule)
    return run_day(
        area=AREA,
        policy=ServicePolicy.from_scenario(sc),
        fares=sc.fares,
        trips=trips,
        depot=0,
        date=date,
    )


def _by(channel: str, t: Any) -> Any:
    return dataclasses.replace(t, channel=channel)


@pytest.mark.parametrize("rule", ["next_open", "lost"])
def test_phone_booking_made_on_sunday_evening(rule: str) -> None:
    """A phone booking made Sunday 21:00 for Monday 11:00 is taken Monday 09:00 or lost; the app takes it."""
    sunday_21h = -3 * 3600  # seconds before Monday 2024-01-15 00:00
    trips = [
        _by("phone", trip("p", sunday_21h, 11 * 3600, 0, 5)),
        _by("app", trip("a", sunday_21h, 11 * 3600, 2, 7)),
    ]
    ev = _day(rule, trips)
    submitted = {e.request_id: e.t for e in ev if isinstance(e, RequestSubmitted)}
    lost = [e for e in ev if isinstance(e, BookingLost)]
    assert submitted["a"] == 0  # the app booking, at the start of the simulated day
    if rule == "next_open":
        assert submitted["p"] == 9 * 3600
        assert lost == []
        assert request_outcomes(ev) == {"a": "served", "p": "served"}
    else:
        assert "p" not in submitted
        assert [(e.request_id, e.channel, e.passengers) for e in lost] == [("p", "phone", 1)]
        k = compute_kpis(ev)
        assert (k["requests"], k["lost_bookings"], k["riders_lost"], k["refused"]) == (1, 1, 1, 0)


def test_asap_phone_call_after_the_desk_closes_is_lost() -> None:
    """An as-soon-as-possible phone call at 17:30 (desk shut until tomorrow) is lost even under next_open."""
    call = trip("late", 17 * 3600 + 1800, 17 * 3600 + 1900, 0, 3, ahead=False)
    ev = _day("next_open", [_by("phone", call)])
    lost = [e for e in ev if isinstance(e, BookingLost)]
    assert [e.request_id for e in lost] == ["late"]
    assert "after the service day" in lost[0].reason


def test_queued_booking_too_late_for_its_ride_is_lost() -> None:
    """A phone booking made at 07:00 for an 08:55 pickup is lost: the desk opens at 09:00."""
    ev = _day("next_open", [_by("phone", trip("early", 7 * 3600, 8 * 3600 + 3300, 0, 3))])
    assert [e.request_id for e in ev if isinstance(e, BookingLost)] == ["early"]
    assert "too late" in next(e.reason for e in ev if isinstance(e, BookingLost))
