"""Findings of issue 10 about input, event order, error answers, cancels and page headers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ondemand.api.schemas import MAX_LISTED_ERRORS, ApiError, PointRef, VehicleEventIn
from tests.api.conftest import FixedClock

TRIP = {"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s08"}}


def post_raw(client: TestClient, auth: dict[str, str], path: str, raw: str) -> Any:
    """POST a raw JSON text (Python's json module reads NaN, Infinity and 1e309 as floats)."""
    return client.post(path, headers={**auth, "Content-Type": "application/json"}, content=raw.encode())


def no_traces(caplog: pytest.LogCaptureFixture) -> None:
    """Assert nothing was logged at ERROR or with a traceback."""
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-09:00"])
@pytest.mark.parametrize("field", ["earliest_pickup", "latest_dropoff"])
def test_times_out_of_range_are_422(
    client: TestClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture, when: str, field: str
) -> None:
    """A booking time in year 1 or 9999 is a 422 naming the field (no OverflowError, no 500)."""
    r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, field: when})
    assert r.status_code == 422, r.text
    assert field in r.text
    assert "between the years 2000 and 2999" in r.text
    r = client.post(
        "/v1/vehicles/v1/events",
        headers=auth,
        json={"type": "position", "lon": 135.5, "lat": 34.5, "at": when},
    )
    assert r.status_code == 422, r.text
    no_traces(caplog)


def test_events_out_of_order_are_refused_with_a_reason(
    client: TestClient, auth: dict[str, str], clock: FixedClock
) -> None:
    """No-show before the window, pick-up before the booking, drop-off before the pick-up: 409, reason."""
    later = clock.now + dt.timedelta(hours=1)
    out = client.post(
        "/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": later.isoformat()}
    ).json()
    assert out["status"] == "assigned"
    vid, rid = out["vehicle_id"], out["id"]
    events = f"/v1/vehicles/{vid}/events"
    r = client.post(events, headers=auth, json={"type": "no_show", "request_id": rid})
    assert r.status_code == 409, r.text
    assert "before its pickup window opens" in r.json()["detail"]
    before_booking = (clock.now - dt.timedelta(minutes=5)).isoformat()
    r = client.post(events, headers=auth, json={"type": "picked_up", "request_id": rid, "at": before_booking})
    assert r.status_code == 409, r.text
    assert "before it was booked" in r.json()["detail"]
    assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == "assigned"
    clock.advance(3600)
    r = client.post(events, headers=auth, json={"type": "picked_up", "request_id": rid})
    assert r.status_code == 200, r.text
    early = (clock.now - dt.timedelta(seconds=30)).isoformat()
    r = client.post(events, headers=auth, json={"type": "dropped_off", "request_id": rid, "at": early})
    assert r.status_code == 409, r.text
    assert "before its pick-up" in r.json()["detail"]
    assert client.get(f"/v1/ride-requests/{rid}", headers=auth).json()["status"] == "onboard"
    clock.advance(600)
    r = client.post(events, headers=auth, json={"type": "dropped_off", "request_id": rid})
    assert r.json()["request_status"] == "completed"


@pytest.mark.parametrize("value", ['"135.47368"', "true", '"NaN"', "null"])
def test_coordinates_must_be_json_numbers(client: TestClient, auth: dict[str, str], value: str) -> None:
    """A coordinate given as a string, a boolean or null is a 422; integers are numbers and accepted."""
    lat = "34.504263"  # with lon 135.47368: stop s00 of the synthetic area
    for lon_lat in (f'"lon": {value}, "lat": {lat}', f'"lon": 135.47368, "lat": "{lat}"'):
        raw = f'{{"pickup": {{{lon_lat}}}, "dropoff": {{"stop_id": "s08"}}}}'
        r = post_raw(client, auth, "/v1/ride-requests", raw)
        assert r.status_code == 422, r.text
        r = post_raw(client, auth, "/v1/vehicles/v1/events", f'{{"type": "position", {lon_lat}}}')
        assert r.status_code == 422, r.text
    ok = post_raw(
        client,
        auth,
        "/v1/ride-requests",
        f'{{"pickup": {{"lon": 135.47368, "lat": {lat}}}, "dropoff": {{"stop_id": "s08"}}}}',
    )
    assert ok.status_code == 201, ok.text
    assert PointRef.model_validate({"lon": 135, "lat": 34}).lon == 135.0
    assert VehicleEventIn.model_validate({"type": "position", "lon": 135, "lat": 34}).lat == 34.0


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_coordinates_are_422_without_a_trace(
    client: TestClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture, number: str
) -> None:
    """NaN, infinities and 1e309 as lon/lat of a booking or a position event: 422 with a message, not 500."""
    caplog.set_level(logging.INFO)
    raw = f'{{"pickup": {{"lon": {number}, "lat": 34.51}}, "dropoff": {{"stop_id": "s08"}}}}'
    r = post_raw(client, auth, "/v1/ride-requests", raw)
    assert r.status_code == 422, r.text
    assert "finite" in r.json()["detail"]
    r = post_raw(
        client, auth, "/v1/vehicles/v1/events", f'{{"type": "position", "lon": 135.5, "lat": {number}}}'
    )
    assert r.status_code == 422, r.text
    assert "lat" in r.json()["detail"]
    no_traces(caplog)
    assert client.get("/v1/kpis", headers=auth).json()["requests"] == 0


