"""Best feasible insertion of one request into a plan: the live booking path.

:func:`best_insertion` tries every vehicle and every pair of positions (pickup,
drop-off) and returns the cheapest feasible one with the promise to give the rider,
or a :class:`Refusal` saying why no vehicle can take the request.

Cost of an insertion (smaller is better), all on the *least* (as-early-as-possible)
schedule of :func:`ondemand.routing.schedule.evaluate_route`::

    added vehicle time (or metres, ``InsertionOptions.cost``)
    + delay_weight * sum over other riders of the delay of their drop-off
    + wait_weight * the new rider's wait after the earliest pickup
    + ride_weight * the new rider's ride time

Promise. The pickup window promised is ``[eta - promise_before, eta + promise_after]``
(clipped to the request's own window), ``eta`` being the planned pickup time, and
the latest drop-off is what the ride limit allows from the end of that window.
The returned request carries these windows (:meth:`Request.with_promise`), so any
later feasible plan keeps the promise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from ondemand.routing.model import Plan, Request, Route, Stop, StopKind, TravelTimes
from ondemand.routing.schedule import RouteSchedule, evaluate_route

__all__ = [
    "Insertion",
    "InsertionOptions",
    "Refusal",
    "best_insertion",
    "effective_request",
    "insert_into_route",
    "insertion_cost",
]


@dataclass(frozen=True, slots=True)
class InsertionOptions:
    """How requests are tightened, promised and priced by :func:`best_insertion`.

    Parameters
    ----------
    max_wait
        Longest wait after the requested earliest pickup: the latest pickup becomes
        ``min(latest_pickup, earliest_pickup + max_wait)``. ``None`` keeps the request's.
    max_detour_factor, detour_constant
        Maximum ride becomes ``min(max_ride, ceil(direct * factor) + constant)`` where
        ``direct`` is the direct driving time. ``None`` keeps the request's.
    promise_before, promise_after
        The promised pickup window around the planned pickup time ``eta``:
        ``[eta - promise_before, eta + promise_after]``.
    cost
        ``"time"``: vehicle cost in driving seconds; ``"distance"``: in metres.
    delay_weight
        Weight of the added drop-off delay of the other riders (seconds).
    wait_weight, ride_weight
        Weights of the new rider's own wait and ride time (seconds).
    """

    max_wait: int | None = None
    max_detour_factor: float | None = None
    detour_constant: int = 0
    promise_before: int = 300
    promise_after: int = 300
    cost: Literal["time", "distance"] = "time"
    delay_weight: float = 1.0
    wait_weight: float = 0.0
    ride_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.max_wait is not None and self.max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {self.max_wait}")
        if self.max_detour_factor is not None and self.max_detour_factor < 1.0:
            raise ValueError(f"max_detour_factor must be >= 1, got {self.max_detour_factor}")
        if self.detour_constant < 0:
            raise ValueError(f"detour_constant must be >= 0 seconds, got {self.detour_constant}")
        if self.promise_before < 0 or self.promise_after < 0:
            raise ValueError("promise_before and promise_after must be >= 0 seconds")
        if self.cost not in ("time", "distance"):
            raise ValueError(f"cost must be 'time' or 'distance', got {self.cost!r}")
        for name in ("delay_weight", "wait_weight", "ride_weight"):
            w = getattr(self, name)
            if not (w >= 0.0 and math.isfinite(w)):
                raise ValueError(f"{name} must be a finite number >= 0, got {w}")


@dataclass(frozen=True, slots=True)
class Insertion:
    """An accepted request: where it goes and what was promised.

    Attributes
    ----------
    request
        The request with the promise applied (its windows are the promise).
    vehicle_id
        The vehicle that serves it.
    plan
        The new plan (the chosen route changed, the request added to ``requests``).
    pickup_window
        Promised ``(start, end)`` of pickup service.
    dropoff_eta
        Planned start of drop-off service.
    latest_dropoff
        Promised latest drop-off.
    cost
        Insertion cost (see the module docstring).
    """

    request: Request
    vehicle_id: str
    plan: Plan
    pickup_window: tuple[int, int]
    dropoff_eta: int
    latest_dropoff: int
    cost: float


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request no vehicle can take, and why."""

    request_id: str
    reason: str


