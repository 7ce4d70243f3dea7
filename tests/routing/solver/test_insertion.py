"""Tests of ondemand.routing.solver.insertion: best insertion, promises and refusals."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.solver import schedule
from ondemand.routing.solver._schedule_kernel import HAVE_NUMBA
from ondemand.routing.solver.insertion import (
    Candidate,
    Insertion,
    InsertionOptions,
    Refusal,
    best_candidate,
    best_insertion,
    effective_request,
    insert_into_route,
)
from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    OnboardRider,
    Plan,
    Request,
    Route,
    Stop,
    StopKind,
    Vehicle,
)
from ondemand.routing.solver.reference import (
    brute_force_insertion,
    exhaustive_plan,
    exhaustive_route,
    reference_schedule,
)
from ondemand.routing.solver.schedule import (
    PROFILE_ROWS,
    RouteProfile,
    compiled_of_profile,
    evaluate_route,
    route_profile,
    schedule_and_profile,
    schedule_inserted,
)
from tests.routing.solver.test_schedule import assert_same_compiled

P, D = StopKind.PICKUP, StopKind.DROPOFF


def euclid_tt(points: list[tuple[int, int]]) -> ArrayTravelTimes:
    """Travel times = ceil of Euclidean distance (obeys the triangle inequality); metres x 3."""
    pts = np.array(points, dtype=np.float64)
    d = np.ceil(np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    return ArrayTravelTimes(d, d * 3)


def empty_plan(vehicles: list[Vehicle]) -> Plan:
    """A plan with every vehicle idle."""
    return Plan(tuple(Route(v) for v in vehicles))


def line() -> ArrayTravelTimes:
    """Six locations on a line, 10 s apart."""
    return euclid_tt([(10 * i, 0) for i in range(6)])


def test_single_request_goes_to_nearest_vehicle_with_promise() -> None:
    """An ASAP request goes to the closer vehicle; the window is eta - before .. eta + after."""
    tt = line()
    plan = empty_plan([Vehicle("far", 4, 5, 0, 10_000), Vehicle("near", 4, 1, 0, 10_000)])
    r = Request("r", 2, 4, 0, 5000, 10_000, 10_000)
    res = best_insertion(plan, r, tt, now=100, options=InsertionOptions(promise_before=60, promise_after=120))
    assert isinstance(res, Insertion)
    assert res.vehicle_id == "near"
    assert res.pickup_window == (100, 230)  # eta = 110, clipped below at now
    assert res.dropoff_eta == 130
    assert res.request.earliest_pickup == 100
    assert res.request.latest_pickup == 230
    assert res.latest_dropoff == 230 + 10_000 or res.latest_dropoff == 10_000
    assert res.cost == 30.0  # 10 s to the pickup + 20 s to the drop-off
    route = res.plan.route_of("near")
    assert [(s.request_id, s.kind) for s in route.stops] == [("r", P), ("r", D)]
    assert res.plan.requests["r"] == res.request


def test_options_tighten_wait_and_ride() -> None:
    """max_wait caps the pickup window; the detour factor caps the ride; the promise uses them."""
    tt = line()
    r = Request("r", 0, 3, 50, 5000, 10_000, 10_000)
    eff = effective_request(
        r, tt, now=0, options=InsertionOptions(max_wait=600, max_detour_factor=1.5, detour_constant=10)
    )
    assert isinstance(eff, Request)
    assert (eff.earliest_pickup, eff.latest_pickup, eff.max_ride) == (50, 650, 55)


@pytest.mark.parametrize(
    ("request_", "now", "needle"),
    [
        (Request("r", 0, 3, 0, 100, 10_000, 10_000, passengers=9), 0, "no vehicle has 9 seat(s)"),
        (Request("r", 0, 3, 0, 100, 10_000, 10_000, wheelchair=1), 0, "wheelchair"),
        (Request("r", 0, 3, 0, 100, 10_000, 10_000), 500, "outside hours"),
        (Request("r", 0, 5, 0, 100, 10_000, 10), 0, "more than the allowed ride"),
        (Request("r", 0, 5, 0, 100, 40, 10_000), 0, "cannot reach the drop-off by 40"),
        (Request("r", 5, 0, 0, 5, 10_000, 10_000), 0, "no feasible time"),
        (Request("r", 1, 2, 20_000, 21_000, 30_000, 10_000), 0, "outside hours: no vehicle is in service"),
    ],
)
def test_refusals_say_why(request_: Request, now: int, needle: str) -> None:
    """Each refusal names its cause: capacity, hours, ride limit, or no feasible time."""
    plan = empty_plan([Vehicle("v", 4, 0, 0, 10_000)])
    res = best_insertion(plan, request_, line(), now=now)
    assert isinstance(res, Refusal)
    assert needle in res.reason, res.reason


def test_options_are_validated() -> None:
    """Invalid options raise ValueError naming the field."""
    with pytest.raises(ValueError, match="max_wait"):
        InsertionOptions(max_wait=-1)
    with pytest.raises(ValueError, match="max_detour_factor"):
        InsertionOptions(max_detour_factor=0.5)
    with pytest.raises(ValueError, match="delay_weight"):
        InsertionOptions(delay_weight=float("nan"))
    with pytest.raises(ValueError, match="cost"):
        InsertionOptions(cost="money")  # type: ignore[arg-type]


def test_duplicate_id_is_refused() -> None:
    """A request whose id is already in the plan is refused, not inserted twice."""
    tt = line()
    plan = empty_plan([Vehicle("v", 4, 0, 0, 10_000)])
    r = Request("r", 1, 2, 0, 5000, 10_000, 10_000)
    first = best_insertion(plan, r, tt, now=0)
    assert isinstance(first, Insertion)
    again = best_insertion(first.plan, r, tt, now=0)
    assert isinstance(again, Refusal)
    assert "already in the plan" in again.reason


def test_idle_vehicle_cannot_leave_in_the_past() -> None:
    """A vehicle idle since the morning leaves at 'now', not at its old available_from."""
    tt = line()
    plan = empty_plan([Vehicle("v", 4, 0, 0, 10_000)])
    res = best_insertion(plan, Request("r", 3, 4, 0, 5000, 10_000, 10_000), tt, now=1000)
    assert isinstance(res, Insertion)
    sched = evaluate_route(res.plan.route_of("v"), res.plan.requests, tt)
    assert sched.start_departure >= 1000
    assert res.pickup_window[0] >= 1000


def test_insert_into_route_keeps_windows_as_given() -> None:
    """insert_into_route restores a promised request without tightening it."""
    tt = line()
    route = Route(Vehicle("v", 4, 0, 0, 10_000))
    r = Request("r", 2, 3, 100, 200, 400, 300)
    found = insert_into_route(route, {}, r, tt)
    assert found is not None
    new_route, sched = found
    assert sched.feasible
    assert sched.service_start == (100, 110)
    assert len(new_route.stops) == 2


# ---------------------------------------------------------------- properties


@st.composite
def scenario(
    draw: st.DrawFn,
) -> tuple[Plan, list[Request], Request, ArrayTravelTimes, InsertionOptions, int]:
    """A few vehicles, some requests already inserted, and a new one."""
    nloc = draw(st.integers(3, 8))
    points = draw(st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80)), min_size=nloc, max_size=nloc))
    tt = euclid_tt(points)
    nveh = draw(st.integers(1, 3))
    vehicles = []
    for i in range(nveh):
        onboard: tuple[OnboardRider, ...] = ()
        if draw(st.integers(0, 3)) == 0:
            a, b = draw(st.integers(0, nloc - 1)), draw(st.integers(0, nloc - 1))
            ob = Request(f"ob{i}", a, b, 0, 0, 600, int(tt.durations[a, b]) + 200, pickup_service=3)
            onboard = (OnboardRider(ob, 0),)
        vehicles.append(
            Vehicle(
                f"v{i}",
                draw(st.integers(1, 4)),
                start=draw(st.integers(0, nloc - 1)),
                available_from=draw(st.integers(0, 30)),
                shift_end=draw(st.integers(400, 1500)),
                end=draw(st.sampled_from([None, 0])),
                wheelchair_places=draw(st.integers(0, 1)),
                onboard=onboard,
            )
        )
    opts = InsertionOptions(
        max_wait=draw(st.sampled_from([None, 100, 300])),
        max_detour_factor=draw(st.sampled_from([None, 1.5, 2.5])),
        detour_constant=draw(st.integers(0, 60)),
        promise_before=draw(st.integers(0, 60)),
        promise_after=draw(st.integers(0, 120)),
        cost=draw(st.sampled_from(["time", "distance"])),
        delay_weight=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
        wait_weight=draw(st.sampled_from([0.0, 0.3])),
        ride_weight=draw(st.sampled_from([0.0, 0.2])),
    )

    def make(rid: str) -> Request:
        a, b = draw(st.integers(0, nloc - 1)), draw(st.integers(0, nloc - 1))
        e = draw(st.integers(0, 300))
        lp = e + draw(st.integers(0, 400))
        direct = int(tt.durations[a, b])
        ld = lp + draw(st.integers(direct + 15, direct + 400))
        return Request(
            rid,
            a,
            b,
            e,
            lp,
            ld,
            direct + draw(st.integers(0, 200)),
            passengers=draw(st.integers(1, 3)),
            wheelchair=draw(st.sampled_from([0, 0, 0, 1])),
            earliest_dropoff=min(ld, draw(st.sampled_from([0, 0, e + 50]))),
            pickup_service=draw(st.integers(0, 10)),
            dropoff_service=draw(st.integers(0, 10)),
        )

    # Riders on board must be dropped: their drop-offs start the routes.
    routes = [Route(v, tuple(Stop(r.request.id, D, r.request.dropoff) for r in v.onboard)) for v in vehicles]
    plan = Plan(tuple(routes), {})
    promised: list[Request] = []
    for k in range(draw(st.integers(0, 5))):
        res = best_insertion(plan, make(f"r{k}"), tt, now=0, options=opts)
        if isinstance(res, Insertion):
            plan = res.plan
            promised.append(res.request)
    return plan, promised, make("new"), tt, opts, draw(st.sampled_from([0, 0, 40, 150, 400]))


def _all_routes_feasible(plan: Plan, tt: ArrayTravelTimes) -> bool:
    return all(
        evaluate_route(r, plan.requests, tt).feasible and reference_schedule(r, plan.requests, tt) is not None
        for r in plan.routes
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_insertion_matches_brute_force_and_keeps_promises(
    case: tuple[Plan, list[Request], Request, ArrayTravelTimes, InsertionOptions, int],
) -> None:
    """Best cost equals the brute-force reference; the new plan is feasible and keeps old promises."""
    plan, promised, new, tt, opts, now = case
    assume_plan_ok = [evaluate_route(r, plan.requests, tt).feasible for r in plan.routes]
    # Vehicles whose onboard drop-off alone is infeasible are skipped by both searches.
    eff = effective_request(new, tt, now=now, options=opts)
    res = best_insertion(plan, new, tt, now=now, options=opts)
    if isinstance(eff, str):
        assert isinstance(res, Refusal)
        return
    # The reference sees the vehicles as they are at ``now`` (idle ones cannot leave earlier).
    at_now = Plan(
        tuple(
            Route(replace(r.vehicle, available_from=max(r.vehicle.available_from, now)), r.stops)
            for r in plan.routes
            if r.vehicle.shift_end >= now
        ),
        plan.requests,
    )
    ref = brute_force_insertion(
        at_now,
        eff,
        tt,
        cost=opts.cost,
        delay_weight=opts.delay_weight,
        wait_weight=opts.wait_weight,
        ride_weight=opts.ride_weight,
    )
    if ref is None:
        assert isinstance(res, Refusal), res
        return
    assert isinstance(res, Insertion), (res, ref)
    assert math.isclose(res.cost, ref[0], rel_tol=1e-9, abs_tol=1e-6), (res.cost, ref)
    # the search without its promise: the same cost and vehicle, and its promise is this very answer
    cand = best_candidate(plan, new, tt, now=now, options=opts)
    assert isinstance(cand, Candidate)
    assert (cand.cost, cand.vehicle_id) == (res.cost, res.vehicle_id)
    assert cand.promise() == res
    # The new plan: every route feasible (schedule and reference), promises kept.
    assert _all_routes_feasible(res.plan, tt)
    for old in promised:
        assert res.plan.requests[old.id] == old  # windows unchanged: still the promised ones
    for route, ok in zip(plan.routes, assume_plan_ok, strict=True):
        if ok and route.vehicle.id != res.vehicle_id:
            assert res.plan.route_of(route.vehicle.id) is route
    # The promise itself.
    start, end = res.pickup_window
    assert eff.earliest_pickup <= start <= end <= eff.latest_pickup
    assert res.request.latest_dropoff == res.latest_dropoff <= eff.latest_dropoff
    sched = evaluate_route(res.plan.route_of(res.vehicle_id), res.plan.requests, tt)
    kinds = [(s.request_id, s.kind) for s in res.plan.route_of(res.vehicle_id).stops]
    ip, idp = kinds.index((new.id, P)), kinds.index((new.id, D))
    assert ip < idp
    assert start <= sched.service_start[ip] <= end
    assert sched.service_start[idp] == res.dropoff_eta <= res.latest_dropoff
    assert max(sched.load) <= res.plan.route_of(res.vehicle_id).vehicle.seats


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_insertion_plans_pass_independent_checker(
    case: tuple[Plan, list[Request], Request, ArrayTravelTimes, InsertionOptions, int],
) -> None:
    """Every plan produced by insertion passes ondemand.routing.solver.check.check_plan."""
    check = pytest.importorskip("ondemand.routing.solver.check")
    plan, _, new, tt, opts, now = case
    res = best_insertion(plan, new, tt, now=now, options=opts)
    if isinstance(res, Insertion):
        sched = evaluate_route(res.plan.route_of(res.vehicle_id), res.plan.requests, tt)
        result = check.check_plan(
            Plan((res.plan.route_of(res.vehicle_id),), res.plan.requests),
            tt,
            service_start={res.vehicle_id: sched.service_start},
        )
        assert result.feasible, result.violations


def _same_profile(got: RouteProfile | None, want: RouteProfile | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return (
        got.end_time == want.end_time
        and got.end_travel == want.end_travel
        and all(np.array_equal(getattr(got, name), getattr(want, name)) for name in PROFILE_ROWS)
        and np.array_equal(got.wait, want.wait)
        and np.array_equal(got.slack, want.slack)
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_schedule_from_the_searched_profile_equals_evaluating_the_route(
    case: tuple[Plan, list[Request], Request, ArrayTravelTimes, InsertionOptions, int],
) -> None:
    """schedule_inserted (the new route scheduled from the old route's profile, as the compiled search
    hands it over) gives evaluate_route's schedule and route_profile's profile for every pickup and
    drop-off position that keeps the seats; best_insertion's schedule and profile are those of its route."""
    plan, _, new, tt, opts, now = case
    requests = {**plan.requests, new.id: new}
    for route in plan.routes:
        prof = route_profile(route, plan.requests, tt)
        if prof is None or prof.rows is None:
            continue
        n = len(route.stops)
        for a in range(n + 1):
            for b in range(a, n + 1):
                stops = (
                    *route.stops[:a],
                    Stop(new.id, P, new.pickup),
                    *route.stops[a:b],
                    Stop(new.id, D, new.dropoff),
                    *route.stops[b:],
                )
                cand = Route(route.vehicle, stops)
                want, want_prof = schedule_and_profile(cand, requests, tt)
                if want.reason is not None and " taken, vehicle " in want.reason:
                    continue  # over capacity: the search never hands such a route over
                got, make = schedule_inserted(prof.rows, cand, a, b, new, tt)
                assert got == want, (a, b)
                assert _same_profile(make(), want_prof), (a, b)
                kept = compiled_of_profile(make, got.distance)  # the form its rows hold: compiling it
                assert (kept is not None) == (got.feasible and HAVE_NUMBA), (a, b)
                if kept is not None:
                    assert_same_compiled(kept, schedule._compile(cand, requests, tt))
    res = best_insertion(plan, new, tt, now=now, options=opts)
    if isinstance(res, Insertion):
        route = res.plan.route_of(res.vehicle_id)
        want, want_prof = schedule_and_profile(route, res.plan.requests, tt)
        assert res.schedule == want
        assert res.profile is not None
        assert _same_profile(res.profile(), want_prof)


