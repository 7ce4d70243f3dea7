"""The compiled LNS kernels against the reference schedule (evaluate_route) on random cases."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.solver import _darp_fast
from ondemand.routing.solver._darp_lns import _fast_ok, _FastLns, lns
from ondemand.routing.solver.check import check_plan
from ondemand.routing.solver.model import ArrayTravelTimes, Plan, Request, Route, StopKind, Vehicle
from ondemand.routing.solver.schedule import evaluate_route

pytestmark = pytest.mark.skipif(not _darp_fast.HAVE_NUMBA, reason="numba is not installed")


def random_case(seed: int, n: int) -> tuple[list[Vehicle], list[Request], ArrayTravelTimes]:
    """A random dial-a-ride case: Euclidean times, windows, ride limits, loads; tight or loose."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 30, size=(2 * n + 1, 2))
    eu = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    dur = np.ceil(eu).astype(np.int64)
    dist = np.rint(eu * 10).astype(np.int64)
    tt = ArrayTravelTimes(dur, dist)
    horizon = 200
    reqs = []
    for i in range(n):
        e = int(rng.integers(0, 120))
        width = int(rng.integers(5, 60))
        ride = int(dur[1 + i, 1 + n + i]) + int(rng.integers(0, 40))
        late_drop = int(e + width + ride + rng.integers(0, 30))
        reqs.append(
            Request(
                f"r{i}",
                1 + i,
                1 + n + i,
                e,
                e + width,
                late_drop,
                ride,
                passengers=int(rng.integers(1, 3)),
                earliest_dropoff=min(late_drop, int(rng.integers(0, 90))) if rng.random() < 0.3 else 0,
                pickup_service=int(rng.integers(0, 4)),
                dropoff_service=int(rng.integers(0, 4)),
            )
        )
    vehicles = [
        Vehicle(
            f"v{k}",
            int(rng.integers(2, 5)),
            0,
            int(rng.integers(0, 20)),
            horizon,
            end=None if rng.random() < 0.3 else 0,
            max_route_duration=None if rng.random() < 0.5 else int(rng.integers(60, 200)),
        )
        for k in range(2)
    ]
    return vehicles, reqs, tt


def random_order(rng: np.random.Generator, ids: list[int]) -> list[tuple[int, StopKind]]:
    """A random stop sequence with every pickup before its drop-off."""
    out: list[tuple[int, StopKind]] = []
    open_: list[int] = []
    todo = list(ids)
    rng.shuffle(todo)
    while todo or open_:
        if todo and (not open_ or rng.random() < 0.5):
            r = todo.pop()
            out.append((r, StopKind.PICKUP))
            open_.append(r)
        else:
            r = open_.pop(int(rng.integers(len(open_))))
            out.append((r, StopKind.DROPOFF))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(1, 6))
