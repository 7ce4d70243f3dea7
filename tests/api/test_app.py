"""HTTP behaviour of the live API on a tiny synthetic service area (no OSM data)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.routing.geo.geodesy import haversine_m
from tests.api._synthetic import SyntheticArea, synthetic_service
from tests.api.conftest import TZ, FixedClock, both_databases, new_key

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def book(client: TestClient, auth: dict[str, str], body: dict[str, Any] | None = None, **headers: str) -> Any:
    """POST a ride request and return the response."""
    return client.post("/v1/ride-requests", headers={**auth, **headers}, json=body or TRIP)


def test_healthz_needs_no_key(client: TestClient) -> None:
    """/healthz answers ok without a key."""
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_stops_lists_meeting_points(client: TestClient, auth: dict[str, str], area: SyntheticArea) -> None:
    """GET /v1/stops returns every meeting point with id, name, lon, lat."""
    r = client.get("/v1/stops", headers=auth)
    assert r.status_code == 200
    stops = r.json()
    assert [s["id"] for s in stops] == [s.id for s in area.stops]
    assert stops[3] == {"id": "s03", "name": "Stop 3", "lon": area.stops[3].lon, "lat": area.stops[3].lat}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/stops",
        "/v1/vehicles",
        "/v1/kpis",
        "/v1/live",
        "/v1/ride-requests/rr_x",
        "/v1/vehicles/v1/itinerary",
    ],
)
def test_every_v1_call_needs_a_key(client: TestClient, path: str) -> None:
    """Without a key, or with a wrong one, /v1 answers 401 with a Bearer challenge."""
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.get(path, headers={"Authorization": "Bearer odk_not-a-real-key"})
    assert r.status_code == 401
    r = client.post("/v1/ride-requests", json=TRIP)
    assert r.status_code == 401


@both_databases
def test_booking_answers_with_a_promise(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    """An ASAP booking is assigned with a pickup window starting no earlier than now and an ETA after it."""
    r = book(client, auth)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["status"] == "assigned"
    assert out["vehicle_id"] in ("v1", "v2")
    assert (out["pickup_stop"], out["dropoff_stop"]) == ("s00", "s08")
    start = dt.datetime.fromisoformat(out["pickup_window"]["start"])
    end = dt.datetime.fromisoformat(out["pickup_window"]["end"])
    eta = dt.datetime.fromisoformat(out["dropoff_eta"])
    assert start.utcoffset() == dt.timedelta(hours=9)
    assert clock.now <= start <= end
    assert eta > start
    assert out["reason"] is None
    assert out["reason_code"] is None
    again = client.get(f"/v1/ride-requests/{out['id']}", headers=auth)
    assert again.status_code == 200
    assert again.json() == out


def test_lon_lat_is_snapped_with_walking_distance(
    client: TestClient, auth: dict[str, str], area: SyntheticArea
) -> None:
    """A lon/lat place is snapped to the nearest stop; the walk is great circle x 1.25, in metres."""
    s = area.stops[4]
    body = {"pickup": {"lon": s.lon + 0.001, "lat": s.lat}, "dropoff": {"stop_id": "s00"}}
    out = book(client, auth, body).json()
    assert out["pickup_stop"] == "s04"
    # 0.001 deg of longitude at 34.5 N is about 92 m; walking metres are that times 1.25 (the policy's rule)
    assert out["pickup_walk_m"] == round(haversine_m(s.lon + 0.001, s.lat, s.lon, s.lat) * 1.25) == 115
    assert out["dropoff_walk_m"] == 0


@both_databases
def test_idempotency_key_replays_the_first_answer(client: TestClient, auth: dict[str, str]) -> None:
    """The same Idempotency-Key returns the same booking (200) and books nothing new."""
    first = book(client, auth, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == 201
    second = book(client, auth, **{"Idempotency-Key": "abc-1"})
    assert second.status_code == 200
    assert second.json() == first.json()
    kpis = client.get("/v1/kpis", headers=auth).json()
    assert kpis["requests"] == 1
    other = book(client, auth, {**TRIP, "passengers": 2}, **{"Idempotency-Key": "abc-1"})
    assert other.status_code == 409
    assert "another body" in other.json()["detail"]


def test_idempotency_keys_are_per_operator(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """Two operators may use the same Idempotency-Key without seeing each other's booking."""
    other = {"Authorization": f"Bearer {new_key(app, 'other')}"}
    a = book(client, auth, **{"Idempotency-Key": "k"}).json()
    b = book(client, other, **{"Idempotency-Key": "k"}).json()
    assert a["id"] != b["id"]


