"""PyVRP back end for pickup-and-delivery instances *without* ride-time limits (private).

PyVRP (``pyvrp`` >= 0.14, an optional dependency) models Li & Lim pairs as shipments and
is far stronger than OR-Tools on them (measured in ``benchmarks/darp_bench.py``). It has
no maximum ride time, so it is never used for dial-a-ride instances. Times are integer
(``ceil`` travel times at the core's scale), so its schedules are feasible in the real
instance; the caller still verifies them with the independent checker.
"""

from __future__ import annotations

import numpy as np

from ondemand.routing.instances import DarpInstance

__all__ = ["available", "solve_pdptw"]


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
    from pyvrp.stop import MaxRuntime

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
    res = m.solve(stop=MaxRuntime(max(0.01, time_limit)), seed=seed, display=False)
    if not res.is_feasible():
        return None
    out: list[tuple[int, tuple[tuple[int, float], ...]]] = []
    ids = inst.node_ids
    for vi, route in enumerate(res.best.routes()):
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
