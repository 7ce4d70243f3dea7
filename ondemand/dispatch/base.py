"""The dispatcher interface and the small records it hands out."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ondemand.routing.solver.insertion import InsertionOptions, Refusal
from ondemand.routing.solver.model import Plan, Request, StopKind, TravelTimes
from ondemand.routing.solver.schedule import RouteSchedule

__all__ = [
    "Assignment",
    "DispatchCounts",
    "DispatchOptions",
    "Dispatcher",
    "PlannedStop",
    "Reoptimiser",
    "RequestStatus",
]


class RequestStatus(enum.Enum):
    """Where a request is in its life."""

    ASSIGNED = "assigned"
    """Accepted, rider not yet picked up."""
    ONBOARD = "onboard"
    """Picked up, not yet dropped off."""
    COMPLETED = "completed"
    """Dropped off."""
    CANCELLED = "cancelled"
    """Cancelled before pickup."""
    NO_SHOW = "no_show"
    """The rider did not come to the pickup."""
    REFUSED = "refused"
    """No vehicle could take it."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """An accepted request and the promise made to the rider.

    Attributes
    ----------
    request_id, vehicle_id
        Which request, which vehicle.
    pickup_window
        Promised ``(start, end)`` of pickup.
    dropoff_eta
        The drop-off estimate told to the rider: the planned drop-off, but never before a
        direct ride from the end of the pickup window arrives, so never before the window
        ends (:func:`ondemand.dispatch.dispatcher.dropoff_estimate`; the driver's itinerary
        keeps the planned time). It may still change within the promise.
    latest_dropoff
        Promised latest drop-off.
    request
        The request with the promise applied (what to persist for :meth:`Dispatcher.restore`).
    """

    request_id: str
    vehicle_id: str
    pickup_window: tuple[int, int]
    dropoff_eta: int
    latest_dropoff: int
    request: Request | None = None


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One stop of a vehicle's itinerary, for drivers, maps and the simulator.

    Attributes
    ----------
    request_id, kind, location
        Whose stop, pickup or drop-off, where.
    eta
        Planned start of service.
    window
        The promised window of this stop: the pickup window, or ``(earliest drop-off,
        latest drop-off)``.
    committed
        Whether the vehicle is already driving to it (it will not be reordered).
    departure
        Planned end of service.
    passengers, wheelchair
        Riders boarding or alighting.
    """

    request_id: str
    kind: StopKind
    location: int
    eta: int
    window: tuple[int, int]
    committed: bool = False
    departure: int = 0
    passengers: int = 1
    wheelchair: int = 0


@dataclass(frozen=True, slots=True)
class DispatchCounts:
    """Counts of requests by status (a read-only snapshot)."""

    submitted: int = 0
    assigned: int = 0
    onboard: int = 0
    completed: int = 0
    cancelled: int = 0
    no_shows: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """Options of :class:`~ondemand.dispatch.InsertionDispatcher`.

    Parameters
    ----------
    insertion
        How requests are tightened, promised and priced.
    auto_complete
        When true, :meth:`~ondemand.dispatch.InsertionDispatcher.advance` treats a
        committed stop as done at its planned time (pickup and drop-off as planned);
        use it when no vehicle reports events. When false (default), a committed stop
        stays until ``record_pickup``/``record_dropoff``/``record_no_show`` says so.
    seed
        Seed passed to the re-optimiser.
    require_improvement
        Accept a re-optimised plan only if its cost (``improvement_metric``) is not
        higher than the current plan's.
    improvement_metric
        ``"distance"`` (metres driven, what :func:`ondemand.routing.solver.darp.reoptimise`
        minimises) or ``"time"`` (seconds driven).
    divert_mid_leg
        Let a new request turn a vehicle before it reaches the stop it is driving to: a
        booking (and its quote) may re-plan a driving vehicle from the next point where it can
        turn, at the time it gets there, instead of from the end of its leg. Only with travel
        times that can name such points (:class:`~ondemand.routing.solver.model.Divertible`:
        on-demand travel times over the road graph, coordinate spaces); with a dense stop
        matrix the leg stays committed, as without this option.
    """

    insertion: InsertionOptions = field(default_factory=InsertionOptions)
    auto_complete: bool = False
    seed: int = 0
    require_improvement: bool = True
    improvement_metric: Literal["distance", "time"] = "distance"
    divert_mid_leg: bool = False

    def __post_init__(self) -> None:
        if self.improvement_metric not in ("distance", "time"):
            raise ValueError(
                f"improvement_metric must be 'distance' or 'time', got {self.improvement_metric!r}"
            )


