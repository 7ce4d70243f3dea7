"""Start and stop API server subprocesses for tests (by pid, never by name)."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]

START_TIMEOUT_S = 180.0
"""How long a test waits for a server process to answer ``/healthz``.

A start costs about 3.5 s of CPU (imports, migrations, the dispatcher, loading the compiled
insertion search from Numba's cache), which took about 30 s of wall time on the 2-core machine
at load 10; 180 s leaves room for a machine 5x slower. Only a server that never comes up waits
this long. The compile itself (11 s of CPU) is done once in the test process beforehand
(:func:`compiled_search_cached`), not against this deadline.
"""


@functools.cache
def compiled_search_cached() -> None:
    """Compile the insertion search in this process once, which writes Numba's on-disk cache.

    Server processes then load it (1 s of CPU) instead of each compiling it (11 s) at start-up.
    """
    from ondemand.routing.solver.insertion import warm_up

    warm_up()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int, t0: float, *extra: str) -> subprocess.Popen[bytes]:
    """Start tests.api._server and wait until /healthz answers (at most :data:`START_TIMEOUT_S`)."""
    compiled_search_cached()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.api._server",
            "--db",
            db_url,
            "--port",
            str(port),
            "--t0",
            str(t0),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    kill(proc)
    raise RuntimeError(f"server did not become ready in {START_TIMEOUT_S:g} s")


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the server process and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    if proc.stderr:
        proc.stderr.close()


def make_key(url: str, operator: str = "acme") -> str:
    """Create the database's schema and an operator key (as ``ondemand keys create`` does)."""
    from ondemand.api.db import create_api_key
    from ondemand.api.persistence import Database

    db = Database(url)
    try:
        with db.write() as session:
            key = create_api_key(session, operator)
            session.commit()
    finally:
        db.dispose()
    return key
