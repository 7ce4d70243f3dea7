"""The solver worker process of the background re-optimisation ends with the server, even after kill -9."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from ondemand.api.db import create_api_key
from ondemand.api.persistence import Database
from tests.api._proc import free_port, kill, start_server

TRIPS = [("s00", "s15"), ("s03", "s12"), ("s05", "s10"), ("s01", "s14")]


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid``: pid -> command line."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                out[int(stat.parent.name)] = cmd
        except (OSError, ValueError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


@pytest.mark.slow
def test_solver_worker_dies_with_a_killed_server(tmp_path: Path) -> None:
    """After a re-optimisation round, kill -9 of the server ends its solver worker within 5 s."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc (Linux) to find the server's child processes")
    port = free_port()
    db = f"sqlite:///{tmp_path / 'api.db'}"
    database = Database(db)
    with database.write() as session:
        key = create_api_key(session, "acme")
        session.commit()
    database.dispose()
    proc = start_server(db, port, time.time(), "--reopt-interval", "1")
    try:
        auth = {"Authorization": f"Bearer {key}"}
        for a, b in TRIPS:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/ride-requests",
                headers=auth,
                json={"pickup": {"stop_id": a}, "dropoff": {"stop_id": b}},
                timeout=10,
            )
            assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60
        workers: dict[int, str] = {}
        while time.monotonic() < deadline and not workers:
            workers = {p: c for p, c in _children(proc.pid).items() if "spawn_main" in c}
            time.sleep(0.2)
        assert workers, f"no solver worker started: {_children(proc.pid)}"
        time.sleep(1.5)  # let a round run on it
    finally:
        kill(proc)
    gone_by = time.monotonic() + 5
    while time.monotonic() < gone_by and any(_alive(p) for p in workers):
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # do not leave it behind for the next test
        os.kill(p, signal.SIGKILL)
    assert not left, f"solver worker(s) {left} outlived the killed server"
