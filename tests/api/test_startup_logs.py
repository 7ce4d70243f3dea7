"""``ondemand serve`` start-up logs: scenario, fleet, database (no password), address, and nothing else."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api._proc import REPO, START_TIMEOUT_S, compiled_search_cached, free_port

_SERVE = """
import sys
from ondemand._cli.api import run_api
from ondemand.api.settings import ApiSettings
from tests.api._synthetic import SyntheticArea, synthetic_service

area = SyntheticArea.grid(9)
config = synthetic_service(area, n_vehicles=3, seats=6, start=9 * 3600, end=18 * 3600)
settings = ApiSettings(database_url=sys.argv[1], reopt_interval_s=0.0)
run_api(area, config, settings, scenario="synthetic (grid of 9)", host="127.0.0.1", port=int(sys.argv[2]))
"""


def _start_and_stop(db_url: str, port: int) -> str:
    """Start the server as ``ondemand serve`` does, wait for /healthz, stop it with SIGINT; its stderr."""
    compiled_search_cached()
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, db_url, str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert out == b""
    return err.decode()


@pytest.mark.slow
def test_start_up_says_what_matters_and_nothing_else(tmp_path: Path) -> None:
    """Five start-up lines (scenario, fleet, database, re-optimisation, address); no Alembic, no uvicorn."""
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    log = _start_and_stop(db_url, port)
    lines = [line for line in log.splitlines() if "uvicorn.access" not in line]
    # each line starts with its time in ISO 8601 with the UTC offset
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert all(re.match(stamp + " ", line) for line in lines), log
    said = [re.sub(r"^\S+ INFO ondemand\.serve: ", "", line) for line in lines]
    assert said == [
        "scenario synthetic (grid of 9), time zone Asia/Tokyo",
        "fleet: 3 vehicles (6 seats, 1 wheelchair place each), service 09:00-18:00",
        f"database: {db_url}",
        "re-optimisation: off (ONDEMAND_REOPT_INTERVAL_S overrides the scenario's every 30 s, 2 s each)",
        f"listening on http://127.0.0.1:{port} (API docs /docs, live map /map; Ctrl+C stops)",
    ], log
    for chatter in ("alembic", "uvicorn running", "startup", "server process"):
        assert chatter not in log.lower(), log


def test_the_database_password_is_not_logged() -> None:
    """The database line shows a PostgreSQL URL with its password replaced by ***."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    from ondemand.api.persistence import Database

    db = Database("postgresql+psycopg://ops:s3cret@127.0.0.1:1/ondemand", run_migrations=False)
    try:
        assert db.shown_url == "postgresql+psycopg://ops:***@127.0.0.1:1/ondemand"
    finally:
        db.dispose()
