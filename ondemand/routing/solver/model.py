"""The data model of the routing core: requests, vehicles, stops, routes and plans.

Everything here is a small frozen dataclass that validates on creation. Units are
integers everywhere: times in seconds (simulation time: seconds from the service
day's midnight; benchmark instances use their own scaled unit, see
:mod:`ondemand.routing.solver.instances`), distances in metres. *Locations* are integer
indices into a travel-time matrix (:class:`TravelTimes`), never lon/lat.

Promises. When a request is accepted, the dispatcher replaces it with a copy whose
``earliest_pickup``/``latest_pickup`` are the promised pickup window and whose
``latest_dropoff`` is the promised drop-off bound (:meth:`Request.with_promise`).
Every later re-optimisation sees the tightened windows as hard constraints, so a
promise can never be broken by it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ondemand.errors import InvalidRequestError

__all__ = [
    "ArrayTravelTimes",
    "BookingKind",
    "Divertible",
    "Matrix",
    "OnboardRider",
    "Plan",
    "Request",
    "Route",
    "Stop",
    "StopKind",
    "TravelTimes",
    "Vehicle",
]


class Matrix(Protocol):
    """What :class:`TravelTimes` users may do with ``durations``/``distances``: index them.

    ``m[a, b]`` (an ``int64`` scalar), ``m[rows, cols]`` with numpy broadcasting and ``m[i]`` /
    ``m[:, j]`` (``int64`` arrays), and ``m.shape == (n, n)``. A dense ``int64`` array is one;
    :class:`ondemand.routing.geo.lazy.LazyMatrix` (answers computed on demand) is another.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any, /) -> Any: ...


@runtime_checkable
class TravelTimes(Protocol):
    """Travel times and distances between locations, as integer matrices.

    ``durations[a, b]`` is the driving time in seconds (or the instance's time unit)
    from location ``a`` to ``b``; ``distances[a, b]`` the length in metres (or the
    instance's distance unit). Both are indexed like ``int64`` arrays of shape ``(n, n)``
    with a zero diagonal (:class:`Matrix`): dense arrays (:class:`ArrayTravelTimes`,
    ``TravelMatrix``) or views answered on demand (``OnDemandTravelTimes``). Code that
    needs a dense block over a few locations takes ``durations[np.ix_(locs, locs)]``;
    ``np.asarray(durations)`` of an on-demand view is refused beyond its memory cap.
    """

    @property
    def durations(self) -> Matrix: ...

    @property
    def distances(self) -> Matrix: ...


@runtime_checkable
class Divertible(Protocol):
    """Travel times that can place a vehicle part-way along a leg, so that it may turn there.

    A vehicle driving from location ``origin`` to ``target`` can change course only where the
    road lets it: at the next node of the road graph on its path, or, in a coordinate space,
    where it is. :meth:`turn_point` names that point as a location of these travel times
    (``durations[point, x]`` and ``durations[x, point]`` are valid for every location ``x``)
    and says how long until the vehicle gets there. Dense stop matrices cannot (they know
    only their stops): the dispatcher then keeps the leg committed.
    """

    def turn_point(self, origin: int, target: int, elapsed: int) -> tuple[int, int] | None:
        """Where a vehicle that left ``origin`` for ``target`` ``elapsed`` s ago can first turn.

        Returns
        -------
        tuple of int or None
            ``(location, seconds)``: the turning point and how many seconds from now the
            vehicle reaches it (``0``: where it is now); ``None`` when it cannot turn before
            ``target`` (e.g. no node is left on the path, or it is there already).
        """
        ...


class ArrayTravelTimes:
    """The plain :class:`TravelTimes`: two square ``int64`` matrices, read-only.

    Parameters
    ----------
    durations
        Travel times, shape ``(n, n)``, non-negative.
    distances
        Travel distances, same shape; defaults to ``durations``.
    """

    __slots__ = ("_distances", "_durations")

    def __init__(self, durations: ArrayLike, distances: ArrayLike | None = None) -> None:
        dur = np.array(durations, dtype=np.int64, copy=True)
        dist = dur if distances is None else np.array(distances, dtype=np.int64, copy=True)
        if dur.ndim != 2 or dur.shape[0] != dur.shape[1]:
            raise ValueError(f"durations must be a square matrix, got shape {dur.shape}")
        if dist.shape != dur.shape:
            raise ValueError(f"distances has shape {dist.shape}, durations {dur.shape}; they must match")
        if (dur < 0).any() or (dist < 0).any():
            raise ValueError("travel times and distances must be non-negative")
        dur.setflags(write=False)
        dist.setflags(write=False)
        self._durations: NDArray[np.int64] = dur
        self._distances: NDArray[np.int64] = dist

    @property
    def durations(self) -> NDArray[np.int64]:
        """Travel times, ``int64``, shape ``(n, n)``."""
        return self._durations

    @property
    def distances(self) -> NDArray[np.int64]:
        """Travel distances, ``int64``, shape ``(n, n)``."""
        return self._distances

    def __len__(self) -> int:
        return int(self._durations.shape[0])


