"""Tests of mid-leg diversion: a driving vehicle may turn toward a new rider before its next stop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ondemand.dispatch import (
    Assignment,
    DispatchOptions,
    InsertionDispatcher,
    Refusal,
    RequestStatus,
)
from ondemand.routing.solver.check import check_plan
from ondemand.routing.solver.model import ArrayTravelTimes, Divertible, Request, StopKind, Vehicle
from tests.routing.geo._network_fixtures import isolated_cache

P, D = StopKind.PICKUP, StopKind.DROPOFF
_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)


class _Straight:
    """An ``(n, n)`` integer matrix of straight-line costs over a growing list of points."""

    def __init__(self, owner: Plane, per_metre: float) -> None:
        self._owner = owner
        self._per_metre = per_metre

    @property
    def shape(self) -> tuple[int, int]:
        n = self._owner.n
        return (n, n)

    def __getitem__(self, key: tuple[Any, Any]) -> Any:
        xy = self._owner.xy[: self._owner.n]
        a, b = key
        d = xy[a] - xy[b]
        out = np.ceil(np.hypot(d[..., 0], d[..., 1]) * self._per_metre - 1e-9).astype(np.int64)
        return out if out.ndim else np.int64(out)

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        idx = np.arange(self._owner.n)
        dense: NDArray[np.int64] = self[idx[:, None], idx[None, :]]
        return dense if dtype is None else dense.astype(dtype)


class Plane:
    """Points of a plane driven in straight lines at ``speed`` m/s; a vehicle can turn where it is."""

    def __init__(self, points: NDArray[np.float64], speed: float = 1.0) -> None:
        self.xy = np.zeros((max(16, 2 * len(points)), 2))
        self.xy[: len(points)] = points
        self.n = len(points)
        self.durations = _Straight(self, 1.0 / speed)
        self.distances = _Straight(self, 1.0)

    def turn_point(self, origin: int, target: int, elapsed: int) -> tuple[int, int] | None:
        """The vehicle's current point on the straight leg (it left ``elapsed`` s ago)."""
        drive = int(self.durations[origin, target])
        if elapsed >= drive:
            return None
        if self.n == len(self.xy):
            self.xy = np.concatenate([self.xy, np.zeros_like(self.xy)])
        self.xy[self.n] = self.xy[origin] + (self.xy[target] - self.xy[origin]) * (elapsed / drive)
        self.n += 1
        return self.n - 1, 0


def line(*xs: float) -> Plane:
    """Points on a line at the given metres, driven at 1 m/s."""
    return Plane(np.array([[x, 0.0] for x in xs]))


def options(divert: bool) -> DispatchOptions:
    """Auto-completed legs, the default promise, with or without diversion."""
    return DispatchOptions(auto_complete=True, divert_mid_leg=divert)


def logged(tt: Any, divert: bool, vehicles: list[Vehicle]) -> tuple[InsertionDispatcher, dict[str, int]]:
    """A dispatcher that notes when each stop was served (``"r1+"`` pickup, ``"r1-"`` drop-off)."""
    served: dict[str, int] = {}

    class Logged(InsertionDispatcher):
        def record_pickup(self, request_id: str, *, at: int) -> None:
            served[request_id + "+"] = at
            super().record_pickup(request_id, at=at)

        def record_dropoff(self, request_id: str, *, at: int) -> None:
            served[request_id + "-"] = at
            super().record_dropoff(request_id, at=at)

    return Logged(vehicles, tt, options=options(divert)), served


def turning_case(
    tt: Any, divert: bool, latest: int = 700
) -> tuple[InsertionDispatcher, dict[str, int], Assignment | Refusal]:
    """A van leaves x=0 at 0 for a pickup at x=1000; at 300 (at x=300) a rider books for 300-``latest``."""
    d, served = logged(tt, divert, [Vehicle("v", 4, 0, 0, 20_000)])
    r1 = Request("r1", 1, 2, 0, 2000, 5000, 4000)
    assert isinstance(d.submit(r1, now=0), Assignment)
    d.advance(0)
    assert d.itinerary("v")[0].committed
    r2 = Request("r2", 3, 4, 300, latest, 3000, 2000)
    return d, served, d.submit(r2, now=300)


