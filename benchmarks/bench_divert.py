"""Benchmark: simulated days with and without mid-leg diversion (``[service] divert_mid_leg``).

Each scenario runs for the same seeds three ways: setting off on the dense stop matrix (the
default), setting off on travel times answered on demand (the same answers), and setting on
(which selects on-demand travel times: the only ones that name turning points). Prints per day
and in total: requests, accepted share, riders delivered, vehicle-km per delivered rider, legs
turned mid-leg and the CPU seconds of the day (service-area build excluded).

Run: ``ONDEMAND_DATA_DIR=../shared/data/osm python -m benchmarks.bench_divert [--scenario senboku]
[--seeds 3] [--demand 2.0] [--fleet N] [--asap]`` (``--demand``: riders per day as a multiple of the
scenario's; ``--asap``: nobody books ahead).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from ondemand.routing.geo.lazy import TravelTimesParams
from ondemand.scenario import load_scenario
from ondemand.sim.engine import simulate
from ondemand.sim.events import VehicleDeparted
from ondemand.sim.kpis import compute_kpis

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Run the days off and on and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="senboku")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--demand", type=float, default=1.0, help="riders per day x this factor")
    ap.add_argument("--fleet", type=int, default=None)
    ap.add_argument("--asap", action="store_true", help="every ride as soon as possible (none booked ahead)")
    args = ap.parse_args()
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores (shared); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    base = load_scenario(ROOT / "scenarios" / f"{args.scenario}.toml")
    if args.asap:
        base = dataclasses.replace(base, demand=dataclasses.replace(base.demand, booked_ahead_share=0.0))
    riders = base.demand.riders_per_day * args.demand
    asap = ", every ride as soon as possible" if args.asap else ""
    print(f"{args.scenario}: riders/day {riders:.0f}{asap}, seeds 0..{args.seeds - 1}\n")
    ways = {"off matrix": ("matrix", False), "off on-demand": ("on_demand", False), "on": ("on_demand", True)}
    total = {way: [0.0] * 6 for way in ways}
    for seed in range(args.seeds):
        for way, (mode, on) in ways.items():
            sc = dataclasses.replace(
                base,
                travel_times=TravelTimesParams(mode=mode),  # type: ignore[arg-type]
                service=dataclasses.replace(base.service, divert_mid_leg=on),
            )
            area = sc.service_area()  # a fresh area per day: its on-demand cache starts empty
            c0 = time.process_time()
            res = simulate(sc, seed=seed, fleet=args.fleet, riders_per_day=riders, area=area)
            cpu = time.process_time() - c0
            k = compute_kpis(res.events)
            n = len(area.stops)
            turned = sum(1 for e in res.events if isinstance(e, VehicleDeparted) and e.to_stop >= n)
            riders_out = int(k["riders"])
            t = total[way]
            for i, v in enumerate((k["requests"], k["refused"], riders_out, k["vehicle_km"], turned, cpu)):
                t[i] += v
            print(
                f"seed {seed} {way:13s}  requests {k['requests']:4d}  accepted "
                f"{100 * (k['requests'] - k['refused']) / max(1, k['requests']):5.1f} %  riders delivered "
                f"{riders_out:4d}  km {k['vehicle_km']:7.1f}  "
                f"km/rider {k['vehicle_km'] / max(1, riders_out):5.2f}  "
                f"turned {turned:4d}  CPU {cpu:6.1f} s",
                flush=True,
            )
    print()
    for way in ways:
        req, refused, rid, km, n_turned, cpu = total[way]
        print(
            f"total {way:13s}: accepted {req - refused:.0f}/{req:.0f} "
            f"({100 * (req - refused) / max(1, req):.1f} %), riders delivered {rid:.0f}, "
            f"km/rider {km / max(1, rid):.3f}, turned {n_turned:.0f}, CPU {cpu:.1f} s"
        )


if __name__ == "__main__":
    main()