def test_two_requests_one_vehicle_reach_exhaustive_optimum() -> None:
    """On a tiny case, inserting two requests in turn gives the exhaustive optimum (same route drive time)."""
    tt = line()
    v = Vehicle("v", 4, 0, 0, 10_000)
    a = Request("a", 1, 4, 0, 1000, 5000, 5000)
    b = Request("b", 2, 3, 0, 1000, 5000, 5000)
    plan = empty_plan([v])
    opts = InsertionOptions(delay_weight=0.0)
    for r in (a, b):
        res = best_insertion(plan, r, tt, now=0, options=opts)
        assert isinstance(res, Insertion)
        plan = res.plan
    best = exhaustive_route(v, [a, b], tt)
    assert best is not None
    assert evaluate_route(plan.route_of("v"), plan.requests, tt).drive_time == best[0] == 40


def test_exhaustive_plan_splits_requests_between_vehicles() -> None:
    """The exhaustive reference serves far-apart requests with the vehicles nearest to them."""
    tt = line()
    v0 = Vehicle("v0", 4, 0, 0, 10_000)
    v5 = Vehicle("v5", 4, 5, 0, 10_000)
    a = Request("a", 1, 0, 0, 15, 5000, 5000)
    b = Request("b", 4, 5, 0, 35, 5000, 5000)
    best = exhaustive_plan([v0, v5], [a, b], tt)
    assert best is not None
    total, routes = best
    assert total == 40
    assert [s.request_id for s in routes[0]] == ["a", "a"]
    assert [s.request_id for s in routes[1]] == ["b", "b"]
    assert exhaustive_plan([v0], [a, b], tt) is None  # one vehicle cannot make both windows