def test_operators_see_only_their_own_data(app: FastAPI, client: TestClient, auth: dict[str, str]) -> None:
    """Another operator's key gets 404 for a ride request it does not own and cannot cancel it."""
    rid = book(client, auth).json()["id"]
    other = {"Authorization": f"Bearer {new_key(app, 'other')}"}
    assert client.get(f"/v1/ride-requests/{rid}", headers=other).status_code == 404
    assert client.post(f"/v1/ride-requests/{rid}/cancel", headers=other).status_code == 404
    assert client.get("/v1/kpis", headers=other).json()["requests"] == 0
    assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == "assigned"


def test_vehicle_key_is_limited_to_its_vehicle(
    app: FastAPI, client: TestClient, auth: dict[str, str]
) -> None:
    """A vehicle key reads its own itinerary and reports for itself only; it cannot book or list."""
    vkey = {"Authorization": f"Bearer {new_key(app, 'acme', role='vehicle', vehicle_id='v1')}"}
    assert client.get("/v1/vehicles/v1/itinerary", headers=vkey).status_code == 200
    assert client.get("/v1/vehicles/v2/itinerary", headers=vkey).status_code == 403
    pos = {"type": "position", "lon": 135.48, "lat": 34.51}
    assert client.post("/v1/vehicles/v1/events", headers=vkey, json=pos).status_code == 200
    assert client.post("/v1/vehicles/v2/events", headers=vkey, json=pos).status_code == 403
    assert book(client, vkey).status_code == 403
    assert client.get("/v1/vehicles", headers=vkey).status_code == 403
    assert client.get("/v1/vehicles/v9/itinerary", headers=auth).status_code == 404


@both_databases
def test_cancel_frees_the_seat(make_app: Callable[..., FastAPI], area: SyntheticArea) -> None:
    """When one van is full, the next booking is refused; after a cancel the same booking is assigned."""
    config = synthetic_service(area, n_vehicles=1, seats=3, start=9 * 3600, end=18 * 3600, max_wait_s=120)
    app = make_app(config=config)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        body = {**TRIP, "passengers": 3}
        first = book(client, auth, body).json()
        assert first["status"] == "assigned"
        refused = book(client, auth, body)
        assert refused.status_code == 201
        assert refused.json()["status"] == "refused"
        assert refused.json()["reason"]
        assert refused.json()["vehicle_id"] is None
        cancelled = client.post(f"/v1/ride-requests/{first['id']}/cancel", headers=auth)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert book(client, auth, body).json()["status"] == "assigned"
        again = client.post(f"/v1/ride-requests/{refused.json()['id']}/cancel", headers=auth)
        assert again.status_code == 409
        kpis = client.get("/v1/kpis", headers=auth).json()
        assert (kpis["requests"], kpis["assigned"], kpis["refused"], kpis["cancelled"]) == (3, 1, 1, 1)


