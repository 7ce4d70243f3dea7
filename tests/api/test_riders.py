"""The phone desk's rider registry as personal data: register, find, change, export, erase, retention."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ondemand.api.db import RideRequestRow, RiderRow
from tests.api.conftest import FixedClock, both_databases, new_key

NAME, PHONE = "秋田 花子", "0187-43-1234"
TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def register(client: TestClient, auth: dict[str, str], **over: Any) -> Any:
    """POST a rider and return the JSON answer (asserting 201)."""
    body = {"name": NAME, "phone": PHONE, "needs": ["wheelchair"], **over}
    r = client.post("/v1/riders", headers=auth, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def riders_in(app: FastAPI) -> list[RiderRow]:
    """Every rider row in the app's database."""
    with app.state.db.read() as session:
        return list(session.scalars(select(RiderRow)))


def rides_in(app: FastAPI) -> list[RideRequestRow]:
    """Every ride-request row in the app's database."""
    with app.state.db.read() as session:
        return list(session.scalars(select(RideRequestRow)))


@both_databases
def test_register_find_update_and_book_for_a_rider(
    client: TestClient, auth: dict[str, str], app: FastAPI
) -> None:
    """A rider is stored with a digits-only phone, found by digits or name part, changed, booked for."""
    rider = register(client, auth)
    assert rider["phone"] == "0187431234"
    assert rider["needs"] == ["wheelchair"]
    assert rider["id"].startswith("ri_")
    for q in ("43-12", "0187 43", "花子", "秋田"):
        found = client.post("/v1/riders/search", headers=auth, json={"q": q})
        assert found.status_code == 200, found.text
        assert [r["id"] for r in found.json()] == [rider["id"]], q
    assert client.post("/v1/riders/search", headers=auth, json={"q": "999"}).json() == []
    r = client.patch(f"/v1/riders/{rider['id']}", headers=auth, json={"needs": [], "phone": "090 1111 2222"})
    assert r.status_code == 200, r.text
    assert r.json()["needs"] == []
    assert r.json()["phone"] == "09011112222"
    assert r.json()["name"] == NAME
    [row] = riders_in(app)
    assert (row.phone, row.needs, row.name) == ("09011112222", "", NAME)
    booked = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "rider_id": rider["id"]})
    assert booked.status_code == 201, booked.text
    assert booked.json()["rider_id"] == rider["id"]
    listed = client.get(f"/v1/riders/{rider['id']}/ride-requests", headers=auth).json()
    assert [b["id"] for b in listed] == [booked.json()["id"]]
    plain = client.post("/v1/ride-requests", headers=auth, json=TRIP)  # existing clients: unchanged
    assert plain.status_code == 201
    assert plain.json()["rider_id"] is None


def test_riders_belong_to_their_operator(client: TestClient, auth: dict[str, str], app: FastAPI) -> None:
    """Another operator can neither find, read, export, erase nor book for this operator's rider."""
    rider = register(client, auth)
    other = {"Authorization": f"Bearer {new_key(app, 'other')}"}
    assert client.post("/v1/riders/search", headers=other, json={"q": "花子"}).json() == []
    for method, path in (("GET", ""), ("GET", "/export"), ("DELETE", ""), ("GET", "/ride-requests")):
        r = client.request(method, f"/v1/riders/{rider['id']}{path}", headers=other)
        assert r.status_code == 404, (method, path)
    r = client.post("/v1/ride-requests", headers=other, json={**TRIP, "rider_id": rider["id"]})
    assert r.status_code == 422
    assert "unknown rider_id" in r.json()["detail"]
    assert len(riders_in(app)) == 1
    assert rides_in(app) == []


