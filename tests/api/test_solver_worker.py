"""The solver worker process of the background re-optimisation ends with the server, even after kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.api._proc import START_TIMEOUT_S, free_port, kill, make_key, start_server

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
    key = make_key(db)
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
        deadline = time.monotonic() + START_TIMEOUT_S  # the worker starts and imports the solver
        workers: dict[int, str] = {}
        while time.monotonic() < deadline and not workers:
            workers = {p: c for p, c in _children(proc.pid).items() if "spawn_main" in c}
            time.sleep(0.2)
        assert workers, f"no solver worker started: {_children(proc.pid)}"
        # Its initializer (end with the server, then SCHED_IDLE) runs once the worker has
        # imported the solver, which takes seconds on a busy machine; a worker killed
        # before it ends at its initializer instead. Wait until it has run: SCHED_IDLE.
        while time.monotonic() < deadline and not all(_idle(p) for p in workers):
            time.sleep(0.2)
        assert all(_idle(p) for p in workers), "the solver worker never finished starting"
        time.sleep(1.5)  # let a round run on it
    finally:
        kill(proc)
    gone_by = time.monotonic() + 5
    while time.monotonic() < gone_by and not all(_doomed(p) for p in workers):
        time.sleep(0.1)
    left = {p: _state(p) for p in workers if not _doomed(p)}
    for p in workers:  # do not leave it behind for the next test
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    assert not left, f"solver worker(s) outlived the killed server with no kill signal pending: {left}"


def _idle(pid: int) -> bool:
    """Whether the process runs under ``SCHED_IDLE`` (the solver worker's initializer has run)."""
    try:
        return os.sched_getscheduler(pid) == os.SCHED_IDLE
    except OSError:
        return False


def _state(pid: int) -> str:
    """The ``State``, ``SigPnd`` and ``ShdPnd`` lines of a process (empty when it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return ""
    return "; ".join(ln for ln in lines if ln.startswith(("State:", "SigPnd:", "ShdPnd:")))


def _doomed(pid: int) -> bool:
    """Gone, or SIGKILL is pending for it.

    The worker runs under ``SCHED_IDLE``: on a saturated machine the kernel may take
    seconds to schedule it so that it can exit, but the kill is already decided once
    the signal is pending (PR_SET_PDEATHSIG delivered it when the server died).
    """
    if not _alive(pid):
        return True
    sigkill = 1 << (signal.SIGKILL - 1)
    for line in _state(pid).split("; "):
        name, _, mask = line.partition(":")
        if name in ("SigPnd", "ShdPnd") and int(mask.strip() or "0", 16) & sigkill:
            return True
    return False
