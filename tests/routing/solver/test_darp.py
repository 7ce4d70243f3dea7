"""Tests of the DARP optimiser: brute-force optima, warm starts, live re-optimisation, CLI."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ondemand.cli import app
from ondemand.routing.solver._darp_lns import _Lns, lns
from ondemand.routing.solver.check import check_plan, check_solution, check_solution_json
from ondemand.routing.solver.darp import reoptimise, solve_instance
from ondemand.routing.solver.instances import DarpInstance, InstanceCore, read_instance
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
from ondemand.routing.solver.schedule import evaluate_route


def write_instance(path: Path, rng: np.random.Generator, n: int, k: int) -> Path:
    """A random Cordeau-format instance with n requests and k vehicles (Q = 2, L = 30)."""
    xy = rng.uniform(-10, 10, size=(2 * n, 2)).round(3)
    lines = [f"{k} {n} 200 2 30", "0 0.000 0.000 0 0 0 200"]
    for i in range(n):
        x, y = xy[i]
        e = int(rng.integers(0, 80))
        lines.append(f"{i + 1} {x} {y} 2 1 {e} {e + 15}")
    for i in range(n):
        x, y = xy[n + i]
        lines.append(f"{n + i + 1} {x} {y} 2 -1 0 200")
    lines.append(f"{2 * n + 1} 0.000 0.000 0 0 0 200")
    path.write_text("\n".join(lines) + "\n")
    return path


def brute_force(inst: DarpInstance) -> float:
    """Optimal cost by enumerating every assignment and stop order (exact schedule check)."""
    core = inst.to_core()
    reqs = core.requests
    n, k = len(reqs), len(core.vehicles)
    best = float("inf")

    def orders(group: list[int]) -> list[list[tuple[int, StopKind]]]:
        stops = [(r, StopKind.PICKUP) for r in group] + [(r, StopKind.DROPOFF) for r in group]
        out = []
        for perm in itertools.permutations(stops):
            seen: set[int] = set()
            ok = True
            for r, kind in perm:
                if kind is StopKind.PICKUP:
                    seen.add(r)
                elif r not in seen:
                    ok = False
                    break
            if ok:
                out.append(list(perm))
        return out

    cache: dict[tuple[int, ...], float] = {}

    def best_route(group: tuple[int, ...]) -> float:
        if group in cache:
            return cache[group]
        val = float("inf")
        if not group:
            val = 0.0
        for order in orders(list(group)):
            stops = tuple(
                Stop(reqs[r].id, kind, reqs[r].pickup if kind is StopKind.PICKUP else reqs[r].dropoff)
                for r, kind in order
            )
            plan = Plan((Route(core.vehicles[0], stops),), {r.id: r for r in reqs})
            if check_plan(plan, core.tt).feasible:
                nodes = [inst.start_depot, *(s.location for s in stops), inst.end_depot]
                val = min(val, inst.route_cost(nodes))
        cache[group] = val
        return val

    for assign in itertools.product(range(k), repeat=n):
        groups = [tuple(i for i in range(n) if assign[i] == v) for v in range(k)]
        best = min(best, sum(best_route(g) for g in groups))
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tiny_instances_reach_brute_force_optimum(tmp_path: Path, seed: int) -> None:
    """On random 3-request instances the optimiser finds the brute-force optimum, checked feasible."""
    rng = np.random.default_rng(seed)
    inst = read_instance(write_instance(tmp_path / f"t{seed}.txt", rng, n=3, k=2))
    opt = brute_force(inst)
    sol = solve_instance(inst, time_limit=1.0, seed=seed)
    assert sol.feasible, sol.violations
    assert check_solution(inst, [s for _, s in sol.routes]).feasible
    assert sol.cost == pytest.approx(opt, abs=1e-6)


def test_a2_16_reaches_optimum(bench_dir: Path) -> None:
    """a2-16 is solved to its proven optimum 294.25 within 3 s and passes the checker."""
    inst = read_instance(bench_dir / "cordeau2006" / "a2-16.txt")
    sol = solve_instance(inst, time_limit=3.0, seed=0)
    assert sol.feasible, sol.violations
    assert sol.vehicles <= inst.num_vehicles
    assert sol.cost == pytest.approx(294.25, abs=0.01)


def test_cli_solve_writes_contract(bench_dir: Path, tmp_path: Path) -> None:
    """`ondemand darp solve` writes the DESIGN.md JSON contract, accepted by the checker."""
    out = tmp_path / "a2-16.json"
    inst_path = bench_dir / "cordeau2006" / "a2-16.txt"
    res = CliRunner().invoke(app, ["darp", "solve", str(inst_path), "--time-limit", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert set(data) == {"instance", "cost", "solve_seconds", "routes"}
    assert data["instance"] == "a2-16"
    for r in data["routes"]:
        assert set(r) == {"vehicle", "stops"}
        assert r["stops"][0]["node"] == 0
        assert r["stops"][-1]["node"] == 33
    assert check_solution_json(read_instance(inst_path), data).feasible


def test_cli_bench_prints_table_and_csv(tmp_path: Path) -> None:
    """`ondemand darp bench FILE` prints the table and writes a CSV row per instance."""
    rng = np.random.default_rng(7)
    f = write_instance(tmp_path / "t7.txt", rng, n=3, k=2)
    csv_path = tmp_path / "b.csv"
    res = CliRunner().invoke(app, ["darp", "bench", str(f), "--time-limit", "0.5", "--csv", str(csv_path)])
    assert res.exit_code == 0, res.output
    assert "1/1 feasible" in res.output
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("instance,feasible,vehicles,cost")
    assert rows[1].startswith("t7,True,")


# ---- live re-optimisation ------------------------------------------------------------


def _random_plan(rng: np.random.Generator, n_req: int, n_veh: int) -> tuple[Plan, ArrayTravelTimes]:
    """A random feasible plan built by appending requests to random vehicles (some left out)."""
    n_loc = 12
    xy = rng.uniform(0, 1000, size=(n_loc, 2))
    d = np.ceil(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    tt = ArrayTravelTimes(d, d)
    reqs = {}
    for i in range(n_req):
        p, q = rng.choice(n_loc, size=2, replace=False)
        e = int(rng.integers(0, 3000))
        reqs[f"r{i}"] = Request(f"r{i}", int(p), int(q), e, e + 900, e + 900 + 3 * int(d[p, q]) + 600,
                                2 * int(d[p, q]) + 600, passengers=int(rng.integers(1, 3)))  # fmt: skip
    vehicles = [
        Vehicle(f"v{j}", seats=3, start=int(rng.integers(n_loc)), available_from=0, shift_end=20000)
        for j in range(n_veh)
    ]
    stops: list[list[Stop]] = [[] for _ in vehicles]
    unassigned = []
    for rid, r in reqs.items():
        j = int(rng.integers(n_veh))
        trial = [*stops[j], Stop(rid, StopKind.PICKUP, r.pickup), Stop(rid, StopKind.DROPOFF, r.dropoff)]
        plan = Plan((Route(vehicles[j], tuple(trial)),), reqs)
        if check_plan(plan, tt).feasible:
            stops[j] = trial
        else:
            unassigned.append(rid)
    plan = Plan(
        tuple(Route(v, tuple(s)) for v, s in zip(vehicles, stops, strict=True)), reqs, tuple(unassigned)
    )
    return plan, tt


def _cost(plan: Plan, tt: ArrayTravelTimes, penalty: int) -> int:
    return int(check_plan(plan, tt).cost) + penalty * len(plan.unassigned)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_req=st.integers(1, 7),
    n_veh=st.integers(1, 3),
    method=st.sampled_from(["lns", "ortools"]),
    drop_unassigned=st.booleans(),
    budget=st.sampled_from([{"time_limit": 0.3}, {"iterations": 30}]),
)
def test_reoptimise_is_checked_and_never_worse(
    seed: int, n_req: int, n_veh: int, method: str, drop_unassigned: bool, budget: dict[str, float]
) -> None:
    """reoptimise returns a checked plan, keeps every routed request, and never costs more.

    Without unassigned requests (the live case) the ``lns`` method runs its LNS path; the
    same holds under a time limit and under an iteration budget.
    """
    plan, tt = _random_plan(np.random.default_rng(seed), n_req, n_veh)
    if drop_unassigned:
        plan = Plan(plan.routes, plan.requests)
    penalty = 10 * int(tt.distances.max())
    out = reoptimise(plan, tt, now=0, seed=seed, method=method, **budget)  # type: ignore[arg-type]
    res = check_plan(out, tt)
    assert res.feasible, res.violations
    routed_before = {s.request_id for r in plan.routes for s in r.stops}
    routed_after = {s.request_id for r in out.routes for s in r.stops}
    assert routed_before <= routed_after
    assert _cost(out, tt, penalty) <= _cost(plan, tt, penalty)
    assert [r.vehicle for r in out.routes] == [r.vehicle for r in plan.routes]


def _line_with_onboard_rider() -> tuple[ArrayTravelTimes, Request, Vehicle, Vehicle]:
    """Five points 100 m apart; v0 at point 1 carries rider "on" (to point 4), v1 waits at point 4."""
    x = np.array([0, 100, 200, 300, 400])
    d = np.abs(x[:, None] - x[None, :])
    rider_req = Request("on", 0, 4, 0, 0, 2000, 1000)
    v0 = Vehicle(
        "v0", seats=2, start=1, available_from=100, shift_end=5000, onboard=(OnboardRider(rider_req, 0),)
    )
    v1 = Vehicle("v1", seats=2, start=4, available_from=100, shift_end=5000)
    return ArrayTravelTimes(d, d), rider_req, v0, v1


@pytest.mark.parametrize("budget", [{"time_limit": 0.5}, {"iterations": 20}])
@pytest.mark.parametrize("method", ["lns", "ortools"])
def test_reoptimise_moves_a_request_but_never_an_onboard_rider(method: str, budget: dict[str, float]) -> None:
    """Both methods, with either budget, move "far" to v0 (800 m -> 500 m); "on" stays on v0."""
    tt, rider_req, v0, v1 = _line_with_onboard_rider()
    far = Request("far", 0, 1, 0, 3000, 4000, 1000)
    plan = Plan(
        (
            Route(v0, (Stop("on", StopKind.DROPOFF, 4),)),
            Route(v1, (Stop("far", StopKind.PICKUP, 0), Stop("far", StopKind.DROPOFF, 1))),
        ),
        {"on": rider_req, "far": far},
    )
    assert check_plan(plan, tt).cost == 800
    out = reoptimise(plan, tt, now=100, method=method, **budget)  # type: ignore[arg-type]
    res = check_plan(out, tt)
    assert res.feasible, res.violations
    assert res.cost == 500
    assert [s.request_id for s in out.route_of("v0").stops] == ["far", "far", "on"]
    assert out.route_of("v1").stops == ()


def test_reoptimise_rejects_unknown_method() -> None:
    x = np.array([0, 100])
    d = np.abs(x[:, None] - x[None, :])
    plan = Plan((Route(Vehicle("v0", seats=2, start=0, available_from=0, shift_end=100)),), {})
    with pytest.raises(ValueError, match="method"):
        reoptimise(plan, ArrayTravelTimes(d, d), now=0, time_limit=0.1, method="magic")


def _stop_ids(plan: Plan) -> list[list[tuple[str, str]]]:
    return [[(s.request_id, s.kind.value) for s in r.stops] for r in plan.routes]


@pytest.mark.parametrize("method", ["lns", "ortools"])
def test_reoptimise_with_an_iteration_budget_is_reproducible(method: str) -> None:
    """The same plan, seed and iteration budget give the same plan; the seed is used.

    The LNS does exactly the budgeted iterations (nothing depends on the clock); the
    OR-Tools path uses solution limits. Different seeds explore differently: among five
    seeds at least two answers differ.
    """
    plan, tt = _random_plan(np.random.default_rng(7), 24, 4)
    plan = Plan(plan.routes, plan.requests)
    first = reoptimise(plan, tt, now=0, iterations=60, seed=1, method=method)
    again = reoptimise(plan, tt, now=0, iterations=60, seed=1, method=method)
    assert _stop_ids(first) == _stop_ids(again)
    assert check_plan(first, tt).cost < check_plan(plan, tt).cost
    answers = {
        repr(_stop_ids(reoptimise(plan, tt, now=0, iterations=60, seed=s, method=method))) for s in range(5)
    }
    assert len(answers) > 1


def test_lns_does_exactly_the_iteration_budget() -> None:
    """Under ``iterations`` the LNS stops after exactly that many iterations, whatever the clock."""
    plan, tt = _random_plan(np.random.default_rng(3), 15, 3)
    reqs = [plan.requests[rid] for rid in dict.fromkeys(s.request_id for r in plan.routes for s in r.stops)]
    vehicles = [r.vehicle for r in plan.routes]
    for n in (0, 1, 37):
        out = lns(vehicles, reqs, tt, tuple(r.stops for r in plan.routes), iterations=n, seed=0)
        assert out.iterations == n
        assert out.complete
    with pytest.raises(ValueError, match="exactly one budget"):
        lns(vehicles, reqs, tt, (), seed=0)
    with pytest.raises(ValueError, match="exactly one budget"):
        lns(vehicles, reqs, tt, (), deadline=time.monotonic() + 1, iterations=5, seed=0)


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({}, "needs a budget"),
        ({"time_limit": 1.0, "iterations": 10}, "not both"),
        ({"iterations": 0}, "at least 1"),
        ({"time_limit": 0.0}, "positive"),
    ],
)
def test_reoptimise_needs_exactly_one_sensible_budget(budget: dict[str, float], message: str) -> None:
    """No budget, both budgets, or an empty one is a ValueError that says what to give."""
    plan, tt = _random_plan(np.random.default_rng(0), 3, 1)
    with pytest.raises(ValueError, match=message):
        reoptimise(plan, tt, now=0, **budget)  # type: ignore[arg-type]


def test_reoptimise_inserts_unassigned_and_keeps_onboard_rider() -> None:
    """An unassigned request is added; an on-board rider stays with their own vehicle."""
    tt, rider_req, v0, v1 = _line_with_onboard_rider()
    new = Request("new", 2, 3, 0, 3000, 4000, 1000)
    plan = Plan(
        (Route(v0, (Stop("on", StopKind.DROPOFF, 4),)), Route(v1, ())),
        {"on": rider_req, "new": new},
        ("new",),
    )
    out = reoptimise(plan, tt, now=100, time_limit=0.5)
    assert check_plan(out, tt).feasible
    assert out.unassigned == ()
    assert [s.request_id for s in out.route_of("v0").stops if s.request_id == "on"] == ["on"]
    assert all(s.request_id != "on" for s in out.route_of("v1").stops)


@pytest.mark.parametrize("backend", ["pyvrp", "ortools"])
def test_lilim_lc101_reaches_best_known(bench_dir: Path, backend: str) -> None:
    """lc101 (no ride-time limit) reaches the SINTEF best known (10 vehicles, 828.94) with either back end."""
    inst = read_instance(bench_dir / "lilim" / "100" / "lc101.txt")
    sol = solve_instance(inst, time_limit=3.0, seed=0, pdptw_backend=backend)
    assert sol.feasible, sol.violations
    assert check_solution(inst, [s for _, s in sol.routes]).feasible
    assert sol.vehicles == 10
    assert sol.cost == pytest.approx(828.9369, abs=0.01)


def _exact_positions(
    lns_state: _Lns, vi: int, stops: tuple[Stop, ...], req: Request
) -> dict[tuple[int, int], int]:
    """Added distance of every exactly feasible (pickup, drop-off) position, by brute force."""
    out = {}
    v = lns_state.vehicles[vi]
    base = lns_state.route_cost(v, stops)
    p = Stop(req.id, StopKind.PICKUP, req.pickup)
    d = Stop(req.id, StopKind.DROPOFF, req.dropoff)
    for a in range(len(stops) + 1):
        for b in range(a, len(stops) + 1):
            new = (*stops[:a], p, *stops[a:b], d, *stops[b:])
            if evaluate_route(Route(v, new), lns_state.reqs, lns_state.tt).feasible:
                out[(a, b)] = lns_state.route_cost(v, new) - base
    return out


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_lns_batch_insertion_never_rejects_a_feasible_position(tmp_path: Path, seed: int) -> None:
    """The LNS's batch insertion keeps every exactly feasible position, at its exact added distance."""
    rng = np.random.default_rng(seed)
    inst = read_instance(write_instance(tmp_path / f"b{seed}.txt", rng, n=10, k=2))
    core = inst.to_core()
    state = _Lns(core.vehicles, core.requests, core.tt, seed)
    stops: tuple[Stop, ...] = ()
    checked = 0
    for req in core.requests:
        exact = _exact_positions(state, 0, stops, req)
        got = state._batch(0, stops, [req.id])
        assert got is not None
        for (a, b), cost in exact.items():
            assert got[0, a, b] == pytest.approx(cost)
            checked += 1
        if exact:  # grow the route by the cheapest exact insertion
            a, b = min(exact, key=lambda ab: exact[ab])
            p = Stop(req.id, StopKind.PICKUP, req.pickup)
            d = Stop(req.id, StopKind.DROPOFF, req.dropoff)
            stops = (*stops[:a], p, *stops[a:b], d, *stops[b:])
    assert checked > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_lns_from_empty_start_serves_everyone_and_passes_the_checker(tmp_path: Path, seed: int) -> None:
    """The LNS from an empty start serves every request and its routes pass the checker."""
    rng = np.random.default_rng(seed)
    inst = read_instance(write_instance(tmp_path / f"l{seed}.txt", rng, n=8, k=3))
    core = inst.to_core()
    out = lns(core.vehicles, core.requests, core.tt, tuple(() for _ in core.vehicles),
              deadline=time.monotonic() + 0.5, seed=seed)  # fmt: skip
    assert out.complete
    assert out.iterations > 0
    plan = Plan(tuple(Route(v, s) for v, s in zip(core.vehicles, out.stops, strict=True)),
                {r.id: r for r in core.requests})  # fmt: skip
    assert check_plan(plan, core.tt).feasible
    served = {s.request_id for route in out.stops for s in route}
    assert served == {r.id for r in core.requests}
    assert out.cost == sum(state_cost(core, out.stops))


