"""Route feasibility and stop times: the one place that decides whether a route works.

:func:`evaluate_route` takes a vehicle's ordered stops and answers two questions:
is the route feasible (windows, seats, wheelchair places, maximum ride times, riders
already on board, shift end, route duration), and when does each stop happen.

How the times are found
-----------------------
The constraints of a fixed stop sequence are *difference constraints* between the
service start times ``B``: travel (``B[k+1] >= B[k] + s[k] + t[k, k+1]``), windows
(``e[k] <= B[k] <= l[k]``), ride times (``B[drop] - B[pick] - s[pick] <= L``) and the
route duration (``end - D0 <= T``). Such a system has a componentwise *least*
solution whenever it has any solution, so the route is feasible exactly when the
least solution keeps every upper bound. :func:`evaluate_route` computes it with an
O(n) forward pass (service start = ``max(arrival, earliest)``) repeated while a ride
or duration constraint pushes an earlier stop later (a Bellman–Ford iteration over
the few "backward" constraints; a pure travel time above a ride limit is reported
at once, so the iteration always converges, usually in one or two passes). This is
exact, unlike a slack-only test.

The least solution has the vehicle leave as early as possible and wait at stops,
possibly with riders on board. The *planned* schedule (what the vehicle is told to
follow, and what promises are built around) moves only the waiting that would happen
with riders on board, and only to a point where it happens with fewer of them:

    *Wait with an empty vehicle rather than a full one.* A pickup ``j`` (or the
    departure from the start) is delayed by at most the waiting that the least schedule
    has at the stops after ``j`` up to and including the next drop-off, and by no more
    than keeps the latest start of ``j`` and of every pickup in between.

Consequences (pinned by the tests): no drop-off ever moves (so the end of the route,
every arrival at a destination and every rider already on board are untouched); a
pickup is later than its least time only when that rider's ride is shorter by exactly
as much (the rider waits at the stop instead of on board); and a vehicle with nobody
aboard leaves its start (or waits at a pickup's stop) rather than waiting later with
riders aboard. Pickups are taken from the last to the first, then the start, so the
waiting ends up at the earliest pickup of each run of pickups before a drop-off (or at
the start). This replaces Cordeau (2006)'s rule (delay by ``min(F, all later
waiting)``), which pushed an as-soon-as-possible pickup towards the end of its window
whenever the route waited anywhere later, e.g. for a booked-ahead rider's window.

Both schedules are returned: ``service_start`` (planned) and ``earliest_start``
(least). Costs that must be monotone when stops are added (insertion) use the
least one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import add
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ondemand.routing.solver.model import Request, Route, StopKind, TravelTimes, Vehicle

__all__ = [
    "RouteProfile",
    "RouteSchedule",
    "compiled_of_profile",
    "compiled_of_schedule",
    "evaluate_route",
    "profile_rows",
    "route_profile",
    "route_profile_with_first_stop",
    "schedule_after_first_stop",
    "schedule_and_lazy_profile",
    "schedule_and_profile",
    "schedule_inserted",
    "schedule_lazy_profile_and_compiled",
    "warm_up",
]

_BIG = 1 << 60


@dataclass(frozen=True, slots=True)
class RouteSchedule:
    """When each stop of a route happens, and whether the route is feasible.

    Per-stop tuples follow ``route.stops``. When ``feasible`` is false, ``reason``
    names the first broken constraint (stop, request, limit) and the times are those
    of the as-early-as-possible pass up to where it failed (they may be empty).

    Attributes
    ----------
    feasible
        Whether every constraint holds.
    reason
        Why not, or ``None``.
    arrival
        Arrival time at each stop (planned schedule).
    service_start
        Start of service at each stop: ``max(arrival, earliest)`` plus any planned
        delay that cuts ride time.
    departure
        End of service at each stop (``service_start`` + boarding/alighting time);
        the vehicle may leave then.
    load
        Seats taken after each stop (riders on board at the start included).
    end_time
        Arrival at the end depot, or the departure from the last stop of an open route
        (``start_departure`` for an empty open route).
    distance
        Length of the route from the start through every stop to the end depot (if any).
    duration
        ``end_time - start_departure``.
    start_departure
        When the vehicle leaves its start location (planned).
    earliest_start
        Least (as-early-as-possible) service start of each stop.
    wheelchair_load
        Wheelchair places taken after each stop.
    drive_time
        Pure driving time of the route (start to end depot, if any).
    """

    feasible: bool
    reason: str | None
    arrival: tuple[int, ...]
    service_start: tuple[int, ...]
    departure: tuple[int, ...]
    load: tuple[int, ...]
    end_time: int
    distance: int
    duration: int
    start_departure: int = 0
    earliest_start: tuple[int, ...] = ()
    wheelchair_load: tuple[int, ...] = ()
    drive_time: int = 0


@dataclass(slots=True, eq=False)
class _Compiled:
    """A route turned into plain per-stop lists (the scheduling input; never changed once built)."""

    loc: list[int]
    earliest: list[int]
    latest: list[int]
    service: list[int]
    travel: list[int]  # travel[k]: from previous node (start for k = 0) to stop k
    end_travel: int  # from the last node to the end depot (0 for an open route)
    pair: list[int]  # for a drop-off: index of its pickup, -1 if on board at start; -2 for pickups
    max_ride: list[int]  # for a drop-off: its request's max ride
    load: list[int]
    wheel: list[int]
    distance: int
    drive: int
    seats0: int = 0  # seats and wheelchair places taken at the start (the riders on board)
    chairs0: int = 0
    # Caches of what the lists give: the kernels' packed input (:func:`_pack`), and the length of each
    # leg (``distance`` is their sum; ``None``: not known, e.g. a form read off a schedule).
    data: NDArray[np.int64] | None = None
    dist: NDArray[np.int64] | None = None


@dataclass(slots=True, eq=False)
class _Packed:
    """A :class:`_Compiled` route as the kernels' packed input (:func:`_pack`) and its scalars: no
    Python lists, so nothing for the garbage collector to walk while it is kept (one per vehicle)."""

    data: NDArray[np.int64]
    n: int
    end_travel: int
    distance: int
    drive: int
    seats0: int
    chairs0: int
    dist: NDArray[np.int64] | None

    def unpacked(self) -> _Compiled:
        """The route's lists (``_Compiled``), for the Python code."""
        lists = self.data.reshape(9, self.n).tolist()
        travel, service, earliest, latest, pair, max_ride, loc, load, wheel = lists
        return _Compiled(
            loc,
            earliest,
            latest,
            service,
            travel,
            self.end_travel,
            pair,
            max_ride,
            load,
            wheel,
            self.distance,
            self.drive,
            self.seats0,
            self.chairs0,
            self.data,
            self.dist,
        )


def _where(k: int, route: Route) -> str:
    stop = route.stops[k]
    return f"stop {k} ({stop.kind.value} of {stop.request_id!r})"


