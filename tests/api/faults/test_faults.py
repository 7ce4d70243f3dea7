"""Fault injection against a real server process: database stalls, a database server restart, a full
disk and ``kill -9`` (alone and of the process group), while a client books, cancels and reports events.

After each fault the invariants of :mod:`tests.api.faults._harness` are checked, and the numbers
(bookings acknowledged, survived, recovery time) are printed in the terminal summary.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api._pg import PgServer, find_pg_bin
from tests.api.faults._harness import (
    COMMIT_TIMEOUT_S,
    START_TIMEOUT_S,
    FaultReport,
    Server,
    Workload,
    check_dispatcher_matches_database,
    check_invariants,
    make_key,
    process_group_gone,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a hang guard: up to 4 starts of START_TIMEOUT_S

Report = Callable[[str], FaultReport]

WARM = 5
"""Bookings acknowledged before a fault is injected: the load is running, however busy the machine."""


def _watch_health(server: Server, seconds: float) -> list[int]:
    """``/healthz`` codes sampled every 0.3 s for ``seconds``."""
    codes = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        codes.append(server.health())
        time.sleep(0.3)
    return codes


def _finish(server: Server) -> None:
    """Stop the server and check that nothing of its process group is left."""
    pgids = list(server.pgids)
    server.stop()
    for pgid in pgids:
        assert process_group_gone(pgid) == [], f"processes left behind in group {pgid}"


def test_sqlite_write_lock_held_past_the_commit_timeout(tmp_path: Path, fault_report: Report) -> None:
    """A lock holder on the SQLite file: writes get 503 and save nothing, health fails, then recovers."""
    path = tmp_path / "stall.db"
    url = f"sqlite:///{path}"
    key = make_key(url)
    server = Server(url, time.time(), tmp_path)
    server.start()
    report = fault_report("sqlite write lock held 2.5x the commit timeout")
    try:
        with Workload(server, key, seed=1) as load:
            load.wait_acked(WARM)
            holder = sqlite3.connect(str(path), isolation_level=None, timeout=30)
            holder.execute("BEGIN IMMEDIATE")
            codes = _watch_health(server, 2.5 * COMMIT_TIMEOUT_S)
            holder.execute("ROLLBACK")
            holder.close()
            released = time.monotonic()
            report.recovery_s = load.wait_acked_since(released, 20)
            time.sleep(1.0)
        assert 503 in codes, f"/healthz kept saying ok while nothing could be written: {codes}"
        server.wait_healthy(COMMIT_TIMEOUT_S + 5)  # ok again one commit timeout after the last failure
        assert any(a.code == 503 for a in load.answers), "the stall refused nothing: the test tested nothing"
        check_invariants(url, server, key, load.answers, report)
        server.kill()
        server.start()
        check_dispatcher_matches_database(url, server, key)
    finally:
        _finish(server)


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A PostgreSQL server of this test alone (it gets stopped and restarted)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    server = PgServer(bin_dir)
    try:
        yield server
    finally:
        server.stop()


def test_postgresql_lock_holder_and_killed_backends(
    tmp_path: Path, own_pg: PgServer, fault_report: Report
) -> None:
    """A PostgreSQL lock held past the commit timeout, then the server's connections killed twice."""
    url = own_pg.new_database()
    dbname = url.split("@/", 1)[1].split("?", 1)[0]
    key = make_key(url)
    server = Server(url, time.time(), tmp_path)
    server.start()
    stall = fault_report("postgresql lock held 2.5x the commit timeout")
    killed = fault_report("postgresql backends terminated (twice)")
    try:
        with Workload(server, key, seed=2) as load:
            load.wait_acked(WARM)
            with own_pg.connect(dbname) as holder:
                holder.autocommit = False
                # one table (several would deadlock with the server's transactions): every booking,
                # cancel and ride event writes ride_requests
                holder.execute("LOCK TABLE ride_requests IN EXCLUSIVE MODE")
                codes = _watch_health(server, 2.5 * COMMIT_TIMEOUT_S)
                holder.rollback()
            released = time.monotonic()
            stall.recovery_s = load.wait_acked_since(released, 20)
            time.sleep(1.0)
        assert 503 in codes, f"/healthz kept saying ok while nothing could be written: {codes}"
        assert any(a.code == 503 for a in load.answers), "the stall refused nothing: the test tested nothing"
        server.wait_healthy(COMMIT_TIMEOUT_S + 5)
        check_invariants(url, server, key, load.answers, stall)
        with Workload(server, key, seed=3) as load:
            for round_ in range(2):
                load.wait_acked(WARM * (round_ + 1))
                assert own_pg.terminate_backends(dbname) > 0
                cut = time.monotonic()
                killed.recovery_s = load.wait_acked_since(cut, 20)
            time.sleep(1.0)
        check_invariants(url, server, key, load.answers, killed)
        server.kill()
        server.start()
        check_dispatcher_matches_database(url, server, key)
    finally:
        _finish(server)


