"""Live re-optimisation: how much distance ``reoptimise`` saves on a greedily built plan.

The plan is the one the live path produces: requests booked one by one with
:func:`~ondemand.routing.solver.insertion.best_insertion` (the world of ``bench_insertion.py``:
random points in a 15 km square, 30 km/h, 10-minute pickup windows, a ride limit of twice
the direct time plus 5 minutes, 8-seat vehicles). :func:`ondemand.routing.solver.darp.reoptimise`
then re-plans it with each method at the same time limit (the live API's budget), or, with
``--iterations``, with the LNS at each iteration budget (the simulator's reproducible budget;
``secs`` then shows what that work costs on this machine). Every result is verified by
:func:`ondemand.routing.solver.check.check_plan` and must serve every request of the plan.

Run: ``python -m benchmarks.bench_reoptimise [--limits 2,5] [--seeds 3] [--iterations 25,100]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.bench_insertion import loaded_plan, make_world
from ondemand.routing.solver.check import check_plan
from ondemand.routing.solver.darp import reoptimise
from ondemand.routing.solver.model import Plan

SIZES = ((10, 100), (30, 300))


def served(plan: Plan) -> set[str]:
    """Request ids with a pickup in the plan."""
    return {s.request_id for r in plan.routes for s in r.stops}


def main() -> None:
    """Print, per size, limit and method: the mean distance saved and the checker's verdict."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limits", default="2,5", help="time limits in seconds, comma separated")
    ap.add_argument("--seeds", type=int, default=3, help="plans per size")
    ap.add_argument(
        "--iterations",
        default=None,
        help="iteration budgets, comma separated: run the LNS to these instead of the time limits",
    )
    args = ap.parse_args()
    budgets: list[dict[str, float]]
    if args.iterations:
        budgets = [{"iterations": int(x)} for x in args.iterations.split(",")]
        methods: tuple[str, ...] = ("lns",)
    else:
        budgets = [{"time_limit": float(x)} for x in args.limits.split(",")]
        methods = ("ortools", "lns")
    print(
        f"{'vehicles':>8} {'requests':>8} {'budget':>7} {'method':>7} {'saved_%':>8} {'min_%':>6} "
        f"{'max_%':>6} {'feasible':>8} {'secs':>5}"
    )
    for n_veh, n_req in SIZES:
        plans = []
        for seed in range(args.seeds):
            tt = make_world(4 * n_req, seed)
            plans.append((loaded_plan(n_veh, n_req, tt, seed), tt))
        for budget in budgets:
            label = (
                f"{budget['time_limit']:.1f}s" if "time_limit" in budget else f"{budget['iterations']:.0f}it"
            )
            for method in methods:
                saved, ok, secs = [], 0, []
                for seed, (plan, tt) in enumerate(plans):
                    before = check_plan(plan, tt)
                    t = time.perf_counter()
                    out = reoptimise(plan, tt, now=0, seed=seed, method=method, **budget)  # type: ignore[arg-type]
                    secs.append(time.perf_counter() - t)
                    after = check_plan(out, tt)
                    ok += after.feasible and served(out) == served(plan)
                    saved.append(100.0 * (before.cost - after.cost) / before.cost)
                print(
                    f"{n_veh:>8} {n_req:>8} {label:>7} {method:>7} {np.mean(saved):>8.2f} "
                    f"{min(saved):>6.2f} {max(saved):>6.2f} {ok:>5}/{len(plans):<2} {np.mean(secs):>5.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
