"""The service policy: requests and their windows, the promise, the fleet, walking, re-optimisation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ondemand.dispatch import Assignment, InsertionDispatcher
from ondemand.dispatch.policy import Booking, ServicePolicy, Walking
from ondemand.errors import InvalidRequestError, OutsideServiceAreaError, UnknownStopError
from ondemand.routing.geo.geodesy import haversine_m
from ondemand.routing.solver.model import BookingKind
from tests.sim.fakes import GridArea
from tests.sim.helpers import scenario

AREA = GridArea(5)
SC = scenario("senboku")
POLICY = ServicePolicy.from_scenario(SC)
SVC = SC.service
A, K, B = BookingKind.ASAP, BookingKind.LEAVE_AT, BookingKind.ARRIVE_BY


def _direct(a: int, b: int) -> int:
    return int(AREA.matrix.durations[a, b])


def test_from_scenario_carries_the_scenario_and_its_overrides() -> None:
    """The policy reads [service] and the walking fields; fleet and re-optimisation can be overridden."""
    assert POLICY.service == SVC
    assert POLICY.walking == Walking(
        SC.demand.max_walk_m, SC.demand.walk_circuity, SC.demand.walking_speed_mps
    )
    assert POLICY.walking.circuity == 1.25
    assert (POLICY.reoptimise_every_s, POLICY.reoptimise_time_limit_s) == (1800, 0.5)
    assert POLICY.reoptimises
    other = ServicePolicy.from_scenario(SC, fleet=7, reoptimise=False)
    assert (other.fleet, other.reoptimise_every_s, other.reoptimises) == (7, 0, False)
    with pytest.raises(ValueError, match="fleet"):
        ServicePolicy.from_scenario(SC, fleet=0)


def test_fleet_starts_at_the_centre_stop_for_the_service_hours() -> None:
    """Vehicles v1..vN at the stop nearest the stops' mean position, with the service's capacity."""
    lon = np.mean([s.lon for s in AREA.stops])
    lat = np.mean([s.lat for s in AREA.stops])
    brute = min(
        range(len(AREA.stops)), key=lambda i: haversine_m(lon, lat, AREA.stops[i].lon, AREA.stops[i].lat)
    )
    assert POLICY.depot(AREA.stops) == brute == 12  # the middle of the 5 x 5 grid
    fleet = ServicePolicy.from_scenario(SC, fleet=3).vehicles(AREA.stops)
    assert [v.id for v in fleet] == ["v1", "v2", "v3"]
    for v in fleet:
        assert (v.start, v.available_from, v.shift_end, v.end) == (12, SVC.start, SVC.end, None)
        assert (v.seats, v.wheelchair_places) == (SVC.seats, SVC.wheelchair_places)
    by_id = dataclasses.replace(POLICY, service=dataclasses.replace(SVC, depot="s7"))
    assert by_id.depot(AREA.stops) == 7
    with pytest.raises(UnknownStopError, match=r"service\.depot 'nowhere'"):
        dataclasses.replace(POLICY, service=dataclasses.replace(SVC, depot="nowhere")).depot(AREA.stops)


def test_insertion_options_promise_the_scenario_window() -> None:
    """The promise is pickup_window_s wide (full width), costs weighted by the scenario's weights."""
    opts = POLICY.insertion_options()
    assert opts.promise_before + opts.promise_after == SVC.pickup_window_s == 600
    assert opts.promise_full_width
    assert (opts.wait_weight, opts.ride_weight) == (SVC.wait_weight, SVC.ride_weight)
    d = POLICY.dispatcher(POLICY.vehicles(AREA.stops), AREA.matrix)
    assert isinstance(d, InsertionDispatcher)
    assert d.options == POLICY.dispatch_options()


def test_asap_and_leave_at_windows() -> None:
    """ASAP from the ready time, leave-at from the requested time, never before booking; max wait wide."""
    asap = POLICY.request(Booking("a", 0, 24), AREA.matrix, now=36_000)
    direct = _direct(0, 24)
    ride = max(math.ceil(SVC.max_detour * direct), direct + SVC.min_extra_ride_s)
    assert (asap.kind, asap.earliest_pickup, asap.latest_pickup) == (A, 36_000, 36_000 + SVC.max_wait_s)
    assert asap.max_ride == ride
    assert asap.latest_dropoff == asap.latest_pickup + SVC.boarding_s + ride
    assert asap.booked_at == 36_000
    ready = POLICY.request(Booking("r", 0, 24, pickup_at=36_100), AREA.matrix, now=36_000)
    assert ready.earliest_pickup == 36_100
    ahead = POLICY.request(
        Booking("l", 3, 9, K, pickup_at=40_000, passengers=2, wheelchair=1), AREA.matrix, now=1
    )
    assert (ahead.earliest_pickup, ahead.latest_pickup) == (40_000, 40_000 + SVC.max_wait_s)
    assert ahead.pickup_service == 2 * SVC.boarding_s + SVC.wheelchair_boarding_s
    assert ahead.dropoff_service == 2 * SVC.alighting_s + SVC.wheelchair_boarding_s
    late = POLICY.request(Booking("p", 3, 9, K, pickup_at=100), AREA.matrix, now=500)
    assert late.earliest_pickup == 500