def _three_stops() -> ArrayTravelTimes:
    """Three locations 300 s apart per step (0 - 1 - 2)."""
    x = np.arange(3) * 300
    dur = np.abs(x[:, None] - x[None, :]).astype(np.int64)
    return ArrayTravelTimes(dur, dur * 10)


def test_asap_rider_before_booked_stop_is_promised_the_earliest_pickup() -> None:
    """An ASAP request inserted before a later booked-ahead stop is promised around the real ETA."""
    tt = _three_stops()
    v = Vehicle("v", 4, start=0, available_from=32_400, shift_end=50_000)
    plan = empty_plan([v])
    a = Request("a", 1, 0, 36_000, 37_800, 40_000, 1200)
    first = best_insertion(plan, a, tt, now=32_400)
    assert isinstance(first, Insertion)
    b = Request("b", 2, 0, 32_600, 34_400, 40_000, 1200)
    ins = best_insertion(first.plan, b, tt, now=32_600)
    assert isinstance(ins, Insertion)
    reach = 32_600 + 600  # the van leaves now and drives 0 -> 2
    start, end = ins.pickup_window
    assert start <= reach + 60, ins.pickup_window
    assert start <= reach <= end
    sched = evaluate_route(ins.plan.route_of("v"), ins.plan.requests, tt)
    k = next(i for i, s in enumerate(ins.plan.route_of("v").stops) if s.request_id == "b" and s.kind is P)
    assert sched.service_start[k] == reach  # the plan the vehicle follows picks b up on arrival