def state_cost(core: InstanceCore, stops: tuple[tuple[Stop, ...], ...]) -> list[int]:
    """Integer distance of each route, depots included."""
    dist = core.tt.distances
    out = []
    for v, route in zip(core.vehicles, stops, strict=True):
        path = [v.start, *(s.location for s in route), v.end] if route else []
        out.append(int(sum(dist[a, b] for a, b in itertools.pairwise(path))))
    return out


def test_solve_instance_rejects_unknown_method(tmp_path: Path) -> None:
    """An unknown search method is a ValueError naming the choices."""
    inst = read_instance(write_instance(tmp_path / "m.txt", np.random.default_rng(0), n=2, k=1))
    with pytest.raises(ValueError, match="'lns' or 'ortools'"):
        solve_instance(inst, time_limit=1.0, method="tabu")


@pytest.mark.slow
def test_lilim_fleet_reduction_reaches_best_known_vehicles(bench_dir: Path) -> None:
    """lr211: PyVRP alone stays at 3 vehicles in 60 s here; the fleet-reduction step finds
    the best-known 2 (911.52). Needs a core to itself: the budget is wall-clock time."""
    inst = read_instance(bench_dir / "lilim" / "100" / "lr211.txt")
    sol = solve_instance(inst, time_limit=60.0, seed=0)
    assert check_solution(inst, [s for _, s in sol.routes]).feasible
    assert sol.vehicles == 2
    assert sol.cost == pytest.approx(911.5183, rel=0.02)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40))
