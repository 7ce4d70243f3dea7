"""Tests of ondemand.routing.solver.schedule: feasibility and stop times of one route."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.solver import schedule
from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    OnboardRider,
    Request,
    Route,
    Stop,
    StopKind,
    Vehicle,
)
from ondemand.routing.solver.reference import reference_schedule
from ondemand.routing.solver.schedule import (
    PROFILE_ROWS,
    RouteProfile,
    RouteSchedule,
    compiled_of_schedule,
    evaluate_route,
    route_profile,
    schedule_and_profile,
)

P, D = StopKind.PICKUP, StopKind.DROPOFF


def line_tt(n: int = 6, step: int = 10) -> ArrayTravelTimes:
    """Locations on a line, ``step`` seconds (and metres x 2) apart."""
    x = np.arange(n) * step
    dur = np.abs(x[:, None] - x[None, :]).astype(np.int64)
    return ArrayTravelTimes(dur, dur * 2)


def req(rid: str, pick: int, drop: int, e: int = 0, lp: int = 10_000, ld: int = 10_000, **kw: int) -> Request:
    """A request with wide windows unless told otherwise."""
    kw.setdefault("max_ride", 10_000)
    return Request(rid, pick, drop, e, lp, ld, **kw)  # type: ignore[arg-type]


def stops(*items: tuple[str, StopKind, int]) -> tuple[Stop, ...]:
    """Stops from (request id, kind, location) triples."""
    return tuple(Stop(r, k, loc) for r, k, loc in items)


def verify(route: Route, requests: dict[str, Request], tt: ArrayTravelTimes, s: RouteSchedule) -> None:
    """Assert that the planned schedule keeps every constraint (an independent check)."""
    v = route.vehicle
    dur = tt.durations
    t = s.start_departure
    assert t >= v.available_from
    prev = v.start
    onboard = {r.request.id: r for r in v.onboard}
    pick_end: dict[str, int] = {r.request.id: r.picked_up_at + r.request.pickup_service for r in v.onboard}
    for k, stop in enumerate(route.stops):
        r = onboard[stop.request_id].request if stop.request_id in onboard else requests[stop.request_id]
        arrive = t + int(dur[prev, stop.location])
        assert s.arrival[k] == arrive
        b = s.service_start[k]
        assert b >= arrive
        if stop.kind is P:
            assert r.earliest_pickup <= b <= r.latest_pickup
            t = b + r.pickup_service
            pick_end[r.id] = t
        else:
            assert r.earliest_dropoff <= b <= r.latest_dropoff
            assert b - pick_end[r.id] <= r.max_ride
            t = b + r.dropoff_service
        assert s.departure[k] == t
        assert s.load[k] <= v.seats
        prev = stop.location
    end = t + (0 if v.end is None else int(dur[prev, v.end]))
    assert s.end_time == end <= v.shift_end
    if v.max_route_duration is not None:
        assert end - s.start_departure <= v.max_route_duration


def test_times_follow_travel_and_windows() -> None:
    """Service starts at max(arrival, earliest); departure adds the service time."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=100, shift_end=10_000, end=0)
    rs = {"a": req("a", 1, 3, pickup_service=5, dropoff_service=7)}
    route = Route(v, stops(("a", P, 1), ("a", D, 3)))
    s = evaluate_route(route, rs, tt)
    assert s.feasible
    assert s.reason is None
    assert s.arrival == (110, 135)
    assert s.service_start == (110, 135)
    assert s.departure == (115, 142)
    assert s.load == (1, 0)
    assert s.end_time == 172
    assert s.drive_time == 60
    assert s.distance == 120
    assert s.duration == 72


