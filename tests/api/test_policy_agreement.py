"""The simulator and the live API agree: the same trip gives the same Request, promise and fleet."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from ondemand.api.booking import BookingDesk, ServiceConfig, service_config_from_scenario
from ondemand.api.clock import ServiceDay
from ondemand.api.schemas import RideRequestIn
from ondemand.dispatch import Assignment, InsertionDispatcher
from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import InvalidRequestError, OutsideServiceAreaError
from ondemand.routing.solver.model import BookingKind, Request, TravelTimes, Vehicle
from ondemand.sim.demand import TripRequest
from ondemand.sim.engine import default_dispatcher, make_request
from tests.api._synthetic import SyntheticArea
from tests.api.conftest import TZ, FixedClock, new_key
from tests.sim.helpers import scenario

AREA = SyntheticArea.grid(16)
SC = scenario("senboku")
SIM = ServicePolicy.from_scenario(SC, fleet=3)  # the simulator's policy (simulate(..., fleet=3))
NOW = 10 * 3600  # FixedClock: today 10:00
A, K, B = BookingKind.ASAP, BookingKind.LEAVE_AT, BookingKind.ARRIVE_BY


class RecordingDispatcher(InsertionDispatcher):
    """The API's dispatcher, remembering every request the API submits to it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submitted: list[tuple[Request, int]] = []

    def submit(self, request: Request, *, now: int) -> Any:
        self.submitted.append((request, now))
        return super().submit(request, now=now)


def _trip(
    rid: str, a: int, b: int, kind: BookingKind, *, at: int | None, by: int | None, now: int = NOW, **kw: Any
) -> TripRequest:
    """A simulated rider at stop ``a`` booking at ``now`` (no walk: the API books stop to stop)."""
    return TripRequest(
        id=rid,
        booked_at=now,
        kind=kind,
        requested_pickup=now if at is None else at,
        origin=(0.0, 0.0),
        destination=(0.0, 0.0),
        pickup_stop=a,
        dropoff_stop=b,
        walk_to_m=0,
        walk_from_m=0,
        walk_to_s=0,
        walk_from_s=0,
        dropoff_by=by,
        **kw,
    )


def _body(trip: TripRequest, day: ServiceDay) -> dict[str, Any]:
    """The HTTP booking body of the same trip."""
    body: dict[str, Any] = {
        "pickup": {"stop_id": AREA.stops[trip.pickup_stop].id},
        "dropoff": {"stop_id": AREA.stops[trip.dropoff_stop].id},
        "passengers": trip.passengers,
        "wheelchair": bool(trip.wheelchair),
    }
    if trip.kind is K:
        body["earliest_pickup"] = day.at(trip.requested_pickup).isoformat()
    if trip.dropoff_by is not None:
        body["latest_dropoff"] = day.at(trip.dropoff_by).isoformat()
    return body


TRIPS = [
    _trip("asap", 0, 8, A, at=None, by=None),
    _trip("group", 3, 12, A, at=None, by=None, passengers=3, wheelchair=1),
    _trip("leave", 5, 10, K, at=11 * 3600, by=None, passengers=2),
    _trip("arrive", 1, 14, B, at=None, by=12 * 3600),
    _trip("bounded", 2, 9, K, at=11 * 3600 + 1800, by=12 * 3600 + 1800),
    _trip("chair", 15, 4, K, at=13 * 3600, by=None, wheelchair=1),
    _trip("late-arrive", 6, 11, B, at=None, by=NOW + 1500, passengers=4),
]


@pytest.fixture
def api(make_app: Callable[..., FastAPI], clock: FixedClock) -> tuple[FastAPI, ServiceConfig, list[Any]]:
    """The live API for the scenario, as ``ondemand serve --fleet 3`` builds it, recording its dispatchers."""
    config = service_config_from_scenario(SC, AREA, fleet=3)
    made: list[tuple[tuple[Vehicle, ...], RecordingDispatcher]] = []

    def factory(vehicles: Sequence[Vehicle], tt: TravelTimes) -> RecordingDispatcher:
        default = config.policy.dispatcher(vehicles, tt)  # what create_app would build
        assert isinstance(default, InsertionDispatcher)
        d = RecordingDispatcher(vehicles, tt, options=default.options, reoptimiser=default.reoptimiser)
        made.append((tuple(vehicles), d))
        return d

    return make_app(area=AREA, config=config, dispatcher_factory=factory), config, made


