"""GOFS 1.0 at /gofs: discovery, the static feeds with the spec's field names, and the live wait estimate."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from ondemand.api.booking import ServiceConfig
from ondemand.api.routes.gofs import GofsInfo, estimate_wait
from ondemand.dispatch.calendar import BookingRules, ServiceCalendar
from ondemand.scenario import AgencyParams, load_scenario
from tests.api._synthetic import SyntheticArea

SCEN = Path(__file__).resolve().parents[2] / "scenarios"
HEADER = {"last_updated", "ttl", "version", "data"}


def _get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    body: dict[str, Any] = r.json()
    assert set(body) == HEADER
    assert body["version"] == "1.0"
    assert body["ttl"] >= 0
    return body["data"]


def _feeds(client: TestClient) -> dict[str, str]:
    data = _get(client, "/gofs/gofs.json")
    (lang,) = data
    return {f["name"]: f["url"] for f in data[lang]["feeds"]}


def test_discovery_lists_every_feed_without_a_key(client: TestClient) -> None:
    """gofs.json names the required feeds; each URL answers 200 with the GOFS header and no key."""
    feeds = _feeds(client)
    required = {"system_information", "service_brands", "zones", "operating_rules", "calendars", "wait_time"}
    assert required <= set(feeds)
    assert "fares" not in feeds  # the synthetic app knows no fare
    for name, url in feeds.items():
        params = {"pickup_lat": 34.51, "pickup_lon": 135.48} if name == "wait_time" else {}
        assert _get(client, url.replace("http://testserver", ""), **params) is not None


def test_static_feeds_have_the_spec_fields_and_consistent_references(
    client: TestClient, area: SyntheticArea, config: ServiceConfig
) -> None:
    """GOFS field names; rules point at zones, calendars, brands and vehicle types that exist."""
    info = _get(client, "/gofs/system_information.json")
    assert {"language", "timezone", "name"} <= set(info)
    assert info["timezone"] == "Asia/Tokyo"
    brands = {b["brand_id"] for b in _get(client, "/gofs/service_brands.json")["service_brands"]}
    vtypes = _get(client, "/gofs/vehicle_types.json")["vehicle_types"]
    assert vtypes[0]["max_capacity"] == 4
    zones = _get(client, "/gofs/zones.json")["zones"]
    assert zones["type"] == "FeatureCollection"
    zone_ids = set()
    for f in zones["features"]:
        assert {"type", "zone_id", "properties", "geometry"} <= set(f)
        assert f["type"] == "Feature"
        geom = shape(f["geometry"])
        assert f["geometry"]["type"] == "Polygon"
        assert geom.is_valid
        assert all(geom.contains(Point(s.lon, s.lat)) for s in area.stops)
        zone_ids.add(f["zone_id"])
    cal_ids = {c["calendar_id"] for c in _get(client, "/gofs/calendars.json")["calendars"]}
    (rule,) = _get(client, "/gofs/operating_rules.json")["operating_rules"]
    assert {rule["from_zone_id"], rule["to_zone_id"]} <= zone_ids
    assert set(rule["calendars"]) <= cal_ids
    assert rule["brand_id"] in brands
    assert set(rule["vehicle_type_id"]) <= {v["vehicle_type_id"] for v in vtypes}
    assert (rule["start_pickup_window"], rule["end_pickup_window"]) == ("09:00:00", "18:00:00")
    (booking,) = _get(client, "/gofs/booking_rules.json")["booking_rules"]
    assert set(booking["from_zone_ids"]) <= zone_ids
    if booking["booking_type"] == 1:
        assert booking["prior_notice_duration_min"] >= 0
    else:
        assert booking["booking_type"] == 0
        assert "prior_notice_duration_min" not in booking


def test_calendar_excepts_exactly_the_policy_closed_days(make_app: Any, config: ServiceConfig) -> None:
    """calendars.json: weekdays, minus the days the policy's calendar closes (holidays, year-end)."""
    cal = ServiceCalendar(days="weekdays", holidays=False, closures=(((12, 29), (1, 3)),))
    policy = dataclasses.replace(config.policy, booking=BookingRules(calendar=cal))
    app: FastAPI = make_app(config=dataclasses.replace(config, policy=policy))
    with TestClient(app) as c:
        (entry,) = _get(c, "/gofs/calendars.json")["calendars"]
    assert entry["days"] == ["mon", "tue", "wed", "thu", "fri"]
    first = dt.datetime.strptime(entry["start_date"], "%Y%m%d").date()
    last = dt.datetime.strptime(entry["end_date"], "%Y%m%d").date()
    assert (last - first).days == 364
    expected = {
        d.strftime("%Y%m%d")
        for d in (first + dt.timedelta(days=k) for k in range(365))
        if d.weekday() < 5 and not cal.runs_on(d)
    }
    assert set(entry["excepted_dates"]) == expected
    assert any(d.endswith("0101") for d in expected)  # 元日 is always within a year