def test_departure_from_start_is_delayed_to_the_first_window() -> None:
    """The vehicle leaves as late as the first pickup window allows, not at once."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=0, shift_end=10_000)
    rs = {"a": req("a", 2, 3, e=500)}
    s = evaluate_route(Route(v, stops(("a", P, 2), ("a", D, 3))), rs, tt)
    assert s.feasible
    assert s.start_departure == 480
    assert s.service_start == (500, 510)
    assert s.earliest_start == (500, 510)
    assert s.end_time == 510
    assert s.duration == 30


def test_planned_delay_cuts_ride_time_of_rider_waiting_on_board() -> None:
    """A pickup is delayed so that the rider does not wait on board for a later window."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=0, shift_end=10_000)
    rs = {"a": req("a", 1, 3), "b": req("b", 2, 3, e=300)}
    route = Route(v, stops(("a", P, 1), ("b", P, 2), ("a", D, 3), ("b", D, 3)))
    s = evaluate_route(route, rs, tt)
    assert s.feasible
    assert s.earliest_start == (10, 300, 310, 310)
    assert s.service_start == (290, 300, 310, 310)
    assert s.start_departure == 280
    verify(route, rs, tt, s)


def test_delay_never_lengthens_the_ride_of_a_rider_on_board() -> None:
    """Delaying a pickup stops where it would make someone already on board ride longer."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=0, shift_end=10_000)
    # a is on board from stop 0; b's pickup could be delayed, but a is dropped after b.
    rs = {"a": req("a", 1, 4), "b": req("b", 2, 3, e=0), "c": req("c", 4, 5, e=1000)}
    route = Route(v, stops(("a", P, 1), ("b", P, 2), ("b", D, 3), ("a", D, 4), ("c", P, 4), ("c", D, 5)))
    s = evaluate_route(route, rs, tt)
    assert s.feasible
    ride_a = s.service_start[3] - s.service_start[0]
    assert ride_a == 30  # no waiting with a on board
    assert s.service_start[4] == 1000


def test_ride_limit_pushes_pickup_later_in_least_schedule() -> None:
    """A max ride that the early schedule breaks is met by picking up later (exact, not a slack test)."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=0, shift_end=10_000)
    rs = {"a": req("a", 1, 3, max_ride=50), "b": req("b", 2, 3, e=200)}
    route = Route(v, stops(("a", P, 1), ("b", P, 2), ("a", D, 3), ("b", D, 3)))
    s = evaluate_route(route, rs, tt)
    assert s.feasible
    assert s.earliest_start[0] == 200 - 10 - 50 + 10 + 10  # 160: pick a so that ride = 50
    assert s.earliest_start[2] - s.earliest_start[0] <= 50
    verify(route, rs, tt, s)


@pytest.mark.parametrize(
    ("route_stops", "requests", "vehicle_kw", "needle"),
    [
        ((("a", P, 1), ("a", D, 3)), {"a": req("a", 1, 3, passengers=5)}, {}, "seats taken"),
        ((("a", P, 1), ("a", D, 3)), {"a": req("a", 1, 3, wheelchair=1)}, {}, "wheelchair places"),
        ((("a", P, 5), ("a", D, 3)), {"a": req("a", 5, 3, lp=20)}, {}, "latest pickup 20"),
        ((("a", P, 1), ("a", D, 5)), {"a": req("a", 1, 5, ld=30)}, {}, "latest drop-off 30"),
        (
            (("a", P, 1), ("b", P, 5), ("a", D, 2)),
            {"a": req("a", 1, 2, max_ride=20), "b": req("b", 5, 5)},
            {},
            "picked up but never dropped off",
        ),
        (
            (("a", P, 1), ("b", P, 5), ("b", D, 5), ("a", D, 2)),
            {"a": req("a", 1, 2, max_ride=20), "b": req("b", 5, 5)},
            {},
            "ride takes at least 70",
        ),
        ((("a", D, 3),), {"a": req("a", 1, 3)}, {}, "before it is picked up"),
        ((("a", P, 1), ("a", D, 3)), {"a": req("a", 1, 3)}, {"shift_end": 20}, "after the shift ends at 20"),
        (
            (("a", P, 1), ("a", D, 3)),
            {"a": req("a", 1, 3, e=100)},
            {"max_route_duration": 20},
            "maximum duration",
        ),
        ((("a", P, 2), ("a", D, 3)), {"a": req("a", 1, 3)}, {}, "is not the request's pickup"),
        ((("x", P, 1), ("x", D, 3)), {}, {}, "not in the plan's requests"),
        ((("a", P, 1), ("a", P, 1), ("a", D, 3)), {"a": req("a", 1, 3)}, {}, "picked up twice"),
    ],
)
def test_infeasible_routes_name_the_broken_constraint(
    route_stops: tuple[tuple[str, StopKind, int], ...],
    requests: dict[str, Request],
    vehicle_kw: dict[str, int],
    needle: str,
) -> None:
    """Each kind of violation is reported with a reason naming it."""
    kw: dict[str, int] = {"shift_end": 10_000, **vehicle_kw}
    v = Vehicle("v", 4, start=0, available_from=0, **kw)  # type: ignore[arg-type]
    s = evaluate_route(Route(v, stops(*route_stops)), requests, line_tt())
    assert not s.feasible
    assert s.reason is not None
    assert needle in s.reason, s.reason