def test_vehicle_keys_cannot_see_riders(client: TestClient, auth: dict[str, str], app: FastAPI) -> None:
    """Rider data needs an operator key: a vehicle key gets 403, no key 401."""
    rider = register(client, auth)
    assert client.get(f"/v1/riders/{rider['id']}").status_code == 401
    assert client.post("/v1/riders", json={"name": NAME, "phone": PHONE}).status_code == 401
    vehicle = {"Authorization": f"Bearer {new_key(app, 'acme', role='vehicle', vehicle_id='v1')}"}
    assert client.get(f"/v1/riders/{rider['id']}", headers=vehicle).status_code == 403
    assert client.post("/v1/riders/search", headers=vehicle, json={"q": "花子"}).status_code == 403


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "", "phone": PHONE}, "name"),
        ({"name": "x" * 101, "phone": PHONE}, "name"),
        ({"name": "a\nb", "phone": PHONE}, "control"),
        ({"name": NAME, "phone": "12"}, "6 to 15 digits"),
        ({"name": NAME, "phone": "call me"}, "digits"),
        ({"name": NAME, "phone": PHONE, "needs": ["jetpack"]}, "needs"),
        ({"name": NAME, "phone": PHONE, "birthday": "1950-01-01"}, "birthday"),
        ({"name": NAME}, "phone"),
    ],
)
def test_bad_rider_input_is_a_clear_422(
    client: TestClient, auth: dict[str, str], app: FastAPI, body: dict[str, Any], says: str
) -> None:
    """Bad rider bodies answer 422 (ApiError naming the problem), store nothing and never echo the input."""
    r = client.post("/v1/riders", headers=auth, json=body)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert set(r.json()) <= {"detail", "errors"}
    assert "1950-01-01" not in r.text
    assert riders_in(app) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/riders/search", {"q": "12"}, 422),
        ("POST", "/v1/riders/search", {"q": " "}, 422),
        ("POST", "/v1/riders/search", {"q": "x" * 101}, 422),
        ("GET", "/v1/riders/ri_nobody", None, 404),
        ("PATCH", "/v1/riders/ri_nobody", {"name": "x"}, 404),
        ("GET", "/v1/riders/ri_nobody/export", None, 404),
        ("DELETE", "/v1/riders/ri_nobody", None, 404),
        ("GET", "/v1/riders/" + "x" * 65, None, 422),
        ("POST", "/v1/ride-requests", {**TRIP, "rider_id": "ri_nobody"}, 422),
    ],
)
def test_unknown_riders_and_bad_queries_are_4xx(
    client: TestClient, auth: dict[str, str], method: str, path: str, body: Any, status: int
) -> None:
    """Unknown riders answer 404, bad queries 422, both as ApiError with a message (never 500)."""
    r = client.request(method, path, headers=auth, json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"]


def test_search_treats_wildcards_literally(client: TestClient, auth: dict[str, str]) -> None:
    """A % or _ in a name query matches only those characters, not every rider."""
    register(client, auth)
    assert client.post("/v1/riders/search", headers=auth, json={"q": "%"}).json() == []
    assert client.post("/v1/riders/search", headers=auth, json={"q": "_"}).json() == []


@both_databases
def test_export_then_erase_keeps_bookings_without_the_link(
    client: TestClient, auth: dict[str, str], app: FastAPI
) -> None:
    """Export returns the profile and every booking; erasure deletes the rider and unlinks its bookings."""
    rider = register(client, auth)
    ids = []
    for trip in (TRIP, {"pickup": {"stop_id": "s02"}, "dropoff": {"stop_id": "s06"}}):
        r = client.post("/v1/ride-requests", headers=auth, json={**trip, "rider_id": rider["id"]})
        assert r.status_code == 201
        ids.append(r.json()["id"])
    out = client.get(f"/v1/riders/{rider['id']}/export", headers=auth)
    assert out.status_code == 200
    data = out.json()
    assert data["rider"]["name"] == NAME
    assert data["rider"]["phone"] == "0187431234"
    assert [b["id"] for b in data["bookings"]] == ids
    assert data["retention_days"] == 365
    gone = client.delete(f"/v1/riders/{rider['id']}", headers=auth)
    assert gone.status_code == 200
    assert gone.json() == {"id": rider["id"], "erased": True, "bookings_unlinked": 2}
    assert riders_in(app) == []
    rides = rides_in(app)
    assert sorted(r.id for r in rides) == sorted(ids)  # kept for statistics ...
    assert all(r.rider_id is None for r in rides)  # ... without the link
    assert client.get(f"/v1/riders/{rider['id']}/export", headers=auth).status_code == 404
    assert client.delete(f"/v1/riders/{rider['id']}", headers=auth).status_code == 404


def test_names_and_phones_never_appear_in_logs(
    client: TestClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A desk booking (register, find, quote, book, list, export, cancel, erase, bad input) logs no PII."""
    with caplog.at_level(logging.DEBUG):
        rider = register(client, auth)
        client.post("/v1/riders/search", headers=auth, json={"q": "43-1234"})
        client.post("/v1/riders/search", headers=auth, json={"q": NAME})
        body = {**TRIP, "rider_id": rider["id"], "wheelchair": True}
        client.post("/v1/ride-requests/quote", headers=auth, json=body)
        ride = client.post("/v1/ride-requests", headers=auth, json=body).json()
        client.get(f"/v1/riders/{rider['id']}/ride-requests", headers=auth)
        client.get(f"/v1/riders/{rider['id']}/export", headers=auth)
        client.post(f"/v1/ride-requests/{ride['id']}/cancel", headers=auth)
        client.post("/v1/riders", headers=auth, json={"name": NAME, "phone": "0187-43-1234x"})
        client.patch(f"/v1/riders/{rider['id']}", headers=auth, json={"name": NAME + "\x00"})
        client.delete(f"/v1/riders/{rider['id']}", headers=auth)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert (
        len(caplog.records) >= 11
    )  # the capture works: httpx logs every URL (so no phone in a query string)
    for secret in (NAME, "秋田", "花子", "0187431234", "0187-43-1234", "43-1234"):
        assert secret not in text


def test_retention_erases_idle_riders_at_start_up(
    make_app: Callable[..., FastAPI], clock: FixedClock, app: FastAPI
) -> None:
    """At start-up, riders idle longer than rider_retention_days are erased; recently booked ones stay."""
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        idle = register(client, auth, name="idle rider")
        busy = register(client, auth, name="busy rider")
        r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "rider_id": idle["id"]})
        assert r.status_code == 201
    clock.advance(20 * 86400)  # 20 days later: busy books again
    with TestClient(make_app(settings={"rider_retention_days": 30})) as client:
        assert sorted(r.name for r in riders_in(app)) == ["busy rider", "idle rider"]
        tomorrow = {**TRIP, "rider_id": busy["id"]}
        r = client.post("/v1/ride-requests", headers=auth, json=tomorrow)
        assert r.status_code == 201, r.text
    with app.state.db.write() as session:  # the booking "made" 20 days on (the API stores wall-clock time)
        row = session.scalars(select(RideRequestRow).where(RideRequestRow.rider_id == busy["id"])).one()
        row.created_at = clock.now.astimezone(dt.UTC)
        session.commit()
    clock.advance(15 * 86400)  # 35 days after registering: idle is past 30 days, busy booked 15 days ago
    with TestClient(make_app(settings={"rider_retention_days": 30})):
        assert [r.name for r in riders_in(app)] == ["busy rider"]
    rides = rides_in(app)
    assert len(rides) == 2
    assert {r.rider_id for r in rides} == {None, busy["id"]}
    clock.advance(31 * 86400)
    with TestClient(make_app(settings={"rider_retention_days": 30})):
        assert riders_in(app) == []
    assert len(rides_in(app)) == 2


def test_retention_runs_periodically(make_app: Callable[..., FastAPI], clock: FixedClock) -> None:
    """While the server runs, the purge repeats every rider_purge_interval_s with the app's clock."""
    import time

    app = make_app(settings={"rider_retention_days": 1, "rider_purge_interval_s": 0.05})
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        register(client, auth)
        time.sleep(0.2)
        assert len(riders_in(app)) == 1  # not yet idle for a day
        clock.advance(86400 + 1)
        deadline = time.monotonic() + 30  # the next purge (every 0.05 s) empties it: ends as soon as it does
        while riders_in(app) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert riders_in(app) == []


def test_retention_setting_is_validated() -> None:
    """A retention of 0 days (or a negative one) is refused when the settings are made."""
    from pydantic import ValidationError

    from ondemand.api.settings import ApiSettings

    with pytest.raises(ValidationError, match="rider_retention_days"):
        ApiSettings(rider_retention_days=0)


def test_riders_migration_matches_the_models(db_url: str) -> None:
    """After migrating, Alembic finds no difference between the database and the rider models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ondemand.api.db import Base
    from ondemand.api.persistence import Database

    db = Database(db_url)
    try:
        with db.write_engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    mine = [d for d in diff if "rider" in repr(d)]
    assert mine == []
