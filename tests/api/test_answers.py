"""Answers a person can read: when a booking was made, drop-off estimates, refusals in HH:MM."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ondemand.api.booking import ServiceConfig
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


_SECONDS = re.compile(r"\b\d{4,}\b")
"""Four or more digits in a row: seconds since midnight (no date, time or count in these answers has them)."""


def _hours_config(area: SyntheticArea, **over: Any) -> ServiceConfig:
    """Two vans 09:00-18:00, booking a week ahead."""
    return synthetic_service(
        area, n_vehicles=2, start=9 * 3600, end=18 * 3600, **{"booking_horizon_days": 7, **over}
    )


def test_refusal_after_hours_gives_hhmm_the_service_hours_and_a_code(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """An ASAP ride at 18:30 (service 09-18) is refused in HH:MM for people, outside_hours for programs."""
    clock.now = clock.now.replace(hour=18, minute=30, second=5)
    app = make_app(config=_hours_config(area))
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        out = client.post("/v1/ride-requests", headers=auth, json=TRIP).json()
        stored = client.get(f"/v1/ride-requests/{out['id']}", headers=auth).json()
    assert out["status"] == "refused", out
    assert out["reason_code"] == "outside_hours", out
    assert (stored["reason"], stored["reason_code"]) == (out["reason"], "outside_hours")
    reason = out["reason"]
    assert reason.startswith("outside hours: "), reason
    assert "between 18:30 and 19:00" in reason, reason
    assert "service hours are 09:00-18:00" in reason, reason
    assert "book for another day" in reason, reason
    assert not _SECONDS.search(reason), reason


def test_refusal_for_tomorrow_before_service_names_the_date_and_the_earliest_pickup(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """Booked at 23:09 for 08:15 tomorrow (service from 09:00): times say the date; 09:00 would work."""
    clock.now = clock.now.replace(hour=23, minute=9, second=28)
    tomorrow = clock.now.date() + dt.timedelta(days=1)
    app = make_app(config=_hours_config(area))
    pickup = dt.datetime.combine(tomorrow, dt.time(8, 15), tzinfo=TZ).isoformat()
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        out = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": pickup}).json()
    assert out["status"] == "refused", out
    reason = out["reason"]
    day = f"{tomorrow:%m/%d}"
    assert f"between {day} 08:15 and {day} 08:45" in reason, reason
    assert "service hours are 09:00-18:00" in reason, reason
    assert f"the earliest possible pickup is {day} 09:00" in reason, reason
    assert not _SECONDS.search(reason), reason


def test_errors_with_times_give_hhmm_and_what_would_work(
    make_app: Callable[..., FastAPI], area: SyntheticArea, clock: FixedClock
) -> None:
    """422s naming a time (after hours, past, arrive-by too early) write HH:MM and say what works."""
    app = make_app(config=_hours_config(area))

    def at(h: int, m: int) -> str:
        return dt.datetime.combine(clock.now.date(), dt.time(h, m), tzinfo=TZ).isoformat()

    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        late = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": at(18, 30)})
        past = client.post("/v1/ride-requests", headers=auth, json={**TRIP, "earliest_pickup": at(9, 30)})
        soon = client.post(
            "/v1/ride-requests",
            headers=auth,
            json={**TRIP, "earliest_pickup": at(11, 0), "latest_dropoff": at(11, 1)},
        )
    assert (late.status_code, past.status_code, soon.status_code) == (422, 422, 422)
    late_d, past_d, soon_d = (r.json()["detail"] for r in (late, past, soon))
    assert "earliest_pickup (18:30) is after the service hours (09:00-18:00)" in late_d, late_d
    assert re.search(r"the latest possible pickup for this trip is 17:\d\d", late_d), late_d
    assert "it is 10:00 now" in past_d, past_d
    assert re.search(r"even a direct ride from 11:00 arrives at 11:\d\d; ask to arrive at 11:\d\d", soon_d), (
        soon_d
    )
    for detail in (late_d, past_d, soon_d):
        assert not _SECONDS.search(detail), detail
