"""Tests of the independent checker: each violation kind is caught on a hand-made solution."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ondemand.routing.solver.check import check_plan, check_solution, check_solution_json
from ondemand.routing.solver.instances import DarpInstance, read_instance
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

# Two requests on a line: 1 (x=1) -> 3 (x=4), 2 (x=2) -> 4 (x=3); depot at 0, end depot 5.
TINY = """2 2 100 1 10
0 0 0 0 0 0 100
1 1 0 1 1 0 100
2 2 0 1 1 0 100
3 4 0 1 -1 0 100
4 3 0 1 -1 0 100
5 0 0 0 0 0 100
"""


@pytest.fixture
def tiny(tmp_path: Path) -> DarpInstance:
    """A two-request instance with capacity 1 and max ride 10."""
    f = tmp_path / "tiny.txt"
    f.write_text(TINY)
    return read_instance(f)


def good() -> list[list[tuple[int, float]]]:
    """A feasible solution: 0 -> 1 -> 3 -> 2 -> 4 -> 5 on one vehicle."""
    return [[(0, 0.0), (1, 1.0), (3, 5.0), (2, 8.0), (4, 10.0), (5, 14.0)]]


def test_feasible_solution_and_exact_cost(tiny: DarpInstance) -> None:
    """A feasible solution has no violations and its exact Euclidean cost."""
    res = check_solution(tiny, good())
    assert res.feasible, res.violations
    assert res.cost == pytest.approx(1 + 3 + 2 + 1 + 3)
    assert res.vehicles_used == 1


@pytest.mark.parametrize(
    ("routes", "fragment"),
    [
        ([[(0, 0.0), (1, 1.0), (3, 5.0), (5, 9.0)]], "node 2 visited 0 times"),
        ([[(0, 0.0), (3, 4.0), (1, 8.0), (2, 10.0), (4, 12.0), (5, 16.0)]], "drop-off 3 before pickup 1"),
        ([[(0, 0.0), (1, 1.0), (2, 3.0), (3, 6.0), (4, 8.0), (5, 12.0)]], "load 2 > capacity 1"),
        ([[(0, 0.0), (1, 1.0), (3, 3.0), (2, 8.0), (4, 10.0), (5, 14.0)]], "cannot be reached"),
        ([[(0, 0.0), (1, 1.0), (3, 15.0), (2, 18.0), (4, 20.0), (5, 24.0)]], "rides 13"),
        ([[(0, 0.0), (1, 1.0), (3, 5.0), (2, 8.0), (4, 10.0), (5, 140.0)]], "outside its window"),
        ([[(0, 0.0), (1, 1.0), (3, 5.0), (2, 8.0), (4, 10.0)]], "must start at depot 0 and end at depot 5"),
        (
            [[(0, 0.0), (1, 1.0), (3, 5.0), (2, 8.0), (4, 10.0), (3, 13.0), (5, 17.0)]],
            "node 3 visited 2 times",
        ),
        (
            [[(0, 0.0), (1, 1.0), (3, 5.0), (5, 9.0)], [(0, 0.0), (2, 2.0), (4, 4.0), (5, 8.0)]] * 2,
            "4 routes used but only 2 vehicles",
        ),
        (
            [[(0, 0.0), (1, 1.0), (5, 3.0)], [(0, 0.0), (2, 2.0), (3, 5.0), (4, 7.0), (5, 11.0)]],
            "pickup 1 without its drop-off 3",
        ),
        ([[(0, 0.0), (1, 1.0), (3, 5.0), (2, 8.0), (9, 10.0), (5, 14.0)]], "node 9 is not in the instance"),
    ],
)
def test_each_violation_kind_is_caught(
    tiny: DarpInstance, routes: list[list[tuple[int, float]]], fragment: str
) -> None:
    """Every broken constraint shows up in the violations with a recognisable message."""
    res = check_solution(tiny, routes)
    assert not res.feasible
    assert any(fragment in v for v in res.violations), res.violations


def test_route_duration_limit(tmp_path: Path) -> None:
    """A route longer than T is reported even when every window is kept."""
    f = tmp_path / "t.txt"
    f.write_text(TINY.replace("2 2 100 1 10", "2 2 12 1 10"))
    res = check_solution(read_instance(f), good())
    assert any("duration 14" in v for v in res.violations)


def test_json_contract_cost_and_name(tiny: DarpInstance) -> None:
    """The JSON checker also rejects a wrong reported cost or instance name."""
    routes = [{"vehicle": 0, "stops": [{"node": n, "time": t} for n, t in good()[0]]}]
    ok = check_solution_json(tiny, {"instance": "tiny", "cost": 10.0, "routes": routes})
    assert ok.feasible, ok.violations
    bad = check_solution_json(tiny, {"instance": "other", "cost": 11.0, "routes": routes})
    assert any("reported cost" in v for v in bad.violations)
    assert any("names instance" in v for v in bad.violations)
    broken = check_solution_json(tiny, {"instance": "tiny", "cost": 1, "routes": [{"stops": [{}]}]})
    assert not broken.feasible
    assert math.isnan(broken.cost)


# ---- core plans ------------------------------------------------------------------


def line_tt(n: int) -> ArrayTravelTimes:
    """Locations 0..n-1 on a line, 10 s apart."""
    x = np.arange(n) * 10
    d = np.abs(x[:, None] - x[None, :])
    return ArrayTravelTimes(d, d)


def req(rid: str, p: int, d: int, e: int = 0, lp: int = 1000, ld: int = 2000, ride: int = 1000) -> Request:
    """A request with roomy defaults."""
    return Request(rid, p, d, e, lp, ld, ride)


def test_plan_feasible_with_schedule() -> None:
    """A feasible plan passes; the schedule found meets windows and travel times; cost is summed."""
    tt = line_tt(5)
    r1 = req("a", 1, 3, e=50)
    veh = Vehicle("v", seats=2, start=0, available_from=0, shift_end=1000, end=0)
    stops = (Stop("a", StopKind.PICKUP, 1), Stop("a", StopKind.DROPOFF, 3))
    res = check_plan(Plan((Route(veh, stops),), {"a": r1}), tt)
    assert res.feasible, res.violations
    assert res.cost == 10 + 20 + 30
    b = res.schedules["v"]
    assert b[0] >= 50
    assert b[1] >= b[0] + 20


def test_plan_ride_time_needs_waiting_before_pickup() -> None:
    """Ride-time limits are met by delaying the pickup (exact temporal-network check)."""
    tt = line_tt(5)
    r1 = req("a", 1, 2, ride=10)
    r2 = Request("b", 3, 4, 0, 1000, 2000, 1000, earliest_dropoff=500)
    veh = Vehicle("v", seats=2, start=0, available_from=0, shift_end=1000)
    # a picked up, then b picked up, then a dropped: b's drop-off window is late but a is dropped first.
    stops = (
        Stop("a", StopKind.PICKUP, 1),
        Stop("a", StopKind.DROPOFF, 2),
        Stop("b", StopKind.PICKUP, 3),
        Stop("b", StopKind.DROPOFF, 4),
    )
    assert check_plan(Plan((Route(veh, stops),), {"a": r1, "b": r2}), tt).feasible
    stops2 = (
        Stop("a", StopKind.PICKUP, 1),
        Stop("b", StopKind.PICKUP, 3),
        Stop("b", StopKind.DROPOFF, 4),
        Stop("a", StopKind.DROPOFF, 2),
    )
    res = check_plan(Plan((Route(veh, stops2),), {"a": r1, "b": r2}), tt)
    assert not res.feasible
    assert any("no schedule" in v for v in res.violations)


def test_plan_structural_violations() -> None:
    """Capacity, precedence, double service and unknown requests are reported."""
    tt = line_tt(5)
    r1, r2 = req("a", 1, 3), req("b", 2, 4)
    veh = Vehicle("v", seats=1, start=0, available_from=0, shift_end=1000)
    veh2 = Vehicle("w", seats=1, start=0, available_from=0, shift_end=1000)
    over = (
        Stop("a", StopKind.PICKUP, 1),
        Stop("b", StopKind.PICKUP, 2),
        Stop("a", StopKind.DROPOFF, 3),
        Stop("b", StopKind.DROPOFF, 4),
    )
    res = check_plan(Plan((Route(veh, over),), {"a": r1, "b": r2}), tt)
    assert any("2 passengers > 1 seats" in v for v in res.violations)
    backwards = (Stop("a", StopKind.DROPOFF, 3), Stop("a", StopKind.PICKUP, 1))
    res = check_plan(Plan((Route(veh, backwards),), {"a": r1}), tt)
    assert any("before (or without) pickup" in v for v in res.violations)
    twice = (Stop("a", StopKind.PICKUP, 1), Stop("a", StopKind.DROPOFF, 3))
    res = check_plan(Plan((Route(veh, twice), Route(veh2, twice)), {"a": r1}), tt)
    assert any("appears in the routes of" in v for v in res.violations)
    res = check_plan(Plan((Route(veh, (Stop("z", StopKind.PICKUP, 1),)),), {}), tt)
    assert any("unknown request 'z'" in v for v in res.violations)
    res = check_plan(Plan((Route(veh, ()),), {"a": r1}), tt, require_all=True)
    assert any("in no route and not unassigned" in v for v in res.violations)


def test_plan_onboard_rider_rules() -> None:
    """An on-board rider must be dropped by their vehicle, within the promise, and not picked up again."""
    tt = line_tt(5)
    r1 = req("a", 1, 3, ld=100, ride=40)
    rider = OnboardRider(r1, picked_up_at=0)
    veh = Vehicle("v", seats=1, start=1, available_from=10, shift_end=1000, onboard=(rider,))
    ok = Plan((Route(veh, (Stop("a", StopKind.DROPOFF, 3),)),), {"a": r1})
    assert check_plan(ok, tt).feasible
    late = Vehicle("v", seats=1, start=1, available_from=30, shift_end=1000, onboard=(rider,))
    res = check_plan(Plan((Route(late, (Stop("a", StopKind.DROPOFF, 3),)),), {"a": r1}), tt)
    assert not res.feasible  # ride 0 -> 50 > 40
    res = check_plan(Plan((Route(veh, ()),), {"a": r1}), tt)
    assert any("never dropped off" in v for v in res.violations)
    again = (Stop("a", StopKind.PICKUP, 1), Stop("a", StopKind.DROPOFF, 3))
    res = check_plan(Plan((Route(veh, again),), {"a": r1}), tt)
    assert any("already on board" in v for v in res.violations)


def test_plan_given_times_are_verified() -> None:
    """Given service-start times are checked directly: too early arrival and late service are caught."""
    tt = line_tt(5)
    r1 = req("a", 1, 3, e=50, lp=60)
    veh = Vehicle("v", seats=2, start=0, available_from=0, shift_end=1000)
    stops = (Stop("a", StopKind.PICKUP, 1), Stop("a", StopKind.DROPOFF, 3))
    plan = Plan((Route(veh, stops),), {"a": r1})
    assert check_plan(plan, tt, service_start={"v": (55, 75)}).feasible
    assert not check_plan(plan, tt, service_start={"v": (55, 70)}).feasible
    assert not check_plan(plan, tt, service_start={"v": (70, 95)}).feasible
    assert not check_plan(plan, tt, service_start={"v": (55,)}).feasible
