"""Fault-injection harness: a real API server process, a client that books, cancels and reports
vehicle events while a fault is injected, and the invariants checked afterwards.

The server is :mod:`tests.api._server` (a synthetic area, the real app and database code)
started in its own process group, so that a test can ``kill -9`` the server alone or its
whole group. The client keeps every answer; :func:`check_invariants` then compares them
with what the database holds and with what the (live or restarted) dispatcher plans:

- every booking answered 2xx is present, with the status the acknowledged answers imply
  and its vehicle;
- nothing answered 4xx/5xx was saved (no row for a refused key; a cancel or event answered
  5xx changed nothing), and a retry with the key of a booking answered 5xx creates it anew;
- the dispatcher's itineraries hold exactly the open bookings of the database, each on its vehicle;
- no seat is sold twice: the load along every itinerary stays within the vehicle's seats.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ondemand.api.db import RideRequestRow, normalise_url
from tests.api._proc import REPO, START_TIMEOUT_S, compiled_search_cached, free_port, make_key

__all__ = [
    "COMMIT_TIMEOUT_S",
    "START_TIMEOUT_S",
    "FaultReport",
    "Server",
    "Workload",
    "check_invariants",
    "make_key",
    "process_group_gone",
]

COMMIT_TIMEOUT_S = 3.0
"""The servers' commit timeout in the fault tests (``ONDEMAND_COMMIT_TIMEOUT_S``); stalls last longer."""

STOPS = 16
SEATS = 4
VEHICLES = 8