def test_the_plane_is_divertible_and_a_matrix_is_not() -> None:
    """Coordinate travel times name turning points; a dense stop matrix does not."""
    assert isinstance(line(0, 1), Divertible)
    assert not isinstance(ArrayTravelTimes(np.zeros((2, 2), dtype=np.int64)), Divertible)


def test_diverting_mid_leg_accepts_a_rider_the_committed_leg_refuses() -> None:
    """At x=300 the van turns back for x=200 (pickup 400) instead of refusing (x=200 only at 1800)."""
    # locations: 0 start, 1 r1 pickup, 2 r1 drop-off, 3 r2 pickup, 4 r2 drop-off
    tt = line(0, 1000, 2000, 200, 1500)
    d, _, answer = turning_case(tt, divert=False)
    assert isinstance(answer, Refusal)

    tt = line(0, 1000, 2000, 200, 1500)
    d, served, answer = turning_case(tt, divert=True)
    assert isinstance(answer, Assignment)
    assert answer.pickup_window == (300, 700)
    route = d.plan.route_of("v")
    assert (route.vehicle.start, route.vehicle.available_from) == (5, 300)  # the turning point, now
    assert tt.xy[5].tolist() == [300.0, 0.0]
    stops = [(s.request_id, s.kind, s.eta, s.committed) for s in d.itinerary("v")]
    assert stops == [
        ("r2", P, 400, False),
        ("r1", P, 1200, False),
        ("r2", D, 1700, False),
        ("r1", D, 2200, False),
    ]
    assert not check_plan(d.plan, tt).violations
    d.advance(10_000)
    assert served == {"r2+": 400, "r1+": 1200, "r2-": 1700, "r1-": 2200}
    assert d.status("r1") is d.status("r2") is RequestStatus.COMPLETED
    # every promise kept: r1 was promised a pickup 700-1300 when booked
    r1 = d.request("r1")
    assert (r1.earliest_pickup, r1.latest_pickup) == (700, 1300)
    assert served["r1-"] <= r1.latest_dropoff
    assert served["r2-"] <= answer.latest_dropoff


def test_a_dense_matrix_keeps_the_leg_committed() -> None:
    """With only a stop matrix the option changes nothing: the same rider is refused."""
    xs = np.array([0, 1000, 2000, 200, 1500])
    tt = ArrayTravelTimes(np.abs(xs[:, None] - xs[None, :]))
    _, _, answer = turning_case(tt, divert=True)
    assert isinstance(answer, Refusal)


def test_a_rider_after_the_committed_stop_keeps_the_leg() -> None:
    """A booking that needs no turn leaves the leg committed and its stop first, as without diversion."""
    tt = line(0, 1000, 2000, 1200, 1800)
    d, _, answer = turning_case(tt, divert=True, latest=1500)
    assert isinstance(answer, Assignment)
    head = d.itinerary("v")[0]
    assert (head.request_id, head.kind, head.committed, head.eta) == ("r1", P, True, 1000)
    assert d.plan.route_of("v").vehicle.start == 1  # planned from the end of its leg, as before