_PICKUP = StopKind.PICKUP


def _compile(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes, *, distance: bool = True
) -> _Compiled | str:
    """The route as per-stop lists, or why it is malformed; ``distance=False``: its length is left 0."""
    v = route.vehicle
    dur = tt.durations
    size = int(dur.shape[0])
    stops = route.stops
    n = len(stops)
    if not 0 <= v.start < size:
        return f"vehicle {v.id!r}: start location {v.start} is not in the travel-time matrix"
    if v.end is not None and not 0 <= v.end < size:
        return f"vehicle {v.id!r}: end location {v.end} is not in the travel-time matrix"
    loc = [s.location for s in stops]
    for k, x in enumerate(loc):
        if not 0 <= x < size:
            return f"{_where(k, route)}: location {x} is not in the travel-time matrix"
    # Travel times and distances along the route, in one vectorised look-up.
    path = np.array([v.start, *loc] if v.end is None else [v.start, *loc, v.end], dtype=np.int64)
    legs_t = dur[path[:-1], path[1:]]
    travel: list[int] = legs_t[:n].tolist()
    end_travel = int(legs_t[n]) if v.end is not None else 0
    drive = int(legs_t.sum())
    if not distance:
        return _compile_stops(route, requests, loc, travel, end_travel, 0, drive)
    legs_d = tt.distances[path[:-1], path[1:]]
    c = _compile_stops(route, requests, loc, travel, end_travel, int(legs_d.sum()), drive)
    if not isinstance(c, str):
        c.dist = legs_d
    return c


def compiled_of_schedule(
    route: Route, requests: Mapping[str, Request], sched: RouteSchedule
) -> object | None:
    """The compiled form of a route (opaque, for :func:`schedule_after_first_stop`) from its feasible
    schedule, without looking up a travel time: what compiling it gives.

    ``sched`` must be ``evaluate_route(route, requests, tt)`` (or the schedule of an equal route from
    the same requests and travel times): its legs are read off the times (each arrival is the
    departure before it plus the leg), its length and driving time are the schedule's. ``None``
    when ``sched`` is infeasible or does not have one time per stop.
    """
    stops = route.stops
    n = len(stops)
    arr, dep = sched.arrival, sched.departure
    if not sched.feasible or len(arr) != n or len(dep) != n:
        return None
    v = route.vehicle
    if n:
        travel = [arr[0] - sched.start_departure, *[a - d for a, d in zip(arr[1:], dep, strict=False)]]
        last = dep[-1]
    else:
        travel, last = [], sched.start_departure
    end_travel = sched.end_time - last if v.end is not None else 0
    loc = [s.location for s in stops]
    c = _compile_stops(route, requests, loc, travel, end_travel, sched.distance, sched.drive_time)
    return None if isinstance(c, str) else c


def _compile_stops(
    route: Route,
    requests: Mapping[str, Request],
    loc: list[int],
    travel: list[int],
    end_travel: int,
    length: int,
    drive: int,
) -> _Compiled | str:
    """:func:`_compile` once the legs are known: the per-stop lists, or why the route is malformed."""
    v = route.vehicle
    stops = route.stops
    onboard = {r.request.id: r for r in v.onboard}
    earliest: list[int] = []
    latest: list[int] = []
    service: list[int] = []
    pair: list[int] = []
    max_ride: list[int] = []
    load: list[int] = []
    wheel: list[int] = []
    picked: dict[str, int] = {}
    dropped: set[str] = set()
    seats = seats0 = sum(r.request.passengers for r in v.onboard)
    chairs = chairs0 = sum(r.request.wheelchair for r in v.onboard)
    cap_seats, cap_chairs = v.seats, v.wheelchair_places
    for k, stop in enumerate(stops):
        rid = stop.request_id
        if stop.kind is _PICKUP:
            req = requests.get(rid)
            if req is None:
                return f"{_where(k, route)}: request {rid!r} is not in the plan's requests"
            if rid in onboard:
                return (
                    f"{_where(k, route)}: request {rid!r} is already on board and cannot be picked up again"
                )
            if rid in picked:
                return f"{_where(k, route)}: request {rid!r} is picked up twice"
            if stop.location != req.pickup:
                return (
                    f"{_where(k, route)}: location {stop.location} is not the request's pickup {req.pickup}"
                )
            picked[rid] = k
            earliest.append(req.earliest_pickup)
            latest.append(req.latest_pickup)
            service.append(req.pickup_service)
            pair.append(-2)
            max_ride.append(0)
            seats += req.passengers
            chairs += req.wheelchair
        else:
            ob = onboard.get(rid)
            req = ob.request if ob is not None else requests.get(rid)
            if req is None:
                return f"{_where(k, route)}: request {rid!r} is not in the plan's requests"
            if rid in dropped:
                return f"{_where(k, route)}: request {rid!r} is dropped off twice"
            if stop.location != req.dropoff:
                where = _where(k, route)
                return f"{where}: location {stop.location} is not the request's drop-off {req.dropoff}"
            if ob is None and rid not in picked:
                return f"{_where(k, route)}: request {rid!r} is dropped off before it is picked up"
            dropped.add(rid)
            late = req.latest_dropoff
            if ob is not None:
                start = ob.picked_up_at + req.pickup_service
                late = min(late, start + req.max_ride)
                pair.append(-1)
            else:
                pair.append(picked[rid])
            earliest.append(req.earliest_dropoff)
            latest.append(late)
            service.append(req.dropoff_service)
            max_ride.append(req.max_ride)
            seats -= req.passengers
            chairs -= req.wheelchair
        if seats > cap_seats:
            return f"{_where(k, route)}: {seats} seats taken, vehicle {v.id!r} has {cap_seats}"
        if chairs > cap_chairs:
            return f"{_where(k, route)}: {chairs} wheelchair places taken, vehicle {v.id!r} has {cap_chairs}"
        load.append(seats)
        wheel.append(chairs)
    if len(dropped) != len(picked) + len(onboard):
        for rid in picked:
            if rid not in dropped:
                return f"request {rid!r} is picked up but never dropped off in vehicle {v.id!r}'s route"
        for rid in onboard:
            if rid not in dropped:
                return f"rider {rid!r} is on board vehicle {v.id!r} but the route never drops them off"
    return _Compiled(
        loc,
        earliest,
        latest,
        service,
        travel,
        end_travel,
        pair,
        max_ride,
        load,
        wheel,
        length,
        drive,
        seats0,
        chairs0,
    )


def _forward(c: _Compiled, d0: int, lower: Sequence[int]) -> tuple[list[int], list[int], int]:
    """Arrival and service start of every stop when leaving the start at ``d0``."""
    arrival: list[int] = []
    start: list[int] = []
    t = d0
    for k in range(len(c.loc)):
        a = t + c.travel[k]
        b = a if a > lower[k] else lower[k]
        arrival.append(a)
        start.append(b)
        t = b + c.service[k]
    return arrival, start, t + c.end_travel