class Reoptimiser(Protocol):
    """Re-plans every uncommitted stop of a plan (:func:`ondemand.routing.solver.darp.reoptimise`).

    It returns a plan of the same vehicles; the dispatcher adopts it only if it keeps
    every promise (so a re-optimiser may be anything, e.g. a test's stand-in).
    """

    def __call__(
        self,
        plan: Plan,
        tt: TravelTimes,
        *,
        now: int,
        time_limit: float | None = None,
        iterations: int | None = None,
        seed: int = 0,
    ) -> Plan:
        """A re-optimised plan, found within ``time_limit`` seconds or ``iterations`` (one is given)."""
        ...


@runtime_checkable
class Dispatcher(Protocol):
    """What the simulator and the live API need from a dispatch policy.

    Times are integer seconds of the service day. Methods are not thread-safe: a
    server must hold a lock around every call.
    """

    def submit(self, request: Request, *, now: int) -> Assignment | Refusal:
        """Accept the request with a promise, or refuse it with a reason."""
        ...

    def cancel(self, request_id: str, *, now: int) -> bool:
        """Cancel a request not yet picked up; ``False`` if that is not possible."""
        ...

    def quote(self, request: Request, *, now: int) -> Assignment | Refusal:
        """What :meth:`submit` would answer now, booking nothing (the desk's offer and alternatives)."""
        ...

    def record_arrival(self, vehicle_id: str, stop_location: int, *, at: int) -> None:
        """A vehicle reached a location."""
        ...

    def record_pickup(self, request_id: str, *, at: int) -> None:
        """A rider boarded (service started at ``at``)."""
        ...

    def record_dropoff(self, request_id: str, *, at: int) -> None:
        """A rider alighted (service started at ``at``)."""
        ...

    def record_no_show(self, request_id: str, *, at: int) -> None:
        """A rider did not come to the pickup."""
        ...

    def record_progress(self, vehicle_id: str, driven_s: int, *, at: int) -> None:
        """A vehicle had driven ``driven_s`` seconds of its committed leg at ``at`` (where it can
        turn next, for mid-leg diversion; a dispatcher that never diverts may ignore it)."""
        ...

    def advance(self, now: int) -> None:
        """Commit every leg whose planned departure is not after ``now``."""
        ...

    def reoptimise(self, *, now: int, time_limit: float | None = None, iterations: int | None = None) -> bool:
        """Re-plan all uncommitted stops with :attr:`reoptimiser`; ``True`` if a better plan was adopted.

        Give exactly one budget (``ValueError`` otherwise): ``time_limit`` in seconds of
        wall clock (the live API), or ``iterations``, a work budget with which the
        result depends only on the dispatcher's state and seed (the simulator).
        """
        ...

    @property
    def reoptimiser(self) -> Reoptimiser:
        """What :meth:`reoptimise` calls (a server may call it itself, e.g. in another process)."""
        ...

    def reoptimisation_snapshot(self, *, now: int) -> tuple[Plan, int]:
        """The plan to re-optimise (outside any lock) and its version for :meth:`apply_reoptimised`."""
        ...

    def apply_reoptimised(self, plan: Plan, *, version: int, require_improvement: bool | None = None) -> bool:
        """Adopt a re-optimised plan of snapshot ``version`` where it still applies and keeps every promise.

        ``require_improvement`` overrides the dispatcher's option for this call (``False``:
        adopt a feasible plan even if it costs more, e.g. to restore a saved stop order).
        Returns whether any route changed.
        """
        ...

    def vehicle_of(self, request_id: str) -> str | None:
        """The vehicle serving a request (it may change when a re-optimised plan is adopted), or ``None``."""
        ...

    @property
    def plan(self) -> Plan:
        """The current plan of uncommitted stops, vehicles starting at their committed stop."""
        ...

    def itinerary(self, vehicle_id: str) -> list[PlannedStop]:
        """The vehicle's committed and planned stops, in order."""
        ...

    def next_stop(self, vehicle_id: str) -> PlannedStop | None:
        """The first stop of :meth:`itinerary` (``None`` when it is empty), without building the rest."""
        ...

    def restore(
        self,
        request: Request,
        vehicle_id: str,
        *,
        now: int | None = None,
        picked_up_at: int | None = None,
    ) -> Assignment:
        """Put a previously accepted request back into its vehicle (after a restart).

        With ``picked_up_at`` the rider is already on board and only the drop-off is
        put back.
        """
        ...

    def restore_vehicle(
        self,
        vehicle_id: str,
        stops: Sequence[tuple[Request, StopKind]],
        *,
        onboard: Mapping[str, int] | None = None,
    ) -> RouteSchedule:
        """Set a vehicle's planned stops to a saved order (after a restart), windows unchecked.

        ``onboard`` maps the riders to put on board to their pick-up times. Returns the
        route's schedule; ``feasible`` is false when reality has already broken a promise.
        """
        ...
