"""Fixtures shared by the map and plot tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.viz._day import grid_day


@pytest.fixture(scope="module")
def events() -> list[Any]:
    """A small simulated day on a 5 x 5 grid with two vehicles (one per test module)."""
    return grid_day()
