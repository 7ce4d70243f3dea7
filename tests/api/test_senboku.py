"""The API on the real Senboku service area (OSM data; skipped without it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import new_key

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.data
def test_senboku_scenario_books_between_real_stops(data_dir: Path, make_app: Callable[..., FastAPI]) -> None:
    """The senboku scenario serves its 50 stops; a lon/lat near a stop books a ride with a promise."""
    from ondemand.api.booking import service_config_from_scenario
    from ondemand.scenario import load_scenario

    sc = load_scenario(REPO / "scenarios" / "senboku.toml")
    area = sc.service_area(data_dir=data_dir)
    config = service_config_from_scenario(sc, area)
    assert len(config.vehicles) == sc.service.fleet
    app = make_app(area=area, config=config)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'nankai')}"}
        stops = client.get("/v1/stops", headers=auth).json()
        assert len(stops) == len(area.stops) >= 40
        a, b = stops[0], stops[len(stops) // 2]
        body = {"pickup": {"lon": a["lon"] + 0.0005, "lat": a["lat"]}, "dropoff": {"stop_id": b["id"]}}
        out = client.post("/v1/ride-requests", headers=auth, json=body).json()
        assert out["status"] == "assigned", out
        assert out["pickup_stop"] == a["id"]
        assert 0 < out["pickup_walk_m"] <= sc.demand.max_walk_m
        far = {"pickup": {"lon": 135.0, "lat": 34.0}, "dropoff": {"stop_id": b["id"]}}
        r = client.post("/v1/ride-requests", headers=auth, json=far)
        assert r.status_code == 422