class BookingKind(enum.Enum):
    """How the rider asked for the trip."""

    ASAP = "asap"
    """As soon as possible: the pickup window starts at booking time."""
    LEAVE_AT = "leave_at"
    """Booked ahead for a pickup time."""
    ARRIVE_BY = "arrive_by"
    """Booked ahead for a latest drop-off time."""


class StopKind(enum.Enum):
    """What happens at a stop of a route."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"


def _check(cond: bool, request_id: str, what: str) -> None:
    if not cond:
        raise InvalidRequestError(f"request {request_id!r}: {what}")


@dataclass(frozen=True, slots=True)
class Request:
    """One ride request: a group travelling together from one location to another.

    Parameters
    ----------
    id
        Unique id of the request.
    pickup, dropoff
        Locations (indices into the travel-time matrix); they may be equal only in
        artificial tests.
    earliest_pickup, latest_pickup
        Window for the *start of service* at the pickup.
    latest_dropoff
        Latest start of service at the drop-off (the promised drop-off bound).
    max_ride
        Longest allowed ride: from the end of pickup service to the start of drop-off
        service, waiting with the rider on board included.
    passengers
        Seats taken (>= 1).
    wheelchair
        Wheelchair places taken (0 or more); these are separate from seats.
    earliest_dropoff
        Earliest start of service at the drop-off (0 = none).
    pickup_service, dropoff_service
        Boarding and alighting durations.
    kind
        How the trip was booked.
    booked_at
        When the request was made (its release time).
    """

    id: str
    pickup: int
    dropoff: int
    earliest_pickup: int
    latest_pickup: int
    latest_dropoff: int
    max_ride: int
    passengers: int = 1
    wheelchair: int = 0
    earliest_dropoff: int = 0
    pickup_service: int = 0
    dropoff_service: int = 0
    kind: BookingKind = BookingKind.ASAP
    booked_at: int = 0

    def __post_init__(self) -> None:
        # One test of every rule first (the messages are formatted only for a request that breaks
        # one: bookings and promises construct requests on the hot path).
        if (
            self.passengers >= 1
            and self.wheelchair >= 0
            and self.pickup >= 0
            and self.dropoff >= 0
            and self.earliest_pickup <= self.latest_pickup
            and self.max_ride >= 0
            and self.pickup_service >= 0
            and self.dropoff_service >= 0
            and self.earliest_dropoff <= self.latest_dropoff
            and self.earliest_pickup + self.pickup_service <= self.latest_dropoff
        ):
            return
        rid = self.id
        _check(self.passengers >= 1, rid, f"passengers must be at least 1, got {self.passengers}")
        _check(self.wheelchair >= 0, rid, f"wheelchair places must be >= 0, got {self.wheelchair}")
        _check(self.pickup >= 0 and self.dropoff >= 0, rid, "locations must be non-negative indices")
        _check(
            self.earliest_pickup <= self.latest_pickup,
            rid,
            f"pickup window is reversed ({self.earliest_pickup} > {self.latest_pickup})",
        )
        _check(self.max_ride >= 0, rid, f"max ride time must be >= 0, got {self.max_ride}")
        _check(self.pickup_service >= 0 and self.dropoff_service >= 0, rid, "service times must be >= 0")
        _check(
            self.earliest_dropoff <= self.latest_dropoff,
            rid,
            f"drop-off window is reversed ({self.earliest_dropoff} > {self.latest_dropoff})",
        )
        _check(
            self.earliest_pickup + self.pickup_service <= self.latest_dropoff,
            rid,
            "latest drop-off is before the earliest pickup could even end",
        )

    def with_promise(self, pickup_start: int, pickup_end: int, latest_dropoff: int) -> Request:
        """The same request with its windows tightened to a promise given to the rider.

        The new windows are intersected with the old ones, so a promise can only
        tighten a request, never widen it.
        """
        # The constructor (with its checks) called directly: ``dataclasses.replace`` is slower.
        return Request(
            self.id,
            self.pickup,
            self.dropoff,
            max(self.earliest_pickup, pickup_start),
            min(self.latest_pickup, pickup_end),
            min(self.latest_dropoff, latest_dropoff),
            self.max_ride,
            self.passengers,
            self.wheelchair,
            self.earliest_dropoff,
            self.pickup_service,
            self.dropoff_service,
            self.kind,
            self.booked_at,
        )


@dataclass(frozen=True, slots=True)
class OnboardRider:
    """A rider already in a vehicle: only that vehicle may drop them off.

    Parameters
    ----------
    request
        The request, with its promised ``latest_dropoff`` and ``max_ride``.
    picked_up_at
        When pickup service started; the ride-time limit counts from
        ``picked_up_at + request.pickup_service``.
    """

    request: Request
    picked_up_at: int


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle as the solver sees it: where and when it is next free, and who is on board.

    Parameters
    ----------
    id
        Unique id.
    seats
        Passenger seats (capacity for ``Request.passengers``).
    start
        Location where the vehicle is (or will be) free: its depot at the start of
        the shift, or the next node it reaches when it is on the road.
    available_from
        Time at which it is at ``start`` and can leave.
    shift_end
        Latest time the route may end (at ``end`` when set, else at its last stop).
    end
        End depot location, or ``None`` for a route that ends at its last stop.
    wheelchair_places
        Wheelchair places (separate from seats).
    max_route_duration
        Longest allowed time from leaving ``start`` to arriving at the end, or ``None``.
    onboard
        Riders already on board; their drop-offs must be in this vehicle's route.
    """

    id: str
    seats: int
    start: int
    available_from: int
    shift_end: int
    end: int | None = None
    wheelchair_places: int = 0
    max_route_duration: int | None = None
    onboard: tuple[OnboardRider, ...] = ()

    def __post_init__(self) -> None:
        if self.seats < 0 or self.wheelchair_places < 0:
            raise ValueError(f"vehicle {self.id!r}: seats and wheelchair places must be >= 0")
        if self.available_from > self.shift_end:
            raise ValueError(
                f"vehicle {self.id!r}: available_from {self.available_from} "
                f"is after shift_end {self.shift_end}"
            )
        if self.onboard:  # (one pass over the riders: vehicles are built on every solver path)
            seats = chairs = 0
            for r in self.onboard:
                seats += r.request.passengers
                chairs += r.request.wheelchair
            if seats > self.seats:
                raise ValueError(f"vehicle {self.id!r}: more riders on board than seats")
            if chairs > self.wheelchair_places:
                raise ValueError(f"vehicle {self.id!r}: more wheelchairs on board than wheelchair places")


