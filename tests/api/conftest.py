"""Fixtures of the API tests: a tiny synthetic service area, a file SQLite database, keys and a client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.app import create_app
from ondemand.api.booking import ServiceConfig
from ondemand.api.db import create_api_key
from ondemand.api.settings import ApiSettings
from tests.api._pg import PgServer, find_pg_bin
from tests.api._synthetic import SyntheticArea, synthetic_service

TZ = ZoneInfo("Asia/Tokyo")


class FixedClock:
    """A settable clock: today 10:00 in Tokyo unless moved."""

    def __init__(self) -> None:
        today = dt.datetime.now(TZ).date()
        self.now = dt.datetime.combine(today, dt.time(10, 0), tzinfo=TZ)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def area() -> SyntheticArea:
    """Nine stops on a 400 m grid."""
    return SyntheticArea.grid(9)


@pytest.fixture
def config(area: SyntheticArea) -> ServiceConfig:
    """Two 4-seat vans, 09:00-18:00."""
    return synthetic_service(area, n_vehicles=2, seats=4, start=9 * 3600, end=18 * 3600)


@pytest.fixture
def clock() -> FixedClock:
    """Today 10:00 Tokyo time."""
    return FixedClock()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL server for the session; skips when PostgreSQL or psycopg is absent."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    server = PgServer(bin_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_server.new_database()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, or a fresh PostgreSQL database with ``indirect`` param ``"postgresql"``."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'api.db'}"


both_databases = pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
"""Run a test on SQLite and on PostgreSQL."""


@pytest.fixture
def make_app(
    area: SyntheticArea, config: ServiceConfig, clock: FixedClock, db_url: str
) -> Iterator[Callable[..., FastAPI]]:
    """Build an app on the test database (keyword overrides for settings, config, area).

    At teardown every app's database is disposed again: a test may read it after the
    app shut down, and a connection left in the pool would be closed only by the
    garbage collector (a ResourceWarning on PostgreSQL).
    """
    apps: list[FastAPI] = []

    def build(**over: Any) -> FastAPI:
        settings = ApiSettings(
            database_url=db_url,
            reopt_interval_s=over.pop("reopt_interval_s", 0.0),
            **over.pop("settings", {}),
        )
        app = create_app(
            over.pop("area", area),
            over.pop("config", config),
            settings=settings,
            dispatcher_factory=over.pop("dispatcher_factory", None),
            clock=over.pop("clock", clock),
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.state.db.dispose()


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The app on a fresh database."""
    return make_app()


def new_key(app: FastAPI, operator: str, *, role: str = "operator", vehicle_id: str | None = None) -> str:
    """Create a key directly in the app's database."""
    with app.state.db.write() as session:
        key = create_api_key(session, operator, role=role, vehicle_id=vehicle_id)
        session.commit()
    return key


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A test client with the lifespan running."""
    with TestClient(app) as c:
        yield c


@pytest.fixture
def key(app: FastAPI) -> str:
    """An operator key of operator 'acme'."""
    return new_key(app, "acme")


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    """Authorization header of 'acme'."""
    return {"Authorization": f"Bearer {key}"}
