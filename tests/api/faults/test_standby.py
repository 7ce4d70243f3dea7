"""A standby on the same PostgreSQL database takes over an operator within 15 s of kill -9 of the leader,
with every acknowledged booking, and answers retries with their first answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.api.faults._harness import (
    FaultReport,
    Server,
    Workload,
    check_dispatcher_matches_database,
    make_key,
    process_group_gone,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a hang guard: three starts of START_TIMEOUT_S


def test_standby_takes_over_after_kill_9_of_the_leader(
    tmp_path: Path, pg_url: str, fault_report: Callable[[str], FaultReport]
) -> None:
    """Leader + standby: the standby refuses changes (503) until the leader dies, then serves within 15 s."""
    key = make_key(pg_url)
    headers = {"Authorization": f"Bearer {key}"}
    t0 = time.time()
    leader = Server(pg_url, t0, tmp_path, name="leader")
    leader.start()
    standby = Server(pg_url, t0, tmp_path, name="standby")
    standby.start()
    report = fault_report("kill -9 of the leader, standby takes over (postgresql)")
    try:
        with Workload(leader, key, seed=20) as load:
            load.wait_acked(10)  # enough bookings before the kill to test something, however busy the machine
            with httpx.Client(base_url=standby.base, headers=headers, timeout=10) as sb:
                r = sb.post(
                    "/v1/ride-requests", json={"pickup": {"stop_id": "s00"}, "dropoff": {"stop_id": "s05"}}
                )
                assert r.status_code == 503, f"the standby decided a booking: {r.status_code} {r.text}"
                assert int(r.headers["retry-after"]) >= 1
                assert sb.get("/v1/vehicles/v1/itinerary").status_code == 503
        acked = {a.key: a for a in load.answers if a.op == "book" and a.code == 201}
        assert len(acked) >= 10, "too few bookings before the kill to test anything"
        with httpx.Client(base_url=standby.base, headers=headers, timeout=10) as sb:
            some = next(iter(acked.values()))
            r = sb.post("/v1/ride-requests", json=some.sent, headers={"Idempotency-Key": some.key})
            assert r.status_code == 200, "a standby replays a stored answer"
            assert (r.json()["id"], r.json()["vehicle_id"]) == (some.body["id"], some.body["vehicle_id"])  # type: ignore[index]
            with Workload(leader, key, seed=21) as load2:
                time.sleep(1.0)
                leader.kill()
                killed = time.monotonic()
            took_over = None
            body = {"pickup": {"stop_id": "s01"}, "dropoff": {"stop_id": "s07"}}
            while time.monotonic() - killed < 15:
                r = sb.post("/v1/ride-requests", json=body, headers={"Idempotency-Key": "after-takeover"})
                if r.status_code in (200, 201):
                    took_over = time.monotonic() - killed
                    break
                assert r.status_code == 503, r.text
                time.sleep(0.2)
            assert took_over is not None, "the standby did not take over within 15 s"
            report.recovery_s = took_over
            for a in [*acked.values(), *(a for a in load2.answers if a.op == "book" and a.code == 201)]:
                report.acknowledged += 1
                got = sb.get(f"/v1/ride-requests/{a.body['id']}")  # type: ignore[index]
                assert got.status_code == 200, f"acknowledged booking {a.key} lost in the takeover"
                report.survived += 1
                r = sb.post("/v1/ride-requests", json=a.sent, headers={"Idempotency-Key": a.key})
                assert r.status_code == 200, f"retry of {a.key} after the takeover: {r.status_code} {r.text}"
                assert r.json()["id"] == a.body["id"]  # type: ignore[index]
                assert r.json()["vehicle_id"] == a.body["vehicle_id"]  # type: ignore[index]
        check_dispatcher_matches_database(pg_url, standby, key)
        leader.start()  # the old leader comes back as the standby now
        with httpx.Client(base_url=leader.base, headers=headers, timeout=10) as old:
            r = old.post(
                "/v1/ride-requests", json={"pickup": {"stop_id": "s02"}, "dropoff": {"stop_id": "s09"}}
            )
            assert r.status_code == 503, "two servers decide for one operator"
    finally:
        pgids = [*leader.pgids, *standby.pgids]
        leader.stop()
        standby.stop()
        for pgid in pgids:
            assert process_group_gone(pgid) == []
