"""Booking channels in the live API: a closed channel is refused with when it opens, its lead time
applies, an unknown channel is 422, the channel is stored; the phone desk books through ``phone``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ondemand.api.booking import ServiceConfig
from ondemand.api.db import RideRequestRow
from ondemand.scenario import ChannelParams
from tests.api._synthetic import SyntheticArea, synthetic_service
from tests.api.conftest import FixedClock, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def _config(area: SyntheticArea) -> ServiceConfig:
    """Two vans 07:00-22:00; the app takes rides up to 10 min ahead, the phone 09:00-17:00."""
    return synthetic_service(
        area,
        n_vehicles=2,
        start=7 * 3600,
        end=22 * 3600,
        booking_channels=("app", "phone"),
        channels=(
            ChannelParams("app", 0.6, min_lead_s=600),
            ChannelParams("phone", 0.4, opens=9 * 3600, closes=17 * 3600),
        ),
    )


def _rows(app: FastAPI) -> list[RideRequestRow]:
    with app.state.db.read() as session:
        return list(session.scalars(select(RideRequestRow)))


@pytest.fixture
def booking_app(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> Callable[[int, int], tuple[FastAPI, dict[str, str]]]:
    """An app with the two channels whose clock reads ``hh:mm``, and an operator's auth header."""

    def make(hh: int, mm: int) -> tuple[FastAPI, dict[str, str]]:
        clock.now = clock.now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        app = make_app(config=_config(area))
        return app, {"Authorization": f"Bearer {new_key(app, 'acme')}"}

    return make


def test_a_booking_through_a_closed_channel_is_422_with_when_it_opens_and_saves_nothing(
    booking_app: Callable[[int, int], tuple[FastAPI, dict[str, str]]], clock: FixedClock
) -> None:
    """By phone at 18:30 (phone 09:00-17:00): 422 naming the hours and tomorrow 09:00; nothing stored."""
    app, auth = booking_app(18, 30)
    with TestClient(app) as client:
        r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "channel": "phone"})
        app_ok = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "channel": "app"})
    assert r.status_code == 422, r.text
    tomorrow = clock.now.date() + dt.timedelta(days=1)
    detail = r.json()["detail"]
    assert "bookings by phone are not taken now" in detail, detail
    assert "phone: every day 09:00-17:00" in detail, detail
    assert f"it opens again at {tomorrow:%m/%d} 09:00" in detail, detail
    assert app_ok.status_code == 201, app_ok.text  # the app is open all day
    assert [row.channel for row in _rows(app)] == ["app"]


def test_the_app_channels_lead_time_moves_the_earliest_pickup(
    booking_app: Callable[[int, int], tuple[FastAPI, dict[str, str]]], clock: FixedClock
) -> None:
    """An as-soon-as-possible ride by app (10 min lead) is picked up no earlier than 10 min after booking."""
    app, auth = booking_app(10, 0)
    with TestClient(app) as client:
        by_app = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "channel": "app"}).json()
        plain = client.post("/v1/ride-requests", headers=auth, json=TRIP).json()
        again = client.get(f"/v1/ride-requests/{by_app['id']}", headers=auth).json()
    assert (by_app["status"], plain["status"]) == ("assigned", "assigned"), (by_app, plain)
    start = dt.datetime.fromisoformat(by_app["pickup_window"]["start"])
    assert start >= clock.now + dt.timedelta(minutes=10), by_app
    assert dt.datetime.fromisoformat(plain["pickup_window"]["start"]) < clock.now + dt.timedelta(minutes=10)
    assert (by_app["channel"], plain["channel"], again["channel"]) == ("app", None, "app")


def test_an_unknown_channel_is_422_naming_the_services_channels(
    booking_app: Callable[[int, int], tuple[FastAPI, dict[str, str]]],
) -> None:
    """A channel the service does not have (``line``) is refused, listing app and phone; nothing stored."""
    app, auth = booking_app(10, 0)
    with TestClient(app) as client:
        r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "channel": "line"})
        quote = client.post("/v1/ride-requests/quote", headers=auth, json={**TRIP, "channel": "line"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == "this service takes no bookings by 'line'; its channels are app, phone"
    assert quote.status_code == 422, quote.text
    assert _rows(app) == []


def test_the_desk_books_through_the_phone_channel(
    booking_app: Callable[[int, int], tuple[FastAPI, dict[str, str]]],
) -> None:
    """/v1/desk names ``phone`` as its channel when the service takes phone bookings."""
    app, auth = booking_app(10, 0)
    with TestClient(app) as client:
        info = client.get("/v1/desk", headers=auth).json()
    assert info["channel"] == "phone"