def _violation(
    c: _Compiled, route: Route, d0: int, arrival: list[int], start: list[int], end: int
) -> str | None:
    """The first constraint that the schedule breaks, or ``None``."""
    v = route.vehicle
    t = d0
    if d0 < v.available_from:
        return f"vehicle {v.id!r} leaves at {d0}, before it is available at {v.available_from}"
    for k in range(len(c.loc)):
        stop = route.stops[k]
        where = f"stop {k} ({stop.kind.value} of {stop.request_id!r})"
        if arrival[k] != t + c.travel[k] or start[k] < arrival[k]:
            return f"{where}: service starts before the vehicle can arrive"
        if start[k] < c.earliest[k]:
            return f"{where}: service at {start[k]} is before the window opens at {c.earliest[k]}"
        if start[k] > c.latest[k]:
            what = "latest pickup" if stop.kind is StopKind.PICKUP else "latest drop-off or ride limit"
            return f"{where}: service at {start[k]} is after the {what} {c.latest[k]}"
        p = c.pair[k]
        if p >= 0:
            ride = start[k] - start[p] - c.service[p]
            if ride > c.max_ride[k]:
                return f"{where}: ride time {ride} exceeds the maximum {c.max_ride[k]}"
        t = start[k] + c.service[k]
    if end != t + c.end_travel:
        return f"vehicle {v.id!r}: end time {end} does not follow from the stops"
    if end > v.shift_end:
        return f"vehicle {v.id!r}: route ends at {end}, after the shift ends at {v.shift_end}"
    if v.max_route_duration is not None and end - d0 > v.max_route_duration:
        limit = v.max_route_duration
        return f"vehicle {v.id!r}: route lasts {end - d0}, longer than the maximum duration {limit}"
    return None


def _least(c: _Compiled, route: Route) -> tuple[int, list[int], list[int], int] | str:
    """The as-early-as-possible feasible schedule, or why none exists."""
    v = route.vehicle
    n = len(c.loc)
    # A ride (or the route) longer than its limit even without any waiting: no schedule.
    # reach[k]: time from leaving the start to starting service at stop k, with no waiting.
    reach = [0] * n
    t = 0
    for k in range(n):
        t += c.travel[k]
        reach[k] = t
        t += c.service[k]
    for k in range(n):
        p = c.pair[k]
        if p < 0:
            continue
        pure = reach[k] - reach[p] - c.service[p]
        if pure > c.max_ride[k]:
            stop = route.stops[k]
            return (
                f"stop {k} (drop-off of {stop.request_id!r}): ride takes at least {pure}, "
                f"more than the maximum {c.max_ride[k]}"
            )
    if v.max_route_duration is not None:
        pure = sum(c.travel) + sum(c.service) + c.end_travel
        if pure > v.max_route_duration:
            return (
                f"vehicle {v.id!r}: route takes at least {pure}, "
                f"longer than the maximum duration {v.max_route_duration}"
            )
    lower = list(c.earliest)
    d0 = v.available_from
    drops = [k for k in range(n) if c.pair[k] >= 0]
    for _ in range(len(drops) + 3):
        arrival, start, end = _forward(c, d0, lower)
        for k in range(n):
            if start[k] > c.latest[k]:
                stop = route.stops[k]
                if stop.kind is StopKind.PICKUP:
                    what = "latest pickup"
                elif c.pair[k] == -1:
                    what = "latest drop-off (or ride limit) of the rider on board"
                else:
                    what = "latest drop-off"
                return (
                    f"stop {k} ({stop.kind.value} of {stop.request_id!r}): "
                    f"earliest possible service {start[k]} is after the {what} {c.latest[k]}"
                )
        if end > v.shift_end:
            return f"vehicle {v.id!r}: route cannot end before {end}, after the shift ends at {v.shift_end}"
        changed = False
        for k in drops:
            p = c.pair[k]
            need = start[k] - c.service[p] - c.max_ride[k]
            if need > lower[p]:
                lower[p] = need
                changed = True
        if v.max_route_duration is not None and end - d0 > v.max_route_duration:
            d0 = end - v.max_route_duration
            changed = True
        if not changed:
            return d0, arrival, start, end
    return f"vehicle {v.id!r}: ride-time limits cannot all be met"  # pragma: no cover - guarded above


def _delay(c: _Compiled, d0: int, arrival: list[int], start: list[int]) -> tuple[int, list[int], list[int]]:
    """Departure delays that only trade on-board waiting for waiting with the rider still at the stop.

    See the module docstring ("planned schedule"). Pickups are taken from the last to the
    first, then the start: each moves waiting that lies between it and the next drop-off
    back to itself, so the result is a fixed point after one pass.
    """
    n = len(c.loc)
    if n == 0:
        return d0, arrival, start
    start = list(start)
    arrival = list(arrival)
    # after[j + 1]: index of the first drop-off after stop j (j = -1: the start); n if none.
    after = [n] * (n + 1)
    nd = n
    for k in range(n - 1, -1, -1):
        after[k + 1] = nd
        if c.pair[k] != -2:
            nd = k
    after[0] = nd

    def room(j: int) -> int:
        # How far node j (a pickup, or -1 for the start) may move later: only waiting at the
        # stops up to the next drop-off absorbs it (so no drop-off moves), and no pickup in
        # between may pass its latest start.
        hi = after[j + 1]
        if hi >= n:
            return 0
        best = c.latest[j] - start[j] if j >= 0 else _BIG
        waited = 0
        for k in range(j + 1, hi + 1):
            waited += start[k] - arrival[k]
            lim = waited if k == hi else waited + c.latest[k] - start[k]
            if lim < best:
                best = lim
            if best <= waited:
                break  # later terms are at least ``waited``: the minimum is found
        return best

    def propagate(k0: int, t: int) -> None:
        # Leave the node before ``k0`` at ``t``; later stops move until waiting absorbs the push.
        for k in range(k0, n):
            a = t + c.travel[k]
            arrival[k] = a
            if a <= start[k]:
                return
            start[k] = a
            t = a + c.service[k]

    for j in range(n - 1, -1, -1):
        if c.pair[j] != -2:
            continue
        x = room(j)
        if x > 0:
            start[j] += x
            propagate(j + 1, start[j] + c.service[j])
    x = room(-1)
    if x > 0:
        d0 += x
        propagate(0, d0)
    return d0, arrival, start


