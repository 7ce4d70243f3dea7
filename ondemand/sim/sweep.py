"""Fleet-sizing sweeps: simulate a scenario for several fleet sizes, demand levels and seeds.

Each point (fleet, demand, seed) is one simulated day; points run on a local process
pool (:mod:`concurrent.futures`) or, with ``engine="ray"``, as Ray tasks (extra
``dist``), which is how a sweep grows beyond one machine. Results are one KPI row per
point (:func:`sweep`) and their means per (fleet, demand) (:func:`aggregate`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from ondemand.errors import ScenarioError
from ondemand.scenario import Scenario, load_scenario
from ondemand.sim.kpis import compute_kpis

__all__ = ["SWEEP_COLUMNS", "aggregate", "parse_range", "run_point", "sweep"]

SWEEP_COLUMNS = (
    "fleet",
    "demand",
    "runs",
    "requests",
    "served",
    "refused_share",
    "wait_mean_s",
    "wait_p90_s",
    "ride_mean_s",
    "passengers_per_vehicle_hour",
    "shared_ride_share",
    "vehicle_km",
    "cost_per_passenger_jpy",
    "subsidy_per_passenger_jpy",
)
"""Columns of the aggregated sweep table (means over seeds)."""

_AREAS: dict[tuple[str, str], Any] = {}


def parse_range(text: str, *, what: str) -> list[int]:
    """``"1-6"`` → [1..6]; ``"2,4,8"`` → [2, 4, 8]; raises ScenarioError on bad input."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if a > b:
                    raise ValueError(part)
                out.extend(range(a, b + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise ScenarioError(f"--{what} {text!r}: give a range like 1-6 or a list like 2,4,8") from None
    if not out or min(out) < 1:
        raise ScenarioError(f"--{what} {text!r}: values must be positive integers")
    return sorted(set(out))


def _area(sc: Scenario, data_dir: str | None) -> Any:

    key = (repr(sc.area_spec), repr((sc.network, sc.stops, sc.travel_times, data_dir)))
    if key not in _AREAS:
        _AREAS[key] = sc.service_area(data_dir=Path(data_dir) if data_dir else None)
    return _AREAS[key]


def run_point(
    scenario_path: str,
    fleet: int,
    demand: float,
    seed: int,
    reoptimise: bool = True,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Simulate one day and return its KPIs plus ``fleet``, ``demand``, ``seed``, ``wall_s``.

    A module-level function so that process pools and Ray can ship it; the service area
    is built once per worker process.
    """
    from ondemand.sim.engine import simulate

    sc = load_scenario(scenario_path)
    if not reoptimise:
        sc = dataclasses.replace(sc, service=dataclasses.replace(sc.service, reoptimise_every_s=0))
    t0 = time.perf_counter()
    area = _area(sc, data_dir)
    res = simulate(
        sc,
        seed=seed,
        fleet=fleet,
        riders_per_day=demand,
        area=area,
        position_every_s=0,
        data_dir=Path(data_dir) if data_dir else None,
    )
    k = compute_kpis(res.events)
    k.update(
        {"fleet": fleet, "demand": float(demand), "seed": seed, "wall_s": round(time.perf_counter() - t0, 2)}
    )
    return k


def sweep(
    scenario_path: str | Path,
    *,
    fleets: Sequence[int],
    demands: Sequence[float],
    seeds: int,
    engine: str = "process",
    workers: int | None = None,
    reoptimise: bool = True,
    data_dir: Path | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every (fleet, demand, seed) point; rows sorted by fleet, demand, seed.

    Parameters
    ----------
    scenario_path
        The scenario TOML (loaded in each worker).
    fleets, demands
        Fleet sizes and mean riders per day (``demand.riders_per_day``).
    seeds
        Seeds 0 .. seeds-1 per point.
    engine
        ``"process"`` (local pool; ``workers=1`` runs in this process) or ``"ray"``.
    workers
        Pool size (default: ``min(2, cpu_count)``); Ray uses its cluster's CPUs.
    reoptimise
        Keep the scenario's rolling-horizon re-optimisation (off: insertion only, faster).
    on_done
        Called with each finished row (progress).
    """
    load_scenario(scenario_path)  # fail fast on a bad file
    path = str(scenario_path)
    dd = str(data_dir) if data_dir else None
    points = [(f, float(d), s) for f in fleets for d in demands for s in range(seeds)]
    rows: list[dict[str, Any]] = []
    if engine == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(run_point)
        pending = {remote.remote(path, f, d, s, reoptimise, dd): (f, d, s) for f, d, s in points}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                pending.pop(ref)
                row = ray.get(ref)
                rows.append(row)
                if on_done:
                    on_done(row)
    elif engine == "process":
        n = workers if workers is not None else min(2, os.cpu_count() or 1)
        if n <= 1:
            for f, d, s in points:
                row = run_point(path, f, d, s, reoptimise, dd)
                rows.append(row)
                if on_done:
                    on_done(row)
        else:
            with ProcessPoolExecutor(max_workers=n) as pool:
                futures = [pool.submit(run_point, path, f, d, s, reoptimise, dd) for f, d, s in points]
                for fut in as_completed(futures):
                    row = fut.result()
                    rows.append(row)
                    if on_done:
                        on_done(row)
    else:
        raise ScenarioError(f"--engine {engine!r}: use 'process' or 'ray'")
    rows.sort(key=lambda r: (r["fleet"], r["demand"], r["seed"]))
    return rows


def _mean(vals: list[Any]) -> float | None:
    xs = [float(v) for v in vals if v is not None]
    return round(float(np.mean(xs)), 3) if xs else None


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means over seeds per (fleet, demand), with ``cost_per_passenger_jpy`` added."""
    groups: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((int(r["fleet"]), float(r["demand"])), []).append(r)
    out = []
    for (fleet, demand), rs in sorted(groups.items()):
        agg: dict[str, Any] = {"fleet": fleet, "demand": demand, "runs": len(rs)}
        for key in SWEEP_COLUMNS[3:]:
            if key == "cost_per_passenger_jpy":
                vals = [r["operating_cost_jpy"] / r["passengers"] if r["passengers"] else None for r in rs]
            else:
                vals = [r.get(key) for r in rs]
            agg[key] = _mean(vals)
        out.append(agg)
    return out