def test_lns_relatedness_rows_equal_the_full_matrix(seed: int, n: int) -> None:
    """Shaw relatedness computed row by row (exact means, no n x n matrix) equals the
    textbook full-matrix formula."""
    rng = np.random.default_rng(seed)
    n_loc = 12
    dur = rng.integers(0, 900, size=(n_loc, n_loc))
    np.fill_diagonal(dur, 0)
    tt = ArrayTravelTimes(dur, dur)
    reqs = []
    for i in range(n):
        p, q = (int(x) for x in rng.choice(n_loc, size=2, replace=False))
        e = int(rng.integers(0, 5000))
        reqs.append(Request(f"r{i}", p, q, e, e + 600, e + 4000, 3000, passengers=int(rng.integers(1, 4))))
    state = _Lns([Vehicle("v", seats=8, start=0, available_from=0, shift_end=99_999)], reqs, tt, seed)
    pu = np.array([r.pickup for r in reqs])
    do = np.array([r.dropoff for r in reqs])
    tp = np.array([r.earliest_pickup for r in reqs], dtype=np.float64)
    td = np.array([r.latest_dropoff for r in reqs], dtype=np.float64)
    ld = np.array([r.passengers for r in reqs], dtype=np.float64)
    space = (dur[np.ix_(pu, pu)] + dur[np.ix_(do, do)]).astype(np.float64)
    tim = np.abs(tp[:, None] - tp[None, :]) + np.abs(td[:, None] - td[None, :])
    load = np.abs(ld[:, None] - ld[None, :])
    ref = (
        9.0 * space / max(1.0, space.mean())
        + 3.0 * tim / max(1.0, tim.mean())
        + 2.0 * load / max(1.0, load.mean())
    )
    got = np.stack([state._related_row(i) for i in range(n)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), size=st.integers(1, 3))
