"""The driver's API: /v1/driver (a vehicle's stops ahead and the service clock) and resendable events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ondemand.api.db import VehicleEventRow
from tests.api.conftest import FixedClock, both_databases, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}, "passengers": 2}


def _book(client: TestClient, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["status"] == "assigned"
    return out


def _vehicle_auth(app: FastAPI, vehicle_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_key(app, 'acme', role='vehicle', vehicle_id=vehicle_id)}"}


def _events(app: FastAPI, kind: str) -> int:
    with app.state.db.read() as session:
        return int(session.scalar(select(func.count()).where(VehicleEventRow.kind == kind)) or 0)


def _is_api_error(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"] != ""


def test_driver_sheet_shows_own_vehicle(
    app: FastAPI, client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """A vehicle key reads its own vehicle's stops in order, with stop names, riders, needs and the clock."""
    ride = _book(client, auth, wheelchair=True)
    vid = ride["vehicle_id"]
    r = client.get("/v1/driver", headers=_vehicle_auth(app, vid))
    assert r.status_code == 200, r.text
    sheet = r.json()
    assert sheet["vehicle_id"] == vid
    assert sheet["time_zone"] == "Asia/Tokyo"
    assert sheet["now"] == clock.now.isoformat()
    assert (sheet["seats"], sheet["wheelchair_places"]) == (4, 1)
    assert [(s["request_id"], s["kind"], s["stop_id"]) for s in sheet["stops"]] == [
        (ride["id"], "pickup", "s00"),
        (ride["id"], "dropoff", "s08"),
    ]
    assert all(s["passengers"] == 2 and s["wheelchair"] is True for s in sheet["stops"])
    assert all(s["stop_name"] for s in sheet["stops"])
    assert sheet["stops"][0]["eta"] <= sheet["stops"][1]["eta"]
    itinerary = client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth).json()
    assert itinerary == [
        {k: v for k, v in s.items() if k not in ("rider_name", "needs")} for s in sheet["stops"]
    ]
    assert [(s["rider_name"], s["needs"]) for s in sheet["stops"]] == [(None, [])] * 2  # no registered rider
    other = "v2" if vid == "v1" else "v1"
    assert client.get("/v1/driver", headers=_vehicle_auth(app, other)).json()["stops"] == []


