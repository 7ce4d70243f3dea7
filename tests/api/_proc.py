"""Start and stop API server subprocesses for tests (by pid, never by name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int, t0: float, *extra: str) -> subprocess.Popen[bytes]:
    """Start tests.api._server and wait until /healthz answers (at most 30 s)."""
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
    deadline = time.monotonic() + 30
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
    raise RuntimeError("server did not become ready in 30 s")


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