def test_rider_on_board_must_be_dropped_and_ride_counts_from_pickup() -> None:
    """An on-board rider's ride limit counts from their real pickup, and they must be dropped."""
    tt = line_tt()
    r = req("a", 0, 4, max_ride=100, pickup_service=5)
    rider = OnboardRider(r, picked_up_at=0)
    v = Vehicle("v", 4, start=1, available_from=50, shift_end=10_000, onboard=(rider,))
    empty = evaluate_route(Route(v), {}, tt)
    assert not empty.feasible
    assert empty.reason is not None
    assert "never drops them off" in empty.reason
    ok = evaluate_route(Route(v, stops(("a", D, 4))), {}, tt)
    assert ok.feasible
    assert ok.service_start == (80,)
    assert ok.load == (0,)
    late = Vehicle("v", 4, start=1, available_from=80, shift_end=10_000, onboard=(rider,))
    bad = evaluate_route(Route(late, stops(("a", D, 4))), {}, tt)
    assert not bad.feasible
    assert bad.reason is not None
    assert "rider on board" in bad.reason


def test_empty_route_ends_at_start_or_depot() -> None:
    """An empty open route ends when the vehicle is available; with a depot, on arrival there."""
    tt = line_tt()
    v = Vehicle("v", 2, start=1, available_from=40, shift_end=100)
    assert evaluate_route(Route(v), {}, tt).end_time == 40
    w = Vehicle("w", 2, start=1, available_from=40, shift_end=100, end=3)
    s = evaluate_route(Route(w), {}, tt)
    assert s.feasible
    assert s.end_time == 60
    assert s.drive_time == 20


def test_profile_forward_slack_matches_definition() -> None:
    """route_profile's forward slack is min over later nodes of waiting plus window slack."""
    tt = line_tt()
    v = Vehicle("v", 4, start=0, available_from=0, shift_end=1000)
    rs = {"a": req("a", 1, 3, lp=50), "b": req("b", 2, 3, e=100, lp=400)}
    route = Route(v, stops(("a", P, 1), ("b", P, 2), ("a", D, 3), ("b", D, 3)))
    prof = route_profile(route, rs, tt)
    assert prof is not None
    n = len(route.stops) + 1
    for k in range(n):
        expect = min(
            [int(prof.cum_wait[j] - prof.cum_wait[k] + prof.slack[j]) for j in range(k, n)]
            + [int(prof.cum_wait[n - 1] - prof.cum_wait[k]) + 1000 - prof.end_time]
        )
        assert prof.fslack[k] == expect


# ---------------------------------------------------------------- properties


