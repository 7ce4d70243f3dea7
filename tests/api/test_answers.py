"""Answers a person can read: when a booking was made, drop-off estimates, refusals in HH:MM."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api._synthetic import SyntheticArea, synthetic_service
from tests.api.conftest import TZ, FixedClock, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def test_booked_at_is_when_the_booking_was_made(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """A booking made at 23:09 for the next morning says booked_at 23:09 that evening, not next midnight."""
    config = synthetic_service(area, n_vehicles=1, start=9 * 3600, end=18 * 3600, booking_horizon_days=7)
    clock.now = dt.datetime.combine(clock.now.date(), dt.time(23, 9, 30), tzinfo=TZ)
    app = make_app(config=config)
    tomorrow = clock.now.date() + dt.timedelta(days=1)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        pickup = dt.datetime.combine(tomorrow, dt.time(9, 30), tzinfo=TZ).isoformat()
        out = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": pickup}).json()
        again = client.get(f"/v1/ride-requests/{out['id']}", headers=auth).json()
    assert out["status"] == "assigned", out
    assert dt.datetime.fromisoformat(out["booked_at"]) == clock.now
    assert out["booked_at"] == again["booked_at"] == clock.now.isoformat()
    assert dt.datetime.fromisoformat(out["pickup_window"]["start"]).date() == tomorrow


def test_asap_dropoff_estimate_is_not_before_the_window_ends(
    client: TestClient, auth: dict[str, str]
) -> None:
    """An as-soon-as-possible short ride: drop-off estimate >= pickup window end, <= latest drop-off."""
    for a, b in (("s00", "s01"), ("s04", "s05"), ("s08", "s07")):
        out = client.post(
            "/v1/ride-requests", headers=auth, json={"pickup": {"stop_id": a}, "dropoff": {"stop_id": b}}
        ).json()
        assert out["status"] == "assigned", out
        end = dt.datetime.fromisoformat(out["pickup_window"]["end"])
        eta = dt.datetime.fromisoformat(out["dropoff_eta"])
        assert end <= eta <= dt.datetime.fromisoformat(out["latest_dropoff"]), out


def test_docs_load_only_files_served_by_the_app(client: TestClient) -> None:
    """/docs references no other host, and each script, style and icon it loads answers 200."""
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert not re.search(r"https?://|//[a-z]", html, re.IGNORECASE), html
    assert len(refs) >= 3, refs
    assert all(r.startswith("/") for r in refs), refs
    for ref in refs:
        r = client.get(ref)
        assert r.status_code == 200, ref
        assert len(r.content) > 500, ref
    assert "SwaggerUIBundle" in client.get(next(r for r in refs if r.endswith(".js"))).text
    assert client.get("/openapi.json").status_code == 200