def test_reoptimise_neighbourhood_replans_only_its_vehicles(seed: int, size: int) -> None:
    """With ``neighbourhood=k`` at most k routes change, the rest are kept, and the plan is checked."""
    plan, tt = _random_plan(np.random.default_rng(seed), 14, 6)
    plan = Plan(plan.routes, plan.requests)
    out = reoptimise(plan, tt, now=0, iterations=20, seed=seed, neighbourhood=size)
    res = check_plan(out, tt)
    assert res.feasible, res.violations
    changed = [k for k, (a, b) in enumerate(zip(plan.routes, out.routes, strict=True)) if a.stops != b.stops]
    assert len(changed) <= size
    assert [r.vehicle for r in out.routes] == [r.vehicle for r in plan.routes]
    assert sorted(s.request_id for r in out.routes for s in r.stops) == sorted(
        s.request_id for r in plan.routes for s in r.stops
    )
    assert check_plan(out, tt).cost <= check_plan(plan, tt).cost
    again = reoptimise(plan, tt, now=0, iterations=20, seed=seed, neighbourhood=size)
    assert _stop_ids(again) == _stop_ids(out)


def test_reoptimise_neighbourhood_as_large_as_the_fleet_changes_nothing() -> None:
    """A neighbourhood covering every busy vehicle gives exactly the whole-plan answer."""
    plan, tt = _random_plan(np.random.default_rng(3), 20, 4)
    plan = Plan(plan.routes, plan.requests)
    whole = reoptimise(plan, tt, now=0, iterations=30, seed=2)
    assert _stop_ids(reoptimise(plan, tt, now=0, iterations=30, seed=2, neighbourhood=4)) == _stop_ids(whole)


