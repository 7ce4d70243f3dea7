"""Durability: a server killed with SIGKILL during bookings loses no acknowledged booking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.api._proc import free_port, kill, make_key, start_server


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_9_during_bookings_keeps_every_acknowledged_booking(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """Every booking answered before kill -9 is there after a restart: same answer, same vehicle, planned."""
    if database == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite:///{tmp_path / 'restart.db'}"
    key = make_key(url)
    headers = {"Authorization": f"Bearer {key}"}
    t0 = time.time()
    port = free_port()
    proc = start_server(url, port, t0)
    acked: dict[str, dict[str, object]] = {}
    stop = threading.Event()

    def booker(offset: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
            k = offset
            while not stop.is_set():
                body = {
                    "pickup": {"stop_id": f"s{k % 16:02d}"},
                    "dropoff": {"stop_id": f"s{(k * 7 + 3) % 16:02d}"},
                }
                k += 3
                if body["pickup"] == body["dropoff"]:
                    continue
                try:
                    r = client.post("/v1/ride-requests", json=body)
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 201:
                    acked[r.json()["id"]] = r.json()

    threads = [threading.Thread(target=booker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60  # kill once enough bookings are acknowledged, however busy the machine
    while len(acked) < 20 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    kill(proc)  # SIGKILL while the bookers are still sending
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 20, "too few bookings before the kill to test anything"
    assigned = [a for a in acked.values() if a["status"] == "assigned"]
    assert assigned

    port2 = free_port()
    proc2 = start_server(url, port2, t0)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port2}", headers=headers, timeout=30) as client:
            for rid, before in acked.items():
                after = client.get(f"/v1/ride-requests/{rid}").json()
                assert after == before
            planned: set[str] = set()
            for vid in {a["vehicle_id"] for a in assigned}:
                itin = client.get(f"/v1/vehicles/{vid}/itinerary").json()
                planned |= {s["request_id"] for s in itin if s["kind"] == "dropoff"}
            assert {a["id"] for a in assigned} <= planned
    finally:
        kill(proc2)