class Server:
    """``python -m tests.api._server`` in its own process group, on a fixed port."""

    def __init__(self, url: str, t0: float, log_dir: Path, *, port: int | None = None, name: str = "server"):
        self.url = url
        self.t0 = t0
        self.port = port or free_port()
        self.log_dir = log_dir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.pgids: list[int] = []

    @property
    def base(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = START_TIMEOUT_S) -> None:
        """Start the process (its own session and process group); wait for ``/healthz`` unless told not to."""
        compiled_search_cached()
        env = dict(os.environ, ONDEMAND_COMMIT_TIMEOUT_S=str(COMMIT_TIMEOUT_S))
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115 - closed by the child
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.api._server",
                "--db",
                self.url,
                "--port",
                str(self.port),
                "--t0",
                str(self.t0),
                "--stops",
                str(STOPS),
                "--vehicles",
                str(VEHICLES),
                "--seats",
                str(SEATS),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.pgids.append(self.proc.pid)
        if wait:
            self.wait_healthy(timeout)

    def log_tail(self, n: int = 3000) -> str:
        """The end of the current log file."""
        path = self.log_dir / f"{self.name}-{self.starts}.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> float:
        """Wait until ``/healthz`` answers 200; the seconds it took."""
        t = time.monotonic()
        deadline = t + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - t
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy within {timeout} s: {self.log_tail()}")

    def health(self) -> int:
        """The status code of ``/healthz`` (0 when the server does not answer)."""
        try:
            return httpx.get(f"{self.base}/healthz", timeout=3).status_code
        except httpx.HTTPError:
            return 0

    def kill(self, *, group: bool = False) -> None:
        """``kill -9`` the server process (or its whole process group) and reap it."""
        assert self.proc is not None
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        elif self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL of its group) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(group=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def process_group_gone(pgid: int, timeout: float = 10.0) -> list[int]:
    """Pids still in process group ``pgid`` after waiting up to ``timeout`` s (empty: all gone)."""
    deadline = time.monotonic() + timeout
    left: list[int] = []
    while True:
        left = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                left.append(int(entry))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@dataclasses.dataclass
class Answer:
    """One call of the client and what came back (``code`` 0: no answer, e.g. the server died)."""

    op: str  # "book", "cancel", "picked_up", "dropped_off", "position"
    key: str  # the Idempotency-Key (book) or the ride id
    code: int
    body: dict[str, Any] | None
    t: float
    retry_after: str | None = None
    sent: dict[str, Any] | None = None


@dataclasses.dataclass
class FaultReport:
    """Numbers of one fault run, printed as one summary line."""

    fault: str
    acknowledged: int = 0
    survived: int = 0
    refused_503: int = 0
    no_answer: int = 0
    cancels_acked: int = 0
    events_acked: int = 0
    recovery_s: float = float("nan")

    def line(self) -> str:
        """``FAULT name: acknowledged=... survived=... ...`` (for the closing note)."""
        return (
            f"FAULT {self.fault}: bookings acknowledged={self.acknowledged} survived={self.survived} "
            f"503={self.refused_503} no-answer={self.no_answer} cancels acked={self.cancels_acked} "
            f"events acked={self.events_acked} recovery={self.recovery_s:.1f}s"
        )


class Workload:
    """Client threads that book (with an Idempotency-Key), cancel and report events, recording every answer.

    Each thread owns the rides it booked, so the order of its calls on a ride is the order
    of the answers it recorded.
    """

    def __init__(self, server: Server, key: str, *, threads: int = 3, seed: int = 0, timeout: float = 20.0):
        self.server = server
        self.headers = {"Authorization": f"Bearer {key}"}
        self.n_threads = threads
        self.seed = seed
        self.timeout = timeout
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.first_ok_after: dict[float, float] = {}

    def record(self, a: Answer) -> None:
        """Keep one answer."""
        with self._lock:
            self.answers.append(a)

    def __enter__(self) -> Workload:
        for i in range(self.n_threads):
            t = threading.Thread(target=self._run, args=(i,), name=f"client-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2 * self.timeout + 10)
        stuck = [t.name for t in self._threads if t.is_alive()]
        assert not stuck, f"client threads still waiting for an answer: {stuck}"

    def _call(self, client: httpx.Client, op: str, key: str, method: str, path: str, **kw: Any) -> Answer:
        t = time.monotonic()
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError:
            a = Answer(op, key, 0, None, t, sent=kw.get("json"))
        else:
            try:
                body = r.json()
            except ValueError:
                body = None
            a = Answer(op, key, r.status_code, body, t, r.headers.get("retry-after"), kw.get("json"))
        self.record(a)
        return a

    def _run(self, i: int) -> None:
        rng = random.Random(self.seed * 100 + i)
        mine: list[dict[str, Any]] = []  # this thread's acknowledged, still assigned rides
        vehicles = [f"v{k}" for k in range(1, VEHICLES + 1) if k % self.n_threads == i % self.n_threads]
        with httpx.Client(base_url=self.server.base, headers=self.headers, timeout=self.timeout) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                roll = rng.random()
                if roll < 0.55:
                    a = self._book(client, rng, f"t{self.seed}-{i}-{n}")
                    if a.code == 201 and a.body is not None and a.body["status"] == "assigned":
                        mine.append(a.body)
                elif roll < 0.7 and mine:
                    ride = mine.pop(rng.randrange(len(mine)))
                    rid = ride["id"]
                    a = self._call(client, "cancel", rid, "POST", f"/v1/ride-requests/{rid}/cancel")
                elif roll < 0.95 and vehicles:
                    a = self._drive(client, rng.choice(vehicles))
                elif vehicles:
                    vid = rng.choice(vehicles)
                    body = {"type": "position", "lon": 139.70, "lat": 35.66}
                    a = self._call(client, "position", vid, "POST", f"/v1/vehicles/{vid}/events", json=body)
                else:
                    continue
                if a.code == 0:
                    self._stop.wait(0.2)  # the server is down: do not spin
                elif a.code == 503:
                    self._stop.wait(0.1)
                else:
                    self._stop.wait(0.03)

    def _book(self, client: httpx.Client, rng: random.Random, key: str) -> Answer:
        p = rng.randrange(STOPS)
        d = (p + rng.randrange(1, STOPS)) % STOPS
        body = {
            "pickup": {"stop_id": f"s{p:02d}"},
            "dropoff": {"stop_id": f"s{d:02d}"},
            "passengers": rng.choice((1, 1, 1, 2)),
        }
        return self._call(
            client, "book", key, "POST", "/v1/ride-requests", json=body, headers={"Idempotency-Key": key}
        )

    def _drive(self, client: httpx.Client, vid: str) -> Answer:
        """As the driver of ``vid``: report the first stop of its itinerary as done."""
        t = time.monotonic()
        try:
            r = client.get(f"/v1/vehicles/{vid}/itinerary")
        except httpx.HTTPError:
            return Answer("itinerary", vid, 0, None, t)
        if r.status_code != 200 or not r.json():
            return Answer("itinerary", vid, r.status_code, None, t)
        stop = r.json()[0]
        kind = "picked_up" if stop["kind"] == "pickup" else "dropped_off"
        body = {"type": kind, "request_id": stop["request_id"]}
        return self._call(client, kind, stop["request_id"], "POST", f"/v1/vehicles/{vid}/events", json=body)

    def acked_since(self, t: float) -> float | None:
        """Seconds from ``t`` (monotonic) to the first booking answered 201 at or after it."""
        with self._lock:
            times = [a.t for a in self.answers if a.op == "book" and a.code == 201 and a.t >= t]
        return min(times) - t if times else None

    def acked(self) -> int:
        """How many bookings have been answered 201 so far."""
        with self._lock:
            return sum(1 for a in self.answers if a.op == "book" and a.code == 201)

    def wait_acked(self, n: int, timeout: float = 60.0) -> None:
        """Wait until ``n`` bookings are answered 201: the load really runs, however busy the machine."""
        deadline = time.monotonic() + timeout
        while self.acked() < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.acked()} bookings acknowledged within {timeout} s")
            time.sleep(0.05)

    def wait_acked_since(self, t: float, timeout: float) -> float:
        """Wait until a booking sent after ``t`` is answered 201; the seconds from ``t``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.acked_since(t)
            if got is not None:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no booking acknowledged within {timeout} s after the fault ended")


@contextlib.contextmanager
def _session(url: str) -> Iterator[Session]:
    engine = create_engine(normalise_url(url))
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def check_invariants(url: str, server: Server, key: str, answers: list[Answer], report: FaultReport) -> None:
    """Assert the invariants of the module docstring against the database and the running ``server``."""
    rows = _rows(url)
    by_key = {r["idempotency_key"]: r for r in rows.values() if r["idempotency_key"] is not None}
    books = [a for a in answers if a.op == "book"]
    # 1. every booking answered 201 is present with its vehicle; nothing answered 4xx/5xx was saved
    for a in books:
        row = by_key.get(a.key)
        if a.code == 201:
            assert a.body is not None
            assert row is not None, f"acknowledged booking {a.key} ({a.body['id']}) is not in the database"
            assert row["id"] == a.body["id"]
            assert row["vehicle_id"] == a.body["vehicle_id"]
            report.acknowledged += 1
            report.survived += 1
        elif a.code >= 400:
            assert row is None, f"booking {a.key} answered {a.code} {a.body} was saved: {row}"
            if a.code == 503:
                report.refused_503 += 1
                assert a.retry_after is not None, "a 503 without Retry-After"
        elif a.code == 0:
            report.no_answer += 1
    # 2. the status of every acknowledged ride follows from the acknowledged calls; 5xx calls changed nothing
    ride_ops: dict[str, list[Answer]] = {}
    for a in sorted(answers, key=lambda a: a.t):
        if a.op in ("cancel", "picked_up", "dropped_off"):
            ride_ops.setdefault(a.key, []).append(a)
    after = {"cancel": "cancelled", "picked_up": "onboard", "dropped_off": "completed"}
    for a in books:
        if a.code != 201 or a.body is None:
            continue
        rid = a.body["id"]
        status = a.body["status"]
        unknown: set[str] = set()
        for op in ride_ops.get(rid, []):
            if op.code == 200:
                status = after[op.op]
                unknown.clear()
            elif op.code == 0:
                unknown.add(after[op.op])
        stored = rows[rid]["status"]
        assert stored == status or stored in unknown, (
            f"ride {rid}: database says {stored!r} ({rows[rid]['reason']}), the acknowledged answers "
            f"say {status!r} (calls: {[(o.op, o.code) for o in ride_ops.get(rid, [])]})"
        )
        report.cancels_acked += sum(1 for o in ride_ops.get(rid, []) if o.op == "cancel" and o.code == 200)
        report.events_acked += sum(1 for o in ride_ops.get(rid, []) if o.op != "cancel" and o.code == 200)
    # 3. the dispatcher plans exactly the open rides of the database, on their vehicles; no seat sold twice
    check_dispatcher_matches_database(url, server, key)
    # 4. a retry of a booking answered 503 creates it (it was not saved); of one unanswered, replays/creates
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=20) as client:
        for a in books:
            if a.code not in (0, 503):
                continue
            r = client.post("/v1/ride-requests", json=a.sent, headers={"Idempotency-Key": a.key})
            if a.code == 503:
                assert r.status_code == 201, (
                    f"retry of {a.key} (first answered 503) gave {r.status_code} {r.text}"
                )
            else:
                assert r.status_code in (200, 201), f"retry of {a.key} gave {r.status_code} {r.text}"
    check_dispatcher_matches_database(url, server, key)


def _rows(url: str) -> dict[str, dict[str, Any]]:
    with _session(url) as session:
        return {
            r.id: {
                c: getattr(r, c)
                for c in (
                    "id",
                    "idempotency_key",
                    "status",
                    "vehicle_id",
                    "passengers",
                    "pickup_stop",
                    "dropoff_stop",
                    "reason",
                )
            }
            for r in session.scalars(select(RideRequestRow))
        }


def check_dispatcher_matches_database(url: str, server: Server, key: str) -> None:
    """The server's itineraries hold exactly the database's open rides, on their vehicles, within seats."""
    rows = _rows(url)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=20) as client:
        for k in range(1, VEHICLES + 1):
            vid = f"v{k}"
            r = client.get(f"/v1/vehicles/{vid}/itinerary")
            assert r.status_code == 200, r.text
            itin = r.json()
            pickups = {s["request_id"] for s in itin if s["kind"] == "pickup"}
            dropoffs = {s["request_id"] for s in itin if s["kind"] == "dropoff"}
            assigned = {
                rid for rid, row in rows.items() if row["vehicle_id"] == vid and row["status"] == "assigned"
            }
            onboard = {
                rid for rid, row in rows.items() if row["vehicle_id"] == vid and row["status"] == "onboard"
            }
            assert pickups == assigned, (
                f"{vid}: dispatcher picks up {sorted(pickups - assigned)} the database does not have open, "
                f"and misses {sorted(assigned - pickups)}"
            )
            assert dropoffs == assigned | onboard, (
                f"{vid}: dispatcher drops off {sorted(dropoffs - assigned - onboard)} not open in the db, "
                f"misses {sorted((assigned | onboard) - dropoffs)}"
            )
            load = sum(rows[rid]["passengers"] for rid in onboard)
            assert load <= SEATS, f"{vid}: {load} riders on board of {SEATS} seats"
            for s in itin:
                load += rows[s["request_id"]]["passengers"] * (1 if s["kind"] == "pickup" else -1)
                assert load <= SEATS, f"{vid}: a seat sold twice (load {load} > {SEATS}) at {s}"
