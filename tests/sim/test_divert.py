"""The simulator follows a van the dispatcher turns mid-leg (``service.divert_mid_leg``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import ScenarioError
from ondemand.routing.geo.lazy import OnDemandTravelTimes
from ondemand.routing.geo.matrix import RoadPath, build_matrix, road_path
from ondemand.routing.geo.network import RoadNetwork
from ondemand.routing.solver.check import check_plan
from ondemand.routing.solver.model import Request, TravelTimes
from ondemand.scenario import load_scenario
from ondemand.sim.engine import run_day
from ondemand.sim.events import (
    Event,
    ShiftEnded,
    ShiftStarted,
    VehicleArrived,
    VehicleDeparted,
    VehiclePosition,
)
from ondemand.sim.kpis import compute_kpis, request_outcomes
from tests.routing.geo._network_fixtures import grid_network, isolated_cache
from tests.sim.fakes import FakeStop
from tests.sim.helpers import REPO, promise_violations, random_trips, scenario

pytest.importorskip("routingkit_cch", reason="turning points need the CCH backend (routingkit-cch)")

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)


@dataclass
class RoadArea:
    """Stops on every other node of a grid network; paths over the road, turning points included."""

    network: RoadNetwork
    matrix: Any
    stops: tuple[FakeStop, ...] = field(init=False)

    def __post_init__(self) -> None:
        net = self.network
        self.stops = tuple(
            FakeStop(f"s{i}", f"stop {i}", float(net.lon[n]), float(net.lat[n]), int(n))
            for i, n in enumerate(self.matrix.nodes.tolist())
        )

    def path(self, i: int, j: int) -> RoadPath:
        k = len(self.stops)
        node = [int(self.matrix.nodes[p]) if p < k else p - k for p in (i, j)]  # turning point: k + node
        return road_path(self.network, node[0], node[1])


_NET = grid_network(9)
_NODES = np.arange(0, _NET.n_nodes, 2)


def _area(dense: bool = False) -> RoadArea:
    tt = (
        build_matrix(_NET, _NODES, backend="scipy")
        if dense
        else OnDemandTravelTimes(_NET, _NODES, cache_mb=4)
    )
    return RoadArea(_NET, tt)


class _Checked:
    """A dispatcher factory whose dispatcher's plan is checked (``check_plan``) after every booking.

    ``reference``: the dispatcher tries every driving vehicle whose turn could beat the first
    search (no pre-filter, no exact test on the turning point beyond that bound)."""

    def __init__(self, reference: bool = False) -> None:
        self.checked = 0
        self.reference = reference

    def __call__(self, vehicles: Any, tt: TravelTimes, policy: ServicePolicy) -> Any:
        d = policy.dispatcher(vehicles, tt)
        if self.reference:

            def candidates(now: int, request: Request, bound: float, slack: Any) -> Any:
                return np.flatnonzero(d._leg_from >= 0)

            def may_pay(idx: Any, points: Any, ats: Any, request: Request, bound: float, slack: Any) -> Any:
                c = d._tt.durations if d.options.insertion.cost == "time" else d._tt.distances
                p = request.pickup
                pays = [
                    int(c[point, p]) + int(c[p, int(d._leg_to[i])]) - int(c[point, int(d._leg_to[i])]) < bound
                    for i, point in zip(idx.tolist(), points.tolist(), strict=True)
                ]
                return np.array(pays, dtype=np.bool_)

            d._turn_candidates = candidates  # type: ignore[method-assign]
            d._turns_may_pay = may_pay  # type: ignore[method-assign]
        submit = d.submit
        outer = self

        def checked(request: Request, *, now: int) -> Any:
            answer = submit(request, now=now)
            violations = check_plan(d.plan, tt).violations
            assert not violations, violations
            outer.checked += 1
            return answer

        d.submit = checked  # type: ignore[method-assign]
        return d


def _day(
    seed: int,
    *,
    divert: bool,
    dense: bool = False,
    n: int = 60,
    every: int = 0,
    area: RoadArea | None = None,
    reference: bool = False,
) -> tuple[list[Event], RoadArea]:
    area = _area(dense) if area is None else area
    sc = scenario("senboku", reoptimise_every_s=every, reoptimise_iterations=20, divert_mid_leg=divert)
    trips = random_trips(n, len(area.stops), seed, sc.service.start, sc.service.end)
    factory = _Checked(reference)
    events = run_day(
        area=area,
        policy=ServicePolicy.from_scenario(sc, fleet=2),
        fares=sc.fares,
        trips=trips,
        depot=0,
        dispatcher_factory=factory,
    )
    assert factory.checked > 0
    return events, area


def _turned(events: list[Event], area: RoadArea) -> list[VehicleDeparted]:
    return [e for e in events if isinstance(e, VehicleDeparted) and e.to_stop >= len(area.stops)]


def _legs_chain(events: list[Event], area: RoadArea) -> None:
    """Each vehicle's legs join up (from the stop or turning point it reached), never overlap in
    time, are driven in the time and metres of the travel times, and arrivals are at stops only."""
    tt, k = area.matrix, len(area.stops)
    point = {k + tt.node_of(p): p for p in range(k, getattr(tt, "n_points", k))}
    where: dict[str, int] = {}
    free: dict[str, int] = defaultdict(int)
    for e in events:
        if isinstance(e, ShiftStarted):
            where[e.vehicle_id] = e.stop
        elif isinstance(e, VehicleDeparted):
            assert e.from_stop == where[e.vehicle_id], e
            assert e.t >= free[e.vehicle_id], e
            a, b = point.get(e.from_stop, e.from_stop), point.get(e.to_stop, e.to_stop)
            assert e.distance_m == int(tt.distances[a, b]), e
            assert e.duration_s == int(tt.durations[a, b]) == area.path(e.from_stop, e.to_stop).duration, e
            where[e.vehicle_id] = e.to_stop
            free[e.vehicle_id] = e.t + e.duration_s
        elif isinstance(e, VehicleArrived):
            assert e.stop == where[e.vehicle_id], e
            assert e.t == free[e.vehicle_id], e
        elif isinstance(e, VehiclePosition):
            assert e.t <= free[e.vehicle_id]
        elif isinstance(e, ShiftEnded):
            assert e.stop == where[e.vehicle_id], e
            assert e.t >= free[e.vehicle_id], e


def test_a_day_with_turns_follows_the_real_path() -> None:
    """Vans turn mid-leg on on-demand travel times; legs end at turning points and join up; promises hold."""
    turned = 0
    for seed in range(4):
        events, area = _day(seed, divert=True)
        turned += len(_turned(events, area))
        assert promise_violations(events) == []
        _legs_chain(events, area)
        k = compute_kpis(events)
        metres = sum(e.distance_m for e in events if isinstance(e, VehicleDeparted))
        assert k["vehicle_km"] == pytest.approx(metres / 1000, abs=0.05)
    assert turned >= 2


@pytest.mark.slow
def test_the_turn_prefilter_changes_no_day_on_the_road_graph() -> None:
    """With the pre-filter and the exact tests on turning points (road nodes, reached some seconds
    on), every day's events equal those of trying every driving vehicle whose turn beats the bound."""
    turned = 0
    for seed in range(4):
        events, area = _day(seed, divert=True, n=200)
        assert events == _day(seed, divert=True, n=200, area=area, reference=True)[0]
        turned += len(_turned(events, area))
    assert turned >= 2


