"""Shared builders for the simulator tests: a service on the grid area and random trips."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ondemand.routing.solver.model import BookingKind
from ondemand.scenario import Scenario, load_scenario
from ondemand.sim.demand import TripRequest
from ondemand.sim.events import (
    Event,
    RequestAssigned,
    RequestReassigned,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
)

REPO = Path(__file__).resolve().parents[2]


def scenario(name: str = "senboku", **service: Any) -> Scenario:
    """A repository scenario with service fields overridden."""
    sc = load_scenario(REPO / "scenarios" / f"{name}.toml")
    return dataclasses.replace(sc, service=dataclasses.replace(sc.service, **service))


def trip(
    rid: str,
    booked: int,
    pickup_at: int,
    a: int,
    b: int,
    *,
    passengers: int = 1,
    wheelchair: int = 0,
    cancel_at: int | None = None,
    no_show: bool = False,
    ahead: bool = True,
    arrive_by: int | None = None,
) -> TripRequest:
    """A hand-made trip between grid stops ``a`` and ``b`` (``arrive_by``: an arrive-by booking)."""
    kind = BookingKind.LEAVE_AT if ahead else BookingKind.ASAP
    return TripRequest(
        id=rid,
        booked_at=booked,
        kind=BookingKind.ARRIVE_BY if arrive_by is not None else kind,
        requested_pickup=pickup_at,
        origin=(135.48, 34.47),
        destination=(135.49, 34.475),
        pickup_stop=a,
        dropoff_stop=b,
        walk_to_m=100,
        walk_from_m=150,
        walk_to_s=100,
        walk_from_s=150,
        passengers=passengers,
        wheelchair=wheelchair,
        cancel_at=cancel_at,
        no_show=no_show,
        dropoff_by=arrive_by,
    )


def random_trips(n: int, n_stops: int, seed: int, start: int, end: int) -> list[TripRequest]:
    """``n`` random trips on a grid of ``n_stops`` stops within service hours."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a, b = rng.choice(n_stops, size=2, replace=False)
        t = int(rng.integers(start, end - 1800))
        ahead = bool(rng.random() < 0.5)
        booked = t - int(rng.integers(600, 7200)) if ahead else t - 60
        cancel = int(rng.integers(booked, t + 1)) if rng.random() < 0.1 else None
        out.append(
            trip(
                f"r{k:03d}",
                booked,
                t,
                int(a),
                int(b),
                passengers=int(rng.choice([1, 1, 1, 2, 3])),
                wheelchair=int(rng.random() < 0.1),
                cancel_at=cancel,
                no_show=cancel is None and bool(rng.random() < 0.1),
                ahead=ahead,
            )
        )
    out.sort(key=lambda r: (r.booked_at, r.id))
    return out


def max_onboard(events: list[Event]) -> dict[str, tuple[int, int]]:
    """Per vehicle, the most passengers and wheelchairs on board at once (from pickups/drop-offs)."""
    seats: dict[str, int] = defaultdict(int)
    chairs: dict[str, int] = defaultdict(int)
    peak: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    wheel = {e.request_id: e.wheelchair for e in events if isinstance(e, RequestSubmitted)}
    for e in events:
        if isinstance(e, RiderPickedUp):
            seats[e.vehicle_id] += e.passengers
            chairs[e.vehicle_id] += e.wheelchair
            p = peak[e.vehicle_id]
            peak[e.vehicle_id] = (max(p[0], seats[e.vehicle_id]), max(p[1], chairs[e.vehicle_id]))
        elif isinstance(e, RiderDroppedOff):
            seats[e.vehicle_id] -= e.passengers
            chairs[e.vehicle_id] -= wheel[e.request_id]
    return dict(peak)


def promise_violations(events: list[Event]) -> list[str]:
    """Served riders picked up outside their promised window or dropped off after the bound.

    The vehicle is not part of the promise: re-optimisation may move a request to another one,
    which the stream records (``RequestReassigned``); the rider must be served by the last one.
    """
    promise = {e.request_id: e for e in events if isinstance(e, RequestAssigned)}
    picked = {e.request_id: e for e in events if isinstance(e, RiderPickedUp)}
    vehicle = {rid: p.vehicle_id for rid, p in promise.items()}
    for e in events:
        if isinstance(e, RequestReassigned):
            assert vehicle[e.request_id] == e.from_vehicle
            vehicle[e.request_id] = e.to_vehicle
    bad = []
    for e in events:
        if isinstance(e, RiderDroppedOff):
            p, u = promise[e.request_id], picked[e.request_id]
            if not (p.pickup_start <= u.t <= p.pickup_end):
                bad.append(f"{e.request_id}: pickup {u.t} outside [{p.pickup_start}, {p.pickup_end}]")
            if e.t > p.latest_dropoff:
                bad.append(f"{e.request_id}: drop-off {e.t} after {p.latest_dropoff}")
            if not (u.vehicle_id == e.vehicle_id == vehicle[e.request_id]):
                bad.append(
                    f"{e.request_id}: served by {u.vehicle_id}, assigned (last) to {vehicle[e.request_id]}"
                )
    return bad