@both_databases
@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"pickup": {"stop_id": "nope"}, "dropoff": {"stop_id": "s01"}}, 422, "unknown stop"),
        ({"pickup": {"lon": 139.7, "lat": 35.7}, "dropoff": {"stop_id": "s01"}}, 422, "walking limit"),
        ({**TRIP, "passengers": 0}, 422, "greater than or equal to 1"),
        ({**TRIP, "passengers": 5}, 422, "do not fit"),
        ({**TRIP, "passengers": "2"}, 422, "valid integer"),
        ({"pickup": {"stop_id": "s01"}, "dropoff": {"stop_id": "s01"}}, 422, "same meeting point"),
        ({**TRIP, "earliest_pickup": "2020-01-01T10:00:00+09:00"}, 422, "in the past"),
        ({**TRIP, "earliest_pickup": "2099-01-01T10:00:00+09:00"}, 422, "same-day"),
        ({**TRIP, "earliest_pickup": "2030-01-01T10:00:00"}, 422, "timezone"),
        ({"pickup": {"stop_id": "s00", "lon": 1.0}, "dropoff": {"stop_id": "s01"}}, 422, "extra"),
        ({"dropoff": {"stop_id": "s01"}}, 422, "missing"),
        ({**TRIP, "coupon": 1}, 422, "extra"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(
    client: TestClient, auth: dict[str, str], body: dict[str, Any], status: int, words: str
) -> None:
    """Bad bodies are refused with 4xx and a message naming the problem; nothing is stored."""
    r = book(client, auth, body)
    assert r.status_code == status, r.text
    assert words.lower() in r.text.lower()
    assert client.get("/v1/kpis", headers=auth).json()["requests"] == 0


def test_reversed_and_late_windows_are_refused(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """latest_dropoff before earliest_pickup, or too early to drive, is a 422."""
    t = clock.now
    reversed_ = {
        **TRIP,
        "earliest_pickup": (t + dt.timedelta(hours=2)).isoformat(),
        "latest_dropoff": (t + dt.timedelta(hours=1)).isoformat(),
    }
    r = book(client, auth, reversed_)
    assert r.status_code == 422
    assert "reversed" in r.json()["detail"]
    too_early = {**TRIP, "latest_dropoff": (t + dt.timedelta(seconds=30)).isoformat()}
    r = book(client, auth, too_early)
    assert r.status_code == 422
    assert "too early" in r.json()["detail"]


def test_booked_ahead_and_arrive_by(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    """A pickup time an hour ahead gives a window at or after it; an arrive-by keeps its deadline."""
    later = clock.now + dt.timedelta(hours=1)
    out = book(client, auth, {**TRIP, "earliest_pickup": later.isoformat()}).json()
    assert out["status"] == "assigned"
    assert dt.datetime.fromisoformat(out["pickup_window"]["start"]) >= later
    deadline = clock.now + dt.timedelta(hours=2)
    out = book(client, auth, {**TRIP, "latest_dropoff": deadline.astimezone(dt.UTC).isoformat()}).json()
    assert out["status"] == "assigned"
    assert dt.datetime.fromisoformat(out["dropoff_eta"]) <= deadline
    assert dt.datetime.fromisoformat(out["latest_dropoff"]) <= deadline


def test_malformed_json_is_422(client: TestClient, auth: dict[str, str]) -> None:
    """A body that is not JSON, or none, is refused with 422, not 500, saying so (and where the parser
    stopped)."""
    json_header = {**auth, "Content-Type": "application/json"}
    for body, at in ((b"{not json", 1), (b'{"pickup": "S001",', 18)):
        r = client.post("/v1/ride-requests", headers=json_header, content=body)
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert detail.startswith("the request body is not valid JSON (")
        assert detail.endswith(f" at character {at}); send a JSON object")
    r = client.post("/v1/ride-requests", headers=json_header, content=b"")
    assert r.status_code == 422
    assert r.json()["detail"] == "the request has no body; send a JSON object"


def test_body_size_limit_is_413(client: TestClient, auth: dict[str, str]) -> None:
    """A body above the limit is answered 413 before it is parsed."""
    r = client.post(
        "/v1/ride-requests",
        headers={**auth, "Content-Type": "application/json"},
        content=b'{"x": "' + b"a" * 200_000 + b'"}',
    )
    assert r.status_code == 413


def test_cors_is_off_by_default(client: TestClient, auth: dict[str, str]) -> None:
    """No CORS headers are sent unless origins are configured."""
    r = client.get("/v1/stops", headers={**auth, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


@both_databases
def test_vehicles_itinerary_and_events(client: TestClient, auth: dict[str, str], clock: FixedClock) -> None:
    """Booked stops appear in the itinerary; pickup and drop-off events move the ride to completed."""
    out = book(client, auth).json()
    vid, rid = out["vehicle_id"], out["id"]
    itin = client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth).json()
    assert [(s["request_id"], s["kind"]) for s in itin] == [(rid, "pickup"), (rid, "dropoff")]
    assert itin[0]["stop_id"] == "s00"
    assert itin[1]["stop_id"] == "s08"
    vehicles = client.get("/v1/vehicles", headers=auth).json()
    assert {v["id"] for v in vehicles} == {"v1", "v2"}
    assert next(v for v in vehicles if v["id"] == vid)["next_stop"]["request_id"] == rid
    ev = client.post(f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "arrived", "stop_id": "s00"})
    assert ev.status_code == 200, ev.text
    ev = client.post(
        f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "picked_up", "request_id": rid}
    )
    assert ev.json() == {"accepted": True, "type": "picked_up", "request_status": "onboard"}
    assert client.post(f"/v1/ride-requests/{rid}/cancel", headers=auth).status_code == 409
    onboard = next(v for v in client.get("/v1/vehicles", headers=auth).json() if v["id"] == vid)
    assert onboard["onboard"] == 1
    clock.advance(300)
    ev = client.post(
        f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "dropped_off", "request_id": rid}
    )
    assert ev.json()["request_status"] == "completed"
    assert client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth).json() == []
    again = client.post(
        f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "dropped_off", "request_id": rid}
    )
    assert again.status_code == 409
    kpis = client.get("/v1/kpis", headers=auth).json()
    assert kpis["completed"] == 1


