"""Bookings whose pickup window passed while the server was down are marked lost and raised as alarms."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.booking import ServiceConfig
from tests.api.conftest import FixedClock, both_databases, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


@both_databases
def test_pickup_window_passed_during_downtime_is_lost(
    make_app: Callable[..., FastAPI], clock: FixedClock
) -> None:
    """Restarted past its pickup window, a booking is 'lost' (reason, KPIs, alarms); later ones stay."""
    app = make_app()
    at = clock.now
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        soon = client.post(
            "/v1/ride-requests",
            headers=auth,
            json={**TRIP, "earliest_pickup": (at + dt.timedelta(minutes=30)).isoformat()},
        ).json()
        later = client.post(
            "/v1/ride-requests",
            headers=auth,
            json={**TRIP, "earliest_pickup": (at + dt.timedelta(hours=4)).isoformat()},
        ).json()
    assert (soon["status"], later["status"]) == ("assigned", "assigned")
    clock.advance(2 * 3600)  # down from 10:00 to 12:00: the 10:30 pickup window has passed
    restarted = make_app()
    with TestClient(restarted) as client:
        got = client.get(f"/v1/ride-requests/{soon['id']}", headers=auth).json()
        kept = client.get(f"/v1/ride-requests/{later['id']}", headers=auth).json()
        kpis = client.get("/v1/kpis", headers=auth).json()
        live = client.get("/v1/live", headers=auth).json()
        itin = client.get(f"/v1/vehicles/{soon['vehicle_id']}/itinerary", headers=auth).json()
        cancel = client.post(f"/v1/ride-requests/{soon['id']}/cancel", headers=auth)
    assert got["status"] == "lost"
    assert "could not be restored" in got["reason"]
    assert "12:00" in got["reason"]
    assert got["pickup_window"] == soon["pickup_window"]  # the broken promise stays visible
    assert kept == later
    assert kpis["lost"] == 1
    assert kpis["assigned"] == 1
    assert [a["id"] for a in live["alarms"]] == [soon["id"]]
    assert soon["id"] not in {r["id"] for r in live["open_requests"]}
    assert soon["id"] not in {s["request_id"] for s in itin}
    assert cancel.status_code == 409


def test_auto_complete_services_do_not_mark_past_rides_lost(
    make_app: Callable[..., FastAPI], config: ServiceConfig, clock: FixedClock
) -> None:
    """Without driver reports (auto-complete) a past pickup counts as served, so nothing is marked lost."""
    auto = dataclasses.replace(config, policy=dataclasses.replace(config.policy, auto_complete=True))
    app = make_app(config=auto)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        rid = client.post("/v1/ride-requests", headers=auth, json=TRIP).json()["id"]
    clock.advance(2 * 3600)
    with TestClient(make_app(config=auto)) as client:
        assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] != "lost"
        assert client.get("/v1/kpis", headers=auth).json()["lost"] == 0