def test_arrive_by_window_ends_when_a_direct_ride_still_arrives() -> None:
    """Arrive-by: pickups up to max wait before the longest ride arrives in time; late: a direct ride."""
    by = 40_000
    r = POLICY.request(Booking("b", 0, 24, B, dropoff_by=by), AREA.matrix, now=30_000)
    direct = _direct(0, 24)
    assert r.kind is B
    assert r.latest_dropoff == by
    assert r.latest_pickup == by - SVC.boarding_s - r.max_ride
    assert r.earliest_pickup == r.latest_pickup - SVC.max_wait_s
    near = POLICY.request(Booking("n", 0, 24, B, dropoff_by=30_900), AREA.matrix, now=30_000)
    assert near.earliest_pickup == 30_000  # never before the booking
    assert near.latest_pickup == 30_900 - SVC.boarding_s - direct
    with pytest.raises(InvalidRequestError, match="too early"):
        POLICY.request(Booking("x", 0, 24, B, dropoff_by=30_100), AREA.matrix, now=30_000)


@pytest.mark.parametrize(
    ("booking", "now", "message"),
    [
        (Booking("s", 4, 4), 0, "same meeting point"),
        (Booking("g", 0, 1, passengers=SVC.seats + 1), 0, "do not fit"),
        (Booking("w", 0, 1, wheelchair=SVC.wheelchair_places + 1), 0, "wheelchair"),
        (Booking("b", 0, 1, B), 0, "needs a latest drop-off"),
        (Booking("k", 0, 1, K), 0, "needs a pickup time"),
        (Booking("e", 0, 1, K, pickup_at=SVC.end + 1), 0, "after the service hours"),
        (Booking("r", 0, 1, K, pickup_at=40_000, dropoff_by=39_000), 0, "reversed"),
        (Booking("p", 0, 1, B, dropoff_by=100), 200, "in the past"),
        (Booking("n", 0, 1, B, dropoff_by=86_400 + 7 * 3600), 0, "same service day"),
    ],
)
def test_bookings_the_policy_refuses(booking: Booking, now: int, message: str) -> None:
    """A booking that cannot be served as asked raises InvalidRequestError saying why."""
    with pytest.raises(InvalidRequestError, match=message):
        POLICY.request(booking, AREA.matrix, now=now)


@settings(max_examples=200, deadline=None)
@given(
    a=st.integers(0, 24),
    b=st.integers(0, 24),
    kind=st.sampled_from([A, K, B]),
    now=st.integers(SVC.start, SVC.end),
    ahead=st.integers(0, 7200),
    slack=st.integers(0, 7200),
    passengers=st.integers(1, 3),
    wheelchair=st.integers(0, 1),
)
def test_request_windows_are_consistent(
    a: int, b: int, kind: BookingKind, now: int, ahead: int, slack: int, passengers: int, wheelchair: int
) -> None:
    """Property: every accepted booking gives windows a direct ride can keep, within the service rules."""
    direct = _direct(a, b)
    p_service = SVC.boarding_s * passengers + SVC.wheelchair_boarding_s * wheelchair
    booking = Booking(
        "x",
        a,
        b,
        kind,
        pickup_at=now + ahead if kind is not B else None,
        dropoff_by=now + ahead + p_service + direct + slack if kind is B else None,
        passengers=passengers,
        wheelchair=wheelchair,
    )
    try:
        r = POLICY.request(booking, AREA.matrix, now=now)
    except InvalidRequestError:
        assert a == b or (kind is K and now + ahead > SVC.end)
        return
    assert r.kind is kind
    assert r.booked_at == now
    assert now <= r.earliest_pickup <= r.latest_pickup <= r.earliest_pickup + SVC.max_wait_s
    assert r.latest_pickup + r.pickup_service + direct <= r.latest_dropoff
    assert r.max_ride == POLICY.max_ride(direct) >= direct
    assert (r.pickup_service, r.dropoff_service) == POLICY.service_times(passengers, wheelchair)
    if kind is B:
        assert r.latest_dropoff == booking.dropoff_by
    else:
        assert r.earliest_pickup == max(now, now + ahead)
        assert r.latest_dropoff == r.latest_pickup + r.pickup_service + r.max_ride


def test_booked_ahead_ride_is_promised_the_full_window() -> None:
    """A ride booked for 10:00 is promised [10:00, 10:10] (600 s), not a window cut to half."""
    d = POLICY.dispatcher(ServicePolicy.from_scenario(SC, fleet=1).vehicles(AREA.stops), AREA.matrix)
    r = POLICY.request(Booking("k", 3, 9, K, pickup_at=36_000), AREA.matrix, now=30_000)
    answer = d.submit(r, now=30_000)
    assert isinstance(answer, Assignment)
    assert answer.pickup_window == (36_000, 36_000 + SVC.pickup_window_s)