def evaluate_route(route: Route, requests: Mapping[str, Request], tt: TravelTimes) -> RouteSchedule:
    """Decide whether a route is feasible and when each of its stops happens.

    Parameters
    ----------
    route
        The vehicle and its ordered stops. Riders in ``route.vehicle.onboard`` must be
        dropped off in the route and must not be picked up again.
    requests
        Every request picked up in the route (``Plan.requests``), promises applied.
    tt
        Travel times; locations are indices into its matrices.

    Returns
    -------
    RouteSchedule
        ``feasible`` with the planned times, or ``feasible=False`` with a ``reason``
        naming the stop and constraint.

    Notes
    -----
    Runs in O(n) for a route without binding ride or duration limits, and in
    O(n * m) in the worst case (``m`` binding limits), plus O(n^2) for the
    departure delays. Stop service start is ``max(arrival, earliest)``; ride time is
    measured from the end of pickup service to the start of drop-off service.
    """
    return _schedule(route, requests, tt)[0]


def schedule_and_profile(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes
) -> tuple[RouteSchedule, RouteProfile | None]:
    """:func:`evaluate_route` and :func:`route_profile` of one route, computed together.

    The profile is ``None`` exactly when the schedule is infeasible; both are what the two
    functions return on their own (one pass over the route instead of two).
    """
    sched, make = _schedule(route, requests, tt)
    return sched, make()


def schedule_and_lazy_profile(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes
) -> tuple[RouteSchedule, Callable[[], RouteProfile | None]]:
    """:func:`schedule_and_profile` with the profile built only when the returned function is called."""
    return _schedule(route, requests, tt)


def _none() -> None:
    return None


def _schedule(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes
) -> tuple[RouteSchedule, Callable[[], RouteProfile | None]]:
    """The schedule, and a function that builds the profile (``None`` when infeasible)."""
    c = _compile(route, requests, tt)
    if isinstance(c, str):
        v = route.vehicle
        return RouteSchedule(False, c, (), (), (), (), v.available_from, 0, 0, v.available_from), _none
    return _schedule_compiled(c, route)


def schedule_lazy_profile_and_compiled(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes
) -> tuple[RouteSchedule, Callable[[], RouteProfile | None], object | None]:
    """:func:`schedule_and_lazy_profile` and the route's compiled form (opaque; ``None`` when the
    route is malformed), for :func:`schedule_after_first_stop`."""
    c = _compile(route, requests, tt)
    if isinstance(c, str):
        v = route.vehicle
        sched = RouteSchedule(False, c, (), (), (), (), v.available_from, 0, 0, v.available_from)
        return sched, _none, None
    sched, prof = _schedule_compiled(c, route)
    return sched, prof, c


def schedule_after_first_stop(
    old: Route,
    compiled: object,
    new: Route,
    requests: Mapping[str, Request],
    tt: TravelTimes,
    served_at: int,
) -> tuple[RouteSchedule, Callable[[], RouteProfile | None], object] | None:
    """:func:`schedule_lazy_profile_and_compiled` of ``new``, derived from ``old``'s compiled form.

    ``new`` must be ``old`` once its vehicle has served the first stop: the same stop objects
    after it, the vehicle starting at that stop's location, with the rider it picked up there
    on board (picked up at ``served_at``, the request ``requests`` gives) or without the rider
    it dropped off. The answer is what compiling ``new`` gives (its legs are ``old``'s but the
    first). ``None`` (compile ``new`` instead) when ``new`` is not such a route.
    """
    if isinstance(compiled, _Packed):
        p: _Packed | None = compiled
        n = compiled.n
    elif isinstance(compiled, _Compiled):
        p = _packed(compiled)
        n = len(compiled.loc)
    else:
        return None
    stops = old.stops
    if not stops or new.stops != stops[1:] or n != len(stops):
        return None
    v, w = old.vehicle, new.vehicle
    first = stops[0]
    rid = first.request_id
    if w.start != first.location or w.end != v.end:
        return None
    before = {r.request.id: r for r in v.onboard}
    after = {r.request.id: r for r in w.onboard}
    limit = 0
    if first.kind is _PICKUP:
        rider = after.pop(rid, None)
        if rider is None or rider.picked_up_at != served_at or rider.request is not requests.get(rid):
            return None
        # Its drop-off is now a rider's on board: the ride limit counts from ``served_at``.
        req = rider.request
        limit = min(req.latest_dropoff, served_at + req.pickup_service + req.max_ride)
    elif before.pop(rid, None) is None:
        return None
    if after != before:
        return None
    fast = _run_after_first_stop(p, new, limit) if p is not None else None
    if p is not None and fast is not None:  # the compiled schedule of the data derived in the kernel
        old_data = p.data
        dist = p.dist
        if dist is not None:
            distance, dist = p.distance - int(dist[0]), dist[1:]
        else:
            distance = p.distance - int(tt.distances[v.start, first.location])
        drive = p.drive - int(old_data[0])
        data, sched, rows, end, d0, end_time = fast
        end_travel = p.end_travel
        derived = _Packed(
            data, n - 1, end_travel, distance, drive, int(old_data[7 * n]), int(old_data[8 * n]), dist
        )
        result = _schedule_of_kernel(sched, end_time, distance, d0, drive)
        return result, _ProfileOfRows(rows, end, end_travel), derived
    c = compiled.unpacked() if isinstance(compiled, _Packed) else compiled
    dist = c.dist
    if dist is not None:
        distance, dist = c.distance - int(dist[0]), dist[1:]
    else:
        distance = c.distance - int(tt.distances[v.start, first.location])
    latest = c.latest[1:]
    if first.kind is _PICKUP:
        latest = [limit if q == 0 else late for q, late in zip(c.pair[1:], latest, strict=True)]
    derived_lists = _Compiled(
        c.loc[1:],
        c.earliest[1:],
        latest,
        c.service[1:],
        c.travel[1:],
        c.end_travel,
        [q - 1 if q > 0 else (-1 if q == 0 else q) for q in c.pair[1:]],
        c.max_ride[1:],
        c.load[1:],
        c.wheel[1:],
        distance,
        c.drive - c.travel[0],
        c.load[0],  # on board once the first stop is served
        c.wheel[0],
        None,
        dist,
    )
    sched_lists, prof = _schedule_compiled(derived_lists, new)
    return sched_lists, prof, derived_lists