def test_the_same_trips_give_the_same_requests_promises_and_fleet(
    api: tuple[FastAPI, ServiceConfig, list[Any]], clock: FixedClock
) -> None:
    """ASAP, leave-at, arrive-by, groups, wheelchairs: the API makes the simulator's Request and promise."""
    app, config, made = api
    day = ServiceDay(clock.now.date(), TZ)
    auth = {"Authorization": f"Bearer {new_key(app, 'acme')}"}
    sim_vehicles = SIM.vehicles(AREA.stops)  # as run_day builds the fleet
    sim = default_dispatcher(sim_vehicles, AREA.matrix, SIM)
    assert config.policy == SIM
    with TestClient(app) as client:
        for trip in TRIPS:
            r = client.post("/v1/ride-requests", headers=auth, json=_body(trip, day))
            assert r.status_code == 201, r.text
            out = r.json()
            (api_vehicles, live), *others = made
            assert not others
            api_req, api_now = live.submitted[-1]
            sim_req = make_request(trip, AREA.matrix, SIM, now=NOW)
            assert api_now == NOW
            assert dataclasses.replace(api_req, id=trip.id) == sim_req, trip.id
            answer = sim.submit(sim_req, now=NOW)
            assert isinstance(answer, Assignment), trip.id
            assert out["status"] == "assigned"
            assert out["vehicle_id"] == answer.vehicle_id
            window = out["pickup_window"]
            got = (
                day.seconds(dt.datetime.fromisoformat(window["start"])),
                day.seconds(dt.datetime.fromisoformat(window["end"])),
            )
            assert got == answer.pickup_window, trip.id
            assert day.seconds(dt.datetime.fromisoformat(out["latest_dropoff"])) == answer.latest_dropoff
            assert day.seconds(dt.datetime.fromisoformat(out["dropoff_eta"])) == answer.dropoff_eta
    assert api_vehicles == tuple(sim_vehicles) == config.vehicles
    assert [v.id for v in api_vehicles] == ["v1", "v2", "v3"]
    assert isinstance(sim, InsertionDispatcher)
    assert live.options == sim.options == SIM.dispatch_options()
    kinds = {t.kind for t in TRIPS}
    assert kinds == {A, K, B}
    leave = next(t for t in TRIPS if t.id == "leave")
    assert sim.request(leave.id).earliest_pickup == leave.requested_pickup  # booked ahead: window from 11:00
    assert sim.request(leave.id).latest_pickup - sim.request(leave.id).earliest_pickup == SVC_WINDOW


SVC_WINDOW = SC.service.pickup_window_s


DESK = BookingDesk(AREA, service_config_from_scenario(SC, AREA), tz=TZ, past_tolerance_s=120)
DAY = ServiceDay(dt.date(2024, 1, 15), TZ)


@settings(max_examples=150, deadline=None)
@given(
    a=st.integers(0, 15),
    b=st.integers(0, 15),
    kind=st.sampled_from([A, K, B]),
    now=st.integers(9 * 3600, 18 * 3600),
    ahead=st.integers(0, 4 * 3600),
    slack=st.integers(-600, 7200),
    bounded=st.booleans(),
    passengers=st.integers(1, 8),
    wheelchair=st.integers(0, 1),
)
def test_booking_to_request_agrees_for_any_booking(
    a: int,
    b: int,
    kind: BookingKind,
    now: int,
    ahead: int,
    slack: int,
    bounded: bool,
    passengers: int,
    wheelchair: int,
) -> None:
    """Property: the API's booking-to-request and the simulator's give the same Request or both refuse."""
    at = now + ahead if kind is K else None
    by = now + ahead + slack if kind is B or (kind is K and bounded) else None
    trip = _trip("x", a, b, kind, at=at, by=by, now=now, passengers=passengers, wheelchair=wheelchair)
    body = RideRequestIn.model_validate(_body(trip, DAY))
    try:
        sim_req: Request | None = make_request(trip, AREA.matrix, SIM, now=now)
    except InvalidRequestError as exc:
        sim_req, sim_err = None, str(exc)
    try:
        api_req: Request | None = DESK.core_request("x", body, now, DAY)[0]
    except InvalidRequestError as exc:
        api_req, api_err = None, str(exc)
    if sim_req is None or api_req is None:
        assert sim_req is None, api_err
        assert api_req is None, sim_err
        if a != b:  # the API names the stop of a same-stop booking; otherwise the one message
            assert sim_err == api_err
    else:
        assert api_req == sim_req, (api_req, sim_req)


@settings(max_examples=100, deadline=None)
@given(st.floats(-0.004, 0.004), st.floats(-0.004, 0.004), st.integers(0, 15))
def test_walks_agree_between_demand_and_snapping(dlon: float, dlat: float, k: int) -> None:
    """Property: the API snaps a place to the stop and walking metres the simulator's demand uses."""
    lon, lat = AREA.stops[k].lon + dlon, AREA.stops[k].lat + dlat
    idx, walk = SIM.walking.nearest(AREA.stops, np.array([lon]), np.array([lat]))
    try:
        got = SIM.walking.snap(AREA, lon, lat)
    except OutsideServiceAreaError:
        assert int(walk[0]) > SIM.walking.max_walk_m
        return
    assert got == (int(idx[0]), int(walk[0]))
    assert got[1] <= SIM.walking.max_walk_m


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0005, 0.003), st.floats(0.0005, 0.003), st.integers(0, 15), st.integers(0, 15))
def test_asap_from_a_place_is_ready_after_the_walk_in_both(dlon: float, dlat: float, k: int, j: int) -> None:
    """Property: an ASAP ride booked from a place starts its window after the walk, as simulated."""
    lon, lat = AREA.stops[k].lon + dlon, AREA.stops[k].lat + dlat
    try:
        p, walk = SIM.walking.snap(AREA, lon, lat)
    except (InvalidRequestError, OutsideServiceAreaError):
        return  # too far from every stop: both refuse (test_walks_agree_between_demand_and_snapping)
    if p == j:
        return
    body = RideRequestIn.model_validate(
        {"pickup": {"lon": lon, "lat": lat}, "dropoff": {"stop_id": AREA.stops[j].id}}
    )
    api_req = DESK.core_request("x", body, NOW, DAY)[0]
    ready = NOW + SIM.walking.seconds(walk)
    trip = dataclasses.replace(
        _trip("x", p, j, A, at=ready, by=None), walk_to_m=walk, walk_to_s=SIM.walking.seconds(walk)
    )
    assert walk > 0
    assert api_req.earliest_pickup == ready > NOW
    assert api_req == make_request(trip, AREA.matrix, SIM, now=NOW)