stops_lon = st.floats(135.48, 135.4888)
stops_lat = st.floats(34.47, 34.4772)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(stops_lon, stops_lat), min_size=1, max_size=20))
def test_walking_is_the_great_circle_times_the_circuity(points: list[tuple[float, float]]) -> None:
    """Property: the nearest stop and its walking metres match a brute-force great-circle search."""
    walking = Walking(max_walk_m=500, circuity=1.25, speed_mps=0.9)
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    idx, walk = walking.nearest(AREA.stops, lon, lat)
    for k, (x, y) in enumerate(points):
        dist = [haversine_m(x, y, s.lon, s.lat) for s in AREA.stops]
        assert dist[int(idx[k])] <= min(dist) + 0.5  # nearest up to projection error
        assert int(walk[k]) == round(dist[int(idx[k])] * 1.25)
    assert walking.seconds(90) == 100
    assert walking.seconds(0) == 0


def test_walking_rejects_nonsense() -> None:
    """A circuity below 1 or a non-positive speed is a ValueError."""
    with pytest.raises(ValueError, match="circuity"):
        Walking(circuity=0.9)
    with pytest.raises(ValueError, match="speed"):
        Walking(speed_mps=0.0)


class _Area:
    """The grid's stops with ServiceArea.nearest by brute force."""

    stops = AREA.stops

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        d = [haversine_m(lon, lat, s.lon, s.lat) for s in self.stops]
        k = int(np.argmin(d))
        return k, d[k]


def test_snap_applies_the_walking_rule_and_its_limit() -> None:
    """The API's snapping walks great circle x circuity and refuses walks beyond max_walk_m."""
    walking = Walking(max_walk_m=150, circuity=1.25)
    s = AREA.stops[7]
    idx, walk = walking.snap(_Area(), s.lon + 0.001, s.lat)
    assert idx == 7
    assert walk == round(haversine_m(s.lon + 0.001, s.lat, s.lon, s.lat) * 1.25) == 115
    assert walking.nearest(AREA.stops, np.array([s.lon + 0.001]), np.array([s.lat]))[1][0] == walk
    assert walking.snap(_Area(), s.lon, s.lat + 0.0008) == (7, 111)  # 89 m straight, a 111 m walk
    with pytest.raises(OutsideServiceAreaError, match=r"100 m walking limit.*'s7', is a 111 m walk.*x 1\.25"):
        Walking(max_walk_m=100, circuity=1.25).snap(_Area(), s.lon, s.lat + 0.0008)


def test_calendar_and_booking_horizon() -> None:
    """Weekday services close at weekends and on closed dates; bookings up to the horizon only."""
    weekdays = dataclasses.replace(
        POLICY,
        service=dataclasses.replace(SVC, calendar="weekdays", booking_horizon_days=2),
        closed_dates=frozenset({dt.date(2024, 1, 16)}),
    )
    monday = dt.date(2024, 1, 15)
    assert weekdays.runs_on(monday)
    assert not weekdays.runs_on(monday + dt.timedelta(days=1))  # closed
    assert not weekdays.runs_on(monday + dt.timedelta(days=5))  # Saturday
    weekdays.check_bookable(monday + dt.timedelta(days=2), monday)
    for day, message in [(-1, "in the past"), (3, "beyond the booking horizon"), (1, "no service")]:
        with pytest.raises(InvalidRequestError, match=message):
            weekdays.check_bookable(monday + dt.timedelta(days=day), monday)


def test_dispatcher_reoptimises_a_bounded_neighbourhood_under_a_work_budget() -> None:
    """``service.reoptimise_vehicles`` (0 = all) and ``reoptimise_moves`` make the default re-optimiser."""
    from ondemand.dispatch.dispatcher import DarpReoptimiser

    vehicles = POLICY.vehicles(AREA.stops)
    assert POLICY.reoptimise_vehicles == SC.service.reoptimise_vehicles == 4
    assert POLICY.reoptimise_moves == SC.service.reoptimise_moves == 50
    d = POLICY.dispatcher(vehicles, AREA.matrix)
    assert isinstance(d, InsertionDispatcher)
    assert d.reoptimiser == DarpReoptimiser(neighbourhood=4, moves=50)
    with pytest.raises(ValueError, match="moves"):
        DarpReoptimiser(moves=-1)
    whole = ServicePolicy.from_scenario(
        dataclasses.replace(SC, service=dataclasses.replace(SC.service, reoptimise_vehicles=0))
    )
    assert whole.reoptimise_vehicles is None
    with pytest.raises(ValueError, match="neighbourhood"):
        DarpReoptimiser(neighbourhood=0)