def schedule_inserted(
    rows: NDArray[np.int64], route: Route, a: int, b: int, request: Request, tt: TravelTimes
) -> tuple[RouteSchedule, Callable[[], RouteProfile | None]]:
    """:func:`schedule_and_lazy_profile` of ``route``, an old route with ``request`` inserted, from
    the old route's profile instead of a walk over the stops.

    ``rows`` is :attr:`RouteProfile.rows` of the old route (:func:`route_profile` with the requests
    of this evaluation); ``route`` is the old route (any ``available_from``) with ``request``'s
    pickup before old stop ``a`` and its drop-off before old stop ``b`` (``a <= b``), keeping the
    seats and wheelchair places (as the insertion search checks). The answer is what compiling
    ``route`` with the old route's requests and ``request`` gives: the per-stop data are the old
    route's with the two stops spliced in, the legs looked up along the new stops.
    """
    v = route.vehicle
    loc = rows[0]
    path = np.empty(len(loc) + 2 + (v.end is not None), dtype=np.int64)  # the start, the new stops
    path[0] = v.start
    path[1 : a + 1] = loc[1 : a + 1]
    path[a + 1] = request.pickup
    path[a + 2 : b + 2] = loc[a + 1 : b + 1]
    path[b + 2] = request.dropoff
    path[b + 3 : len(loc) + 2] = loc[b + 1 :]
    if v.end is not None:
        path[-1] = v.end
    # The legs as _compile looks them up (one vectorised look-up each).
    legs_t = np.asarray(tt.durations[path[:-1], path[1:]], dtype=np.int64)
    distance = int(tt.distances[path[:-1], path[1:]].sum())
    n = len(loc) + 1
    end_travel = int(legs_t[n]) if v.end is not None else 0
    drive = int(legs_t.sum())
    fast = _run_inserted(rows, a, b, request, legs_t, end_travel, route)
    if fast is not None:
        _, sched, prof_rows, end, d0, end_time = fast
        return _schedule_of_kernel(sched, end_time, distance, d0, drive), _ProfileOfRows(
            prof_rows, end, end_travel
        )
    return _schedule_compiled(
        _compiled_inserted(rows, a, b, request, legs_t, end_travel, distance, drive), route
    )


def _compiled_inserted(
    rows: NDArray[np.int64],
    a: int,
    b: int,
    request: Request,
    legs_t: NDArray[np.int64],
    end_travel: int,
    distance: int,
    drive: int,
) -> _Compiled:
    """The lists of :func:`schedule_inserted`'s route, spliced from the old route's profile ``rows``
    (for the Python code; :func:`_run_inserted` does the same in the kernel)."""
    # The old stops' rows as lists (node 0, the start, left out but for the loads before stop 0).
    loc, load, wheel, drop, service, earliest, latest, pair, max_ride = rows[
        (0, 5, 6, 7, 9, 11, 12, 13, 14), 1:
    ].tolist()
    load_0, wheel_0 = int(rows[5, 0]), int(rows[6, 0])

    def spliced(old: list[int], pickup: int, dropoff: int) -> list[int]:
        return [*old[:a], pickup, *old[a:b], dropoff, *old[b:]]

    q, w = request.passengers, request.wheelchair
    before = [load_0, *load]  # seats taken before each old stop (and after the last)
    chairs = [wheel_0, *wheel]
    new_loc = spliced(loc, request.pickup, request.dropoff)
    n = len(new_loc)
    # Pickup stop indices shift past the inserted stops; the new drop-off's pickup is stop ``a``.
    new_pair = [
        (-1 if p == 0 else p - 1 + (p - 1 >= a) + (p - 1 >= b)) if d else -2
        for d, p in zip(drop, pair, strict=True)
    ]
    return _Compiled(
        new_loc,
        spliced(earliest, request.earliest_pickup, request.earliest_dropoff),
        spliced(latest, request.latest_pickup, request.latest_dropoff),
        spliced(service, request.pickup_service, request.dropoff_service),
        legs_t[:n].tolist(),
        end_travel,
        spliced(new_pair, -2, a),
        spliced(max_ride, 0, request.max_ride),
        [*load[:a], before[a] + q, *[x + q for x in load[a:b]], before[b], *load[b:]],
        [*wheel[:a], chairs[a] + w, *[x + w for x in wheel[a:b]], chairs[b], *wheel[b:]],
        distance,
        drive,
        load_0,
        wheel_0,
    )


def route_profile_with_first_stop(
    rows: NDArray[np.int64], route: Route, requests: Mapping[str, Request], tt: TravelTimes, travel: int
) -> RouteProfile | None:
    """:func:`route_profile` of ``route``, an old route with a stop put first, from the old route's
    profile instead of a walk over the stops (a vehicle turning back toward the stop it was driving to).

    ``rows`` is :attr:`RouteProfile.rows` of the old route (:func:`route_profile` with ``requests``);
    ``route`` serves the old route's stops after its first stop, which is at the old route's start,
    and its vehicle is the old one but for where and when it starts and who is on board: before the
    first stop, so with the rider that stop drops off (on board) or without the rider it picks up
    (its request from ``requests``). ``travel`` is the travel time from the new start to the first
    stop. The per-stop data are the old route's with the first stop put before them, the legs the
    old route's after that first one.
    """
    v = route.vehicle
    stops = route.stops
    first = stops[0]
    rid = first.request_id
    loc, load, wheel, drop, service, earliest, latest, pair, max_ride = rows[
        (0, 5, 6, 7, 9, 11, 12, 13, 14), 1:
    ].tolist()
    legs = rows[10].tolist()  # the travel time from each node to the next, the last to the end depot
    load_0, wheel_0 = int(rows[5, 0]), int(rows[6, 0])
    # A drop-off's pickup, as a stop index of ``route``: the old node index (one stop is put first);
    # a rider on board (0) stays on board, but the one the first stop picks up, picked up there.
    new_pair = [(p if p > 0 else -1) if d else -2 for d, p in zip(drop, pair, strict=True)]
    if first.kind is _PICKUP:
        req = requests.get(rid)
        if req is None or first.location != req.pickup or any(r.request.id == rid for r in v.onboard):
            return route_profile(route, requests, tt)  # malformed: as compiling it says
        head = (req.earliest_pickup, req.latest_pickup, req.pickup_service, -2, 0)
        seats0, chairs0 = load_0 - req.passengers, wheel_0 - req.wheelchair
        for k, stop in enumerate(stops[1:]):
            if stop.request_id == rid:  # its drop-off: the ride limit counts from this pickup
                new_pair[k] = 0
                earliest[k], latest[k] = req.earliest_dropoff, req.latest_dropoff
                service[k], max_ride[k] = req.dropoff_service, req.max_ride
                break
        else:
            return route_profile(route, requests, tt)
    else:
        ob = next((r for r in v.onboard if r.request.id == rid), None)
        if ob is None or first.location != ob.request.dropoff:
            return route_profile(route, requests, tt)
        req = ob.request
        late = min(req.latest_dropoff, ob.picked_up_at + req.pickup_service + req.max_ride)
        head = (req.earliest_dropoff, late, req.dropoff_service, -1, req.max_ride)
        seats0, chairs0 = load_0 + req.passengers, wheel_0 + req.wheelchair
    if load_0 > v.seats or wheel_0 > v.wheelchair_places:
        return None  # the first stop's seats or wheelchair places are over the vehicle's
    e0, l0, s0, p0, m0 = head
    c = _Compiled(
        [first.location, *loc],
        [e0, *earliest],
        [l0, *latest],
        [s0, *service],
        [travel, *legs[:-1]],
        legs[-1],
        [p0, *new_pair],
        [m0, *max_ride],
        [load_0, *load],
        [wheel_0, *wheel],
        0,  # a profile has no use for the length (as route_profile)
        travel + sum(legs),
        seats0,
        chairs0,
    )
    return _profile_of_compiled(c, route)