def test_route_feasible_agrees_with_the_reference_schedule(seed: int, n: int) -> None:
    """The compiled exact check says feasible exactly when evaluate_route does."""
    vehicles, reqs, tt = random_case(seed, n)
    state = _FastLns(vehicles, reqs, tt, seed)
    rng = np.random.default_rng(seed + 1)
    agree = {True: 0, False: 0}
    for trial in range(20):
        vi = trial % 2
        k = int(rng.integers(1, n + 1))
        ids = sorted(rng.choice(n, size=k, replace=False).tolist())
        order = random_order(rng, ids)
        nodes = [r if kind is StopKind.PICKUP else n + r for r, kind in order]
        stops = state.to_stops([nodes])[0]
        ref = evaluate_route(Route(vehicles[vi], stops), state.reqs, tt).feasible
        assert state.ifeasible_route(vi, nodes) == ref
        agree[ref] += 1
    assert sum(agree.values()) == 20


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(2, 7))
def test_best_insertion_is_the_cheapest_exactly_feasible_position(seed: int, n: int) -> None:
    """For every request and route, the kernel's insertion is the reference's cheapest feasible one."""
    vehicles, reqs, tt = random_case(seed, n)
    state = _FastLns(vehicles, reqs, tt, seed)
    rng = np.random.default_rng(seed + 2)
    routes: list[list[int]] = [[], []]
    # Grow both routes by the kernel's own choices, comparing with brute force at each step.
    checked = 0
    for r in rng.permutation(n).tolist():
        grown: list[tuple[int, int, list[int]]] = []
        for vi in (0, 1):
            route = routes[vi]
            m = len(route)
            s, e, q, a0, se, md = state.vpar[vi]
            c, pa, pb = _darp_fast.best_insertions(
                np.asarray(route, dtype=np.int64), m, np.array([r], dtype=np.int64), n, s, e, q, a0, se, md,
                state.k_loc, state.k_early, state.k_late, state.k_serv, state.k_dq, state.k_ride,
                state.k_dur, state.k_dist,
            )  # fmt: skip
            base = state.icost(vi, route)
            best = None
            for a, b in itertools.combinations_with_replacement(range(m + 1), 2):
                new = [*route[:a], r, *route[a:b], n + r, *route[b:]]
                stops = state.to_stops([new])[0]
                if evaluate_route(Route(vehicles[vi], stops), state.reqs, tt).feasible:
                    cost = state.icost(vi, new) - base
                    best = cost if best is None else min(best, cost)
            if best is None:
                assert c[0] == -1
            else:
                assert c[0] == best
                a, b = int(pa[0]), int(pb[0])
                new = [*route[:a], r, *route[a:b], n + r, *route[b:]]
                assert state.icost(vi, new) - base == best
                assert state.ifeasible_route(vi, new)
                grown.append((best, vi, new))
                checked += 1
        if grown:
            _, vi, new = min(grown)
            routes[vi] = new
    assert checked + n * 2 > n * 2 or all(not r for r in routes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(1, 7))
def test_route_kernels_agree_with_the_python_costs(seed: int, n: int) -> None:
    """Removal gains, total length and request removal of the kernels equal the list-based ones."""
    vehicles, reqs, tt = random_case(seed, n)
    state = _FastLns(vehicles, reqs, tt, seed)
    rng = np.random.default_rng(seed + 3)
    owner = rng.integers(0, 2, size=n)
    lists = []
    for vi in (0, 1):
        ids = [r for r in range(n) if owner[r] == vi]
        lists.append([r if kind is StopKind.PICKUP else n + r for r, kind in random_order(rng, ids)])
    routes = np.zeros((2, 2 * n + 2), dtype=np.int64)
    lens = np.array([len(r) for r in lists], dtype=np.int64)
    for vi, r in enumerate(lists):
        routes[vi, : len(r)] = r
    total = _darp_fast.routes_distance(routes, lens, state.k_vpar, state.k_loc, state.k_dist)
    assert total == sum(state.icost(vi, r) for vi, r in enumerate(lists))
    gains, routed = _darp_fast.removal_gains(routes, lens, n, state.k_vpar, state.k_loc, state.k_dist)
    assert routed.all()
    for x in range(n):
        vi = int(owner[x])
        without = [y for y in lists[vi] if y not in (x, n + x)]
        assert gains[x] == state.icost(vi, lists[vi]) - state.icost(vi, without)
    removed = rng.random(n) < 0.5
    _darp_fast.strip_requests(routes, lens, removed, n)
    for vi, r in enumerate(lists):
        assert routes[vi, : lens[vi]].tolist() == [y for y in r if not removed[y % n]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n=st.integers(2, 7))
