"""Background re-optimisation through the API: promises kept, database follows the dispatcher."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import random
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api._synthetic import SyntheticArea, synthetic_service
from tests.api.conftest import FixedClock, new_key


def _book_and_reoptimise(
    make_app: Callable[..., FastAPI], clock: FixedClock, pool: concurrent.futures.Executor | None
) -> None:
    area = SyntheticArea.grid(16)
    config = synthetic_service(area, n_vehicles=3, seats=8, start=9 * 3600, end=18 * 3600)
    app = make_app(area=area, config=config, settings={"reopt_time_limit_s": 1.0})
    rng = random.Random(3)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        for k in range(40):
            p, q = rng.sample(range(16), 2)
            later = clock.now + dt.timedelta(minutes=rng.randint(0, 90))
            body = {
                "pickup": {"stop_id": f"s{p:02d}"},
                "dropoff": {"stop_id": f"s{q:02d}"},
                "earliest_pickup": later.isoformat(),
            }
            client.post("/v1/ride-requests", headers=auth, json=body, params={"k": k})
        adopted = app.state.reoptimise_now(pool)
        assert adopted in (0, 1)
        booked = [
            r
            for r in client.get("/v1/live", headers=auth).json()["open_requests"]
            if r["status"] == "assigned"
        ]
        assert booked
        where: dict[str, tuple[str, dict[str, object]]] = {}
        for v in config.vehicles:
            for stop in client.get(f"/v1/vehicles/{v.id}/itinerary", headers=auth).json():
                where[f"{stop['request_id']}/{stop['kind']}"] = (v.id, stop)
        for r in booked:
            vid, pickup = where[f"{r['id']}/pickup"]
            vid2, dropoff = where[f"{r['id']}/dropoff"]
            assert vid == vid2 == r["vehicle_id"]  # the database follows any move
            eta = dt.datetime.fromisoformat(str(pickup["eta"]))
            start = dt.datetime.fromisoformat(r["pickup_window"]["start"])
            end = dt.datetime.fromisoformat(r["pickup_window"]["end"])
            assert start <= eta <= end
            assert dt.datetime.fromisoformat(str(dropoff["eta"])) <= dt.datetime.fromisoformat(
                r["latest_dropoff"]
            )


def test_reoptimise_in_process_keeps_every_promise(
    make_app: Callable[..., FastAPI], clock: FixedClock
) -> None:
    """After a re-optimisation each booking is planned on the vehicle the database names, in its promise."""
    pytest.importorskip("ondemand.routing.solver.darp")
    _book_and_reoptimise(make_app, clock, None)


@pytest.mark.slow
def test_reoptimise_in_a_worker_process(make_app: Callable[..., FastAPI], clock: FixedClock) -> None:
    """The same with the solver in a spawned worker process, as the server runs it."""
    pytest.importorskip("ondemand.routing.solver.darp")
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        _book_and_reoptimise(make_app, clock, pool)
