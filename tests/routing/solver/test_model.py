"""Tests of ondemand.routing.solver.model: validation errors and small behaviours of the data model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ondemand.errors import InvalidRequestError
from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    BookingKind,
    OnboardRider,
    Plan,
    Request,
    Route,
    TravelTimes,
    Vehicle,
)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"passengers": 0}, "passengers must be at least 1"),
        ({"wheelchair": -1}, "wheelchair places must be >= 0"),
        ({"pickup": -1}, "non-negative"),
        ({"earliest_pickup": 50, "latest_pickup": 10}, "pickup window is reversed"),
        ({"max_ride": -5}, "max ride time must be >= 0"),
        ({"pickup_service": -1}, "service times"),
        ({"earliest_dropoff": 900, "latest_dropoff": 800}, "drop-off window is reversed"),
        (
            {"earliest_pickup": 700, "latest_pickup": 700, "latest_dropoff": 705, "pickup_service": 10},
            "before",
        ),
    ],
)
def test_request_validation_names_the_problem(kwargs: dict[str, int], needle: str) -> None:
    """Contradictory request fields raise InvalidRequestError naming the request and the field."""
    base: dict[str, int | str] = {
        "id": "r1",
        "pickup": 0,
        "dropoff": 1,
        "earliest_pickup": 0,
        "latest_pickup": 100,
        "latest_dropoff": 1000,
        "max_ride": 500,
    }
    base.update(kwargs)
    with pytest.raises(InvalidRequestError, match=needle) as info:
        Request(**base)  # type: ignore[arg-type]
    assert "'r1'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_with_promise_only_tightens() -> None:
    """A promise intersects the windows: it can narrow them but never widen them."""
    r = Request("r", 0, 1, 100, 400, 2000, 900)
    p = r.with_promise(50, 300, 5000)
    assert (p.earliest_pickup, p.latest_pickup, p.latest_dropoff) == (100, 300, 2000)
    assert p.max_ride == r.max_ride


@given(
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 3000),
    st.integers(-100, 900),
    st.integers(-100, 900),
    st.integers(0, 4000),
)
def test_with_promise_is_replace_of_the_intersected_windows(
    e: int, width: int, ride: int, start: int, end: int, drop: int
) -> None:
    """with_promise equals dataclasses.replace with the intersected windows (every other field kept),
    and a promise that empties a window raises InvalidRequestError as the constructor does."""
    r = Request(
        "r",
        3,
        7,
        e,
        e + width,
        e + width + ride + 60,
        ride + 30,
        passengers=2,
        wheelchair=1,
        earliest_dropoff=e + 5,
        pickup_service=20,
        dropoff_service=25,
        kind=BookingKind.LEAVE_AT,
        booked_at=e // 2,
    )
    fields = {
        "earliest_pickup": max(r.earliest_pickup, start),
        "latest_pickup": min(r.latest_pickup, end),
        "latest_dropoff": min(r.latest_dropoff, drop),
    }
    if (
        fields["earliest_pickup"] > fields["latest_pickup"]
        or fields["earliest_pickup"] + r.pickup_service > fields["latest_dropoff"]
        or r.earliest_dropoff > fields["latest_dropoff"]
    ):
        with pytest.raises(InvalidRequestError, match="request 'r'"):
            replace(r, **fields)
        with pytest.raises(InvalidRequestError, match="request 'r'"):
            r.with_promise(start, end, drop)
        return
    want = replace(r, **fields)
    got = r.with_promise(start, end, drop)
    assert got == want
    assert type(got) is Request


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"seats": -1}, "seats and wheelchair places"),
        ({"available_from": 500, "shift_end": 100}, "after shift_end"),
    ],
)
def test_vehicle_validation(kwargs: dict[str, int], needle: str) -> None:
    """Negative capacities and a start after the shift end are rejected."""
    base = {"id": "v", "seats": 4, "start": 0, "available_from": 0, "shift_end": 1000}
    base.update(kwargs)
    with pytest.raises(ValueError, match=needle):
        Vehicle(**base)  # type: ignore[arg-type]


def test_vehicle_rejects_overfull_onboard() -> None:
    """More riders (or wheelchairs) on board than the vehicle holds is an error."""
    big = OnboardRider(Request("r", 0, 1, 0, 0, 100, 100, passengers=5), 0)
    with pytest.raises(ValueError, match="more riders on board than seats"):
        Vehicle("v", 4, 0, 0, 100, onboard=(big,))
    chair = OnboardRider(Request("c", 0, 1, 0, 0, 100, 100, wheelchair=1), 0)
    with pytest.raises(ValueError, match="more wheelchairs"):
        Vehicle("v", 4, 0, 0, 100, onboard=(chair,))


def test_travel_times_validation_and_protocol() -> None:
    """ArrayTravelTimes checks shape and sign, is read-only and satisfies TravelTimes."""
    with pytest.raises(ValueError, match="square"):
        ArrayTravelTimes(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="must match"):
        ArrayTravelTimes(np.zeros((2, 2), dtype=np.int64), np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="non-negative"):
        ArrayTravelTimes(np.array([[0, -1], [1, 0]]))
    tt = ArrayTravelTimes(np.array([[0, 5], [5, 0]]))
    assert isinstance(tt, TravelTimes)
    assert tt.distances is tt.durations or np.array_equal(tt.distances, tt.durations)
    assert len(tt) == 2
    with pytest.raises(ValueError, match="read-only"):
        tt.durations[0, 1] = 3


def test_plan_route_of_and_frozen_requests() -> None:
    """Plan.route_of finds a vehicle's route (KeyError otherwise); requests are a read-only copy."""
    v = Vehicle("v", 4, 0, 0, 100)
    reqs = {"r": Request("r", 0, 1, 0, 10, 100, 100)}
    plan = Plan((Route(v),), reqs)
    assert plan.route_of("v").vehicle is v
    with pytest.raises(KeyError, match="no vehicle 'w'"):
        plan.route_of("w")
    reqs["x"] = reqs["r"]
    assert "x" not in plan.requests
    with pytest.raises(TypeError):
        plan.requests["y"] = reqs["r"]  # type: ignore[index]
