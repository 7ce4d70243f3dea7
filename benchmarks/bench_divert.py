"""Benchmark: simulated days with and without mid-leg diversion (``[service] divert_mid_leg``).

Each scenario runs on travel times answered on demand (``[travel_times] mode = "on_demand"``: the
only travel times that name turning points; a dense stop matrix keeps every leg committed), for
the same seeds with the setting off and on. Prints per day and in total: requests, accepted
share, riders delivered, vehicle-km per delivered rider, legs turned mid-leg and the CPU seconds
of the day (service-area build excluded).

Run: ``ONDEMAND_DATA_DIR=../shared/data/osm python -m benchmarks.bench_divert [--scenario senboku]
[--seeds 3] [--demand 2.0]`` (``--demand``: riders per day as a multiple of the scenario's).
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
    args = ap.parse_args()
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores (shared); "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    base = load_scenario(ROOT / "scenarios" / f"{args.scenario}.toml")
    base = dataclasses.replace(base, travel_times=TravelTimesParams(mode="on_demand"))
    riders = base.demand.riders_per_day * args.demand
    print(f"{args.scenario}: on-demand travel times, riders/day {riders:.0f}, seeds 0..{args.seeds - 1}\n")
    total: dict[bool, list[float]] = {False: [0, 0, 0, 0.0, 0, 0.0], True: [0, 0, 0, 0.0, 0, 0.0]}
    for seed in range(args.seeds):
        for on in (False, True):
            sc = dataclasses.replace(base, service=dataclasses.replace(base.service, divert_mid_leg=on))
            area = sc.service_area()  # a fresh area per day: its on-demand cache starts empty
            c0 = time.process_time()
            res = simulate(sc, seed=seed, fleet=args.fleet, riders_per_day=riders, area=area)
            cpu = time.process_time() - c0
            k = compute_kpis(res.events)
            n = len(area.stops)
            turned = sum(1 for e in res.events if isinstance(e, VehicleDeparted) and e.to_stop >= n)
            riders_out = int(k["riders"])
            t = total[on]
            for i, v in enumerate((k["requests"], k["refused"], riders_out, k["vehicle_km"], turned, cpu)):
                t[i] += v
            print(
                f"seed {seed} divert {'on ' if on else 'off'}  requests {k['requests']:4d}  accepted "
                f"{100 * (k['requests'] - k['refused']) / max(1, k['requests']):5.1f} %  riders delivered "
                f"{riders_out:4d}  km {k['vehicle_km']:7.1f}  "
                f"km/rider {k['vehicle_km'] / max(1, riders_out):5.2f}  "
                f"turned {turned:4d}  CPU {cpu:6.1f} s",
                flush=True,
            )
    print()
    for on in (False, True):
        req, refused, rid, km, turned, cpu = total[on]
        print(
            f"total divert {'on ' if on else 'off'}: accepted {req - refused:.0f}/{req:.0f} "
            f"({100 * (req - refused) / max(1, req):.1f} %), riders delivered {rid:.0f}, "
            f"km/rider {km / max(1, rid):.3f}, turned {turned:.0f}, CPU {cpu:.1f} s"
        )


if __name__ == "__main__":
    main()
