"""The live API refuses a pickup outside the scenario's service zone, naming the zone (OSM data)."""

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
def test_pickup_outside_the_zone_is_refused_with_its_name(
    data_dir: Path, make_app: Callable[..., FastAPI]
) -> None:
    """Senboku pilot 1: a pickup at 和泉中央 (in the road graph, not the zone) is a 422 naming the zone."""
    from ondemand.api.booking import service_config_from_scenario
    from ondemand.scenario import load_scenario

    sc = load_scenario(REPO / "scenarios" / "senboku_pilot1.toml")
    area = sc.service_area(data_dir=data_dir)
    app = make_app(area=area, config=service_config_from_scenario(sc, area))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'nankai')}"}
        stop = client.get("/v1/stops", headers=auth).json()[0]
        found = client.get("/v1/stops", headers=auth, params={"q": "泉ケ丘"}).json()
        assert [s["name"] for s in found] == [s.name for s in area.stops if s.name.endswith("_泉ケ丘駅")]
        assert len(found) == 1
        far = {"pickup": {"lon": 135.4563, "lat": 34.4613}, "dropoff": {"stop_id": stop["id"]}}
        r = client.post("/v1/ride-requests", headers=auth, json=far)
        assert r.status_code == 422
        assert "泉北ニュータウン 桃山台・鴨谷台 (パイロット1)" in r.json()["detail"]
        # GOFS publishes that same polygon as the service zone
        (feature,) = client.get("/gofs/zones.json").json()["data"]["zones"]["features"]
    from shapely.geometry import shape

    assert shape(feature["geometry"]).equals(area.zone.geometry)
    assert feature["properties"]["name"].startswith(area.zone.name)
