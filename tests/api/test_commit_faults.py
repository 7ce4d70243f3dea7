"""The booking path as one transaction: a write the database does not take is answered 503, saves nothing,
and leaves the dispatcher as the database says (bookings, cancels and vehicle events alike)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.db import RideRequestRow
from ondemand.dispatch.base import Refusal
from ondemand.routing.solver.model import Request, TravelTimes, Vehicle
from tests.api.conftest import new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}
OTHER = {"pickup": {"stop_id": "s02"}, "dropoff": {"stop_id": "s06"}}


@pytest.fixture
def quick(make_app: Callable[..., FastAPI]) -> FastAPI:
    """The app with a 0.5 s commit timeout."""
    return make_app(settings={"commit_timeout_s": 0.5})


@pytest.fixture
def db_path(db_url: str) -> Path:
    """The SQLite file of the test database."""
    return Path(db_url.removeprefix("sqlite:///"))


class Lock:
    """Holds the SQLite file's write lock (``BEGIN IMMEDIATE``) between :meth:`take` and :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=5)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@pytest.fixture
def lock(db_path: Path) -> Iterator[Lock]:
    """A second connection to the test database that can hold its write lock."""
    holder = Lock(db_path)
    try:
        yield holder
    finally:
        holder.release()
        holder.conn.close()


def wait_healthy(client: TestClient, timeout: float = 30.0) -> None:
    """Wait until /healthz answers 200 again (about 2 s: a probe a second, then one commit timeout)."""
    deadline = time.monotonic() + timeout
    while client.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, "/healthz did not recover"
        time.sleep(0.1)


def stored(app: FastAPI, **where: Any) -> list[RideRequestRow]:
    """Ride-request rows matching ``where``."""
    with app.state.db.read() as session:
        return list(session.query(RideRequestRow).filter_by(**where))


def planned(client: TestClient, auth: dict[str, str], vid: str) -> list[tuple[str, str]]:
    """(request id, kind) of a vehicle's itinerary."""
    r = client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth)
    assert r.status_code == 200, r.text
    return [(s["request_id"], s["kind"]) for s in r.json()]


def test_a_booking_during_a_stall_is_503_not_saved_and_the_writer_survives(
    quick: FastAPI, lock: Lock
) -> None:
    """Stall past the timeout: 503 + Retry-After, /healthz 503, nothing saved; then the key books anew."""
    with TestClient(quick) as client:
        auth = {"Authorization": f"Bearer {new_key(quick, 'acme')}"}
        lock.take()
        r = client.post("/v1/ride-requests", headers={**auth, "Idempotency-Key": "k1"}, json=TRIP)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 503
        lock.release()
        wait_healthy(client)
        assert stored(quick, idempotency_key="k1") == []
        again = client.post("/v1/ride-requests", headers={**auth, "Idempotency-Key": "k1"}, json=TRIP)
        assert again.status_code == 201, again.text  # created now: the 503 saved nothing
        later = client.post("/v1/ride-requests", headers=auth, json=OTHER)
        assert later.status_code == 201
        rows = stored(quick, idempotency_key="k1")
        assert [(r.id, r.status, r.vehicle_id) for r in rows] == [
            (again.json()["id"], "assigned", again.json()["vehicle_id"])
        ]
        vid = again.json()["vehicle_id"]
        assert (again.json()["id"], "pickup") in planned(client, auth, vid)


def test_cancel_and_pickup_during_a_stall_change_neither_database_nor_dispatcher(
    quick: FastAPI, lock: Lock
) -> None:
    """A cancel and a picked_up answered 503 leave rides assigned and planned; both work after the stall."""
    with TestClient(quick) as client:
        auth = {"Authorization": f"Bearer {new_key(quick, 'acme')}"}
        a = client.post("/v1/ride-requests", headers=auth, json=TRIP).json()
        b = client.post("/v1/ride-requests", headers=auth, json=OTHER).json()
        assert a["status"] == b["status"] == "assigned"
        lock.take()
        r = client.post(f"/v1/ride-requests/{a['id']}/cancel", headers=auth)
        assert r.status_code == 503
        assert "retry-after" in r.headers
        ev = {"type": "picked_up", "request_id": b["id"]}
        r = client.post(f"/v1/vehicles/{b['vehicle_id']}/events", headers=auth, json=ev)
        assert r.status_code == 503
        assert "retry-after" in r.headers
        lock.release()
        wait_healthy(client)
        assert [r.status for r in stored(quick, id=a["id"])] == ["assigned"]
        assert [r.status for r in stored(quick, id=b["id"])] == ["assigned"]
        assert (a["id"], "pickup") in planned(client, auth, a["vehicle_id"])
        assert (b["id"], "pickup") in planned(client, auth, b["vehicle_id"])
        assert (
            client.post(f"/v1/ride-requests/{a['id']}/cancel", headers=auth).json()["status"] == "cancelled"
        )
        r = client.post(f"/v1/vehicles/{b['vehicle_id']}/events", headers=auth, json=ev)
        assert r.status_code == 200
        assert r.json()["request_status"] == "onboard"
        assert (a["id"], "pickup") not in planned(client, auth, a["vehicle_id"])
        assert (b["id"], "dropoff") in planned(client, auth, b["vehicle_id"])


class _Refuses:
    """A dispatcher that refuses every request (and knows nothing else)."""

    def __init__(self, vehicles: Sequence[Vehicle], tt: TravelTimes) -> None:
        from ondemand.dispatch import InsertionDispatcher

        self._inner = InsertionDispatcher(vehicles, tt)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit(self, request: Request, *, now: int) -> Refusal:
        return Refusal(request.id, "no vehicle can serve this request in time")


def test_a_refused_booking_during_a_stall_is_503_not_500(
    make_app: Callable[..., FastAPI], lock: Lock
) -> None:
    """A refusal that cannot be stored is answered 503 (was 500 UnboundLocalError) and is not saved."""
    app = make_app(settings={"commit_timeout_s": 0.5}, dispatcher_factory=_Refuses)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        lock.take()
        r = client.post("/v1/ride-requests", headers={**auth, "Idempotency-Key": "no"}, json=TRIP)
        assert r.status_code == 503, r.text
        lock.release()
        wait_healthy(client)
        assert stored(app, idempotency_key="no") == []
        r = client.post("/v1/ride-requests", headers={**auth, "Idempotency-Key": "no"}, json=TRIP)
        assert r.status_code == 201
        assert r.json()["status"] == "refused"
