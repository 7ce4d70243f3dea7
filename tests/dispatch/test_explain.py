"""Refusals for people: times as HH:MM (dated on another day), the service hours, what would work."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import numpy as np
import pytest

from ondemand.dispatch.policy import ClockText, ServicePolicy
from ondemand.routing.solver.insertion import REFUSAL_CODES, Refusal
from ondemand.routing.solver.model import ArrayTravelTimes, Request
from ondemand.sim.engine import run_day
from ondemand.sim.events import RequestRefused, from_records, to_records
from tests.api._synthetic import synthetic_policy
from tests.sim.fakes import GridArea
from tests.sim.helpers import scenario, trip

_SECONDS = re.compile(r"\b\d{4,}\b")
"""Four or more digits in a row: seconds since midnight."""


def test_clock_text_writes_hhmm_and_the_date_on_another_day() -> None:
    """Service-day seconds read as HH:MM; past midnight, or on another day than the reader's, with the day."""
    assert ClockText()(83_368) == "23:09"
    assert ClockText()(83_368, up=True) == "23:10"
    assert ClockText()(83_340, up=True) == "23:09"
    assert ClockText()(86_400 + 900) == "00:15 (+1 day)"
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    dec1, nov30 = dt.date(2026, 12, 1), dt.date(2026, 11, 30)
    assert ClockText(dec1, nov30, tokyo)(8 * 3600 + 900) == "12/01 08:15"
    assert ClockText(dec1, dec1, tokyo)(8 * 3600 + 900) == "08:15"
    assert ClockText(dec1, None, tokyo)(8 * 3600 + 900) == "08:15"
    assert ClockText(nov30, nov30, tokyo)(86_400 + 60) == "12/01 00:01"


def _r(earliest: int, latest: int, latest_dropoff: int) -> Request:
    """A request from stop 0 to stop 1 (a 300 s drive), 30 s boarding, 20 s alighting."""
    return Request("r", 0, 1, earliest, latest, latest_dropoff, 1_000, pickup_service=30, dropoff_service=20)


@pytest.mark.parametrize(
    ("request_", "now", "code", "needles"),
    [
        (_r(0, 100, 10_000), 500, "window_passed", ["ended at 00:01", "from 00:09 on"]),
        (_r(64_800, 66_600, 70_000), 64_800, "outside_hours", ["between 18:00 and 18:30", "too late"]),
        (_r(25_200, 27_000, 30_000), 0, "outside_hours", ["earliest possible pickup is 09:00"]),
        (_r(36_000, 37_800, 40_000), 36_000, "no_feasible_time", ["between 10:00 and 10:30", "later time"]),
        (
            _r(64_500, 64_600, 70_000),
            60_000,
            "no_feasible_time",
            ["latest possible pickup for this trip is 17:54"],
        ),
        (
            _r(36_000, 36_010, 36_050),
            36_000,
            "arrives_too_late",
            ["from 10:00 reaches the drop-off at 10:06"],
        ),
        (
            _r(36_000, 37_800, 40_000),
            36_000,
            "ride_too_long",
            ["takes 5 min, more than the allowed ride of 17 min"],
        ),
    ],
)
def test_explain_gives_hhmm_the_service_hours_and_what_would_work(
    request_: Request, now: int, code: str, needles: list[str]
) -> None:
    """Each refusal with a time is explained in HH:MM, with the service hours (09:00-18:00) and what works."""
    policy = synthetic_policy(start=9 * 3600, end=18 * 3600)
    tt = ArrayTravelTimes(np.array([[0, 300], [300, 0]]), np.array([[0, 2000], [2000, 0]]))
    text = policy.explain(Refusal("r", "seconds 12345", code), request_, tt, now=now)
    for needle in needles:
        assert needle in text, text
    if code in ("window_passed", "outside_hours", "no_feasible_time"):
        assert "service hours are 09:00-18:00" in text, text
    assert not _SECONDS.search(text), text


def test_explain_keeps_reasons_without_times() -> None:
    """A refusal that names no time (capacity, duplicate id) keeps the dispatcher's words."""
    policy = synthetic_policy(start=9 * 3600, end=18 * 3600)
    tt = ArrayTravelTimes(np.array([[0, 300], [300, 0]]), np.array([[0, 2000], [2000, 0]]))
    why = "no vehicle has 9 seat(s) and 0 wheelchair place(s)"
    assert policy.explain(Refusal("r", why, "no_vehicle_fits"), _r(36_000, 37_800, 40_000), tt, now=0) == why


def test_simulated_refusals_say_the_same_with_a_code() -> None:
    """The simulator's RequestRefused: the policy's HH:MM text and a code (also read back from records)."""
    sc = scenario("senboku", reoptimise_every_s=0)
    policy = ServicePolicy.from_scenario(sc, fleet=1)
    end = policy.end
    trips = [
        trip("late", end + 600, end + 600, 0, 5, ahead=False),  # as soon as possible, after the service
        trip("after", 36_000, end + 1200, 0, 5),  # to leave at a time after the service (the API's 422)
    ]
    events = run_day(area=GridArea(4), policy=policy, fares=sc.fares, trips=trips, depot=0)
    refused = {e.request_id: e for e in events if isinstance(e, RequestRefused)}
    assert set(refused) == {"late", "after"}
    assert (refused["late"].code, refused["after"].code) == ("outside_hours", "invalid")
    assert f"service hours are {policy.hours()}" in refused["late"].reason, refused["late"].reason
    assert f"after the service hours ({policy.hours()})" in refused["after"].reason, refused["after"].reason
    for e in refused.values():
        assert not _SECONDS.search(e.reason), e.reason
    assert refused["late"].code in REFUSAL_CODES
    assert from_records(to_records(events)) == events
    written_before = [{k: v for k, v in row.items() if k != "code"} for row in to_records(events)]
    codes = [e.code for e in from_records(written_before) if isinstance(e, RequestRefused)]
    assert codes == ["refused", "refused"]  # outputs written before the code existed still load