def test_driver_sheet_names_registered_riders(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """A registered rider's name and needs show on the driver's sheet (not the phone); others show none."""
    r = client.post(
        "/v1/riders",
        headers=auth,
        json={"name": "山田 花子", "phone": "0187-43-1234", "needs": ["boarding_help"]},
    )
    assert r.status_code == 201, r.text
    rider = r.json()
    named = _book(client, auth, rider_id=rider["id"])
    plain = _book(client, auth, pickup={"stop_id": "s01"}, dropoff={"stop_id": "s07"})
    sheets = {
        vid: client.get("/v1/driver", headers=auth, params={"vehicle_id": vid}).json() for vid in ("v1", "v2")
    }
    stops = {(s["request_id"], s["kind"]): s for sheet in sheets.values() for s in sheet["stops"]}
    for kind in ("pickup", "dropoff"):
        assert stops[(named["id"], kind)]["rider_name"] == "山田 花子"
        assert stops[(named["id"], kind)]["needs"] == ["boarding_help"]
        assert stops[(plain["id"], kind)]["rider_name"] is None
        assert stops[(plain["id"], kind)]["needs"] == []
    assert "0187431234" not in str(sheets)
    assert client.delete(f"/v1/riders/{rider['id']}", headers=auth).status_code == 200
    sheet = client.get("/v1/driver", headers=auth, params={"vehicle_id": named["vehicle_id"]}).json()
    assert [s["rider_name"] for s in sheet["stops"] if s["request_id"] == named["id"]] == [None, None]


def test_driver_sheet_bad_requests_are_4xx(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """An operator key must name a known vehicle (422, 404); a vehicle key may not read another (403)."""
    r = client.get("/v1/driver", headers=auth)
    assert r.status_code == 422
    assert _is_api_error(r.json())
    assert "vehicle_id" in r.json()["detail"]
    assert client.get("/v1/driver", headers=auth, params={"vehicle_id": "v2"}).json()["vehicle_id"] == "v2"
    r = client.get("/v1/driver", headers=auth, params={"vehicle_id": "v9"})
    assert r.status_code == 404
    assert _is_api_error(r.json())
    r = client.get("/v1/driver", headers=_vehicle_auth(app, "v1"), params={"vehicle_id": "v2"})
    assert r.status_code == 403
    assert _is_api_error(r.json())
    r = client.get("/v1/driver", headers=auth, params={"vehicle_id": "x" * 65})
    assert r.status_code == 422
    assert _is_api_error(r.json())
    assert client.get("/v1/driver").status_code == 401


@both_databases
def test_resent_events_are_applied_once(
    app: FastAPI, client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """An event resent with its Idempotency-Key is answered as the first time and stored once."""
    ride = _book(client, auth)
    vid, rid = ride["vehicle_id"], ride["id"]
    vauth = _vehicle_auth(app, vid)
    url = f"/v1/vehicles/{vid}/events"
    steps = [
        ("k-arr", {"type": "arrived", "stop_id": "s00"}, None),
        ("k-up", {"type": "picked_up", "request_id": rid}, "onboard"),
        ("k-down", {"type": "dropped_off", "request_id": rid}, "completed"),
    ]
    for key, body, status in steps:
        first = client.post(url, headers={**vauth, "Idempotency-Key": key}, json=body)
        assert first.status_code == 200, first.text
        assert "idempotent-replayed" not in first.headers
        again = client.post(url, headers={**vauth, "Idempotency-Key": key}, json=body)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert (
            again.json() == first.json() == {"accepted": True, "type": body["type"], "request_status": status}
        )
        assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == (status or "assigned")
        clock.advance(60)
    assert [_events(app, k) for k in ("arrived", "picked_up", "dropped_off")] == [1, 1, 1]
    # without a key the old behaviour stays: a second drop-off does not fit the ride
    assert client.post(url, headers=vauth, json=steps[2][1]).status_code == 409


def test_key_reused_for_another_event_is_409(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """An Idempotency-Key sent again with another event is refused (409, ApiError) and changes nothing."""
    ride = _book(client, auth)
    vid, rid = ride["vehicle_id"], ride["id"]
    url = f"/v1/vehicles/{vid}/events"
    headers = {**auth, "Idempotency-Key": "same"}
    assert client.post(url, headers=headers, json={"type": "arrived", "stop_id": "s00"}).status_code == 200
    r = client.post(url, headers=headers, json={"type": "picked_up", "request_id": rid})
    assert r.status_code == 409
    assert _is_api_error(r.json())
    assert "Idempotency-Key" in r.json()["detail"]
    assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == "assigned"
    assert _events(app, "picked_up") == 0
    # keys are per vehicle: the other vehicle may use the same key
    other = "v2" if vid == "v1" else "v1"
    r = client.post(
        f"/v1/vehicles/{other}/events", headers=headers, json={"type": "arrived", "stop_id": "s01"}
    )
    assert r.status_code == 200
    assert "idempotent-replayed" not in r.headers


def test_bad_idempotency_keys_are_422(client: TestClient, auth: dict[str, str]) -> None:
    """Empty, over-long or non-printable Idempotency-Keys are refused with 422 and the ApiError schema."""
    body = {"type": "position", "lon": 135.5, "lat": 34.5}
    for bad in ("", "x" * 201, "with space"):
        r = client.post("/v1/vehicles/v1/events", headers={**auth, "Idempotency-Key": bad}, json=body)
        assert r.status_code == 422, (bad, r.text)
        assert _is_api_error(r.json())


def test_concurrent_resends_apply_once(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """Eight simultaneous sends of one keyed pick-up all succeed and the pick-up is stored once."""
    ride = _book(client, auth)
    vid, rid = ride["vehicle_id"], ride["id"]

    def send(_: int) -> tuple[int, str | None]:
        r = client.post(
            f"/v1/vehicles/{vid}/events",
            headers={**auth, "Idempotency-Key": "tablet-1"},
            json={"type": "picked_up", "request_id": rid},
        )
        return r.status_code, r.headers.get("idempotent-replayed")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert sorted(answers, key=lambda a: a[1] or "") == [(200, None)] + [(200, "true")] * 7
    assert _events(app, "picked_up") == 1
    assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == "onboard"


def test_driver_page_is_served(client: TestClient) -> None:
    """/driver serves the page (Japanese first) and its script and style from the package, with the CSP."""
    r = client.get("/driver")
    assert r.status_code == 200
    assert '<html lang="ja">' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for path in ("/static/driver.js", "/static/driver.css"):
        assert path in r.text
        assert client.get(path).status_code == 200
    worker = client.get("/driver-sw.js")  # keeps the page for offline reloads
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "/static/driver.js" in worker.text
    assert "http://" not in r.text
    assert "https://" not in r.text