def test_insertion_with_a_search_index_maps_the_same_requests_without_copying() -> None:
    """With a SearchIndex the new plan's requests are the plan's plus the booking, in the same order as
    the copy made without one; lookups, membership, copies and plans built from them all agree."""
    from ondemand.routing.solver.insertion import SearchIndex

    tt = line()
    plan = empty_plan([Vehicle("v0", 4, 0, 0, 10_000), Vehicle("v1", 4, 5, 0, 10_000)])
    for i, (a, b) in enumerate([(1, 3), (4, 2), (2, 5)]):
        got = best_insertion(plan, Request(f"r{i}", a, b, 0, 600, 2_000, 600), tt, now=0)
        assert isinstance(got, Insertion)
        plan = got.plan
    new = Request("new", 3, 1, 0, 600, 2_000, 600)
    shared = best_insertion(plan, new, tt, now=0, index=SearchIndex())
    copied = best_insertion(plan, new, tt, now=0)
    assert isinstance(shared, Insertion)
    assert isinstance(copied, Insertion)
    assert shared == copied  # the same vehicle, route, promise and cost
    mine, theirs = shared.plan.requests, copied.plan.requests
    assert list(mine) == list(theirs) == ["r0", "r1", "r2", "new"]
    assert len(mine) == 4
    assert dict(mine) == dict(theirs)
    assert "new" in mine
    assert "r1" in mine
    assert "gone" not in mine
    assert mine.get("gone") is None
    assert mine["new"] == shared.request
    assert mine.copy() == theirs.copy()
    assert type(mine.copy()) is dict
    assert Plan(shared.plan.routes, mine) == copied.plan
    assert plan.requests.keys() == {"r0", "r1", "r2"}  # the plan searched is left as it was


