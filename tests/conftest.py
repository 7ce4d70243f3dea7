"""Shared fixtures: where the OSM data and benchmark instances are, and skips when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# No wall-clock limits on property tests: Hypothesis fails an example that takes over 200 ms
# (``deadline``) and a test whose data takes long to generate (``too_slow``), which a loaded
# machine turns into failures of correct code. Speed is measured in benchmarks/, not here.
settings.register_profile("ondemand", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI gates every landing, so there the examples are the same on every run (derandomize: a fixed
# seed per test); a developer's run draws new examples each time and so keeps exploring.
settings.register_profile("ci", parent=settings.get_profile("ondemand"), derandomize=True)
settings.load_profile("ci" if os.environ.get("ONDEMAND_CI") else "ondemand")

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared"


def _data_dir() -> Path | None:
    env = os.environ.get("ONDEMAND_DATA_DIR")
    path = Path(env) if env else _SHARED / "data" / "osm"
    return path if path.is_dir() else None


def _bench_dir() -> Path | None:
    env = os.environ.get("ONDEMAND_BENCHMARK_DIR")
    path = Path(env) if env else _SHARED / "benchmarks"
    return path if path.is_dir() else None


def pytest_configure(config: pytest.Config) -> None:
    """Point the package at ../shared when the variables are unset, for subprocesses too.

    Notebooks, Ray workers and CLI subprocesses started by tests read the environment,
    not fixtures; tests that need the data still skip (via the fixtures) when it is absent.
    """
    for var, found in (("ONDEMAND_DATA_DIR", _data_dir()), ("ONDEMAND_BENCHMARK_DIR", _bench_dir())):
        if found is not None and not os.environ.get(var):
            os.environ[var] = str(found)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The OSM data folder; skips the test when it is absent."""
    path = _data_dir()
    if path is None:
        pytest.skip("OSM data folder not found: set ONDEMAND_DATA_DIR to ../shared/data/osm")
    return path


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    """The benchmark-instance folder; skips the test when it is absent."""
    path = _bench_dir()
    if path is None:
        pytest.skip("benchmark instances not found: set ONDEMAND_BENCHMARK_DIR to ../shared/benchmarks")
    return path