def test_a_reported_position_moves_the_turning_point() -> None:
    """A van that reports it has driven only 100 s by 300 turns at x=100, reaching x=200 at 400 too."""
    tt = line(0, 1000, 2000, 200, 1500)
    d, _ = logged(tt, True, [Vehicle("v", 4, 0, 0, 20_000)])
    assert isinstance(d.submit(Request("r1", 1, 2, 0, 2000, 5000, 4000), now=0), Assignment)
    d.advance(0)
    d.record_progress("v", 50, at=250)  # late: 50 s driven at 250, so 100 s at 300
    answer = d.submit(Request("r2", 3, 4, 300, 700, 3000, 2000), now=300)
    assert isinstance(answer, Assignment)
    route = d.plan.route_of("v")
    assert tt.xy[route.vehicle.start].tolist() == [100.0, 0.0]
    assert d.itinerary("v")[0].eta == 400


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_diverted_plans_pass_the_checker_and_keep_promises(data: st.DataObject) -> None:
    """Random bookings and time steps with diversion: every plan passes check_plan, every promise holds."""
    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    tt = Plane(rng.uniform(0, 3000, size=(8, 2)), speed=8.0)
    vehicles = [
        Vehicle(f"v{i}", 3, int(rng.integers(8)), 0, 30_000) for i in range(data.draw(st.integers(1, 3)))
    ]
    d, served = logged(tt, True, vehicles)
    now = 0
    accepted: dict[str, Assignment] = {}
    for k in range(data.draw(st.integers(1, 25))):
        now += data.draw(st.integers(0, 400))
        action = data.draw(st.sampled_from(["book", "book", "book", "cancel", "advance"]))
        if action == "book":
            a, b = (int(x) for x in rng.choice(8, size=2, replace=False))
            r = Request(f"r{k}", a, b, now, now + 900, now + 6000, 4000, passengers=int(rng.integers(1, 3)))
            res = d.submit(r, now=now)
            if isinstance(res, Assignment):
                accepted[res.request_id] = res
        elif action == "cancel" and accepted:
            d.cancel(data.draw(st.sampled_from(sorted(accepted))), now=now)
        else:
            d.advance(now)
        result = check_plan(d.plan, tt)
        assert not result.violations, result.violations
        for rid, a in accepted.items():
            if d.status(rid) in (RequestStatus.ASSIGNED, RequestStatus.ONBOARD):
                assert d.plan.requests[rid] == a.request
    d.advance(10**6)
    for rid, a in accepted.items():
        if d.status(rid) is RequestStatus.CANCELLED:
            continue
        assert d.status(rid) is RequestStatus.COMPLETED
        assert a.pickup_window[0] <= served[rid + "+"] <= a.pickup_window[1]
        assert served[rid + "-"] <= a.latest_dropoff
        assert served[rid + "-"] - served[rid + "+"] - a.request.pickup_service <= a.request.max_ride


def test_a_van_ahead_of_its_plan_takes_a_rider_after_its_committed_stop() -> None:
    """Reported 200 s ahead, the van serves its stop at 800 instead of 1000 and reaches a rider beyond
    it by the rider's latest pickup (1350), which neither its plan nor a turn toward the rider could."""
    # locations: 0 start, 1 r1 pickup, 2 r1 drop-off, 3 r2 pickup, 4 r2 drop-off
    r2 = Request("r2", 3, 4, 300, 1350, 3000, 2000)
    answers = []
    for report in (False, True):
        tt = line(0, 1000, 2000, 1500, 1800)
        d, _ = logged(tt, True, [Vehicle("v", 4, 0, 0, 20_000)])
        assert isinstance(d.submit(Request("r1", 1, 2, 0, 2000, 5000, 4000), now=0), Assignment)
        d.advance(0)
        if report:
            d.record_progress("v", 500, at=300)  # at x=500 at 300: at x=1000 by 800
        answers.append(d.submit(r2, now=300))
    assert isinstance(answers[0], Refusal)
    assert isinstance(answers[1], Assignment)
    stops = [(s.request_id, s.kind, s.eta) for s in d.itinerary("v")]
    assert stops[:2] == [("r1", P, 800), ("r2", P, 1300)]
    assert not check_plan(d.plan, tt).violations


