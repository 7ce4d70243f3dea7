"""Booking ahead: one dispatcher per service day within the horizon, refused beyond it or on closed days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.booking import ServiceConfig
from tests.api._synthetic import SyntheticArea, synthetic_service
from tests.api.conftest import FixedClock, both_databases, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def _config(area: SyntheticArea, **over: Any) -> ServiceConfig:
    """One 1-seat van at s00 until 11:08 (time for one s00-s08 ride from 11:00), booking seven days ahead."""
    return synthetic_service(
        area,
        n_vehicles=1,
        seats=1,
        start=9 * 3600,
        end=11 * 3600 + 480,
        **{"booking_horizon_days": 7, **over},
    )


def _at(clock: FixedClock, days: int, hour: int, minute: int = 0) -> str:
    day = clock.now.date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.now.tzinfo).isoformat()


def _book(client: TestClient, auth: dict[str, str], **times: str) -> Any:
    return client.post("/v1/ride-requests", headers=auth, json={**TRIP, **times})


@both_databases
def test_each_day_has_its_own_fleet(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """The van is taken today at 11:00, yet the same ride two days ahead is assigned on that day."""
    app = make_app(config=_config(area))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        today = _book(client, auth, earliest_pickup=_at(clock, 0, 11)).json()
        clash = _book(client, auth, earliest_pickup=_at(clock, 0, 11)).json()
        ahead = _book(client, auth, earliest_pickup=_at(clock, 2, 11)).json()
        arrive_by = _book(client, auth, latest_dropoff=_at(clock, 3, 11, 7)).json()
        kpis = client.get("/v1/kpis", headers=auth).json()
        itin = client.get("/v1/vehicles/v1/itinerary", headers=auth).json()
    assert (today["status"], clash["status"]) == ("assigned", "refused")
    assert ahead["status"] == "assigned", ahead
    start = dt.datetime.fromisoformat(ahead["pickup_window"]["start"])
    assert start.date() == clock.now.date() + dt.timedelta(days=2)
    assert start >= dt.datetime.fromisoformat(_at(clock, 2, 11))
    assert arrive_by["status"] == "assigned", arrive_by
    assert dt.datetime.fromisoformat(arrive_by["dropoff_eta"]) <= dt.datetime.fromisoformat(
        _at(clock, 3, 11, 7)
    )
    assert kpis["requests"] == 2  # today's KPIs count today's rides only
    assert {s["request_id"] for s in itin} == {today["id"]}  # the driver sees today's stops


def test_beyond_the_horizon_and_closed_days_are_422(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """Eight days ahead (horizon 7), a past day, and a weekend day of a weekday service are refused."""
    app = make_app(config=_config(area, calendar="weekdays"))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        far = _book(client, auth, earliest_pickup=_at(clock, 8, 11))
        past = _book(client, auth, earliest_pickup=_at(clock, -1, 11))
        saturday = next(d for d in range(1, 8) if (clock.now.date() + dt.timedelta(days=d)).weekday() == 5)
        closed = _book(client, auth, earliest_pickup=_at(clock, saturday, 11))
        monday = next(d for d in range(1, 8) if (clock.now.date() + dt.timedelta(days=d)).weekday() == 0)
        open_ = _book(client, auth, earliest_pickup=_at(clock, monday, 11))
    assert far.status_code == 422
    assert "booking horizon" in far.json()["detail"]
    assert "7 days" in far.json()["detail"]
    assert past.status_code == 422
    assert "past" in past.json()["detail"]
    assert closed.status_code == 422
    assert "no service" in closed.json()["detail"]
    assert "weekdays" in closed.json()["detail"]
    assert open_.status_code == 201
    assert open_.json()["status"] == "assigned"


def test_same_day_only_service_refuses_tomorrow(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """With booking_horizon_days = 0 (the default), tomorrow is a 422 saying so."""
    r = _book(client, auth, earliest_pickup=_at(clock, 1, 11))
    assert r.status_code == 422
    assert "only same-day bookings" in r.json()["detail"]


@both_databases
def test_booked_ahead_days_are_rebuilt_after_a_restart(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """After a restart the booked-ahead day still holds its ride (van taken), and cancel frees it."""
    config = _config(area)
    app = make_app(config=config)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        first = _book(client, auth, earliest_pickup=_at(clock, 5, 11)).json()
    assert first["status"] == "assigned"
    restarted = make_app(config=config)
    with TestClient(restarted) as client:
        date = clock.now.date() + dt.timedelta(days=5)
        svc = restarted.state.registry.peek(1, date)
        assert svc is not None, "the booked-ahead day was not restored at start-up"
        assert first["id"] in svc.dispatcher.plan.requests
        again = _book(client, auth, earliest_pickup=_at(clock, 5, 11)).json()
        assert again["status"] == "refused"  # the van is still taken on that day
        cancelled = client.post(f"/v1/ride-requests/{first['id']}/cancel", headers=auth)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        third = _book(client, auth, earliest_pickup=_at(clock, 5, 11)).json()
    assert third["status"] == "assigned"