def test_many_unknown_keys_get_a_small_bounded_error(client: TestClient, auth: dict[str, str]) -> None:
    """A 59 KB body with 6,000 unknown keys gets a 422 of a few KB listing MAX_LISTED_ERRORS problems."""
    body: dict[str, Any] = dict(TRIP)
    body.update({f"k{i}": 0 for i in range(6000)})
    raw = json.dumps(body, separators=(",", ":"))
    assert 55_000 < len(raw) < 64 * 1024
    r = post_raw(client, auth, "/v1/ride-requests", raw)
    assert r.status_code == 422, r.text[:500]
    assert len(r.content) < 8_000
    out = ApiError.model_validate(r.json())
    assert out.errors is not None
    assert len(out.errors) == MAX_LISTED_ERRORS
    assert "6000 problems" in out.detail
    assert out.errors[0].loc[0] == "body"


def test_validation_errors_have_the_documented_shape(client: TestClient, auth: dict[str, str]) -> None:
    """A validation 422 is an ApiError: ``detail`` a string, ``errors`` loc/msg/type (no input echoed)."""
    r = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "passengers": "2", "coupon": "x"})
    assert r.status_code == 422
    out = r.json()
    assert isinstance(out["detail"], str)
    assert "passengers" in out["detail"]
    assert set(out) == {"detail", "errors"}
    assert {tuple(e["loc"]) for e in out["errors"]} == {("body", "passengers"), ("body", "coupon")}
    assert all(set(e) == {"loc", "msg", "type"} for e in out["errors"])
    ApiError.model_validate(out)
    # Errors raised by the service itself keep the short form.
    r = client.post(
        "/v1/ride-requests", headers=auth, json={"pickup": {"stop_id": "nope"}, "dropoff": {"stop_id": "s01"}}
    )
    assert r.status_code == 422
    assert set(r.json()) == {"detail"}


def test_openapi_documents_404_and_the_error_model(client: TestClient) -> None:
    """A ride and its cancel document 404; every documented 4xx (422 included) uses the ApiError model."""
    schema = client.get("/openapi.json").json()
    ride = schema["paths"]["/v1/ride-requests/{request_id}"]["get"]["responses"]
    cancel = schema["paths"]["/v1/ride-requests/{request_id}/cancel"]["post"]["responses"]
    assert "404" in ride
    assert "404" in cancel
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                if status.startswith("4"):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ApiError"), (path, method, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def _cancel_twice_at_once(client: TestClient, auth: dict[str, str], rid: str) -> list[Any]:
    """Send two cancels of ``rid`` released together by a barrier; their responses."""
    answers: list[Any] = []
    barrier = threading.Barrier(2)

    def cancel() -> None:
        barrier.wait()
        answers.append(client.post(f"/v1/ride-requests/{rid}/cancel", headers=auth))

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_concurrent_cancels_of_one_ride_are_both_200(client: TestClient, auth: dict[str, str]) -> None:
    """Two simultaneous cancels of one ride both answer 200 cancelled, as when sent one after the other."""
    for _ in range(8):
        rid = client.post("/v1/ride-requests", headers=auth, json=TRIP).json()["id"]
        answers = _cancel_twice_at_once(client, auth, rid)
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert {a.json()["status"] for a in answers} == {"cancelled"}
    assert client.get("/v1/kpis", headers=auth).json()["cancelled"] == 8


@pytest.mark.parametrize("path", ["/map", "/static/map.html", "/static/map.js", "/static/leaflet/leaflet.js"])
def test_pages_and_static_files_carry_the_security_headers(client: TestClient, path: str) -> None:
    """Every page and static file has the map's CSP, may not be framed and is not MIME-sniffed."""
    r = client.get(path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    api = client.get("/healthz")
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["x-content-type-options"] == "nosniff"