@st.composite
def random_route(draw: st.DrawFn) -> tuple[Route, dict[str, Request], ArrayTravelTimes]:
    """A random small route: Euclidean travel times, random windows, a valid stop order."""
    nloc = draw(st.integers(3, 7))
    pts = np.array(
        draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=nloc, max_size=nloc))
    )
    dur = np.ceil(np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    tt = ArrayTravelTimes(dur)
    nreq = draw(st.integers(0, 4))
    requests: dict[str, Request] = {}
    for i in range(nreq):
        a, b = draw(st.integers(0, nloc - 1)), draw(st.integers(0, nloc - 1))
        e = draw(st.integers(0, 150))
        lp = e + draw(st.integers(0, 150))
        ps, ds = draw(st.integers(0, 5)), draw(st.integers(0, 5))
        ld = max(lp + ps + int(dur[a, b]) + draw(st.integers(-20, 200)), e + ps)
        mr = int(dur[a, b]) + draw(st.integers(-5, 120))
        ed = draw(st.sampled_from([0, 0, e + 30]))
        requests[f"r{i}"] = Request(
            f"r{i}",
            a,
            b,
            e,
            lp,
            ld,
            max(mr, 0),
            passengers=draw(st.integers(1, 2)),
            earliest_dropoff=min(ed, ld),
            pickup_service=ps,
            dropoff_service=ds,
        )
    onboard: list[OnboardRider] = []
    if draw(st.booleans()):
        a, b = draw(st.integers(0, nloc - 1)), draw(st.integers(0, nloc - 1))
        r = Request("ob", a, b, 0, 0, 400, int(dur[a, b]) + 150, pickup_service=2)
        onboard.append(OnboardRider(r, 0))
    # a random order with pickups before drop-offs
    items = [rid for rid in requests for _ in range(2)] + [r.request.id for r in onboard]
    order = draw(st.permutations(items))
    seen: set[str] = set()
    route_stops: list[Stop] = []
    for rid in order:
        if rid in requests and rid not in seen:
            seen.add(rid)
            route_stops.append(Stop(rid, P, requests[rid].pickup))
        elif rid in requests:
            route_stops.append(Stop(rid, D, requests[rid].dropoff))
        else:
            route_stops.append(Stop(rid, D, onboard[0].request.dropoff))
    end = draw(st.sampled_from([None, 0]))
    v = Vehicle(
        "v",
        draw(st.integers(1, 4)),
        start=draw(st.integers(0, nloc - 1)),
        available_from=draw(st.integers(0, 40)),
        shift_end=draw(st.integers(300, 800)),
        end=end,
        onboard=tuple(onboard),
        max_route_duration=draw(st.sampled_from([None, None, 300, 500])),
    )
    if sum(r.request.passengers for r in onboard) > v.seats:
        v = Vehicle(
            v.id, 4, v.start, v.available_from, v.shift_end, v.end, 0, v.max_route_duration, v.onboard
        )
    return Route(v, tuple(route_stops)), requests, tt


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route())
def test_schedule_agrees_with_bellman_ford_reference(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes],
) -> None:
    """Feasible exactly when the difference-constraint reference is; same least times; planned times valid."""
    route, requests, tt = case
    s = evaluate_route(route, requests, tt)
    ref = reference_schedule(route, requests, tt)
    assert s.feasible == (ref is not None), s.reason
    if ref is None:
        assert s.reason
        return
    assert s.earliest_start == ref.service_start
    assert s.drive_time == ref.drive_time
    verify(route, requests, tt, s)
    # Delays are absorbed by waiting: the end does not move, and no ride gets longer.
    assert s.end_time == ref.end_time
    pick = {st.request_id: k for k, st in enumerate(route.stops) if st.kind is P}
    for k, stop in enumerate(route.stops):
        if stop.kind is D and stop.request_id in pick:
            i = pick[stop.request_id]
            assert s.service_start[k] - s.service_start[i] <= s.earliest_start[k] - s.earliest_start[i]
    prof = route_profile(route, requests, tt)
    assert prof is not None
    assert tuple(int(x) for x in prof.start[1:]) == s.earliest_start


@settings(max_examples=150, deadline=None)
@given(random_route())
def test_schedule_passes_independent_checker(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes],
) -> None:
    """Planned service times of a feasible route pass ondemand.routing.solver.check.check_plan."""
    check = pytest.importorskip("ondemand.routing.solver.check")
    from ondemand.routing.solver.model import Plan

    route, requests, tt = case
    s = evaluate_route(route, requests, tt)
    plan = Plan((route,), requests)
    exists = check.check_plan(plan, tt)
    assert exists.feasible == s.feasible, (exists.violations, s.reason)
    if s.feasible:
        given_times = check.check_plan(plan, tt, service_start={"v": s.service_start})
        assert given_times.feasible, given_times.violations
        assert math.isclose(given_times.cost, s.distance)