@pytest.mark.skipif(not HAVE_NUMBA, reason="the search index serves the compiled search; no Numba")
def test_a_search_index_keeps_every_route_in_its_own_slot_as_routes_grow_and_shrink() -> None:
    """A search index writes a changed route into its vehicle's slot, moves it to a new slot when it has
    outgrown it and lays every slot out afresh when the arrays are full: after every change each
    vehicle's nodes are its route's profile, slots never overlap, and every answer equals the search
    without an index."""
    import random

    from ondemand.routing.solver.insertion import SearchIndex

    rng = random.Random(7)
    tt = line()
    plan = empty_plan([Vehicle(f"v{i}", 8, i, 0, 100_000) for i in range(3)])
    index = SearchIndex()
    moved = laid_out = 0
    for i in range(60):
        if i % 15 == 14:  # a vehicle's route emptied (its riders served elsewhere): the route shrinks
            vi = rng.randrange(3)
            routes = list(plan.routes)
            gone = {s.request_id for s in routes[vi].stops}
            routes[vi] = Route(routes[vi].vehicle)
            plan = Plan(tuple(routes), {k: r for k, r in plan.requests.items() if k not in gone})
        a, b = rng.sample(range(6), 2)
        e = 20 * i
        request = Request(f"r{i}", a, b, e, e + 3_000, e + 20_000, 20_000)
        f = index.fleet
        before = (f.lo.copy(), f.packed.shape[1], f.used)
        got = best_insertion(plan, request, tt, now=0, index=index)
        want = best_insertion(plan, request, tt, now=0)
        assert got == want
        if len(before[0]) == 3:
            moved += int((f.lo != before[0]).any())
            laid_out += f.packed.shape[1] != before[1] or f.used < before[2]
        taken = np.zeros(f.used, dtype=np.int64)
        for vi, route in enumerate(plan.routes):
            lo, hi, cap = int(f.lo[vi]), int(f.hi[vi]), int(f.cap[vi])
            assert 0 <= lo < hi <= lo + cap <= f.used <= f.packed.shape[1]
            taken[lo : lo + cap] += 1
            prof = route_profile(route, plan.requests, tt)
            assert prof is not None
            assert np.array_equal(f.packed[:, lo:hi], prof.rows)
        assert taken.max() == 1
        if isinstance(want, Insertion):
            plan = want.plan
    assert moved  # a route outgrew its slot
    assert laid_out  # and the arrays were laid out afresh


