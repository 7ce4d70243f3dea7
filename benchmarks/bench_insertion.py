"""Insertion latency: p50/p99 of ``best_insertion`` on a loaded plan.

Two sizes from the routing-core issue: 10 vehicles with 100 active requests, and
200 vehicles with 4,000 active requests. Locations are random points in a
15 km x 15 km square, driven at 30 km/h (integer seconds, ceil of Euclidean, so the
triangle inequality holds); requests are spread over a 10-hour day with 10-minute
pickup windows and a ride limit of twice the direct time plus 5 minutes, 1-3
passengers, vehicles of 8 seats. The plan is filled by inserting requests until the
target number is active; then fresh requests are timed against that fixed plan
(nothing is adopted, so every timed call sees the same load).

Wall-clock times (``p50_ms``, ``p99_ms``) include waiting for the CPU when the machine
is shared; ``cpu_p50``/``cpu_p99`` are this thread's CPU time per call
(``time.thread_time``), which is what the code itself costs.

"warm" is the live situation (route profiles cached: a plan changes one route per
booking); "cold" clears the profile cache before every call (every route profiled
from scratch), an upper bound.

Run: ``python -m benchmarks.bench_insertion [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ondemand.routing.solver import insertion as ins
from ondemand.routing.solver.insertion import Insertion, InsertionOptions, best_insertion
from ondemand.routing.solver.model import ArrayTravelTimes, Plan, Request, Route, Vehicle

SPEED = 30 / 3.6  # m/s
DAY = 10 * 3600


def make_world(n_loc: int, seed: int) -> ArrayTravelTimes:
    """Random points in a 15 km square; durations in seconds, distances in metres."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 15_000, size=(n_loc, 2))
    metres = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    return ArrayTravelTimes(np.ceil(metres / SPEED).astype(np.int64), np.ceil(metres).astype(np.int64))


def make_request(rid: str, rng: np.random.Generator, tt: ArrayTravelTimes) -> Request:
    """A booked-ahead request somewhere in the day."""
    n = tt.durations.shape[0]
    a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
    e = int(rng.integers(0, DAY - 3600))
    direct = int(tt.durations[a, b])
    return Request(
        rid,
        a,
        b,
        e,
        e + 600,
        e + 600 + 2 * direct + 300 + 60,
        2 * direct + 300,
        passengers=int(rng.integers(1, 4)),
        pickup_service=30,
        dropoff_service=30,
    )


def loaded_plan(n_veh: int, n_active: int, tt: ArrayTravelTimes, seed: int) -> Plan:
    """A plan with ``n_active`` accepted requests on ``n_veh`` vehicles."""
    rng = np.random.default_rng(seed)
    n = tt.durations.shape[0]
    vehicles = [Vehicle(f"v{i}", 8, int(rng.integers(0, n)), 0, DAY + 3 * 3600) for i in range(n_veh)]
    plan = Plan(tuple(Route(v) for v in vehicles))
    opts = InsertionOptions()
    k = 0
    while len(plan.requests) < n_active:
        res = best_insertion(plan, make_request(f"load{k}", rng, tt), tt, now=0, options=opts)
        k += 1
        if isinstance(res, Insertion):
            plan = res.plan
    return plan


def timed(plan: Plan, tt: ArrayTravelTimes, n_calls: int, *, cold: bool, seed: int) -> dict[str, float]:
    """Time ``n_calls`` insertions of fresh requests into ``plan`` (nothing adopted)."""
    rng = np.random.default_rng(seed + 100)
    times: list[float] = []
    cpu: list[float] = []
    accepted = 0
    opts = InsertionOptions()
    best_insertion(plan, make_request("warmup", rng, tt), tt, now=0, options=opts)
    for k in range(n_calls):
        r = make_request(f"new{k}", rng, tt)
        if cold:
            ins._CACHE = ins._ProfileCache()
        t, c = time.perf_counter(), time.thread_time()
        res = best_insertion(plan, r, tt, now=0, options=opts)
        cpu.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
        accepted += isinstance(res, Insertion)
    ms = np.array(times) * 1000
    cpu_ms = np.array(cpu) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "accepted": accepted / n_calls,
    }


def main() -> None:
    """Print p50/p99 for both sizes, warm and cold."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer timed calls")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    calls = 100 if args.quick else 1000
    print(
        "vehicles active stops/veh cache  calls  p50_ms  p99_ms  max_ms  cpu_p50  cpu_p99 accepted"
        "  (plan built in s)"
    )
    for n_veh, n_active in ((10, 100), (200, 4000)):
        tt = make_world(500, args.seed)
        t0 = time.perf_counter()
        plan = loaded_plan(n_veh, n_active, tt, args.seed)
        build = time.perf_counter() - t0
        stops = sum(len(r.stops) for r in plan.routes) / n_veh
        for cold in (False, True):
            n = calls if not (cold and n_veh == 200) else max(50, calls // 5)
            r = timed(plan, tt, n, cold=cold, seed=args.seed)
            label = "cold" if cold else "warm"
            print(
                f"{n_veh:8d} {n_active:6d} {stops:9.1f} {label:5s} {n:6d}  {r['p50_ms']:6.2f}  "
                f"{r['p99_ms']:6.2f}  {r['max_ms']:6.2f}  {r['cpu_p50_ms']:7.2f}  {r['cpu_p99_ms']:7.2f}"
                f" {r['accepted']:8.2f}  ({build:.1f})"
            )


if __name__ == "__main__":
    main()
