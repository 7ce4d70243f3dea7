"""The API's command line: ``ondemand keys create`` and bad database URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ondemand.api.db import ApiKey, hash_key
from ondemand.api.service import Database


def _ondemand(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ondemand.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_create_prints_the_key_last_and_stores_only_its_hash(tmp_path: Path) -> None:
    """The new key is the last word of the output; the database holds its SHA-256, never the key."""
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    done = _ondemand(
        "keys", "create", "--operator", "acme", "--role", "vehicle", "--vehicle", "v1", "--db", url
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.split()[-1]
    assert key.startswith("odk_")
    assert len(key) > 40
    db = Database(url)
    with db.read() as session:
        rows = session.query(ApiKey).all()
    db.dispose()
    assert [(r.key_hash, r.role, r.vehicle_id) for r in rows] == [(hash_key(key), "vehicle", "v1")]
    assert key.encode() not in (tmp_path / "keys.db").read_bytes()


@pytest.mark.slow
def test_bad_database_url_is_a_clean_error(tmp_path: Path) -> None:
    """A malformed URL or a missing driver gives a one-line message and exit status 2, password hidden."""
    done = _ondemand("keys", "create", "--operator", "acme", "--db", "not a url")
    assert done.returncode == 2
    assert "cannot use database URL" in done.stderr
    assert "Traceback" not in done.stderr
    done = _ondemand("keys", "create", "--operator", "acme", "--db", "postgresql+nodriver://u:secret@h/db")
    assert done.returncode == 2
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
