"""The phone desk's API: the service clock (/v1/desk) and offers without booking (/v1/ride-requests/quote)."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ondemand.api.db import RideRequestRow
from tests.api.conftest import TZ, FixedClock

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def stored(app: FastAPI) -> list[RideRequestRow]:
    """Every ride request in the database."""
    with app.state.db.read() as session:
        return list(session.scalars(select(RideRequestRow)))


def at(clock: FixedClock, hh: int, mm: int) -> str:
    """ISO time of HH:MM on the clock's service day."""
    return dt.datetime.combine(clock.now.date(), dt.time(hh, mm), tzinfo=TZ).isoformat()


def test_desk_info_gives_the_service_clock(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """/v1/desk names the service, its time zone, now with its offset, today and the daily hours."""
    r = client.get("/v1/desk", headers=auth)
    assert r.status_code == 200
    info = r.json()
    assert info["timezone"] == "Asia/Tokyo"
    assert info["now"] == clock.now.isoformat()
    assert info["today"] == clock.now.date().isoformat()
    assert (info["service_start"], info["service_end"]) == ("09:00", "18:00")
    assert info["service"] == "synthetic"
    assert info["channel"] is None  # this service takes no phone bookings


def test_a_quote_books_nothing_and_matches_the_booking(
    client: TestClient, auth: dict[str, str], app: FastAPI, clock: FixedClock
) -> None:
    """A quote stores nothing and offers exactly the window and drop-off the booking then gets."""
    for body in (
        TRIP,
        {**TRIP, "earliest_pickup": at(clock, 11, 0)},
        {**TRIP, "latest_dropoff": at(clock, 12, 0)},
    ):
        q = client.post("/v1/ride-requests/quote", headers=auth, json=body)
        assert q.status_code == 200, q.text
        quote = q.json()
        assert quote["reason"] is None
        assert quote["alternatives"] == []
        again = client.post("/v1/ride-requests/quote", headers=auth, json=body).json()
        assert again == quote  # nothing was held by the first quote
        assert stored(app) == [] or all(r.status == "cancelled" for r in stored(app))
        booked = client.post("/v1/ride-requests", headers=auth, json=body).json()
        assert booked["status"] == "assigned"
        assert booked["pickup_window"] == quote["offer"]["pickup_window"]
        assert booked["dropoff_eta"] == quote["offer"]["dropoff_eta"]
        assert booked["latest_dropoff"] == quote["offer"]["latest_dropoff_promised"]
        assert client.post(f"/v1/ride-requests/{booked['id']}/cancel", headers=auth).status_code == 200
    assert client.get("/v1/kpis", headers=auth).json()["requests"] == 3  # the three bookings, no quotes


def test_a_refused_quote_says_why_and_offers_the_nearest_times_that_work(
    client: TestClient, auth: dict[str, str], app: FastAPI, clock: FixedClock
) -> None:
    """Leave at 18:30 (after hours) is refused with the reason and earlier bookable times, nearest first."""
    body = {**TRIP, "earliest_pickup": at(clock, 18, 30)}
    q = client.post("/v1/ride-requests/quote", headers=auth, json=body).json()
    assert q["offer"] is None
    assert q["reason"]
    alts = q["alternatives"]
    assert 1 <= len(alts) <= 3
    asked = [dt.datetime.fromisoformat(a["earliest_pickup"]) for a in alts]
    target = dt.datetime.fromisoformat(body["earliest_pickup"])
    gaps = [abs((t - target).total_seconds()) for t in asked]
    assert gaps == sorted(gaps)
    assert all(t < target for t in asked)
    assert all(g % 900 == 0 and g > 0 for g in gaps)
    assert stored(app) == []
    first = alts[0]
    booked = client.post(
        "/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": first["earliest_pickup"]}
    )
    assert booked.json()["status"] == "assigned"
    assert booked.json()["pickup_window"] == first["pickup_window"]


def test_as_soon_as_possible_alternatives_are_later(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """An ASAP request refused before the service opens gets only later leave-at times that book."""
    clock.now = clock.now.replace(hour=8, minute=0)
    q = client.post("/v1/ride-requests/quote", headers=auth, json=TRIP).json()
    assert q["offer"] is None
    assert q["reason"]
    asked = [dt.datetime.fromisoformat(a["earliest_pickup"]) for a in q["alternatives"]]
    assert asked
    assert all(t > clock.now for t in asked)
    assert asked == sorted(asked)
    ends = [dt.datetime.fromisoformat(a["pickup_window"]["end"]) for a in q["alternatives"]]
    assert all(t.astimezone(TZ).time() >= dt.time(9, 0) for t in ends)  # the vans start at 09:00
    first = q["alternatives"][0]
    booked = client.post(
        "/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": first["earliest_pickup"]}
    )
    assert booked.json()["status"] == "assigned"
    assert booked.json()["pickup_window"] == first["pickup_window"]


def test_quote_with_bad_input_is_422_and_books_nothing(
    client: TestClient, auth: dict[str, str], app: FastAPI, clock: FixedClock
) -> None:
    """A quote for an unknown stop, the same stops, or a time nothing near mends is 422 with the reason."""
    for body, says in (
        ({"pickup": {"stop_id": "nowhere"}, "dropoff": {"stop_id": "s01"}}, "unknown stop"),
        ({"pickup": {"stop_id": "s01"}, "dropoff": {"stop_id": "s01"}}, "same meeting point"),
        ({**TRIP, "earliest_pickup": at(clock, 23, 59)}, "after the service hours"),
    ):
        r = client.post("/v1/ride-requests/quote", headers=auth, json=body)
        assert r.status_code == 422, r.text
        assert says in r.json()["detail"]
    assert stored(app) == []


def test_desk_page_is_served_from_the_package(client: TestClient) -> None:
    """/desk is HTML loading Leaflet and its script from /static (no CDN), both languages in one table."""
    r = client.get("/desk")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert '<html lang="ja">' in r.text
    for asset in (
        "/static/leaflet/leaflet.js",
        "/static/leaflet/leaflet.css",
        "/static/desk.js",
        "/static/desk.css",
    ):
        assert asset in r.text
        assert client.get(asset).status_code == 200
    assert "cdn" not in r.text.lower()
    assert "<script>" not in r.text  # the CSP allows no inline script
    js = client.get("/static/desk.js").text
    assert "ja: {" in js
    assert "en: {" in js
    assert "/v1/riders/search" in js