def effective_request(
    request: Request, tt: TravelTimes, *, now: int, options: InsertionOptions
) -> Request | str:
    """The request tightened by ``now`` and the options, or why it cannot be served at all."""
    size = int(tt.durations.shape[0])
    if not (0 <= request.pickup < size and 0 <= request.dropoff < size):
        return f"pickup {request.pickup} or drop-off {request.dropoff} is not a known location"
    earliest = max(request.earliest_pickup, now)
    if earliest > request.latest_pickup:
        return (
            f"outside hours: the pickup window ends at {request.latest_pickup}, "
            f"before now ({now}); ask for a later pickup"
        )
    latest = request.latest_pickup
    if options.max_wait is not None:
        latest = min(latest, earliest + options.max_wait)
    max_ride = request.max_ride
    direct = int(tt.durations[request.pickup, request.dropoff])
    if options.max_detour_factor is not None:
        max_ride = min(max_ride, math.ceil(direct * options.max_detour_factor) + options.detour_constant)
    if direct > max_ride:
        return f"the direct trip takes {direct} s, more than the allowed ride of {max_ride} s"
    if earliest + request.pickup_service + direct > request.latest_dropoff:
        return (
            f"no feasible time: even a direct trip from {earliest} cannot reach the drop-off "
            f"by {request.latest_dropoff}"
        )
    return replace(request, earliest_pickup=earliest, latest_pickup=latest, max_ride=max_ride)


def insertion_cost(
    old: RouteSchedule,
    new: RouteSchedule,
    old_route: Route,
    new_route: Route,
    request: Request,
    options: InsertionOptions,
) -> float:
    """The cost of going from ``old`` to ``new`` by inserting ``request`` (module docstring)."""
    vehicle = new.drive_time - old.drive_time if options.cost == "time" else new.distance - old.distance
    old_drop = {
        s.request_id: t
        for s, t in zip(old_route.stops, old.earliest_start, strict=True)
        if s.kind is StopKind.DROPOFF
    }
    delay = 0
    pick = drop = 0
    for s, t in zip(new_route.stops, new.earliest_start, strict=True):
        if s.request_id == request.id:
            if s.kind is StopKind.PICKUP:
                pick = t
            else:
                drop = t
        elif s.kind is StopKind.DROPOFF:
            delay += t - old_drop[s.request_id]
    wait = pick - request.earliest_pickup
    ride = drop - pick - request.pickup_service
    return (
        float(vehicle)
        + options.delay_weight * delay
        + options.wait_weight * wait
        + options.ride_weight * ride
    )


def _insert(stops: tuple[Stop, ...], i: int, j: int, request: Request) -> tuple[Stop, ...]:
    """Stops with the pickup before old stop ``i`` and the drop-off before old stop ``j`` (``i <= j``)."""
    p = Stop(request.id, StopKind.PICKUP, request.pickup)
    d = Stop(request.id, StopKind.DROPOFF, request.dropoff)
    return (*stops[:i], p, *stops[i:j], d, *stops[j:])


def _at(plan: Plan, now: int) -> Plan:
    """The plan with idle vehicles available no earlier than ``now`` (off-shift ones dropped)."""
    routes = []
    for r in plan.routes:
        v = r.vehicle
        if v.available_from < now:
            if now > v.shift_end:
                continue
            r = Route(replace(v, available_from=now), r.stops)
        routes.append(r)
    return Plan(tuple(routes), plan.requests, plan.unassigned)


def _search(
    plan: Plan, request: Request, tt: TravelTimes, options: InsertionOptions
) -> tuple[float, int, Route, RouteSchedule] | None:
    requests = dict(plan.requests)
    requests[request.id] = request
    best: tuple[float, int, Route, RouteSchedule] | None = None
    for vi, route in enumerate(plan.routes):
        v = route.vehicle
        if request.passengers > v.seats or request.wheelchair > v.wheelchair_places:
            continue
        old = evaluate_route(route, plan.requests, tt)
        if not old.feasible:
            continue
        n = len(route.stops)
        for i in range(n + 1):
            for j in range(i, n + 1):
                cand = Route(v, _insert(route.stops, i, j, request))
                sched = evaluate_route(cand, requests, tt)
                if not sched.feasible:
                    continue
                cost = insertion_cost(old, sched, route, cand, request, options)
                if best is None or cost < best[0]:
                    best = (cost, vi, cand, sched)
    return best