def test_wait_time_of_an_idle_fleet_is_the_drive_from_the_depot(
    client: TestClient, area: SyntheticArea, config: ServiceConfig
) -> None:
    """At 10:00 with no bookings, each meeting point's wait is the shortest drive from a depot."""
    d = area.matrix.durations
    for k, s in enumerate(area.stops):
        data = _get(client, "/gofs/wait_time", pickup_lat=s.lat, pickup_lon=s.lon)
        expected = min(int(d[v.start, k]) for v in config.vehicles)
        assert data["wait_times"] == [{"brand_id": "ondemand", "wait_time": expected}]


def test_wait_time_outside_the_area_or_bad_coordinates(client: TestClient) -> None:
    """Far from every meeting point: an empty list; a latitude of 200 or NaN: 422 (API error body)."""
    assert _get(client, "/gofs/wait_time", pickup_lat=35.7, pickup_lon=139.7)["wait_times"] == []
    for lat in ("200", "nan"):
        r = client.get("/gofs/wait_time", params={"pickup_lat": lat, "pickup_lon": 135.48})
        assert r.status_code == 422
        assert "detail" in r.json()
    assert (
        _get(client, "/gofs/wait_time", pickup_lat=34.51, pickup_lon=135.48, brand_id="other")["wait_times"]
        == []
    )


def test_estimate_wait_appends_to_each_route_and_respects_shifts() -> None:
    """The estimate is min over vehicles of max(now, free) + drive, within each vehicle's shift."""
    d = np.array([[0, 100, 300], [100, 0, 200], [300, 200, 0]])
    now = 36_000
    states = [(now + 500, 0, 64_800, d), (now - 50, 2, 64_800, d)]
    assert estimate_wait(states, 1, now) == 200  # second van is free now at stop 2: 200 s away
    assert estimate_wait(states, 0, now) == 300  # first van is at stop 0 but busy for 500 s
    assert estimate_wait([(now, 2, now + 100, d)], 0, now) is None  # its shift ends before it arrives


def test_scenario_facts_fares_and_e164_phone(make_app: Any) -> None:
    """With the scenario's facts set, fares.json lists the flat fare and phone numbers are E.164."""
    sc = load_scenario(SCEN / "senboku.toml")
    sc = dataclasses.replace(sc, agency=AgencyParams(name="泉北", phone="072-000-0000"))
    info = GofsInfo.from_scenario(sc)
    app: FastAPI = make_app()
    app.state.gofs = info
    with TestClient(app) as c:
        assert "fares" in _feeds(c)
        (fare,) = _get(c, "/gofs/fares.json")["fares"]
        assert fare == {"fare_id": "flat", "currency": "JPY", "rider": [{"amount": 300}]}
        assert _get(c, "/gofs/system_information.json")["phone_number"] == "+81720000000"
        (rule,) = _get(c, "/gofs/booking_rules.json")["booking_rules"]
        assert rule["phone_number"] == "+81720000000"
        assert rule["message"] == "Book by app: every day all day; same day only."  # the app's policy
        (op,) = _get(c, "/gofs/operating_rules.json")["operating_rules"]
        assert op["fare_id"] == "flat"


@pytest.mark.parametrize(
    ("phone", "e164"), [("+81 72-000-0000", "+81720000000"), ("0720000000", "+81720000000")]
)
def test_phone_numbers_become_e164(phone: str, e164: str) -> None:
    """GOFS phone numbers carry the country code and no punctuation."""
    from ondemand.api.routes.gofs import _e164

    assert _e164(phone, "JP") == e164
    assert _e164("0720000000", "XX") is None