def test_asap_pickup_before_a_booked_stop_is_not_delayed() -> None:
    """Waiting for a later booked window happens with an empty vehicle, not by picking up late."""
    tt = line_tt(step=300)
    v = Vehicle("v", 4, start=0, available_from=32_600, shift_end=50_000)
    rs = {
        "b": req("b", 2, 0, e=32_600, lp=34_400, ld=40_000),
        "a": req("a", 1, 0, e=36_000, lp=37_800, ld=40_000),
    }
    route = Route(v, stops(("b", P, 2), ("b", D, 0), ("a", P, 1), ("a", D, 0)))
    s = evaluate_route(route, rs, tt)
    assert s.feasible
    assert s.start_departure == 32_600
    assert s.service_start[:2] == (33_200, 33_800)
    assert s.service_start[2] == 36_000
    verify(route, rs, tt, s)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route())
def test_planned_pickup_is_later_only_to_cut_that_riders_on_board_waiting(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes],
) -> None:
    """No drop-off moves; a pickup later than its least start shortens that ride by as much."""
    route, requests, tt = case
    s = evaluate_route(route, requests, tt)
    if not s.feasible:
        return
    drop = {st.request_id: k for k, st in enumerate(route.stops) if st.kind is D}
    for k, stop in enumerate(route.stops):
        late = s.service_start[k] - s.earliest_start[k]
        assert late >= 0
        if stop.kind is D:
            assert late == 0
            continue
        if late == 0:
            continue
        d = drop[stop.request_id]
        ride_least = s.earliest_start[d] - s.earliest_start[k]
        ride_planned = s.service_start[d] - s.service_start[k]
        assert ride_planned == ride_least - late
        # ... and the least schedule did wait with this rider on board, before the next drop-off.
        nxt = next(j for j in range(k + 1, len(route.stops)) if route.stops[j].kind is D)
        assert (
            sum(
                s.earliest_start[j] - _least_arrival(route, requests, tt, s, j) for j in range(k + 1, nxt + 1)
            )
            >= late
        )


def _least_arrival(
    route: Route, requests: dict[str, Request], tt: ArrayTravelTimes, s: RouteSchedule, j: int
) -> int:
    """Arrival at stop ``j >= 1`` in the least schedule (leaving stop ``j - 1`` at its least departure)."""
    dur = tt.durations
    assert j >= 1
    prev = route.stops[j - 1]
    r = requests.get(prev.request_id)
    if r is None:
        r = next(o.request for o in route.vehicle.onboard if o.request.id == prev.request_id)
    svc = r.pickup_service if prev.kind is P else r.dropoff_service
    return s.earliest_start[j - 1] + svc + int(dur[prev.location, route.stops[j].location])