def test_a_van_bound_for_a_pickup_takes_a_rider_who_needs_that_pickup_later() -> None:
    """r2 (pickup 1700-1900 just past r1's) fits only if r1's pickup moves from 1000 toward 1300, the
    end of its window, so that r1's ride (at most 1500 s) absorbs the wait for r2: with diversion the
    van, planned again from where it is, takes r2; with the leg committed (r1 picked up at 1000), not."""
    # locations: 0 start, 1 r1 pickup, 2 r1 drop-off, 3 r2 pickup, 4 r2 drop-off
    answers = []
    for divert in (False, True):
        tt = line(0, 1000, 2000, 1100, 1200)
        d, served = logged(tt, divert, [Vehicle("v", 4, 0, 0, 20_000)])
        first = d.submit(Request("r1", 1, 2, 0, 2000, 5000, 1500), now=0)
        assert isinstance(first, Assignment)
        assert first.pickup_window == (700, 1300)
        d.advance(0)
        answers.append(d.submit(Request("r2", 3, 4, 1700, 1900, 3000, 1000), now=300))
    assert isinstance(answers[0], Refusal)
    assert isinstance(answers[1], Assignment)
    assert not check_plan(d.plan, tt).violations
    d.advance(10_000)
    r1 = d.request("r1")
    assert 1100 <= served["r1+"] <= 1300
    assert served["r1-"] - served["r1+"] <= r1.max_ride
    assert 1700 <= served["r2+"] <= 1900


class _Exhaustive(InsertionDispatcher):
    """The reference: every vehicle driving a leg whose turn could beat the bound is tried (no pre-filter)."""

    def _turn_candidates(self, now: int, request: Request, bound: float, slack: Any) -> NDArray[np.int64]:
        return np.flatnonzero(self._leg_from >= 0)

    def _turns_may_pay(
        self, idx: Any, points: Any, ats: Any, request: Request, bound: float, slack: Any
    ) -> NDArray[np.bool_]:
        # only the bound every turn must beat, picking the rider up first from the turning point
        # (the search would also find plans that keep the leg and pick up later, at most as cheap),
        # one vehicle at a time
        c = self._tt.durations if self.options.insertion.cost == "time" else self._tt.distances
        p = request.pickup
        out = []
        for i, point in zip(idx.tolist(), points.tolist(), strict=True):
            b = int(self._leg_to[i])
            out.append(int(c[point, p]) + int(c[p, b]) - int(c[point, b]) < bound)
        return np.array(out, dtype=np.bool_)


def _seen(d: InsertionDispatcher, answer: Assignment | Refusal) -> tuple[Any, ...]:
    """What a rider and the fleet see of an answer (turning points are numbered per run: left out)."""
    if isinstance(answer, Refusal):
        return ("refused", answer.code)
    plans = tuple(
        tuple((s.request_id, s.kind, s.eta, s.committed) for s in d.itinerary(v))
        for v in ("v0", "v1", "v2", "v3")
    )
    return (answer.vehicle_id, answer.pickup_window, answer.latest_dropoff, plans)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(["time", "distance"]))
