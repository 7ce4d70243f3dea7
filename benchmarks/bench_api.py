"""Load benchmark of the live API: bookings per second and latency against a Senboku-size service.

Starts ``uvicorn`` with the API in a subprocess on 127.0.0.1 (one process, durable SQLite:
WAL + ``synchronous=FULL``, group commit), then an open-loop client books ASAP rides between
random meeting points at increasing target rates, each for ``--duration`` seconds. A rate
counts as *sustained* when at least 95 % of the offered bookings were answered, none failed,
and the p99 latency is below 100 ms. The client runs in ``--clients`` processes (asyncio,
keep-alive connections); its lag behind the schedule is reported so that a saturated client
is not mistaken for a slow server, and so is the server's CPU time per booking.

    python -m benchmarks.bench_api                       # Senboku (OSM data), 2 and 10 vans
    python -m benchmarks.bench_api --area synthetic      # 50 synthetic stops, no data needed
    python -m benchmarks.bench_api --vans 2 --rates 100,200,300 --duration 10

The service clock starts at 10:00 today (Tokyo) so that the vans are on shift whatever
the wall-clock time; background re-optimisation runs every 30 s (in a worker process) as
in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

TZ = ZoneInfo("Asia/Tokyo")
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- server


def serve(area_name: str, vans: int, port: int, db_url: str, reopt_s: float) -> None:
    """Run the API (blocking) for the benchmark."""
    import logging

    import uvicorn

    from ondemand.api.app import create_app
    from ondemand.api.booking import service_config_from_scenario
    from ondemand.api.settings import ApiSettings
    from tests.api._synthetic import SyntheticArea, synthetic_service

    logging.basicConfig(level=logging.WARNING)
    if area_name == "synthetic":
        area = SyntheticArea.grid(50)
        config = synthetic_service(area, n_vehicles=vans, seats=8, start=9 * 3600, end=18 * 3600)
    else:
        from ondemand.scenario import load_scenario

        sc = load_scenario(REPO / "scenarios" / f"{area_name}.toml")
        area = sc.service_area()  # type: ignore[assignment]
        config = service_config_from_scenario(sc, area, fleet=vans)
    start = dt.datetime.combine(dt.datetime.now(TZ).date(), dt.time(10, 0), tzinfo=TZ)
    t0 = time.monotonic()

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=time.monotonic() - t0)

    settings = ApiSettings(database_url=db_url, reopt_interval_s=reopt_s)
    app = create_app(area, config, settings=settings, clock=clock)

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        """The app, with an ``x-server-ms`` response header (time spent in the app)."""
        t = time.perf_counter()

        async def send_timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                ms = f"{(time.perf_counter() - t) * 1000:.2f}".encode()
                message["headers"] = [*message.get("headers", []), (b"x-server-ms", ms)]
            await send(message)

        await app(scope, receive, send_timed)

    gc.freeze()  # as 'ondemand serve' does
    uvicorn.run(timed, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(area: str, vans: int, db_url: str, reopt_s: float) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    # run as a module from the repository root, so that the server can import the test-only
    # synthetic area (tests/api/_synthetic.py) without any sys.path edit
    cmd = [sys.executable, "-m", "benchmarks.bench_api", "--serve", "--area", area, "--vans", str(vans)]
    cmd += ["--port", str(port)]
    cmd += ["--db", db_url, "--reopt", str(reopt_s)]
    proc = subprocess.Popen(cmd, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    raise RuntimeError("server not ready after 120 s")


# ----------------------------------------------------------------------------- client


@dataclass
class Step:
    """The outcome of one target rate."""

    rate: float
    offered: int
    answered: int
    errors: int
    assigned: int
    refused: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float = float("nan")
    client_lag_p99_ms: float = float("nan")
    server_p50_ms: float = float("nan")
    server_p99_ms: float = float("nan")

    @property
    def throughput(self) -> float:
        """Answered bookings per second."""
        return self.answered / self.seconds

    @property
    def sustained(self) -> bool:
        """At least 95 % answered in time and p99 under 100 ms."""
        return self.answered >= 0.95 * self.offered and self.p99_ms < 100.0 and self.errors == 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def _client(
    base: str, key: str, stop_ids: list[str], rate: float, n: int, t_start: float, seed: int
) -> tuple[list[float], list[float], list[float], dict[str, int]]:
    """Send ``n`` bookings at ``rate``/s from ``t_start`` over raw keep-alive HTTP/1.1 connections.

    A minimal client (pre-encoded requests, asyncio streams) so that the client's own CPU
    use stays far below the server's. Returns latencies (send to answer), server-side
    times (``x-server-ms``) and lateness behind the schedule, in ms, and the outcomes.
    """
    import asyncio

    rng = random.Random(seed)
    host, port = base.removeprefix("http://").split(":")
    payloads = []
    for _ in range(n):
        p, q = rng.sample(stop_ids, 2)
        body = json.dumps(
            {"pickup": {"stop_id": p}, "dropoff": {"stop_id": q}, "passengers": rng.choice([1, 1, 1, 2])}
        ).encode()
        head = (
            f"POST /v1/ride-requests HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        payloads.append(head + body)
    lat: list[float] = []
    server: list[float] = []
    late: list[float] = []
    outcome = {"assigned": 0, "refused": 0, "errors": 0}
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (item := await queue.get()) is not None:
                slot, payload = item
                t = time.time()
                late.append((t - slot) * 1000)
                try:
                    writer.write(payload)
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    server_ms = float("nan")
                    for line in head.split(b"\r\n"):
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                        elif name.lower() == b"x-server-ms":
                            server_ms = float(value)
                    body = await reader.readexactly(length)
                except (OSError, asyncio.IncompleteReadError):
                    outcome["errors"] += 1
                    return
                if head[9:12] == b"201":
                    lat.append((time.time() - t) * 1000)
                    server.append(server_ms)
                    kind = "assigned" if b'"status":"assigned"' in body else "refused"
                    outcome[kind] += 1
                else:
                    outcome["errors"] += 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(64)]
    for i, payload in enumerate(payloads):
        slot = t_start + i / rate
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((slot, payload))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return lat, server, late, outcome


def _client_proc(
    args: tuple[str, str, list[str], float, int, float, int],
) -> tuple[list[float], list[float], dict[str, int]]:
    import asyncio

    return asyncio.run(_client(*args))


def run_step(base: str, key: str, stop_ids: list[str], rate: float, duration: float, procs: int) -> Step:
    """Offer ``rate`` bookings/s for ``duration`` s (open loop, ``procs`` client processes) and measure."""
    from concurrent.futures import ProcessPoolExecutor

    n = int(rate * duration)
    share = [n // procs + (1 if k < n % procs else 0) for k in range(procs)]
    t_start = time.time() + 1.0
    jobs = [
        (base, key, stop_ids, rate / procs, share[k], t_start + k / rate, 1000 * int(rate) + k)
        for k in range(procs)
    ]
    with ProcessPoolExecutor(procs) as pool:
        parts = list(pool.map(_client_proc, jobs))
    elapsed = max(time.time() - t_start, duration)
    lat = [x for part in parts for x in part[0]]
    server = [x for part in parts for x in part[1]]
    late = [x for part in parts for x in part[2]]
    outcome: dict[str, int] = {}
    for part in parts:
        for k, v in part[3].items():
            outcome[k] = outcome.get(k, 0) + v
    return Step(
        rate=rate,
        offered=n,
        answered=len(lat),
        errors=outcome.get("errors", 0),
        assigned=outcome.get("assigned", 0),
        refused=outcome.get("refused", 0),
        seconds=elapsed,
        p50_ms=_pct(lat, 0.50),
        p99_ms=_pct(lat, 0.99),
        max_ms=max(lat, default=float("nan")),
        client_lag_p99_ms=_pct(late, 0.99),
        server_p50_ms=_pct(server, 0.50),
        server_p99_ms=_pct(server, 0.99),
    )


def bench(
    area: str, vans: int, rates: list[float], duration: float, clients: int, reopt_s: float
) -> list[Step]:
    """Start a fresh server and database, then run every rate in turn."""
    from ondemand.api.db import create_api_key
    from ondemand.api.persistence import Database

    with tempfile.TemporaryDirectory(prefix="ondemand-bench-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = Database(db_url)
        with db.write() as session:
            key = create_api_key(session, "bench")
            session.commit()
        db.dispose()
        proc, port = _start(area, vans, db_url, reopt_s)
        base = f"http://127.0.0.1:{port}"
        try:
            stops = httpx.get(f"{base}/v1/stops", headers={"Authorization": f"Bearer {key}"}).json()
            stop_ids = [s["id"] for s in stops]
            steps = []
            for rate in rates:
                cpu0 = _cpu_seconds(proc.pid)
                step = run_step(base, key, stop_ids, rate, duration, clients)
                step.server_cpu_ms = (_cpu_seconds(proc.pid) - cpu0) * 1000 / max(step.answered, 1)
                steps.append(step)
                print(
                    f"  {area} {vans:>2} vans  offered {rate:>5.0f}/s: answered {step.throughput:6.1f}/s "
                    f"p50 {step.p50_ms:6.1f} ms  p99 {step.p99_ms:6.1f} ms  max {step.max_ms:6.1f} ms  "
                    f"assigned {step.assigned:>5} refused {step.refused:>5} errors {step.errors:>3}  "
                    f"in-server p50 {step.server_p50_ms:5.1f} p99 {step.server_p99_ms:6.1f} ms  "
                    f"server CPU {step.server_cpu_ms:4.1f} ms/booking  "
                    f"client lag p99 {step.client_lag_p99_ms:5.1f} ms  "
                    f"{'sustained' if step.sustained else 'NOT sustained'}",
                    flush=True,
                )
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    return steps


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--area", default="senboku", help="'senboku' (OSM data) or 'synthetic' (50 stops)")
    ap.add_argument("--vans", default="2,10", help="comma-separated fleet sizes")
    ap.add_argument("--rates", default="50,100,200,300,400", help="comma-separated target bookings/s")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    ap.add_argument("--clients", type=int, default=2, help="client processes (asyncio each)")
    ap.add_argument("--reopt", type=float, default=30.0, help="re-optimisation interval (s), 0 = off")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--db", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.area, int(args.vans), args.port, args.db, args.reopt)
        return
    print(f"bench_api {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, area {args.area}")
    results = {}
    for vans in [int(v) for v in args.vans.split(",")]:
        steps = bench(
            args.area,
            vans,
            [float(r) for r in args.rates.split(",")],
            args.duration,
            args.clients,
            args.reopt,
        )
        best = max((s.throughput for s in steps if s.sustained), default=0.0)
        print(
            f"  => {vans} vans: highest sustained rate {best:.0f} bookings/s (p99 < 100 ms, >= 95 % answered)"
        )
        results[vans] = [s.__dict__ | {"throughput": s.throughput, "sustained": s.sustained} for s in steps]
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