def _schedule_compiled(c: _Compiled, route: Route) -> tuple[RouteSchedule, Callable[[], RouteProfile | None]]:
    """:func:`_schedule` of a compiled route."""
    v = route.vehicle
    fast = _run_compiled(c, route, planned=True)
    if fast is not None:
        _, d0, end, pd0, pend, violated, arr, st, parr, pst, rows = fast
        least_start = st.tolist()

        fast_prof = _ProfileOfRows(rows, end, c.end_travel)
        if violated:  # pragma: no cover - defensive, as below
            return _result(c, route, True, None, d0, arr.tolist(), least_start, end, least_start), fast_prof
        return _result(c, route, True, None, pd0, parr.tolist(), pst.tolist(), pend, least_start), fast_prof
    least = _least(c, route)
    if isinstance(least, str):
        arrival, start, end = _forward(c, v.available_from, c.earliest)
        return _result(c, route, False, least, v.available_from, arrival, start, end, start), _none

    def prof() -> RouteProfile:
        return _profile(c, route, least)

    d0, arrival, start, end = least
    # The least schedule keeps every constraint by construction (tests compare it with a
    # Bellman-Ford reference); the planned one is verified below before it is returned.
    pd0, parr, pstart = _delay(c, d0, arrival, start)
    pend = pstart[-1] + c.service[-1] + c.end_travel if c.loc else pd0 + c.end_travel
    if _violation(c, route, pd0, parr, pstart, pend) is not None:  # pragma: no cover - defensive
        return _result(c, route, True, None, d0, arrival, start, end, start), prof
    return _result(c, route, True, None, pd0, parr, pstart, pend, start), prof


class _ProfileOfRows:
    """A feasible route's profile, built from the kernel's rows at the first call."""

    __slots__ = ("end", "end_travel", "rows")

    def __init__(self, rows: NDArray[np.int64], end: int, end_travel: int) -> None:
        self.rows = rows
        self.end = end
        self.end_travel = end_travel

    def __call__(self) -> RouteProfile:
        return _profile_of_rows(self.rows, self.end, self.end_travel)


def compiled_of_profile(lazy: Callable[[], RouteProfile | None], distance: int) -> object | None:
    """The compiled form (opaque, for :func:`schedule_after_first_stop`) of a feasible route whose
    profile ``lazy`` builds (from :func:`schedule_and_lazy_profile` and its kin, e.g. the schedule of a
    booking's route, :func:`schedule_inserted`), read off the profile's rows, which hold every per-stop
    list of it: what compiling that route with the requests of that evaluation gives. ``distance``
    is the route's length (its schedule's). ``None``: the rows are not at hand."""
    if type(lazy) is not _ProfileOfRows:
        return None
    rows = lazy.rows
    n = rows.shape[1] - 1
    data = np.empty((9, n), dtype=np.int64)  # in _pack's order
    data[0] = rows[10, :n]  # the legs to the stops (the node before each stop's travel_next)
    data[1:] = rows[_PACKED_ROWS, 1:]
    data[4] -= 1  # a profile's pair is the pickup's node (0 for a rider on board, -1 for a pickup)
    drive = int(rows[10].sum())  # every leg, the one to the end depot included
    return _Packed(
        data.reshape(-1), n, int(rows[10, n]), distance, drive, int(rows[5, 0]), int(rows[6, 0]), None
    )


_PACKED_ROWS = [9, 11, 12, 13, 14, 0, 5, 6]
"""The profile rows of service, earliest, latest, pair, max_ride, loc, load and wheel (:func:`_pack`'s
order after the travel times)."""


def profile_rows(lazy: Callable[[], RouteProfile | None]) -> NDArray[np.int64] | None:
    """:attr:`RouteProfile.rows` of the profile that ``lazy`` (from :func:`schedule_and_lazy_profile`
    and its kin) builds, without building it; ``None`` when they are not at hand (call ``lazy``)."""
    if type(lazy) is not _ProfileOfRows:
        return None
    rows = lazy.rows
    rows.flags.writeable = False  # as the profile's: shared by caches
    return rows[: len(PROFILE_ROWS)]


def _result(
    c: _Compiled,
    route: Route,
    feasible: bool,
    reason: str | None,
    d0: int,
    arrival: list[int],
    start: list[int],
    end: int,
    earliest: list[int],
) -> RouteSchedule:
    # (positional: feasible, reason, arrival, service_start, departure, load, end_time, distance,
    # duration, start_departure, earliest_start, wheelchair_load, drive_time; one start per stop)
    return RouteSchedule(
        feasible,
        reason,
        tuple(arrival),
        tuple(start),
        tuple(map(add, start, c.service)),
        tuple(c.load),
        end,
        c.distance,
        end - d0,
        d0,
        tuple(earliest),
        tuple(c.wheel),
        c.drive,
    )


@dataclass(frozen=True, slots=True, eq=False)
class RouteProfile:
    """Per-stop arrays of a feasible route's least schedule, for fast insertion checks.

    Node 0 is the vehicle's start (its "service start" is the least departure time,
    its service time zero); node ``k + 1`` is stop ``k``. All arrays have length
    ``n + 1`` for ``n`` stops.

    Attributes
    ----------
    loc
        Location of each node.
    start
        Least service start (node 0: least departure from the start).
    departure
        ``start + service``.
    wait
        ``start - arrival`` (0 for node 0): waiting that absorbs a push.
    cum_wait
        ``cum_wait[k] = sum(wait[1..k])``; the push that reaches node ``k`` from node
        ``i < k`` is ``max(0, push - (cum_wait[k] - cum_wait[i]))``.
    slack
        How much later node ``k`` may start: ``latest - start``, and for a drop-off
        whose pickup is in the route also ``max_ride + latest_pickup + pickup_service
        - start`` (the pickup can move no later than its window). Node 0: unlimited.
    fslack
        Forward slack of windows only: ``fslack[k] = min over j >= k of
        (cum_wait[j] - cum_wait[k] + slack[j])``, including the end (shift end). A push
        larger than ``fslack[k]`` at node ``k`` is infeasible when travel times obey the
        triangle inequality (then adding stops never makes the least schedule earlier).
    load, wheel
        Seats and wheelchair places taken after each node.
    is_drop
        Whether the node is a drop-off of a request (node 0: false).
    service
        Service time of each node (node 0: 0).
    travel_next
        Travel time from each node to the next one (last node: to the end depot, or 0).
    reach
        Time from leaving node 0 to starting service at node ``k`` without any waiting.
    end_time
        End of the least schedule (see :attr:`RouteSchedule.end_time`).
    end_travel
        Travel time from the last node to the end depot (0 for an open route).
    earliest, latest
        Window of each stop's service start as :func:`evaluate_route` applies it (a drop-off
        of a rider on board: the ride limit included); node 0: 0 and unlimited.
    pair
        For a drop-off, the node of its pickup (0: on board at the start); -1 for a pickup
        and for node 0.
    max_ride
        For a drop-off, its request's maximum ride (0 otherwise).
    rows
        The arrays named in :data:`PROFILE_ROWS` as the rows of one read-only array (the
        fields above are views of it), or ``None``.
    """

    loc: NDArray[np.int64]
    start: NDArray[np.int64]
    departure: NDArray[np.int64]
    wait: NDArray[np.int64]
    cum_wait: NDArray[np.int64]
    slack: NDArray[np.int64]
    fslack: NDArray[np.int64]
    load: NDArray[np.int64]
    wheel: NDArray[np.int64]
    is_drop: NDArray[np.bool_]
    service: NDArray[np.int64]
    travel_next: NDArray[np.int64]
    reach: NDArray[np.int64]
    end_time: int
    end_travel: int
    earliest: NDArray[np.int64]
    latest: NDArray[np.int64]
    pair: NDArray[np.int64]
    max_ride: NDArray[np.int64]
    rows: NDArray[np.int64] | None = None