def test_the_turn_prefilter_drops_no_turn_the_exhaustive_search_takes(data: st.DataObject, cost: str) -> None:
    """With the pre-filter and the exact tests on the turning point, every answer and itinerary equals
    trying every driving vehicle whose turn could beat the first search (with and without end depots,
    delay weights, time or distance costs)."""
    from ondemand.dispatch.base import DispatchOptions as Options
    from ondemand.routing.solver.insertion import InsertionOptions

    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    points = rng.uniform(0, 4000, size=(10, 2))
    depot = [int(rng.integers(10)) if rng.random() < 0.4 else None for _ in range(4)]  # some return
    vehicles = [Vehicle(f"v{i}", 3, int(rng.integers(10)), 0, 40_000, end=depot[i]) for i in range(4)]
    weight = data.draw(st.sampled_from([0.0, 1.0]))  # 0: the least added driving alone (the same stream's)
    insertion = InsertionOptions(cost=cost, delay_weight=weight)  # type: ignore[arg-type]
    opts = Options(auto_complete=True, divert_mid_leg=True, insertion=insertion)
    fast = InsertionDispatcher(vehicles, Plane(points, speed=8.0), options=opts)
    slow = _Exhaustive(vehicles, Plane(points, speed=8.0), options=opts)
    now, turned = 0, 0
    for k in range(data.draw(st.integers(5, 60))):
        now += int(rng.integers(0, 150))
        if rng.random() < 0.2:
            for d in (fast, slow):
                d.advance(now)
            continue
        if rng.random() < 0.15:
            v, driven = f"v{rng.integers(4)}", int(rng.integers(0, 300))
            for d in (fast, slow):
                d.record_progress(v, driven, at=now)
            continue
        a, b = (int(x) for x in rng.choice(10, size=2, replace=False))
        r = Request(f"r{k}", a, b, now, now + int(rng.integers(60, 900)), now + 5000, 3000)
        got, want = fast.submit(r, now=now), slow.submit(r, now=now)
        assert _seen(fast, got) == _seen(slow, want)
        turned += isinstance(got, Assignment) and fast.plan.route_of(got.vehicle_id).vehicle.start >= 10
        assert not check_plan(fast.plan, fast._tt).violations  # type: ignore[arg-type]
    assert fast.counts() == slow.counts()
    event(f"vehicles turned: {min(turned, 3)}")  # hypothesis statistics: the turn path is exercised


