"""The API's command line: ``ondemand keys create|list|revoke`` and bad database URLs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.db import ApiKey, hash_key, revoke_api_key
from ondemand.api.persistence import Database
from tests.api.conftest import new_key


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


def test_keys_list_and_revoke(tmp_path: Path) -> None:
    """keys list shows id, prefix, operator, role and never a key; revoke by prefix or id marks it revoked."""
    from typer.testing import CliRunner

    from ondemand.cli import app

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner()
    keys = [runner.invoke(app, ["keys", "create", "--operator", op, "--db", url]) for op in ("acme", "beta")]
    assert all(r.exit_code == 0 for r in keys)
    clear = [r.output.split()[-1] for r in keys]
    listed = runner.invoke(app, ["keys", "list", "--db", url])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert lines[0].split()[:4] == ["ID", "PREFIX", "OPERATOR", "ROLE"]
    assert [ln.split()[:4] for ln in lines[1:]] == [
        ["1", clear[0][:8] + "...", "acme", "operator"],
        ["2", clear[1][:8] + "...", "beta", "operator"],
    ]
    assert not any(k in listed.output for k in clear)
    assert not any(k[:12] in listed.output for k in clear)
    revoked = runner.invoke(app, ["keys", "revoke", clear[0][:8] + "...", "--db", url])
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked key 1" in revoked.output
    assert runner.invoke(app, ["keys", "revoke", "2", "--db", url]).exit_code == 0
    only_acme = runner.invoke(app, ["keys", "list", "--operator", "acme", "--db", url]).output
    assert only_acme.strip().splitlines()[1].split()[-1] == "yes"
    unknown = runner.invoke(app, ["keys", "revoke", "99", "--db", url])
    assert unknown.exit_code != 0
    assert "no API key matches" in str(unknown.exception)


def test_revoked_key_is_refused_after_the_cache_expires(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key revoked in the database gets 401 from a running server once its cache entry expires."""
    import ondemand.api.deps as api_deps

    app = make_app()
    key = new_key(app, "acme")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        assert client.get("/v1/stops", headers=auth).status_code == 200
        with app.state.db.write() as session:
            revoke_api_key(session, key)
            session.commit()
        assert client.get("/v1/stops", headers=auth).status_code == 200  # still cached (at most 30 s)
        monkeypatch.setattr(api_deps, "_KEY_CACHE_S", 0.0)
        r = client.get("/v1/stops", headers=auth)
    assert r.status_code == 401
