"""PyVRP back end for pickup-and-delivery instances *without* ride-time limits (private).

PyVRP (``pyvrp`` >= 0.14, an optional dependency) models Li & Lim pairs as shipments and
is far stronger than OR-Tools on them (measured in ``benchmarks/darp_bench.py``). It has
no maximum ride time, so it is never used for dial-a-ride instances. Times are integer
(``ceil`` travel times at the core's scale), so its schedules are feasible in the real
instance; the caller still verifies them with the independent checker.

Li & Lim solutions are ranked by vehicles first, then distance. PyVRP alone (a fixed cost
per vehicle) often stops one vehicle above the best known, so the budget is split:

1. 15 %: PyVRP on the full fleet (fixed cost per used vehicle);
2. fleet reduction: with the best solution's route count ``k``, solve again with only
   ``k - 1`` vehicles from a random start until the first feasible solution (at most 50 %
   of the budget per attempt), and repeat while it succeeds. Starting from the previous
   solution minus one route was measured worse (it reached the best-known count on fewer
   instances); a fresh start escapes the previous solution's structure;
3. the rest (at least 20 %): PyVRP on the smallest feasible fleet, warm-started from the
   best solution, to cut distance. Its result is kept only if it is not worse.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ondemand.routing.solver.instances import DarpInstance

__all__ = ["available", "solve_pdptw"]

_FIRST_SHARE = 0.15
"""Share of the budget for the first solve on the full fleet."""
_ATTEMPT_SHARE = 0.5
"""Longest single fleet-reduction attempt, as a share of the budget."""
_POLISH_SHARE = 0.2
"""Share of the budget kept for the distance polish on the final fleet."""


def available() -> bool:
    """Whether PyVRP with shipments (0.14 or later) can be imported."""
    try:
        from pyvrp import Model
    except ImportError:
        return False
    return hasattr(Model, "add_shipment")


def solve_pdptw(
    inst: DarpInstance, *, time_limit: float, seed: int, scale: int
) -> list[tuple[int, tuple[tuple[int, float], ...]]] | None:
    """Solve a pickup-and-delivery instance with no ride-time limit; vehicles first, then distance.

    Returns
    -------
    list or None
        Per used vehicle ``(vehicle index, ((node id, service start), ...))``, or ``None``
        when PyVRP finds no feasible solution in time.
    """
    from pyvrp import Model

    t0 = time.monotonic()
    if inst.max_ride is not None:
        raise ValueError("PyVRP has no ride-time limit; use it only for instances without one")
    m = Model()
    locs = [m.add_location(float(x), float(y)) for x, y in inst.coords]
    s0 = inst.start_depot
    e0 = int(np.ceil(inst.earliest[s0] * scale - 1e-9))
    l0 = int(np.floor(inst.latest[inst.end_depot] * scale + 1e-9))
    depot = m.add_depot(locs[s0], tw_early=e0, tw_late=l0)
    end_depot = depot if inst.end_depot == s0 else m.add_depot(locs[inst.end_depot], tw_early=e0, tw_late=l0)
    eu = inst.euclid()
    dur = np.ceil(eu * scale - 1e-9).astype(np.int64)
    np.fill_diagonal(dur, 0)
    dist = np.rint(eu * scale).astype(np.int64)
    m.add_vehicle_type(
        num_available=inst.num_vehicles,
        capacity=inst.capacity,
        start_depot=depot,
        end_depot=end_depot,
        fixed_cost=int(dist.max()) * (inst.num_nodes + 1),
        tw_early=e0,
        tw_late=l0,
    )
    for p, d in inst.pairs:
        m.add_shipment(
            locs[p],
            locs[d],
            pickup_tw_early=int(np.ceil(inst.earliest[p] * scale - 1e-9)),
            pickup_tw_late=int(np.floor(inst.latest[p] * scale + 1e-9)),
            pickup_service_duration=int(np.ceil(inst.service[p] * scale - 1e-9)),
            delivery_tw_early=int(np.ceil(inst.earliest[d] * scale - 1e-9)),
            delivery_tw_late=int(np.floor(inst.latest[d] * scale + 1e-9)),
            delivery_service_duration=int(np.ceil(inst.service[d] * scale - 1e-9)),
            amount=int(inst.load[p]),
        )
    n = inst.num_nodes
    for a in range(n):
        for b in range(n):
            if a != b:
                m.add_edge(locs[a], locs[b], distance=int(dist[a, b]), duration=int(dur[a, b]))
    with warnings.catch_warnings():
        # PyVRP warns when a reduced fleet cannot be made feasible; that is expected here.
        warnings.simplefilter("ignore")
        data = m.data()
        best = _minimise_fleet_then_distance(data, time_limit=time_limit - (time.monotonic() - t0), seed=seed)
    if best is None:
        return None
    out: list[tuple[int, tuple[tuple[int, float], ...]]] = []
    ids = inst.node_ids
    for vi, route in enumerate(best.routes()):
        stops: list[tuple[int, float]] = []
        sched = list(route.schedule())
        for k, act in enumerate(sched):
            if act.is_depot():
                node = s0 if k == 0 else inst.end_depot
            else:
                p, d = inst.pairs[act.idx]
                node = p if act.is_pickup() else d
            stops.append((ids[node], act.start_time / scale))
        out.append((vi, tuple(stops)))
    return out


def _minimise_fleet_then_distance(data: Any, *, time_limit: float, seed: int) -> Any | None:
    """The best feasible PyVRP solution: fewest vehicles, then least cost (see the module doc)."""
    from pyvrp import CostEvaluator, Route, Solution
    from pyvrp._pyvrp import Activity
    from pyvrp.solve import solve
    from pyvrp.stop import FirstFeasible, MaxRuntime, MultipleCriteria

    t0 = time.monotonic()

    def left() -> float:
        return time_limit - (time.monotonic() - t0)

    def on_fleet(d: Any, sol: Any) -> Any:
        """``sol``'s routes as a solution of ``d`` (same clients, another fleet size)."""
        routes = [
            Route(d, [Activity(a.type, a.idx) for a in r.schedule() if not a.is_depot()], 0)
            for r in sol.routes()
        ]
        return Solution(d, routes)

    res = solve(data, stop=MaxRuntime(max(0.01, _FIRST_SHARE * time_limit)), seed=seed, collect_stats=False)
    if not res.best.is_feasible():
        # No feasible solution yet: give the rest of the time to the full fleet.
        res = solve(
            data,
            stop=MaxRuntime(max(0.01, left())),
            seed=seed,
            collect_stats=False,
            initial_solution=res.best,
        )
        return res.best if res.best.is_feasible() else None
    best = res.best
    vehicle_type = data.vehicle_type(0)
    while best.num_routes() > 1:
        budget = min(left() - _POLISH_SHARE * time_limit, _ATTEMPT_SHARE * time_limit)
        if budget <= 0.05 * time_limit:
            break
        fewer = data.replace(vehicle_types=[vehicle_type.replace(num_available=best.num_routes() - 1)])
        attempt = solve(
            fewer,
            stop=MultipleCriteria([FirstFeasible(), MaxRuntime(budget)]),
            seed=seed,
            collect_stats=False,
        )
        if not attempt.best.is_feasible():
            break
        best = on_fleet(data, attempt.best)
    final = data.replace(vehicle_types=[vehicle_type.replace(num_available=best.num_routes())])
    start = on_fleet(final, best)
    polished = solve(
        final,
        stop=MaxRuntime(max(0.01, left())),
        seed=seed,
        collect_stats=False,
        initial_solution=start,
    ).best
    cost = CostEvaluator([0] * data.num_load_dimensions, 0, 0).penalised_cost
    if polished.is_feasible() and cost(polished) <= cost(start):
        return on_fleet(data, polished)
    return best
