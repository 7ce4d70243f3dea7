"""DARP / PDPTW solution-quality benchmark: ours against peers at equal time.

Solvers:

* ``ours``: :func:`ondemand.routing.solver.darp.solve_instance` (dial-a-ride: OR-Tools first
  solution, our LNS, OR-Tools polish; Li & Lim: PyVRP's search inside our fleet-reduction
  loop).
* ``ortools_plain``: the plain OR-Tools model of issue 3 (pickup-delivery pairs, the
  file's windows without tightening, capacity, ride time as a cumul-difference
  constraint posted with ``solver.Add``, route duration; every request mandatory;
  parallel cheapest insertion + guided local search).
* ``pyvrp``: PyVRP 0.14 (``Model.add_shipment``; iterated local search). PyVRP has no
  ride-time limit, so it runs on Li & Lim only (a/b rows say ``n/a``).

The LNS kernels (Numba) are loaded before the first instance, outside its time limit;
the time it took is printed, with date, host, cores and load average before and after.
Every solution, whoever made it, is verified by
:func:`ondemand.routing.solver.check.check_solution` in the instance's float units;
``feasible`` below is the checker's verdict.

Usage::

    python -m benchmarks.darp_bench ab --time-limit 10 --solvers ours,ortools_plain --csv out.csv
    python -m benchmarks.darp_bench lc101 lr104 --time-limit 10 --solvers ours,pyvrp
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ondemand.routing.solver import _darp_fast
from ondemand.routing.solver.check import check_solution
from ondemand.routing.solver.darp import solve_instance
from ondemand.routing.solver.instances import DarpInstance, best_known, read_instance, resolve_instance_set

SCALE = 1000

Routes = list[list[tuple[int, float]]]


def run_ours(inst: DarpInstance, limit: float, seed: int) -> Routes | None:
    """Our optimiser."""
    sol = solve_instance(inst, time_limit=limit, seed=seed)
    return [list(s) for _, s in sol.routes] if sol.routes else None


def run_ortools_plain(inst: DarpInstance, limit: float, seed: int) -> Routes | None:
    """The plain OR-Tools model described in issue 3."""
    del seed  # OR-Tools routing has no seed for this configuration
    n_nodes = inst.num_nodes
    k = inst.num_vehicles
    eu = inst.euclid()
    dur = np.ceil(eu * SCALE - 1e-9).astype(np.int64)
    svc = np.ceil(inst.service * SCALE - 1e-9).astype(np.int64)
    s0, s1 = inst.start_depot, inst.end_depot
    man = pywrapcp.RoutingIndexManager(n_nodes, k, [s0] * k, [s1] * k)
    rm = pywrapcp.RoutingModel(man)
    transit = (dur + svc[:, None]).tolist()
    cost = np.rint(eu * SCALE).astype(np.int64).tolist()
    tcb = rm.RegisterTransitMatrix(transit)
    ccb = rm.RegisterTransitMatrix(cost)
    rm.SetArcCostEvaluatorOfAllVehicles(ccb)
    if inst.format == "lilim":
        rm.SetFixedCostOfAllVehicles(int(np.max(cost)) * n_nodes)
    horizon = int(inst.latest[s1] * SCALE)
    rm.AddDimension(tcb, horizon, horizon, False, "time")
    td = rm.GetDimensionOrDie("time")
    dem = inst.load.tolist()
    dcb = rm.RegisterUnaryTransitVector(dem)
    rm.AddDimensionWithVehicleCapacity(dcb, 0, [inst.capacity] * k, True, "load")
    solver = rm.solver()
    for node in range(n_nodes):
        if node in (s0, s1):
            continue
        td.CumulVar(man.NodeToIndex(node)).SetRange(
            int(inst.earliest[node] * SCALE), int(inst.latest[node] * SCALE)
        )
    for v in range(k):
        td.CumulVar(rm.Start(v)).SetRange(int(inst.earliest[s0] * SCALE), horizon)
        td.CumulVar(rm.End(v)).SetRange(0, horizon)
        if inst.max_route_duration is not None:
            td.SetSpanUpperBoundForVehicle(int(inst.max_route_duration * SCALE), v)
    for p, d in inst.pairs:
        pi, di = man.NodeToIndex(p), man.NodeToIndex(d)
        rm.AddPickupAndDelivery(pi, di)
        solver.Add(rm.VehicleVar(pi) == rm.VehicleVar(di))
        solver.Add(td.CumulVar(pi) <= td.CumulVar(di))
        if inst.max_ride is not None:
            solver.Add(td.CumulVar(di) - td.CumulVar(pi) <= int(inst.max_ride * SCALE) + int(svc[p]))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(limit * 1000))
    sol = rm.SolveWithParameters(params)
    if sol is None:
        return None
    routes: Routes = []
    for v in range(k):
        idx = rm.Start(v)
        stops = []
        while True:
            stops.append((inst.node_ids[man.IndexToNode(idx)], sol.Value(td.CumulVar(idx)) / SCALE))
            if rm.IsEnd(idx):
                break
            idx = sol.Value(rm.NextVar(idx))
        if len(stops) > 2:
            routes.append(stops)
    return routes


def run_pyvrp(inst: DarpInstance, limit: float, seed: int) -> Routes | None:
    """PyVRP 0.14 with shipments (no ride-time limit: Li & Lim only)."""
    if inst.max_ride is not None:
        return None
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    m = Model()
    locs = [m.add_location(float(x), float(y)) for x, y in inst.coords]
    depot = m.add_depot(locs[inst.start_depot], tw_early=int(inst.earliest[0] * SCALE),
                        tw_late=int(inst.latest[0] * SCALE))  # fmt: skip
    eu = inst.euclid()
    dur = np.ceil(eu * SCALE - 1e-9).astype(np.int64)
    dist = np.rint(eu * SCALE).astype(np.int64)
    fixed = int(dist.max()) * inst.num_nodes
    m.add_vehicle_type(num_available=inst.num_vehicles, capacity=inst.capacity, start_depot=depot,
                       end_depot=depot, fixed_cost=fixed, tw_early=int(inst.earliest[0] * SCALE),
                       tw_late=int(inst.latest[0] * SCALE))  # fmt: skip
    for p, d in inst.pairs:
        m.add_shipment(
            locs[p], locs[d],
            pickup_tw_early=int(inst.earliest[p] * SCALE), pickup_tw_late=int(inst.latest[p] * SCALE),
            pickup_service_duration=int(inst.service[p] * SCALE),
            delivery_tw_early=int(inst.earliest[d] * SCALE), delivery_tw_late=int(inst.latest[d] * SCALE),
            delivery_service_duration=int(inst.service[d] * SCALE),
            amount=int(inst.load[p]),
        )  # fmt: skip
    for a in range(inst.num_nodes):
        for b in range(inst.num_nodes):
            if a != b:
                m.add_edge(locs[a], locs[b], distance=int(dist[a, b]), duration=int(dur[a, b]))
    res = m.solve(stop=MaxRuntime(limit), seed=seed, display=False)
    if not res.is_feasible():
        return None
    routes: Routes = []
    for route in res.best.routes():
        stops: list[tuple[int, float]] = []
        for act in route.schedule():
            if act.is_depot():
                stops.append((inst.node_ids[inst.start_depot], act.start_time / SCALE))
            else:
                p, d = inst.pairs[act.idx]
                node = p if act.is_pickup() else d
                stops.append((inst.node_ids[node], act.start_time / SCALE))
        routes.append(stops)
    return routes


SOLVERS = {"ours": run_ours, "ortools_plain": run_ortools_plain, "pyvrp": run_pyvrp}


def _machine() -> str:
    """Date (UTC), host, cores and load average, for the table's header and footer."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"# {when}, host {platform.node()}, {os.cpu_count()} cores, load average {load}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print/write one row per (instance, solver)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", help="set names (cordeau, ropke, ab, lilim), folders, files, or names")
    ap.add_argument("--time-limit", type=float, required=True)
    ap.add_argument("--solvers", default="ours")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args(argv)
    env = os.environ.get("ONDEMAND_BENCHMARK_DIR")
    bdir = Path(env) if env else None
    files: list[Path] = []
    for spec in args.sets:
        files.extend(resolve_instance_set(spec, bdir))
    print(_machine(), flush=True)
    if "ours" in args.solvers.split(",") and _darp_fast.HAVE_NUMBA:
        # Load (or compile) the LNS kernels once, outside every instance's time limit.
        print(f"LNS kernels loaded in {_darp_fast.warm_up():.1f} s (not counted below)", flush=True)
    rows: list[dict[str, Any]] = []
    out = None
    if args.csv:
        out = args.csv.open("w", newline="", encoding="utf-8")
    writer = None
    for f in files:
        inst = read_instance(f)
        bk_veh, bk = best_known(inst, bdir)
        for name in args.solvers.split(","):
            t0 = time.monotonic()
            routes = SOLVERS[name](inst, args.time_limit, args.seed)
            secs = time.monotonic() - t0
            if routes is None:
                feasible, veh, cost, note = False, 0, math.nan, "no solution" if name != "pyvrp" or \
                    inst.max_ride is None else "n/a (no ride-time limit)"  # fmt: skip
            else:
                res = check_solution(inst, routes)
                feasible, veh, cost = res.feasible, res.vehicles_used, res.cost
                note = "; ".join(res.violations[:2])
            gap = 100 * (cost / bk - 1) if (bk and feasible) else None
            row = {
                "instance": inst.name, "solver": name, "time_limit": args.time_limit,
                "feasible": feasible, "vehicles": veh, "cost": round(cost, 4),
                "best_known_vehicles": bk_veh, "best_known": bk,
                "gap_percent": None if gap is None else round(gap, 3), "seconds": round(secs, 2),
                "note": note,
            }  # fmt: skip
            rows.append(row)
            print(
                f"{inst.name:8s} {name:14s} feasible={feasible!s:5s} veh={veh:2d} cost={cost:10.2f} "
                f"bk={bk_veh}/{bk} gap={'' if gap is None else f'{gap:.2f}%'} {secs:.1f}s {note[:80]}",
                flush=True,
            )
            if out is not None:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                out.flush()
    if out is not None:
        out.close()
    for name in args.solvers.split(","):
        mine = [r for r in rows if r["solver"] == name]
        gaps = [r["gap_percent"] for r in mine if r["gap_percent"] is not None]
        feas = sum(1 for r in mine if r["feasible"])
        msg = f"{name}: {feas}/{len(mine)} feasible"
        if gaps:
            msg += f", mean gap {sum(gaps) / len(gaps):.2f}% over {len(gaps)}"
        lil = [r for r in mine if r["best_known_vehicles"] is not None and r["feasible"]]
        if lil:
            msg += (
                f", best-known vehicle count on {sum(r['vehicles'] <= r['best_known_vehicles'] for r in lil)}"
            )
            msg += f"/{len(lil)}"
        print(msg)
    print(_machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())