def test_postgresql_server_stopped_and_restarted(
    tmp_path: Path, own_pg: PgServer, fault_report: Report
) -> None:
    """PostgreSQL stops for 3 s under load: 503s that saved nothing, then the API recovers by itself."""
    url = own_pg.new_database()
    key = make_key(url)
    server = Server(url, time.time(), tmp_path)
    server.start()
    report = fault_report("postgresql server stopped 3 s and restarted")
    try:
        with Workload(server, key, seed=4) as load:
            load.wait_acked(WARM)
            own_pg.halt("fast")
            codes = _watch_health(server, 3.0)
            own_pg.start()
            back = time.monotonic()
            report.recovery_s = load.wait_acked_since(back, 20)
            time.sleep(1.0)
        assert 503 in codes, f"/healthz kept saying ok while the database was down: {codes}"
        assert server.wait_healthy(10) < 10
        check_invariants(url, server, key, load.answers, report)
        server.kill()
        server.start()
        check_dispatcher_matches_database(url, server, key)
    finally:
        _finish(server)


@contextlib.contextmanager
def _small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (skips when mounting is not allowed here)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs to fill (needs root and mount rights): {done.stderr.strip()}"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the filesystem is full."""
    block = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)


def test_sqlite_disk_full(tmp_path: Path, fault_report: Report) -> None:
    """The SQLite file's filesystem fills up under load: 503s that saved nothing; freed, the API recovers."""
    with _small_disk(tmp_path / "disk", "32m") as disk:
        url = f"sqlite:///{disk / 'full.db'}"
        key = make_key(url)
        server = Server(url, time.time(), tmp_path)
        server.start()
        report = fault_report("sqlite disk full for 5 s")
        try:
            with Workload(server, key, seed=5) as load:
                load.wait_acked(WARM)
                _fill(disk / "filler")
                codes = _watch_health(server, 5.0)
                os.unlink(disk / "filler")
                freed = time.monotonic()
                report.recovery_s = load.wait_acked_since(freed, 20)
                time.sleep(1.0)
            assert any(a.code == 503 for a in load.answers), "the full disk refused nothing: not a test"
            assert 503 in codes, f"/healthz kept saying ok while nothing could be written: {codes}"
            check_invariants(url, server, key, load.answers, report)
            server.kill()
            server.start()
            check_dispatcher_matches_database(url, server, key)
        finally:
            _finish(server)


@pytest.mark.parametrize("group", [False, True], ids=["server", "process-group"])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_repeated(
    tmp_path: Path, database: str, group: bool, request: pytest.FixtureRequest, fault_report: Report
) -> None:
    """kill -9 of the server (or its process group) three times under load: nothing acknowledged is lost."""
    url = (
        str(request.getfixturevalue("pg_url"))
        if database == "postgresql"
        else f"sqlite:///{tmp_path / 'k.db'}"
    )
    key = make_key(url)
    server = Server(url, time.time(), tmp_path)
    server.start()
    rng = random.Random(7)
    try:
        for round_ in range(3):
            report = fault_report(
                f"kill -9 of the {'process group' if group else 'server'} ({database}, {round_ + 1}/3)"
            )
            with Workload(server, key, seed=10 + round_) as load:
                load.wait_acked(WARM)
                time.sleep(rng.uniform(0.0, 1.0))
                pgid = server.proc.pid if server.proc else 0
                server.kill(group=group)
                killed = time.monotonic()
                # nothing of the server may outlive it: its group must be empty also when only it was killed
                assert process_group_gone(pgid) == [], "processes left behind after kill -9"
                server.start()
                report.recovery_s = load.wait_acked_since(killed, START_TIMEOUT_S + 30)
                time.sleep(0.5)
            check_invariants(url, server, key, load.answers, report)
    finally:
        _finish(server)


def test_every_acknowledged_booking_is_visible_to_another_process_at_once(tmp_path: Path) -> None:
    """A booking answered 201 is readable by another process's fresh connection immediately (SQLite WAL)."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    key = make_key(url)
    server = Server(url, time.time(), tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {key}"}, timeout=20) as c:
            for k in range(30):
                trip = {
                    "pickup": {"stop_id": f"s{k % 16:02d}"},
                    "dropoff": {"stop_id": f"s{(k + 5) % 16:02d}"},
                }
                r = c.post("/v1/ride-requests", json=trip, headers={"Idempotency-Key": f"k{k}"})
                assert r.status_code == 201, r.text
                with contextlib.closing(sqlite3.connect(tmp_path / "v.db")) as conn:
                    found = conn.execute("SELECT id FROM ride_requests WHERE idempotency_key = ?", (f"k{k}",))
                    assert [row[0] for row in found] == [r.json()["id"]]
    finally:
        _finish(server)