def _profile_reference(route: Route, requests: dict[str, Request], tt: ArrayTravelTimes) -> dict[str, object]:
    """The profile arrays from their definitions (RouteProfile's docstring), evaluate_route's least times."""
    s = evaluate_route(route, requests, tt)
    v = route.vehicle
    n = len(route.stops)
    big = 1 << 60
    loc = [v.start, *(x.location for x in route.stops)]
    onboard = {r.request.id: r for r in v.onboard}
    windows, service, pair, max_ride = [(0, big)], [0], [-1], [0]
    picked: dict[str, int] = {}
    for k, stop in enumerate(route.stops):
        r = onboard[stop.request_id].request if stop.request_id in onboard else requests[stop.request_id]
        if stop.kind is P:
            picked[stop.request_id] = k + 1
            windows.append((r.earliest_pickup, r.latest_pickup))
            service.append(r.pickup_service)
            pair.append(-1)
            max_ride.append(0)
        else:
            late = r.latest_dropoff
            if stop.request_id in onboard:
                late = min(late, onboard[stop.request_id].picked_up_at + r.pickup_service + r.max_ride)
            windows.append((r.earliest_dropoff, late))
            service.append(r.dropoff_service)
            pair.append(picked.get(stop.request_id, 0))
            max_ride.append(r.max_ride)
    travel = [int(tt.durations[loc[k], loc[k + 1]]) for k in range(n)]
    end_travel = int(tt.durations[loc[-1], v.end]) if v.end is not None else 0
    # the least departure: the vehicle's availability, or later as the route-duration limit requires
    d0 = v.available_from
    if n and v.max_route_duration is not None:
        d0 = max(d0, s.earliest_start[-1] + service[-1] + end_travel - v.max_route_duration)
    start = [d0, *s.earliest_start]
    arrival = [0] + [start[k] + service[k] + travel[k] for k in range(n)]
    wait = [0] + [start[k] - arrival[k] for k in range(1, n + 1)]
    cum = [sum(wait[: k + 1]) for k in range(n + 1)]
    slack = [big] + [windows[k][1] - start[k] for k in range(1, n + 1)]
    for k in range(1, n + 1):
        if pair[k] > 0:
            p = pair[k]
            slack[k] = min(slack[k], max_ride[k] + windows[p][1] + service[p] - start[k])
    end = start[n] + service[n] + end_travel
    fs = [
        min(min(cum[j] - cum[k] + slack[j] for j in range(k, n + 1)), cum[n] - cum[k] + v.shift_end - end)
        for k in range(n + 1)
    ]
    reach = [sum(travel[j] + service[j] for j in range(k)) for k in range(n + 1)]
    return {
        "loc": loc,
        "start": start,
        "departure": [b + x for b, x in zip(start, service, strict=True)],
        "wait": wait,
        "cum_wait": cum,
        "slack": slack,
        "fslack": fs,
        "service": service,
        "travel_next": [*travel, end_travel],
        "reach": reach,
        "earliest": [w[0] for w in windows],
        "latest": [w[1] for w in windows],
        "pair": pair,
        "max_ride": max_ride,
        "is_drop": [False] + [x.kind is D for x in route.stops],
        "end_time": end,
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route())
def test_schedule_and_profile_equal_the_separate_functions_and_the_definitions(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes],
) -> None:
    """schedule_and_profile gives evaluate_route's schedule and route_profile's profile (None: infeasible),
    whose arrays match their definitions, stacked in ``rows`` in PROFILE_ROWS order and read-only."""
    route, requests, tt = case
    sched, prof = schedule_and_profile(route, requests, tt)
    assert sched == evaluate_route(route, requests, tt)
    alone = route_profile(route, requests, tt)
    assert (prof is None) == (alone is None) == (not sched.feasible)
    if prof is None or alone is None:
        return
    want = _profile_reference(route, requests, tt)
    for name, value in want.items():
        got = getattr(prof, name)
        assert np.array_equal(got, value), name
        assert np.array_equal(getattr(alone, name), value), name
    assert prof.rows is not None
    assert not prof.rows.flags.writeable
    assert np.array_equal(prof.rows, np.array([getattr(prof, n) for n in PROFILE_ROWS], dtype=np.int64))


def _profiles_equal(a: object, b: object) -> None:
    """Assert two route profiles (or ``None``) hold the same values, array for array."""
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    for name in RouteProfile.__slots__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray), name
            assert x.dtype == y.dtype, name
            assert np.array_equal(x, y), name
        else:
            assert x == y, name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route())
def test_compiled_schedule_equals_the_python_code(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes],
) -> None:
    """The compiled port answers as the Python code: same schedule (reason included) and same profile."""
    pytest.importorskip("numba", reason="the compiled schedule needs numba")
    route, requests, tt = case
    fast = schedule_and_profile(route, requests, tt)
    fast_profile = route_profile(route, requests, tt)
    schedule.USE_COMPILED = False
    try:
        slow = schedule_and_profile(route, requests, tt)
        slow_profile = route_profile(route, requests, tt)
    finally:
        schedule.USE_COMPILED = True
    assert fast[0] == slow[0]
    _profiles_equal(fast[1], slow[1])
    _profiles_equal(fast_profile, slow_profile)
    _profiles_equal(fast_profile, fast[1])