def test_a_turned_route_profiled_from_the_route_it_drives_is_profiled_as_from_scratch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every turned route the diversion search profiles from its vehicle's route (the stops after the
    turn are the same) gets the profile route_profile gives it (or ``None`` both): committed pickups
    and drop-offs, riders on board, end depots, late reports, over random days."""
    from ondemand.dispatch import dispatcher as module
    from ondemand.routing.solver.schedule import route_profile

    derive = module.route_profile_with_first_stop
    seen: dict[tuple[StopKind, bool], int] = {}

    def checking(rows, route, requests, tt, travel):  # type: ignore[no-untyped-def]
        got = derive(rows, route, requests, tt, travel)
        want = route_profile(route, requests, tt)
        assert (got is None) == (want is None)
        if got is not None and want is not None:
            assert np.array_equal(got.rows, want.rows)
            assert (got.end_time, got.end_travel) == (want.end_time, want.end_travel)
        key = (route.stops[0].kind, got is not None)
        seen[key] = seen.get(key, 0) + 1
        return got

    monkeypatch.setattr(module, "route_profile_with_first_stop", checking)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        points = rng.uniform(0, 4000, size=(10, 2))
        depot = [int(rng.integers(10)) if rng.random() < 0.4 else None for _ in range(4)]
        vehicles = [Vehicle(f"v{i}", 3, int(rng.integers(10)), 0, 40_000, end=depot[i]) for i in range(4)]
        d = InsertionDispatcher(vehicles, Plane(points, speed=8.0), options=options(True))
        now = 0
        for k in range(100):
            now += int(rng.integers(0, 150))
            if rng.random() < 0.15:
                d.record_progress(f"v{rng.integers(4)}", int(rng.integers(0, 300)), at=now)
                continue
            a, b = (int(x) for x in rng.choice(10, size=2, replace=False))
            late = now + int(rng.integers(60, 900))
            d.submit(Request(f"r{k}", a, b, now, late, now + 5000, 3000, int(rng.integers(1, 3))), now=now)
            assert not check_plan(d.plan, d._tt).violations  # type: ignore[arg-type]
    assert seen.get((P, True), 0) > 20, seen
    assert seen.get((D, True), 0) > 20, seen


def test_on_the_road_graph_a_van_turns_at_the_next_node() -> None:
    """On a grid's CCH travel times a van 60 s into a 220 s leg turns at the next node (reached at 66)
    and fetches a rider back at its start (pickup 206) whom the committed leg refuses."""
    from ondemand.routing.geo.lazy import OnDemandTravelTimes
    from ondemand.routing.geo.matrix import road_path
    from tests.routing.geo._network_fixtures import grid_network

    grid = grid_network(7)
    stops = [0, grid.n_nodes - 1, grid.n_nodes // 2]
    for divert in (False, True):
        tt = OnDemandTravelTimes(grid, stops, backend="cch")
        d, _ = logged(tt, divert, [Vehicle("v", 4, 0, 0, 20_000)])
        assert isinstance(d.submit(Request("r1", 1, 2, 0, 3000, 6000, 5000), now=0), Assignment)
        d.advance(0)
        assert int(tt.durations[0, 1]) == 220
        answer = d.submit(Request("r2", 0, 2, 60, 300, 3000, 2000), now=60)
        if not divert:
            assert isinstance(answer, Refusal)
            continue
        assert isinstance(answer, Assignment)
        start = d.plan.route_of("v").vehicle
        path = road_path(grid, stops[0], stops[1], backend="cch")
        i = list(path.nodes).index(tt.node_of(start.start))
        assert (start.start, start.available_from, int(path.node_seconds[i])) == (3, 66, 66)
        assert int(path.node_seconds[i - 1]) < 60
        stops_seen = [(s.request_id, s.kind, s.eta) for s in d.itinerary("v")]
        assert stops_seen == [("r2", P, 206), ("r1", P, 426), ("r2", D, 554), ("r1", D, 554)]
        assert not check_plan(d.plan, tt).violations


def _turn_rule(leg: Any, now: int, drive: int) -> tuple[int, int, int, int] | None:
    """Where a vehicle driving ``leg`` stands, read from the leg itself (the rule the diversion search
    applies from its arrays): origin, stop, seconds driven and the time the wait for the turning
    point counts from; ``None`` when it cannot turn (no stop, arrived, no origin, all driven)."""
    if leg is None or leg.stop is None or leg.arrived or leg.origin is None or leg.origin == leg.location:
        return None
    if leg.driven is None:
        elapsed, base = max(0, now - leg.left_at), max(now, leg.left_at)
    else:
        elapsed, base = leg.driven[1] + max(0, now - leg.driven[0]), now
    if elapsed >= drive:
        return None
    return leg.origin, leg.location, elapsed, base


def test_the_turn_inputs_from_the_leg_arrays_are_the_legs_own() -> None:
    """The diversion search reads where each driving vehicle stands from its leg arrays (one compiled
    call over the candidates): the same origin, stop, driving so far and start of the wait as the leg
    objects give, over random days with progress reports (some dated after the dispatcher's now)."""
    from ondemand.dispatch import _turn_kernel as tk

    seen = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        points = rng.uniform(0, 4000, size=(10, 2))
        vehicles = [Vehicle(f"v{i}", 3, int(rng.integers(10)), 0, 40_000) for i in range(4)]
        tt = Plane(points, speed=8.0)
        d = InsertionDispatcher(vehicles, tt, options=options(True))
        now = 0
        for k in range(80):
            now += int(rng.integers(0, 150))
            if rng.random() < 0.2:
                at = now + int(rng.integers(-100, 100))
                d.record_progress(f"v{rng.integers(4)}", int(rng.integers(0, 300)), at=at)
            else:
                a, b = (int(x) for x in rng.choice(10, size=2, replace=False))
                late = now + int(rng.integers(60, 900))
                d.submit(Request(f"r{k}", a, b, now, late, now + 5000, 3000), now=now)
            d._refresh_legs()
            at_now = now if d.now is None else max(now, d.now)
            got = tk.kernels().turn_inputs(d._legs, np.arange(len(vehicles), dtype=np.int64), at_now)
            found = {i: (a, b, e, t) for i, a, b, e, t in zip(*(x.tolist() for x in got), strict=True)}
            for i, vs in enumerate(d._fleet):
                leg = vs.leg
                drive = (
                    -1 if leg is None or leg.origin is None else int(tt.durations[leg.origin, leg.location])
                )
                want = _turn_rule(leg, at_now, drive)
                assert found.get(i) == want
                seen += want is not None
    assert seen > 50