def test_relocate_descent_ends_where_no_single_move_saves_distance(seed: int, n: int) -> None:
    """The descent keeps routes feasible and requests served, saves what it says, ends locally optimal."""
    vehicles, reqs, tt = random_case(seed, n)
    vehicles = [Vehicle(v.id, 4, 0, 0, 400, end=0) for v in vehicles]
    state = _FastLns(vehicles, reqs, tt, seed)
    sol, bank = state._start(tuple(() for _ in vehicles))
    state.repair(sol, bank, 1, False)
    routes, lens = sol
    before = _darp_fast.routes_distance(routes, lens, state.k_vpar, state.k_loc, state.k_dist)
    served = sorted(x for v in range(2) for x in routes[v, : lens[v]].tolist())
    saved = _darp_fast.relocate_descent(
        routes, lens, n, state.k_vpar, state.k_loc, state.k_early, state.k_late, state.k_serv,
        state.k_dq, state.k_ride, state.k_dur, state.k_dist, 100,
    )  # fmt: skip
    lists = state._lists(sol)
    assert sorted(x for r in lists for x in r) == served
    assert all(state.ifeasible_route(vi, r) for vi, r in enumerate(lists) if r)
    after = sum(state.icost(vi, r) for vi, r in enumerate(lists))
    assert saved >= 0
    assert after == before - saved
    # Brute force: no request moves anywhere (any route, any positions) to a shorter feasible plan.
    for x in (y for y in served if y < n):
        rest = [[y for y in r if y not in (x, n + x)] for r in lists]
        for vi in (0, 1):
            r = rest[vi]
            if not r and not lists[vi]:
                continue
            for a, b in itertools.combinations_with_replacement(range(len(r) + 1), 2):
                new = [*r[:a], x, *r[a:b], n + x, *r[b:]]
                if state.ifeasible_route(vi, new):
                    other = sum(state.icost(u, rest[u]) for u in (0, 1) if u != vi)
                    assert other + state.icost(vi, new) >= after


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_lns_serves_everyone_and_passes_the_checker(seed: int) -> None:
    """The compiled LNS from an empty start serves every request; its plan passes the checker."""
    vehicles, reqs, tt = random_case(seed, 8)
    vehicles = [Vehicle(v.id, 4, 0, 0, 400, end=0) for v in vehicles] + [Vehicle("v9", 4, 0, 0, 400, end=0)]
    assert _fast_ok(vehicles, reqs)
    out = lns(vehicles, reqs, tt, tuple(() for _ in vehicles), iterations=200, seed=seed, fast=True)
    assert out.complete
    plan = Plan(tuple(Route(v, s) for v, s in zip(vehicles, out.stops, strict=True)), {r.id: r for r in reqs})
    assert check_plan(plan, tt).feasible
    assert {s.request_id for route in out.stops for s in route} == {r.id for r in reqs}
    dist = tt.distances
    total = 0
    for v, route in zip(vehicles, out.stops, strict=True):
        path = [v.start, *(s.location for s in route), v.end] if route else []
        total += int(sum(dist[a, b] for a, b in itertools.pairwise(path)))
    assert out.cost == total


def test_fast_lns_with_an_iteration_budget_is_reproducible() -> None:
    """Same input and seed, same iteration budget: the compiled LNS returns the same routes."""
    vehicles, reqs, tt = random_case(7, 8)
    vehicles = [Vehicle(v.id, 4, 0, 0, 400, end=0) for v in vehicles]
    runs = [
        lns(vehicles, reqs, tt, tuple(() for _ in vehicles), iterations=60, seed=3, fast=True)
        for _ in range(2)
    ]
    assert runs[0].stops == runs[1].stops
    assert runs[0].cost == runs[1].cost
    assert runs[0].iterations == 60


def test_fast_lns_is_not_used_with_riders_on_board_or_wheelchairs() -> None:
    """Only plain static cases take the compiled path (no one on board, no wheelchairs)."""
    vehicles, reqs, _ = random_case(3, 3)
    assert _fast_ok(vehicles, reqs)
    chair = [Request("w", 1, 4, 0, 50, 150, 60, wheelchair=1)]
    assert not _fast_ok(vehicles, chair)


@pytest.mark.slow
def test_warm_up_loads_the_signatures_a_benchmark_solve_uses(bench_dir: Path) -> None:
    """After warm_up a benchmark solve compiles nothing more (read-only travel times were once missed)."""
    from numba.core.registry import CPUDispatcher

    from ondemand.routing.solver.darp import solve_instance
    from ondemand.routing.solver.instances import read_instance

    kernels = [k for k in vars(_darp_fast).values() if isinstance(k, CPUDispatcher)]
    _darp_fast.warm_up()
    before = [set(map(str, k.signatures)) for k in kernels]
    sol = solve_instance(read_instance(bench_dir / "ropke2007" / "a5-40.txt"), time_limit=10.0, seed=0)
    assert sol.feasible
    after = [set(map(str, k.signatures)) for k in kernels]
    assert [a - b for a, b in zip(after, before, strict=True)] == [set()] * len(kernels)