def insert_into_route(
    route: Route,
    requests: Mapping[str, Request],
    request: Request,
    tt: TravelTimes,
    *,
    options: InsertionOptions | None = None,
) -> tuple[Route, RouteSchedule] | None:
    """The cheapest feasible insertion of ``request`` into one route, windows taken as given.

    No tightening and no promise (used to restore accepted requests); ``None`` when no
    position is feasible or the route itself is not.
    """
    opts = options if options is not None else InsertionOptions()
    plan = Plan((route,), requests)
    found = _search(plan, request, tt, opts)
    if found is None:
        return None
    return found[2], found[3]


def best_insertion(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    *,
    now: int,
    options: InsertionOptions | None = None,
) -> Insertion | Refusal:
    """Insert one request where it costs least, or say why it cannot be served.

    Parameters
    ----------
    plan
        The current plan; its routes must be feasible (an infeasible route is skipped).
    request
        The new request (not yet in ``plan``).
    tt
        Travel times.
    now
        Current time: no pickup is planned before it.
    options
        Tightening, promise and cost options (defaults: :class:`InsertionOptions`).

    Returns
    -------
    Insertion | Refusal
        The cheapest feasible insertion with its promise, or the reason for refusal.
    """
    opts = options if options is not None else InsertionOptions()
    if request.id in plan.requests:
        return Refusal(request.id, f"request id {request.id!r} is already in the plan; use a new id")
    eff = effective_request(request, tt, now=now, options=opts)
    if isinstance(eff, str):
        return Refusal(request.id, eff)
    if not any(
        r.vehicle.seats >= eff.passengers and r.vehicle.wheelchair_places >= eff.wheelchair
        for r in plan.routes
    ):
        return Refusal(
            request.id,
            f"no vehicle has {eff.passengers} seat(s) and {eff.wheelchair} wheelchair place(s)",
        )
    found = _search(_at(plan, now), eff, tt, opts)
    if found is None:
        return Refusal(
            request.id,
            "no feasible time: no vehicle can fit this trip into its schedule within the requested windows",
        )
    cost, vi, route, sched = found
    return _promise(plan, eff, tt, opts, cost, vi, route, sched)


def _promise(
    plan: Plan,
    eff: Request,
    tt: TravelTimes,
    opts: InsertionOptions,
    cost: float,
    vi: int,
    route: Route,
    sched: RouteSchedule,
) -> Insertion | Refusal:
    vid = route.vehicle.id
    vi = next(k for k, r in enumerate(plan.routes) if r.vehicle.id == vid)
    ip = next(k for k, s in enumerate(route.stops) if s.request_id == eff.id and s.kind is StopKind.PICKUP)
    eta = sched.service_start[ip]
    start = max(eff.earliest_pickup, eta - opts.promise_before)
    end = min(eff.latest_pickup, eta + opts.promise_after)
    latest_drop = min(eff.latest_dropoff, end + eff.pickup_service + eff.max_ride)
    promised = eff.with_promise(start, end, latest_drop)
    requests = dict(plan.requests)
    requests[eff.id] = promised
    final = evaluate_route(route, requests, tt)
    if not final.feasible:  # pragma: no cover - the planned schedule keeps the promise by construction
        return Refusal(eff.id, f"internal: promised route failed its check ({final.reason})")
    idp = next(k for k, s in enumerate(route.stops) if s.request_id == eff.id and s.kind is StopKind.DROPOFF)
    routes = list(plan.routes)
    routes[vi] = route
    new_plan = Plan(tuple(routes), requests, tuple(u for u in plan.unassigned if u != eff.id))
    return Insertion(
        request=promised,
        vehicle_id=route.vehicle.id,
        plan=new_plan,
        pickup_window=(start, end),
        dropoff_eta=final.service_start[idp],
        latest_dropoff=latest_drop,
        cost=cost,
    )