PROFILE_ROWS = (
    "loc",
    "start",
    "departure",
    "cum_wait",
    "fslack",
    "load",
    "wheel",
    "is_drop",
    "reach",
    "service",
    "travel_next",
    "earliest",
    "latest",
    "pair",
    "max_ride",
)
"""The arrays of a :class:`RouteProfile` stacked in :attr:`RouteProfile.rows` (``is_drop`` as 0/1)."""


def route_profile(route: Route, requests: Mapping[str, Request], tt: TravelTimes) -> RouteProfile | None:
    """The least-schedule arrays of a route, or ``None`` when the route is infeasible.

    Used by :mod:`ondemand.routing.solver.insertion` for O(1) necessary checks per insertion
    position. See :class:`RouteProfile`.
    """
    c = _compile(route, requests, tt, distance=False)  # a profile has no use for the length
    if isinstance(c, str):
        return None
    return _profile_of_compiled(c, route)


def _profile_of_compiled(c: _Compiled, route: Route) -> RouteProfile | None:
    """:func:`route_profile` of a compiled route."""
    fast = _run_compiled(c, route, planned=False)
    if fast is not None:
        return _profile_of_rows(fast[10], fast[2], c.end_travel)
    least = _least(c, route)
    if isinstance(least, str):
        return None
    return _profile(c, route, least)


def _profile(c: _Compiled, route: Route, least: tuple[int, list[int], list[int], int]) -> RouteProfile:
    """The profile arrays of a route from its compiled form and least schedule (one array allocation)."""
    d0, arrival, start, end = least
    v = route.vehicle
    n = len(c.loc)
    big = _BIG
    service, late, cpair, max_ride = c.service, c.latest, c.pair, c.max_ride
    # One pass over the stops builds every per-node row (node 0: the start).
    dep = [d0]
    wait = [0]
    cum = [0]
    slack = [big]
    drop = [0]
    pair = [-1]
    reach = [0]
    w_sum = 0
    t = 0
    s_prev = 0
    for k, (a, b, s, lk, p, tk) in enumerate(
        zip(arrival, start, service, late, cpair, c.travel, strict=True)
    ):
        dep.append(b + s)
        wk = b - a
        wait.append(wk)
        w_sum += wk
        cum.append(w_sum)
        sl = lk - b
        if p >= 0:  # the pickup can move no later than its window: ride' >= B'[k] - latest[p] - s[p]
            bound = max_ride[k] + late[p] + service[p] - b
            if bound < sl:
                sl = bound
            pair.append(p + 1)
            drop.append(1)
        elif p == -1:
            pair.append(0)
            drop.append(1)
        else:
            pair.append(-1)
            drop.append(0)
        slack.append(sl)
        t += tk + s_prev
        reach.append(t)
        s_prev = s
    # Slack at the end: the shift end only. (The route-duration limit is left to the exact
    # evaluation: a later departure from the start can absorb a push, so it is no O(1) test.)
    # fslack[k] = min(min_{j>=k}(cum[j] + slack[j]), cum[n] + end_slack) - cum[k]
    low = slack[n] + cum[n]
    end_slack = cum[n] + v.shift_end - end
    if end_slack < low:
        low = end_slack
    fs = [0] * (n + 1)
    fs[n] = low - cum[n]
    for k in range(n - 1, -1, -1):
        x = slack[k] + cum[k]
        if x < low:
            low = x
        fs[k] = low - cum[k]
    seats, chairs = c.seats0, c.chairs0
    # One flat list, one conversion (faster than a list of rows).
    flat = [
        *(v.start, *c.loc),
        *(d0, *start),
        *dep,
        *cum,
        *fs,
        *(seats, *c.load),
        *(chairs, *c.wheel),
        *drop,
        *reach,
        *(0, *service),
        *(*c.travel, c.end_travel),
        *(0, *c.earliest),
        *(big, *late),
        *pair,
        *(0, *max_ride),
        *wait,
        *slack,
    ]
    rows = np.array(flat, dtype=np.int64).reshape(17, n + 1)
    return _profile_of_rows(rows, end, c.end_travel)


def _profile_of_rows(rows: NDArray[np.int64], end: int, end_travel: int) -> RouteProfile:
    """The profile whose arrays are the rows of ``rows`` (made read-only), in :func:`_profile`'s order."""
    rows.flags.writeable = False  # shared by caches: views of it must not be written
    return RouteProfile(
        loc=rows[0],
        start=rows[1],
        departure=rows[2],
        wait=rows[15],
        cum_wait=rows[3],
        slack=rows[16],
        fslack=rows[4],
        load=rows[5],
        wheel=rows[6],
        is_drop=rows[7] != 0,
        service=rows[9],
        travel_next=rows[10],
        reach=rows[8],
        end_time=end,
        end_travel=end_travel,
        earliest=rows[11],
        latest=rows[12],
        pair=rows[13],
        max_ride=rows[14],
        rows=rows[: len(PROFILE_ROWS)],
    )


USE_COMPILED = True
"""Whether feasible routes are scheduled by the compiled port (Numba, when installed) of this
module's arithmetic; ``False``: the Python code alone (the reference it is tested against)."""

_KERNELS: dict[str, Any] = {}


def _kernel(name: str) -> Any:
    """The compiled function ``name`` of :mod:`_schedule_kernel` (imported at its first use, not with
    this module), or ``None``: :data:`USE_COMPILED` is off or numba is not installed."""
    if not USE_COMPILED:
        return None
    got = _KERNELS.get(name)
    if got is None:
        from ondemand.routing.solver import _schedule_kernel

        got = _KERNELS[name] = getattr(_schedule_kernel, name) if _schedule_kernel.HAVE_NUMBA else False
    return None if got is False else got


