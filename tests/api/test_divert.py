"""The live API follows mid-leg diversion: progress reports, a turned van's new next stop, a restart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from ondemand.api.db import Operator, VehicleEventRow
from ondemand.errors import UnknownStopError
from ondemand.routing.geo.geodesy import haversine_m
from ondemand.routing.geo.network import RoadNetwork
from ondemand.routing.solver.check import check_plan
from tests.api._synthetic import SyntheticStop, synthetic_service
from tests.api.conftest import FixedClock, new_key

pytest.importorskip("routingkit_cch", reason="turning points need the CCH backend (routingkit-cch)")


@dataclass(frozen=True, eq=False)
class RoadArea:
    """Three meeting points on a 7 x 7 road grid, travel times on demand (turning points named)."""

    network: RoadNetwork
    stops: tuple[SyntheticStop, ...]
    matrix: Any

    @classmethod
    def build(cls, every: int = 0) -> RoadArea:
        """Stops at the grid's corners and centre, or (``every``) at every ``every``-th node."""
        from ondemand.routing.geo.lazy import OnDemandTravelTimes
        from tests.routing.geo._network_fixtures import grid_network

        net = grid_network(7)
        nodes = list(range(0, net.n_nodes, every)) if every else [0, net.n_nodes - 1, net.n_nodes // 2]
        stops = tuple(
            SyntheticStop(f"s{i}", f"Stop {i}", float(net.lon[n]), float(net.lat[n]), n)
            for i, n in enumerate(nodes)
        )
        return cls(net, stops, OnDemandTravelTimes(net, nodes, backend="cch"))

    def path(self, i: int, j: int) -> Any:
        from ondemand.routing.geo.matrix import road_path

        k = len(self.stops)
        node = [self.stops[p].node if p < k else p - k for p in (i, j)]  # turning point: k + node
        return road_path(self.network, node[0], node[1])

    def stop_index(self, stop_id: str) -> int:
        for i, s in enumerate(self.stops):
            if s.id == stop_id:
                return i
        raise UnknownStopError(f"unknown stop {stop_id!r}")

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        d = [haversine_m(lon, lat, s.lon, s.lat) for s in self.stops]
        best = min(range(len(d)), key=d.__getitem__)
        return best, float(d[best])


def _book(client: TestClient, auth: dict[str, str], a: str, b: str) -> dict[str, Any]:
    body = {"pickup": {"stop_id": a}, "dropoff": {"stop_id": b}}
    answer = client.post("/v1/ride-requests", headers=auth, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _sheet(client: TestClient, auth: dict[str, str], vid: str = "v1") -> list[tuple[str, str, str, str]]:
    got = client.get(f"/v1/driver?vehicle_id={vid}", headers=auth)
    assert got.status_code == 200, got.text
    return [(s["request_id"], s["kind"], s["stop_id"], s["eta"]) for s in got.json()["stops"]]


def _day(
    make_app: Callable[..., FastAPI], clock: FixedClock, divert: bool, report: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """One van leaves s0 for s1 (rider r1); 60 s later (reported) a rider books at s0."""
    area = RoadArea.build()
    config = synthetic_service(
        area, n_vehicles=1, seats=4, start=9 * 3600, end=18 * 3600, divert_mid_leg=divert
    )
    app = make_app(area=area, config=config)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
        r1 = _book(client, auth, "s1", "s2")
        clock.advance(30)
        _sheet(client, auth)  # the van has left: its leg is committed (the views advance the plan)
        clock.advance(30)
        # 45 s driven, not the 60 planned (a slow start): where it can turn is counted from the report
        ev = report or {
            "type": "position",
            "lon": area.stops[0].lon,
            "lat": area.stops[0].lat,
            "driven_s": 45,
        }
        assert client.post("/v1/vehicles/v1/events", headers=auth, json=ev).status_code == 200
        r2 = _book(client, auth, "s0", "s2")
        sheet = _sheet(client, auth)
        svc = app.state.registry.get(1)
        assert svc.dispatcher.options.divert_mid_leg is divert  # the policy's, as in the simulator
        with svc.lock:
            plan = svc.dispatcher.plan
            start = plan.route_of("v1").vehicle
        assert not check_plan(plan, area.matrix).violations
        with app.state.db.read() as session:
            turned = list(session.scalars(select(VehicleEventRow).where(VehicleEventRow.kind == "turned")))
    return area, config, app, auth, r1, r2, sheet, start, turned


def test_a_booking_turns_the_van_and_a_restart_keeps_it(
    make_app: Callable[..., FastAPI], clock: FixedClock
) -> None:
    """With divert_mid_leg the van reported 45 s into its leg turns back for a rider at s0: the driver's
    next stop is that pickup, promises hold, and a restart rebuilds the same turned plan."""
    area, config, _, auth, r1, r2, sheet, start, turned = _day(make_app, clock, True)
    assert r1["status"] == r2["status"] == "assigned"
    assert sheet[0][:3] == (r2["id"], "pickup", "s0")  # the new next stop: back to s0
    assert [s[0] for s in sheet].count(r1["id"]) == 2
    assert start.start >= len(area.stops)  # planned from a turning point ...
    assert len(turned) == 1  # ... stored, with the time the van gets there
    assert turned[0].at_s == start.available_from
    point, wait = area.matrix.turn_point(0, 1, 45)
    assert (start.start, start.available_from) == (point, 10 * 3600 + 60 + wait)
    node = int(area.matrix.node_of(start.start))
    assert (turned[0].lon, turned[0].lat) == (float(area.network.lon[node]), float(area.network.lat[node]))
    restarted = make_app(area=RoadArea.build(), config=config)  # a new process: its own numbering
    with TestClient(restarted) as client:
        assert _sheet(client, auth) == sheet
        svc = restarted.state.registry.get(1)
        assert svc.restore_failures == 0
        with svc.lock:
            again = svc.dispatcher.plan.route_of("v1").vehicle
            assert not check_plan(svc.dispatcher.plan, svc.tt).violations
        assert again.available_from == start.available_from
        assert restarted.state.registry.area.matrix.node_of(again.start) == node


def test_without_the_setting_the_leg_stays_committed(
    make_app: Callable[..., FastAPI], clock: FixedClock
) -> None:
    """Setting off: the same reports and booking leave the van on its leg (r1 first) and store no turn."""
    _, _, _, _, r1, _, sheet, start, turned = _day(make_app, clock, False)
    assert sheet[0][:3] == (r1["id"], "pickup", "s1")
    assert turned == []
    assert start.start == 1  # planned from the end of its committed leg


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ({"type": "position", "lon": 135.5, "lat": 34.5, "driven_s": -1}, "driven_s"),
        ({"type": "position", "lon": 135.5, "lat": 34.5, "driven_s": "60"}, "driven_s"),
        ({"type": "position", "lon": 135.5, "lat": 34.5, "driven_s": 100_000}, "driven_s"),
        ({"type": "arrived", "stop_id": "s00", "driven_s": 5}, "'driven_s' belongs to a position event"),
    ],
)
def test_bad_progress_reports_are_refused(
    client: TestClient, auth: dict[str, str], event: dict[str, Any], why: str
) -> None:
    """A progress report with a bad driven_s is a 422 naming the field, and nothing is stored."""
    got = client.post("/v1/vehicles/v1/events", headers=auth, json=event)
    assert got.status_code == 422, got.text
    assert why in got.text
    app = client.app
    with app.state.db.read() as session:  # type: ignore[attr-defined]
        assert list(session.scalars(select(VehicleEventRow))) == []


def test_the_simulator_s_dispatcher_turns_the_same_way(
    make_app: Callable[..., FastAPI], clock: FixedClock
) -> None:
    """The same requests, clock and progress report given to the policy's dispatcher as the simulator
    drives it give the API's turned plan: the same turning point, stops and times."""
    from ondemand.dispatch import InsertionDispatcher

    seen: list[tuple[Any, int]] = []

    class Recording(InsertionDispatcher):
        def submit(self, request: Any, *, now: int) -> Any:
            seen.append((request, now))
            return super().submit(request, now=now)

    def factory(vehicles: Any, tt: Any) -> Any:
        policy = synthetic_service(RoadArea.build(), n_vehicles=1, divert_mid_leg=True).policy
        return Recording(vehicles, tt, options=policy.dispatch_options())

    _, config, app, *_ = _day(lambda **kw: make_app(dispatcher_factory=factory, **kw), clock, True)
    with app.state.registry.get(1).lock:
        api = app.state.registry.get(1).dispatcher
        api_start = api.plan.route_of("v1").vehicle
        api_stops = [(s.request_id, s.kind, s.eta) for s in api.itinerary("v1")]
    tt = RoadArea.build().matrix
    sim = config.policy.dispatcher(config.vehicles, tt)  # as the simulator builds it
    (r1, t1), (r2, t2) = seen
    sim.submit(r1, now=t1)
    sim.advance(t1 + 30)  # the API's driver sheet advanced the plan then
    sim.record_progress("v1", 45, at=t1 + 60)
    sim.submit(r2, now=t2)
    start = sim.plan.route_of("v1").vehicle
    assert tt.node_of(start.start) == app.state.registry.area.matrix.node_of(api_start.start)
    assert start.available_from == api_start.available_from
    assert [(s.request_id, s.kind, s.eta) for s in sim.itinerary("v1")] == api_stops


def test_a_position_alone_says_where_the_van_is(make_app: Callable[..., FastAPI], clock: FixedClock) -> None:
    """A position report without driven_s is placed on the leg's road path: a van reported at a node of
    the path reached before the 60 s planned turns there, at once, as a van that far into its leg can."""
    area = RoadArea.build()
    path = area.path(0, 1)
    i = int(np.searchsorted(path.node_seconds, 38))
    node, driven = int(path.nodes[i]), int(path.node_seconds[i])
    assert 0 < driven < 60
    report = {"type": "position", "lon": float(area.network.lon[node]), "lat": float(area.network.lat[node])}
    area, *_, turned = _day(make_app, clock, True, report)
    point, wait = area.matrix.turn_point(0, 1, driven)
    assert wait == 0  # it is at that node: it turns there at once (and the view then commits its next leg)
    assert len(turned) == 1
    assert turned[0].at_s == 10 * 3600 + 60
    assert (turned[0].lon, turned[0].lat) == (report["lon"], report["lat"])
    assert area.matrix.node_of(point) == node


@pytest.mark.slow
def test_random_days_with_turns_survive_restarts(make_app: Callable[..., FastAPI], clock: FixedClock) -> None:
    """Random days with diversion on (bookings, minutes passing, progress reports, pickups and drop-offs),
    restarted while a van drives to its turning point: every van gets back its stops in order, and each
    van planned from a turning point the same point and time."""
    import random

    turns = still_turned = 0
    for seed in range(4):
        rng = random.Random(seed)
        area = RoadArea.build(every=4)
        n = len(area.stops)
        config = synthetic_service(
            area, n_vehicles=3, seats=4, start=9 * 3600, end=18 * 3600, divert_mid_leg=True
        )
        vids = [v.id for v in config.vehicles]
        app = make_app(area=area, config=config)
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {new_key(app, f'op{seed}')}"}
            with app.state.db.read() as session:  # one database for the test: an operator per day
                op = session.scalar(select(Operator.id).where(Operator.name == f"op{seed}"))
            svc = None
            for _ in range(60):
                roll = rng.random()
                if roll < 0.45:
                    a, b = rng.sample(range(n), 2)
                    body = {"pickup": {"stop_id": f"s{a}"}, "dropoff": {"stop_id": f"s{b}"}}
                    got = client.post("/v1/ride-requests", headers=auth, json=body)
                    assert got.status_code == 201, got.text
                    # (no check_plan here: random reports, e.g. pickups before the van is there, break
                    # plans with or without diversion; the simulator's and dispatcher's tests check it)
                    svc = app.state.registry.get(op)
                    now_s = svc.day.seconds(clock())
                    if any(at > now_s for _, at in _turned_vans(app, op, vids).values()):
                        break  # restart while a van drives to its turning point
                elif roll < 0.65:
                    clock.advance(rng.uniform(5, 40))
                    for vid in vids:
                        client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth)  # views advance the plan
                elif roll < 0.75:
                    ev = {"type": "position", "lon": area.stops[0].lon, "lat": area.stops[0].lat}
                    ev["driven_s"] = rng.randrange(0, 120)
                    client.post(f"/v1/vehicles/{rng.choice(vids)}/events", headers=auth, json=ev)
                else:
                    vid = rng.choice(vids)
                    itin = client.get(f"/v1/vehicles/{vid}/itinerary", headers=auth).json()
                    if itin:  # the head stop served (a pickup as soon as the van is there)
                        kind = "picked_up" if itin[0]["kind"] == "pickup" else "dropped_off"
                        ev = {"type": kind, "request_id": itin[0]["request_id"]}
                        client.post(f"/v1/vehicles/{vid}/events", headers=auth, json=ev)
            # stop orders (the times of vans restored from pickups without arrivals may move: as
            # without diversion), and the turning point and time of each van planned from one
            before = {vid: [(x[0], x[1]) for x in _sheet(client, auth, vid)] for vid in vids}
            turned_before = _turned_vans(app, op, vids)
            with app.state.db.read() as session:
                turns += len(
                    list(
                        session.scalars(
                            select(VehicleEventRow).where(
                                VehicleEventRow.kind == "turned", VehicleEventRow.operator_id == op
                            )
                        )
                    )
                )
        restarted = make_app(area=RoadArea.build(every=4), config=config)
        with TestClient(restarted) as client:
            after = {vid: [(x[0], x[1]) for x in _sheet(client, auth, vid)] for vid in vids}
            assert restarted.state.registry.get(op).restore_failures == 0
            assert _turned_vans(restarted, op, vids) == turned_before
        assert after == before
        still_turned += len(turned_before)
    assert turns > 0
    assert still_turned > 0


def _turned_vans(app: FastAPI, op: int, vids: list[str]) -> dict[str, tuple[int, int]]:
    """The road node and time of each van of operator ``op`` planned from a turning point."""
    svc = app.state.registry.get(op)
    tt = app.state.registry.area.matrix
    k = len(app.state.registry.area.stops)
    with svc.lock:
        starts = {vid: svc.dispatcher.plan.route_of(vid).vehicle for vid in vids}
    return {vid: (tt.node_of(v.start), v.available_from) for vid, v in starts.items() if v.start >= k}