def test_no_show_and_position(client: TestClient, auth: dict[str, str], area: SyntheticArea) -> None:
    """A no-show frees the ride; a position event moves the vehicle on /v1/vehicles."""
    out = book(client, auth).json()
    vid, rid = out["vehicle_id"], out["id"]
    other = "v2" if vid == "v1" else "v1"
    wrong = client.post(
        f"/v1/vehicles/{other}/events", headers=auth, json={"type": "no_show", "request_id": rid}
    )
    assert wrong.status_code == 409
    ev = client.post(f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "no_show", "request_id": rid})
    assert ev.json()["request_status"] == "no_show"
    assert client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth).json() == []
    s = area.stops[5]
    client.post(
        f"/v1/vehicles/{vid}/events", headers=auth, json={"type": "position", "lon": s.lon, "lat": s.lat}
    )
    v = next(v for v in client.get("/v1/vehicles", headers=auth).json() if v["id"] == vid)
    assert (v["position"]["lon"], v["position"]["lat"]) == (s.lon, s.lat)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "position"},
        {"type": "arrived"},
        {"type": "arrived", "stop_id": "nope"},
        {"type": "picked_up"},
        {"type": "picked_up", "request_id": "rr_unknown"},
        {"type": "teleported"},
        {"type": "position", "lon": 135.5, "lat": 34.5, "at": "2099-01-01T00:00:00+09:00"},
    ],
)
def test_bad_events_are_4xx(client: TestClient, auth: dict[str, str], event: dict[str, Any]) -> None:
    """Events with missing fields, unknown stops or requests, or future times are refused with 4xx."""
    r = client.post("/v1/vehicles/v1/events", headers=auth, json=event)
    assert 400 <= r.status_code < 500, r.text


def test_live_picture_and_kpis(client: TestClient, auth: dict[str, str]) -> None:
    """/v1/live lists every vehicle with a position and the open requests; /v1/kpis counts today."""
    ids = {book(client, auth).json()["id"] for _ in range(3)}
    live = client.get("/v1/live", headers=auth).json()
    assert len(live["vehicles"]) == 2
    assert all(v["position"] is not None for v in live["vehicles"])
    assert {r["id"] for r in live["open_requests"]} == ids
    kpis = client.get("/v1/kpis", headers=auth).json()
    assert kpis["requests"] == kpis["assigned"] == 3
    assert kpis["passengers_booked"] == 3
    assert kpis["service_date"] == dt.datetime.now(TZ).date().isoformat()


def test_keys_never_appear_in_logs(
    client: TestClient, auth: dict[str, str], key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a good nor a bad key is written to any log record."""
    with caplog.at_level(logging.DEBUG):
        book(client, auth)
        client.get("/v1/stops", headers={"Authorization": "Bearer odk_wrong-key-123"})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert key not in text
    assert "odk_wrong-key-123" not in text


def test_openapi_and_docs(client: TestClient) -> None:
    """The OpenAPI schema lists the /v1 endpoints and /docs is served."""
    schema = client.get("/openapi.json").json()
    for path in ("/v1/stops", "/v1/ride-requests", "/v1/ride-requests/{request_id}/cancel", "/v1/kpis"):
        assert path in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_map_page_is_served_with_leaflet_from_the_package(client: TestClient) -> None:
    """/map is HTML that loads Leaflet from /static (no CDN) and the files exist."""
    r = client.get("/map")
    assert r.status_code == 200
    assert "/static/leaflet/leaflet.js" in r.text
    assert "unpkg" not in r.text
    assert "cdn" not in r.text.lower()
    assert client.get("/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/leaflet/leaflet.css").status_code == 200
    js = client.get("/static/map.js").text
    assert "OpenStreetMap" in js


def test_the_pages_have_an_icon(client: TestClient) -> None:
    """/favicon.ico is the pages' SVG icon (no 404 in the log for every page a browser opens); the map,
    the desk and the driver's page link it, and the driver's offline copy keeps it."""
    import xml.etree.ElementTree as ET

    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert ET.fromstring(r.content).tag == "{http://www.w3.org/2000/svg}svg"
    for page in ("/map", "/desk", "/driver"):
        assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in client.get(page).text
    assert '"/favicon.ico"' in client.get("/driver-sw.js").text


@both_databases
def test_concurrent_retries_with_one_idempotency_key_book_once(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Eight simultaneous requests with the same Idempotency-Key create one booking and all see it."""
    import threading

    answers: list[Any] = []

    def send() -> None:
        answers.append(book(client, auth, **{"Idempotency-Key": "same-key"}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert client.get("/v1/kpis", headers=auth).json()["requests"] == 1
