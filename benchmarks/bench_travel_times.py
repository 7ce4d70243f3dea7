"""Benchmark: dense travel-time matrices vs on-demand travel times, at 1,000 / 5,000 / 20,000 points.

On the Higashiosaka graph (the largest pilot graph, 18k nodes), side by side in one run, for each
point count:

- ``dense``: :func:`ondemand.routing.geo.matrix.build_matrix` (exact CCH backend), skipped when
  the two matrices would take more than ``--dense-limit-gb`` (20,000 points: 6.4 GB);
- ``on demand``: :class:`ondemand.routing.geo.lazy.OnDemandTravelTimes` with a ``--cache-mb`` cap.

Reported: build time, memory held (the two dense matrices; the on-demand cache's bytes after the
workloads, which its cap bounds; the contraction hierarchy, built once per network and shared by
both, is not counted, its one-off time is printed first), the process's peak RSS so far, and lookup
throughput on two workloads:

1. *scalar*: ``int(tt.durations[a, b])`` for random pairs (the worst case for a cache);
2. *insertion-like*: per new request at point ``x``, the gathers the insertion search makes —
   ``d[route, x]``, ``d[x, route]`` and ``d[route[:-1], route[1:]]`` over a fleet's 400 planned
   stops (which change slowly: 5 % replaced per request) — counted in looked-up entries per second.

Every on-demand answer of the workloads is compared with the dense matrix where it was built.

Run: ``ONDEMAND_DATA_DIR=../shared/data/osm python -m benchmarks.bench_travel_times``
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np

from ondemand.routing.geo.lazy import OnDemandTravelTimes
from ondemand.routing.geo.matrix import _cch_metric, build_matrix
from ondemand.routing.geo.network import load_network


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Result and seconds of ``fn()``."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _scalar(tt: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = tt.durations
    return np.array([int(d[i, j]) for i, j in zip(a.tolist(), b.tolist(), strict=True)], dtype=np.int64)


def _insertion(tt: Any, k: int, requests: int, seed: int) -> tuple[np.ndarray, int]:
    """The insertion-like workload; returns a checksum array and how many entries it looked up."""
    rng = np.random.default_rng(seed)
    route = rng.integers(k, size=400)
    d = tt.durations
    sums = np.empty(requests, dtype=np.int64)
    entries = 0
    for r in range(requests):
        x = int(rng.integers(k))
        col = d[route, x]
        row = d[x, route]
        legs = d[route[:-1], route[1:]]
        sums[r] = int(col.sum()) + int(row.sum()) + int(legs.sum())
        entries += len(col) + len(row) + len(legs)
        swap = rng.integers(400, size=20)
        route[swap] = rng.integers(k, size=20)
    return sums, entries


def main() -> None:
    """Run the benchmark and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", default="higashiosaka")
    ap.add_argument("--points", default="1000,5000,20000")
    ap.add_argument("--cache-mb", type=float, default=256.0)
    ap.add_argument("--dense-limit-gb", type=float, default=2.0)
    ap.add_argument("--scalar", type=int, default=20_000, help="random scalar lookups")
    ap.add_argument("--requests", type=int, default=200, help="insertion-like requests")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores "
        f"(shared; load average {load})"
    )
    net = load_network(args.area)
    print(f"graph: {args.area}, {net.n_nodes} nodes, {net.n_edges} edges (largest SCC)")
    t0 = time.perf_counter()
    _cch_metric(net)
    print(f"contraction hierarchy (once per network, shared by both): {time.perf_counter() - t0:.2f} s")
    print(
        f"on-demand cache cap {args.cache_mb:.0f} MB; scalar: {args.scalar} random pairs; "
        f"insertion-like: {args.requests} requests x 1,199 entries\n"
    )
    header = (
        f"{'points':>7} {'method':<10} {'build s':>8} {'held MB':>8} {'peak RSS MB':>12} "
        f"{'scalar/s':>10} {'gather entries/s':>17} {'cached rows+cols+pairs':>23}"
    )
    print(header)
    print("-" * len(header))
    for k in (int(x) for x in args.points.split(",")):
        rng = np.random.default_rng(args.seed)
        nodes = rng.choice(net.n_nodes, k, replace=k > net.n_nodes)
        a, b = rng.integers(k, size=args.scalar), rng.integers(k, size=args.scalar)
        results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for method in ("dense", "on demand"):
            if method == "dense" and 16.0 * k * k > args.dense_limit_gb * 1e9:
                gb = 16 * k * k / 1e9
                print(f"{k:>7} {method:<10} skipped: two {k} x {k} int64 matrices take {gb:.1f} GB")
                continue
            if method == "dense":
                tt, build_s = _timed(partial(build_matrix, net, nodes))
            else:
                tt, build_s = _timed(partial(OnDemandTravelTimes, net, nodes, cache_mb=args.cache_mb))
            s, s_secs = _timed(partial(_scalar, tt, a, b))
            (sums, entries), g_secs = _timed(partial(_insertion, tt, k, args.requests, args.seed))
            results[method] = (s, sums)
            cached = "-"
            if isinstance(tt, OnDemandTravelTimes):
                info = tt.cache_info()
                cached = f"{info.rows}+{info.columns}+{info.pairs}"
                held = info.bytes / 1e6
            else:
                held = (tt.durations.nbytes + tt.distances.nbytes) / 1e6
            print(
                f"{k:>7} {method:<10} {build_s:>8.2f} {held:>8.1f} {_peak_rss_mb():>12.0f} "
                f"{args.scalar / s_secs:>10,.0f} {entries / g_secs:>17,.0f} {cached:>23}",
                flush=True,
            )
            del tt
        if len(results) == 2:
            same = all(
                np.array_equal(x, y) for x, y in zip(results["dense"], results["on demand"], strict=True)
            )
            print(f"{k:>7} check: on-demand answers {'equal' if same else 'DIFFER FROM'} the dense matrix")
            if not same:
                raise SystemExit(1)


if __name__ == "__main__":
    main()