def _run_compiled(c: _Compiled, route: Route, *, planned: bool) -> Any:
    """The compiled least (and with ``planned`` the planned) schedule and profile rows of a feasible
    route, or ``None``: infeasible (the Python code says why), beyond 64-bit arithmetic, or no numba."""
    kernel = _kernel("plan_route")
    if kernel is None:
        return None
    scalars = _kernel_scalars(route.vehicle, c.end_travel, c.seats0, c.chairs0)
    if scalars is None:
        return None
    data = _pack(c)
    if data is None:
        return None
    out = kernel(data, len(c.loc), *scalars, planned)
    return out if out[0] == 0 else None


def _kernel_scalars(
    v: Vehicle, end_travel: int, seats0: int, chairs0: int
) -> tuple[int, int, int, int, int, int, int] | None:
    """The schedule kernels' scalar arguments for a route of ``v``: ``(end_travel, available_from,
    shift_end, max_route_duration or -1, start, seats0, chairs0)``; ``None`` (the Python code
    schedules it) for a negative route-duration limit or a value beyond the kernels' arithmetic."""
    mx = v.max_route_duration
    scalars = (end_travel, v.available_from, v.shift_end, -1 if mx is None else mx, v.start, seats0, chairs0)
    limit = _COMPILED_LIMIT
    if (mx is not None and mx < 0) or min(scalars) < -limit or max(scalars) > limit:
        return None
    return scalars


def _pack(c: _Compiled) -> NDArray[np.int64] | None:
    """The compiled kernels' input: ``c``'s lists in one array (kept in ``c``), or ``None`` if a value
    is beyond 64 bits."""
    if c.data is not None:
        return c.data
    try:
        data = np.array(
            [*c.travel, *c.service, *c.earliest, *c.latest, *c.pair, *c.max_ride, *c.loc, *c.load, *c.wheel],
            dtype=np.int64,
        )
    except OverflowError:
        return None
    c.data = data
    return data


def _packed(c: _Compiled) -> _Packed | None:
    """``c`` packed (:class:`_Packed`), or ``None`` if a value is beyond 64 bits."""
    data = _pack(c)
    if data is None:
        return None
    return _Packed(data, len(c.loc), c.end_travel, c.distance, c.drive, c.seats0, c.chairs0, c.dist)


def _schedule_of_kernel(
    sched: NDArray[np.int64], end_time: int, distance: int, d0: int, drive: int
) -> RouteSchedule:
    """The feasible schedule a kernel's ``sched`` rows give (:func:`_schedule_kernel.plan_after_first_stop`:
    arrival, service start, departure, least service start, load and wheel per stop), as ``_result``."""
    arr, start, dep, least, load, wheel = sched.tolist()
    # (positional, as _result)
    return RouteSchedule(
        True,
        None,
        tuple(arr),
        tuple(start),
        tuple(dep),
        tuple(load),
        end_time,
        distance,
        end_time - d0,
        d0,
        tuple(least),
        tuple(wheel),
        drive,
    )


def _run_inserted(
    rows: NDArray[np.int64],
    a: int,
    b: int,
    request: Request,
    legs_t: NDArray[np.int64],
    end_travel: int,
    route: Route,
) -> Any:
    """The compiled ``_schedule_compiled`` of :func:`schedule_inserted`'s route, spliced in the kernel
    (:func:`_schedule_kernel.plan_inserted`): ``(data, sched, rows, end, d0, end_time)``, or ``None``
    where :func:`_run_compiled` would give none (then the Python code schedules the spliced lists)."""
    kernel = _kernel("plan_inserted")
    if kernel is None:
        return None
    r = request
    req = (
        r.pickup,
        r.dropoff,
        r.earliest_pickup,
        r.latest_pickup,
        r.earliest_dropoff,
        r.latest_dropoff,
        r.pickup_service,
        r.dropoff_service,
        r.max_ride,
        r.passengers,
        r.wheelchair,
    )
    scalars = _kernel_scalars(route.vehicle, end_travel, int(rows[5, 0]), int(rows[6, 0]))
    if scalars is None or min(req) < -_COMPILED_LIMIT or max(req) > _COMPILED_LIMIT:
        return None
    # (the kernel takes the load at the start from ``rows``: the scalars' last two are left out)
    status, *out = kernel(
        np.ascontiguousarray(rows), a, b, np.array(req, dtype=np.int64), legs_t, *scalars[:5]
    )
    return out if status == 0 else None


def _run_after_first_stop(p: _Packed, route: Route, limit: int) -> Any:
    """The compiled ``_schedule_compiled`` of the route ``p`` once its first stop is served (``route``;
    ``limit``: the latest start of the drop-off of a rider picked up there), from ``p``'s packed
    data: ``(data, sched, rows, end, d0, end_time)`` (see
    :func:`_schedule_kernel.plan_after_first_stop`), or ``None`` where :func:`_run_compiled` would give
    none (then the Python code schedules the derived lists)."""
    kernel = _kernel("plan_after_first_stop")
    if kernel is None:
        return None
    n = p.n
    data = p.data
    # (the seats and wheelchair places on board after the first stop: its load)
    scalars = _kernel_scalars(route.vehicle, p.end_travel, int(data[7 * n]), int(data[8 * n]))
    if scalars is None or not -_COMPILED_LIMIT <= limit <= _COMPILED_LIMIT:
        return None
    status, *out = kernel(data, n, limit, *scalars)
    return out if status == 0 else None


_COMPILED_LIMIT = 1 << 50  # _schedule_kernel.LIMIT (not imported with this module)


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the compiled derivation of a route after its
    first stop (:func:`schedule_after_first_stop`) and of a route with a request inserted
    (:func:`schedule_inserted`) now, not at a vehicle's first committed leg or first booking.

    A no-op without Numba or with :data:`USE_COMPILED` off. The dispatcher's ``warm_up`` calls it.
    """
    # a pickup at 1 and its drop-off at 0, the vehicle at the pickup once it is served
    c = _Compiled(
        [1, 0], [0, 0], [600, 2_000], [0, 0], [60, 60], 0, [-2, 0], [0, 2_000], [1, 0], [0, 0], 0, 120
    )
    p = _packed(c)
    if p is not None:
        _run_after_first_stop(p, Route(Vehicle("warm-up", 1, 1, 60, 10_000)), 2_000)
    # the same request inserted into the empty route of a vehicle at 0 (its profile rows: node 0 only)
    rows = np.zeros((len(PROFILE_ROWS), 1), dtype=np.int64)
    rows.flags.writeable = False  # as profile rows are (shared by caches)
    legs = np.array([60, 60], dtype=np.int64)
    request = Request("warm-up", 1, 0, 0, 600, 2_000, 2_000)
    _run_inserted(rows, 0, 0, request, legs, 0, Route(Vehicle("warm-up", 1, 0, 0, 10_000)))