def test_compiled_schedule_leaves_huge_values_to_the_python_code() -> None:
    """Times beyond 64-bit-safe arithmetic (a shift ending in 2**62 s) still get the exact answer."""
    tt = line_tt()
    r = req("a", 1, 3)
    route = Route(Vehicle("v", 4, 0, 0, 2**62), stops(("a", P, 1), ("a", D, 3)))
    s = evaluate_route(route, {"a": r}, tt)
    assert s.feasible
    assert s.service_start == (10, 30)
    prof = route_profile(route, {"a": r}, tt)
    assert prof is not None
    assert int(prof.fslack[0]) == 10_000 - 30  # the drop-off's latest bounds it, not the shift


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route(), st.booleans())
def test_compiled_form_read_off_a_schedule_is_the_compiled_route(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes], python: bool
) -> None:
    """A feasible route's compiled form read off its schedule (the legs from the times) equals compiling
    it, field by field, whichever code scheduled it; an infeasible schedule gives none."""

    route, requests, tt = case
    schedule.USE_COMPILED = not python
    try:
        sched = evaluate_route(route, requests, tt)
    finally:
        schedule.USE_COMPILED = True
    got = compiled_of_schedule(route, requests, sched)
    if not sched.feasible:
        assert got is None
        return
    fresh = schedule._compile(route, requests, tt)
    assert got is not None
    assert not isinstance(fresh, str)
    assert_same_compiled(got, fresh)


def assert_same_compiled(got: object, want: object) -> None:
    """Two compiled forms of a route (``_Compiled`` or ``_Packed``) agree: every list and scalar, the
    packed data (``_pack`` of the lists, where kept) and the legs' lengths (where both know them)."""
    from dataclasses import fields

    lists = [x.unpacked() if isinstance(x, schedule._Packed) else x for x in (got, want)]
    for c in lists:
        assert isinstance(c, schedule._Compiled)
        if c.data is not None:  # the kept pack is the lists'
            assert np.array_equal(
                c.data,
                schedule._pack(
                    schedule._Compiled(
                        *[getattr(c, f.name) for f in fields(c) if f.name not in ("data", "dist")]
                    )
                ),
            )
        if c.dist is not None:  # the legs from the start, through the stops (to the end depot)
            assert int(np.sum(c.dist)) == c.distance
            assert len(c.loc) <= len(c.dist) <= len(c.loc) + 1
    for f in fields(lists[0]):
        a, b = getattr(lists[0], f.name), getattr(lists[1], f.name)
        if f.name == "data":
            continue  # (checked above against each form's own lists)
        if f.name == "dist":
            if a is not None and b is not None:
                assert np.array_equal(a, b)
            continue
        assert a == b, f.name


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_route(), st.integers(-10, 40), st.booleans(), st.booleans())
def test_route_after_its_first_stop_is_the_compiled_route(
    case: tuple[Route, dict[str, Request], ArrayTravelTimes], late: int, python: bool, packed: bool
) -> None:
    """schedule_after_first_stop (the route once its vehicle served the first stop, ``late`` seconds
    after plan, derived from the route's compiled form, compiled or packed, by the kernel or by the
    Python code) gives what compiling and scheduling the new route gives: the schedule, the profile rows
    and the compiled form; and the derived form derives the next route the same way."""
    route, requests, tt = case
    sched, _, compiled = schedule.schedule_lazy_profile_and_compiled(route, requests, tt)
    schedule.USE_COMPILED = not python
    try:
        steps = 0
        while sched.feasible and route.stops and steps < 3:
            assert compiled is not None
            if packed:
                compiled = (
                    schedule._packed(compiled) if isinstance(compiled, schedule._Compiled) else compiled
                )
            elif isinstance(compiled, schedule._Packed):
                compiled = compiled.unpacked()
            first, v = route.stops[0], route.vehicle
            at = max(sched.service_start[0] + late, 0)
            req = requests.get(first.request_id)
            onboard = {r.request.id: r for r in v.onboard}
            if first.kind is P:
                assert req is not None
                onboard[req.id] = OnboardRider(req, at)
                avail = at + req.pickup_service
            else:
                rider = onboard.pop(first.request_id)
                avail = at + rider.request.dropoff_service
            w = Vehicle(
                v.id,
                v.seats,
                first.location,
                avail,
                max(v.shift_end, avail),
                v.end,
                v.wheelchair_places,
                v.max_route_duration,
                tuple(onboard.values()),
            )
            new = Route(w, route.stops[1:])
            got = schedule.schedule_after_first_stop(route, compiled, new, requests, tt, at)
            want = schedule.schedule_lazy_profile_and_compiled(new, requests, tt)
            assert got is not None
            assert got[0] == want[0]
            a, b = got[1](), want[1]()
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert a.end_time == b.end_time
                assert np.array_equal(a.rows, b.rows)
            assert_same_compiled(got[2], want[2])
            route, sched, compiled = new, got[0], got[2]
            steps += 1
    finally:
        schedule.USE_COMPILED = True


