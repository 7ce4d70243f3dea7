"""Benchmark: simulated service days — each pilot scenario, and a stress day.

1. Each pilot scenario (``scenarios/*.toml``): one day with its own fleet and demand, timed
   without the service-area build (cached on disk after the first run; its time is printed
   separately). Bar: under 30 s per pilot day.
2. Stress day: the Higashiosaka graph (its 100 stops), 100 taxis, 5,000 requests over
   09:00-18:00. Bar: under 5 minutes.

Prints the KPIs that matter for each day and whether every request ended served, refused,
cancelled or as a no-show.

Run: ``ONDEMAND_DATA_DIR=../shared/data/osm python -m benchmarks.bench_sim [--stress] [--no-reoptimise]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from ondemand.scenario import load_scenario
from ondemand.sim.engine import simulate
from ondemand.sim.kpis import compute_kpis, request_outcomes

ROOT = Path(__file__).resolve().parents[1]
PILOTS = ("toyono", "senboku", "higashiosaka", "senboku_izumi")


def _day(name: str, *, fleet: int | None, demand: float | None, reoptimise: bool, seed: int) -> None:
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    t0 = time.perf_counter()
    area = sc.service_area()
    t_area = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(sc, seed=seed, fleet=fleet, riders_per_day=demand, area=area, reoptimise=reoptimise)
    t_sim, c_sim = time.perf_counter() - t0, time.process_time() - c0
    k = compute_kpis(res.events)
    outcomes = set(request_outcomes(res.events).values())
    closed = outcomes <= {"served", "refused", "cancelled", "no_show"}
    print(
        f"{name:14s} fleet {res.fleet:3d}  requests {k['requests']:5d}  served {k['served']:5d}  "
        f"refused {k['refused']:4d}  wait {k['wait_mean_s'] or 0:7.0f} s  pax/veh-h "
        f"{k['passengers_per_vehicle_hour'] or 0:5.2f}  km {k['vehicle_km'] or 0:8.1f}  "
        f"events {len(res.events):7d}  "
        f"area {t_area:5.1f} s  day {t_sim:6.1f} s (CPU {c_sim:6.1f} s)  all requests closed: {closed}",
        flush=True,
    )


def main() -> None:
    """Run the pilot days (and the stress day with ``--stress``) and print timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stress", action="store_true", help="also run the stress day")
    ap.add_argument("--stress-only", action="store_true", help="run only the stress day")
    ap.add_argument("--no-reoptimise", action="store_true", help="insertion only (no rolling horizon)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    reopt = not args.no_reoptimise
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores (shared); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"re-optimisation: {'as in each scenario' if reopt else 'off'}; seed {args.seed}\n")
    if not args.stress_only:
        for name in PILOTS:
            _day(name, fleet=None, demand=None, reoptimise=reopt, seed=args.seed)
    if args.stress or args.stress_only:
        _day("higashiosaka", fleet=100, demand=5000, reoptimise=reopt, seed=args.seed)


if __name__ == "__main__":
    main()