@pytest.mark.parametrize("bad", [0, -1, True])
def test_reoptimise_rejects_a_bad_neighbourhood(bad: int) -> None:
    """A neighbourhood below one vehicle (or a bool) is refused with a message naming it."""
    plan, tt = _random_plan(np.random.default_rng(1), 4, 2)
    with pytest.raises(ValueError, match="neighbourhood"):
        reoptimise(plan, tt, now=0, iterations=5, neighbourhood=bad)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), moves=st.integers(0, 20), size=st.sampled_from([None, 2]))
def test_reoptimise_with_relocation_moves_is_checked_and_never_worse(
    seed: int, moves: int, size: int | None
) -> None:
    """``moves=`` (relocation first, then the search) gives a checked plan, no dearer, reproducibly."""
    plan, tt = _random_plan(np.random.default_rng(seed), 14, 5)
    plan = Plan(plan.routes, plan.requests)
    out = reoptimise(plan, tt, now=0, iterations=10, seed=seed, neighbourhood=size, moves=moves)
    res = check_plan(out, tt)
    assert res.feasible, res.violations
    assert sorted(s.request_id for r in out.routes for s in r.stops) == sorted(
        s.request_id for r in plan.routes for s in r.stops
    )
    assert [r.vehicle for r in out.routes] == [r.vehicle for r in plan.routes]
    assert res.cost <= check_plan(plan, tt).cost
    again = reoptimise(plan, tt, now=0, iterations=10, seed=seed, neighbourhood=size, moves=moves)
    assert _stop_ids(again) == _stop_ids(out)


@pytest.mark.parametrize("bad", [-1, True])
def test_reoptimise_rejects_a_bad_relocation_budget(bad: int) -> None:
    """A relocation budget below zero (or a bool) is refused with a message naming it."""
    plan, tt = _random_plan(np.random.default_rng(1), 4, 2)
    with pytest.raises(ValueError, match="moves"):
        reoptimise(plan, tt, now=0, iterations=5, moves=bad)
