"""Typed events of a simulated (or live) service day.

The simulator's only output is a list of these events, in time order. KPIs, maps and
reports are pure functions of that list. Every event is a small frozen dataclass with
``t`` (simulation seconds from the service day's midnight); :func:`to_records` flattens a
stream into rows (one dict per event, ``type`` naming the class) for Parquet or CSV, and
:func:`from_records` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "BookingLost",
    "Event",
    "NoShow",
    "RequestAssigned",
    "RequestCancelled",
    "RequestReassigned",
    "RequestRefused",
    "RequestSubmitted",
    "RiderDroppedOff",
    "RiderPickedUp",
    "ShiftEnded",
    "ShiftStarted",
    "SimulationStarted",
    "VehicleArrived",
    "VehicleDeparted",
    "VehiclePosition",
    "from_records",
    "to_records",
]


@dataclass(frozen=True, slots=True)
class SimulationStarted:
    """The run's metadata: scenario, seed, day and what KPIs need to price the day."""

    t: int
    scenario: str
    seed: int
    date: str
    fleet: int
    service_start: int
    service_end: int
    cost_per_vehicle_hour_jpy: int


@dataclass(frozen=True, slots=True)
class ShiftStarted:
    """A vehicle starts its shift at a stop (index into the service area's stops)."""

    t: int
    vehicle_id: str
    stop: int


@dataclass(frozen=True, slots=True)
class ShiftEnded:
    """A vehicle ends its shift (back at its depot stop)."""

    t: int
    vehicle_id: str
    stop: int


@dataclass(frozen=True, slots=True)
class RequestSubmitted:
    """A rider books a trip; the dispatcher answers at the same instant.

    ``requested_pickup`` is when the rider can be at the meeting point; ``direct_s`` and
    ``direct_m`` the direct drive between the two stops; ``fare_jpy`` what the group pays
    if served; ``older`` how many of the group are 65 or over (known only with a population
    mesh, else 0).
    """

    t: int
    request_id: str
    booking: str
    requested_pickup: int
    pickup_stop: int
    dropoff_stop: int
    passengers: int
    wheelchair: int
    direct_s: int
    direct_m: int
    walk_to_m: int
    walk_from_m: int
    origin_lon: float
    origin_lat: float
    dest_lon: float
    dest_lat: float
    fare_jpy: int
    older: int = 0


@dataclass(frozen=True, slots=True)
class RequestAssigned:
    """The request was accepted: the rider's promise (pickup window, drop-off bound)."""

    t: int
    request_id: str
    vehicle_id: str
    pickup_start: int
    pickup_end: int
    dropoff_eta: int
    latest_dropoff: int


@dataclass(frozen=True, slots=True)
class RequestReassigned:
    """Re-optimisation moved an accepted request to another vehicle (the promise is unchanged)."""

    t: int
    request_id: str
    from_vehicle: str
    to_vehicle: str


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """The request was refused at once (予約不成立).

    ``reason`` says why for people (times as ``HH:MM``, the service hours, what would work:
    :meth:`~ondemand.dispatch.policy.ServicePolicy.explain`); ``code`` for programs (a
    :data:`~ondemand.routing.solver.insertion.REFUSAL_CODES` entry, or ``invalid`` for a
    booking the policy refuses as made).
    """

    t: int
    request_id: str
    reason: str
    code: str = "refused"


@dataclass(frozen=True, slots=True)
class RequestCancelled:
    """The rider cancelled an accepted request before pickup."""

    t: int
    request_id: str


@dataclass(frozen=True, slots=True)
class VehicleDeparted:
    """A vehicle leaves a stop for the next one (``onboard``: passengers on board).

    With mid-leg diversion (``service.divert_mid_leg``) a leg may end, or start, at a turning
    point instead of a stop: ``len(stops) + node`` for the road network's node ``node``; the
    record then holds the leg as driven (to the turning point, its seconds and metres).
    """

    t: int
    vehicle_id: str
    from_stop: int
    to_stop: int
    onboard: int
    duration_s: int
    distance_m: int


@dataclass(frozen=True, slots=True)
class VehicleArrived:
    """A vehicle reaches a stop."""

    t: int
    vehicle_id: str
    stop: int


@dataclass(frozen=True, slots=True)
class VehiclePosition:
    """A position report while driving (what a live vehicle's GPS would send)."""

    t: int
    vehicle_id: str
    lon: float
    lat: float
    onboard: int


@dataclass(frozen=True, slots=True)
class RiderPickedUp:
    """Boarding starts (``t``) and ends (``boarded_at``); ``onboard`` counts after boarding."""

    t: int
    request_id: str
    vehicle_id: str
    stop: int
    passengers: int
    wheelchair: int
    boarded_at: int
    onboard: int


@dataclass(frozen=True, slots=True)
class RiderDroppedOff:
    """Alighting starts (``t``) and ends (``alighted_at``); ``onboard`` counts after it."""

    t: int
    request_id: str
    vehicle_id: str
    stop: int
    passengers: int
    alighted_at: int
    onboard: int


@dataclass(frozen=True, slots=True)
class BookingLost:
    """A booking never reached the dispatcher: its channel was closed (``outside_hours = "lost"``),
    or it opened again too late for the ride. Not a request: counted apart from refusals."""

    t: int
    request_id: str
    channel: str
    passengers: int
    reason: str


@dataclass(frozen=True, slots=True)
class NoShow:
    """The vehicle was at the pickup in the window and the rider did not come."""

    t: int
    request_id: str
    vehicle_id: str
    stop: int


Event = (
    SimulationStarted
    | ShiftStarted
    | ShiftEnded
    | RequestSubmitted
    | RequestAssigned
    | RequestReassigned
    | RequestRefused
    | RequestCancelled
    | VehicleDeparted
    | VehicleArrived
    | VehiclePosition
    | RiderPickedUp
    | RiderDroppedOff
    | NoShow
    | BookingLost
)

EVENT_TYPES: Mapping[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        SimulationStarted,
        ShiftStarted,
        ShiftEnded,
        RequestSubmitted,
        RequestAssigned,
        RequestReassigned,
        RequestRefused,
        RequestCancelled,
        VehicleDeparted,
        VehicleArrived,
        VehiclePosition,
        RiderPickedUp,
        RiderDroppedOff,
        NoShow,
        BookingLost,
    )
}
"""Event classes by name (the ``type`` column of :func:`to_records`)."""


def to_records(events: Iterable[Event]) -> list[dict[str, Any]]:
    """One flat dict per event: ``seq`` (order), ``type`` (class name) and its fields."""
    out = []
    for k, ev in enumerate(events):
        row: dict[str, Any] = {"seq": k, "type": type(ev).__name__}
        row.update(asdict(ev))
        out.append(row)
    return out


def from_records(rows: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Rebuild events from :func:`to_records` rows (extra or missing-as-None columns are ignored).

    Raises
    ------
    ValueError
        When a row's ``type`` is not an event class.
    """
    out: list[Event] = []
    for row in sorted(rows, key=lambda r: int(r["seq"])):
        cls = EVENT_TYPES.get(str(row["type"]))
        if cls is None:
            raise ValueError(f"unknown event type {row['type']!r}; known: {', '.join(EVENT_TYPES)}")
        kwargs = {}
        for f in fields(cls):
            if row.get(f.name) is None and f.default is not MISSING:
                continue  # a field added later (e.g. RequestRefused.code): outputs written before
            v = row[f.name]
            kwargs[f.name] = int(v) if f.type == "int" else float(v) if f.type == "float" else str(v)
        out.append(cls(**kwargs))
    return out