def _warmed_kernel(name: str) -> tuple[Any, list[Any]]:
    """After schedule.warm_up: the compiled kernel ``name`` and the signatures it holds (at least one;
    skips without numba)."""
    from ondemand.routing.solver import _schedule_kernel

    if not _schedule_kernel.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    schedule.warm_up()
    kernel = getattr(_schedule_kernel, name)
    loaded = list(kernel.signatures)
    assert loaded
    return kernel, loaded


def test_warm_up_loads_the_derivation_a_commit_uses() -> None:
    """After warm_up, deriving a route after its first stop (as a committed leg does) compiles nothing
    more: the warm-up called the kernel with the argument types of the real path."""
    kernel, loaded = _warmed_kernel("plan_after_first_stop")
    tt = line_tt()
    r = req("a", 1, 3)
    route = Route(Vehicle("v", 4, 0, 0, 10_000), stops(("a", P, 1), ("a", D, 3)))
    sched, _, compiled = schedule.schedule_lazy_profile_and_compiled(route, {"a": r}, tt)
    at = sched.service_start[0]
    w = Vehicle("v", 4, 1, at + r.pickup_service, 10_000, onboard=(OnboardRider(r, at),))
    got = schedule.schedule_after_first_stop(route, compiled, Route(w, route.stops[1:]), {"a": r}, tt, at)
    assert got is not None
    assert isinstance(got[2], schedule._Packed)  # the kernel derived it
    assert list(kernel.signatures) == loaded


def test_warm_up_loads_the_splice_a_booking_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """After warm_up, scheduling a route with a request inserted from the old route's profile rows (as
    a booking's promise does) compiles nothing more, and the kernel did it (the Python splice is not
    called)."""
    kernel, loaded = _warmed_kernel("plan_inserted")
    tt = line_tt()
    a, b = req("a", 1, 3), req("b", 2, 4)
    old = Route(Vehicle("v", 4, 0, 0, 10_000), stops(("a", P, 1), ("a", D, 3)))
    prof = schedule.route_profile(old, {"a": a}, tt)
    assert prof is not None
    assert prof.rows is not None
    new = Route(old.vehicle, stops(("a", P, 1), ("b", P, 2), ("a", D, 3), ("b", D, 4)))

    def python_splice(*args: object) -> None:
        raise AssertionError("the Python splice ran: the kernel did not schedule the route")

    monkeypatch.setattr(schedule, "_compiled_inserted", python_splice)
    got, lazy = schedule.schedule_inserted(prof.rows, new, 1, 2, b, tt)
    assert schedule.profile_rows(lazy) is not None
    assert got == schedule.evaluate_route(new, {"a": a, "b": b}, tt)
    assert list(kernel.signatures) == loaded