@pytest.mark.skipif(not HAVE_NUMBA, reason="the search index serves the compiled search; no Numba")
def test_a_search_index_takes_a_primed_profile_only_for_that_very_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SearchIndex.prime hands a route's profile to the next search, which then profiles nothing; a
    profile primed for another route object at that index (stale) is not used: every answer equals the
    search without an index."""
    from ondemand.routing.solver import insertion
    from ondemand.routing.solver.insertion import SearchIndex

    tt = line()
    plan = empty_plan([Vehicle("v0", 4, 0, 0, 10_000), Vehicle("v1", 4, 5, 0, 10_000)])
    for i, (a, b, e) in enumerate([(1, 0, 0), (4, 5, 0), (2, 3, 300)]):
        got = best_insertion(plan, Request(f"r{i}", a, b, e, e + 600, 2_000, 600), tt, now=0)
        assert isinstance(got, Insertion)
        plan = got.plan
    assert all(r.stops for r in plan.routes)
    new = Request("new", 3, 1, 0, 600, 2_000, 600)
    expected = best_insertion(plan, new, tt, now=0)
    assert isinstance(expected, Insertion)

    # primed for these very routes (new objects, which no search has met): the search profiles nothing
    plan = Plan(tuple(Route(r.vehicle, r.stops) for r in plan.routes), plan.requests)
    index = SearchIndex()
    for vi, r in enumerate(plan.routes):
        index.prime(vi, r, tt, route_profile(r, plan.requests, tt))

    def no_profiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search profiled a route whose profile was primed")

    with monkeypatch.context() as m:
        m.setattr(insertion, "route_profile", no_profiling)
        assert best_insertion(plan, new, tt, now=0, index=index) == expected
    assert not index.fleet.primed  # taken by the sync

    # stale: the profile of an idle vehicle primed at index 0, whose route has stops
    stale = SearchIndex()
    idle = Route(plan.routes[0].vehicle)
    stale.prime(0, idle, tt, route_profile(idle, plan.requests, tt))
    assert best_insertion(plan, new, tt, now=0, index=stale) == expected
    # and one for this route object but other travel times is not used either
    other_tt = euclid_tt([(20 * i, 0) for i in range(6)])
    for vi, r in enumerate(plan.routes):
        stale = SearchIndex()
        stale.prime(vi, r, other_tt, route_profile(r, plan.requests, other_tt))
        assert best_insertion(plan, new, tt, now=0, index=stale) == expected