def test_divert_is_reproducible_and_off_is_unchanged() -> None:
    """Same seed, setting on: the same events (also after another day on the same travel times);
    setting off, or a dense matrix, never turns a van."""
    on, _ = _day(0, divert=True, every=3600)
    shared = _day(1, divert=True, every=3600)[1]  # a day that named turning points first
    again, _ = _day(0, divert=True, every=3600, area=shared)
    assert on == again
    off, area = _day(0, divert=False, every=3600)
    dense_on, _ = _day(0, divert=True, dense=True, every=3600)
    assert _turned(on, area)
    assert _turned(off, area) == []
    assert _turned(dense_on, area) == []
    assert dense_on == off  # a dense matrix names no turning point: the leg stays committed


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), every=st.sampled_from([0, 1800]))
def test_divert_keeps_promises_and_plans_valid(seed: int, every: int) -> None:
    """Random days with diversion: every plan passes check_plan, every promise holds, legs join up."""
    events, area = _day(seed, divert=True, n=40, every=every)
    assert promise_violations(events) == []
    _legs_chain(events, area)
    assert "assigned" not in request_outcomes(events).values()


def test_scenario_setting(tmp_path: Path) -> None:
    """[service] divert_mid_leg reaches the dispatcher's options (default off) and selects on-demand
    travel times; a non-boolean, or with travel times forced to a matrix, is refused."""
    text = (REPO / "scenarios" / "senboku.toml").read_text(encoding="utf-8")
    sc = load_scenario(REPO / "scenarios" / "senboku.toml")
    assert sc.service.divert_mid_leg is False
    assert ServicePolicy.from_scenario(sc).dispatch_options().divert_mid_leg is False
    on = tmp_path / "on.toml"
    on.write_text(text.replace("[service]\n", "[service]\ndivert_mid_leg = true\n", 1), encoding="utf-8")
    assert ServicePolicy.from_scenario(load_scenario(on)).dispatch_options().divert_mid_leg is True
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[service]\n", '[service]\ndivert_mid_leg = "yes"\n', 1), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"service\.divert_mid_leg.*must be true or false"):
        load_scenario(bad)
    assert load_scenario(on).travel_times.mode == "on_demand"  # turning points need them
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(
        on.read_text(encoding="utf-8") + '\n[travel_times]\nmode = "matrix"\n', encoding="utf-8"
    )
    with pytest.raises(ScenarioError, match=r"service\.divert_mid_leg.*mode = \"on_demand\""):
        load_scenario(matrix)


def test_the_day_map_draws_turned_legs() -> None:
    """The day map draws a turned leg along the road to its turning point (with paths), and skips it
    without them (a turning point has no stop position) instead of failing."""
    pytest.importorskip("folium", reason="the day map needs folium (extra viz)")
    from ondemand.viz.maps import day_map

    events, area = _day(0, divert=True, every=3600)
    legs = [e for e in events if isinstance(e, VehicleDeparted) and e.from_stop != e.to_stop]
    turned = _turned(events, area)
    assert turned
    with_paths = day_map(events, area.stops, path=area.path).get_root().render()
    without = day_map(events, area.stops).get_root().render()
    assert with_paths.count("L.polyline(") == len(legs)
    touching = {id(e) for e in legs if max(e.from_stop, e.to_stop) >= len(area.stops)}
    assert without.count("L.polyline(") == len(legs) - len(touching)