@dataclass(frozen=True, slots=True)
class Stop:
    """One visit in a route: picking up or dropping off the riders of one request."""

    request_id: str
    kind: StopKind
    location: int


@dataclass(frozen=True, slots=True)
class Route:
    """The ordered stops of one vehicle (depots are implied by the vehicle)."""

    vehicle: Vehicle
    stops: tuple[Stop, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A route for every vehicle, plus the requests they serve and those left out.

    ``requests`` holds every request that a route mentions, the riders on board
    included. ``unassigned`` lists ids of requests known to the plan but in no route.
    """

    routes: tuple[Route, ...]
    requests: Mapping[str, Request] = field(default_factory=lambda: MappingProxyType({}))
    unassigned: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        src = self.requests
        # copy() of a dict or of a read-only proxy is the dict's own fast copy; dict() of a proxy
        # goes key by key.
        own = src.copy() if type(src) is MappingProxyType or type(src) is dict else dict(src)
        object.__setattr__(self, "requests", MappingProxyType(own))

    @classmethod
    def _wrap(
        cls, routes: tuple[Route, ...], requests: Mapping[str, Request], unassigned: tuple[str, ...] = ()
    ) -> Plan:
        """The plan over ``requests`` without copying it (the hot paths of the solvers and the
        dispatcher; everyone else uses the constructor): the caller must not change that mapping
        while the plan is in use, or must drop every other reference to it."""
        plan = object.__new__(cls)
        object.__setattr__(plan, "routes", routes)
        object.__setattr__(plan, "requests", MappingProxyType(requests))
        object.__setattr__(plan, "unassigned", unassigned)
        return plan

    def route_of(self, vehicle_id: str) -> Route:
        """The route of the vehicle with this id (``KeyError`` if there is none)."""
        for route in self.routes:
            if route.vehicle.id == vehicle_id:
                return route
        raise KeyError(f"no vehicle {vehicle_id!r} in this plan")
