"""Best feasible insertion of one request into a plan: the live booking path.

:func:`best_insertion` tries every vehicle and every pair of positions (pickup,
drop-off) and returns the cheapest feasible one with the promise to give the rider,
or a :class:`Refusal` saying why no vehicle can take the request.

Cost of an insertion (smaller is better), all on the *least* (as-early-as-possible)
schedule of :func:`ondemand.routing.solver.schedule.evaluate_route`::

    added vehicle time (or metres, ``InsertionOptions.cost``)
    + delay_weight * sum over other riders of the delay of their drop-off
    + wait_weight * the new rider's wait after the earliest pickup
    + ride_weight * the new rider's ride time

Promise. The pickup window promised is ``[eta - promise_before, eta + promise_after]``
(clipped to the request's own window; with ``InsertionOptions.promise_full_width`` a
window clipped at the earliest pickup is shifted later so that it keeps its width), ``eta``
being the planned pickup time (``RouteSchedule.service_start``), and the latest drop-off is
what the ride limit allows from the end of that window. The planned time is what the vehicle follows
(the dispatcher and simulator serve a stop at ``max(arrival, planned start)``); it
equals the earliest feasible pickup (``earliest_start``) unless picking up later
shortens this rider's own ride by as much (see :mod:`ondemand.routing.solver.schedule`), so
an as-soon-as-possible rider is promised the earliest arrival of the vehicle. The
planned schedule keeps the promised windows, so the promise is always feasible.
The returned request carries these windows (:meth:`Request.with_promise`), so any
later feasible plan keeps the promise.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    Plan,
    Request,
    Route,
    Stop,
    StopKind,
    TravelTimes,
    Vehicle,
)
from ondemand.routing.solver.schedule import (
    PROFILE_ROWS,
    RouteProfile,
    RouteSchedule,
    evaluate_route,
    profile_rows,
    route_profile,
    schedule_and_lazy_profile,
    schedule_inserted,
)

__all__ = [
    "REFUSAL_CODES",
    "Candidate",
    "GivenProfile",
    "Insertion",
    "InsertionOptions",
    "Refusal",
    "SearchIndex",
    "TurnRows",
    "best_candidate",
    "best_insertion",
    "cheapest_insertion",
    "effective_request",
    "insert_into_route",
    "insertion_cost",
    "prime_profile",
    "use_compiled",
    "warm_up",
]


TurnRows = tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.bool_],
]
"""The fleet's routes node by node as a :class:`SearchIndex` holds them (:meth:`SearchIndex.turn_rows`):
locations, travel to the next node, least service starts, forward slack, where each route's nodes
begin and end (``lo[i]..hi[i]-1``, by fleet index) and whether each route is feasible."""


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
    promise_full_width
        When the window would start before the request's earliest pickup (a ride booked
        for a time, or a vehicle close by), shift it later instead of cutting it, so the
        promise stays ``promise_before + promise_after`` wide (only the request's own
        latest pickup or drop-off can cut it). ``False``: cut it at the earliest pickup.
    cost
        ``"time"``: vehicle cost in driving seconds; ``"distance"``: in metres.
    delay_weight
        Weight of the added drop-off delay of the other riders (seconds).
    wait_weight, ride_weight
        Weights of the new rider's own wait and ride time (seconds).
    max_exact_checks
        At most this many candidate positions are checked exactly (cheapest lower
        bound first); a guard against pathological cases, never reached in practice.
    """

    max_wait: int | None = None
    max_detour_factor: float | None = None
    detour_constant: int = 0
    promise_before: int = 300
    promise_after: int = 300
    promise_full_width: bool = False
    cost: Literal["time", "distance"] = "time"
    delay_weight: float = 1.0
    wait_weight: float = 0.0
    ride_weight: float = 0.0
    max_exact_checks: int = 1000

    def __post_init__(self) -> None:
        if self.max_wait is not None and self.max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {self.max_wait}")
        if self.max_detour_factor is not None and self.max_detour_factor < 1.0:
            raise ValueError(f"max_detour_factor must be >= 1, got {self.max_detour_factor}")
        if self.detour_constant < 0:
            raise ValueError(f"detour_constant must be >= 0 seconds, got {self.detour_constant}")
        if self.promise_before < 0 or self.promise_after < 0:
            raise ValueError("promise_before and promise_after must be >= 0 seconds")
        if self.max_exact_checks < 1:
            raise ValueError(f"max_exact_checks must be >= 1, got {self.max_exact_checks}")
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
    schedule, profile
        The new route's schedule with the promise applied, and a function that builds its
        least-schedule profile (for callers that cache them, see :func:`prime_profile`); not compared.
    direct
        The request's direct driving time (pickup to drop-off), if known; not compared.
    """

    request: Request
    vehicle_id: str
    plan: Plan
    pickup_window: tuple[int, int]
    dropoff_eta: int
    latest_dropoff: int
    cost: float
    schedule: RouteSchedule | None = field(default=None, compare=False, repr=False)
    profile: Callable[[], RouteProfile | None] | None = field(default=None, compare=False, repr=False)
    direct: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request no vehicle can take, and why.

    Attributes
    ----------
    request_id
        Which request.
    reason
        Why, for logs and tests (times as seconds of the service day); riders and operators
        read :meth:`ondemand.dispatch.policy.ServicePolicy.explain` instead.
    code
        Why, for programs: one of :data:`REFUSAL_CODES`.
    """

    request_id: str
    reason: str
    code: str = "refused"


REFUSAL_CODES = (
    "unknown_location",  # the pickup or drop-off is not a location of the travel times
    "duplicate_id",  # the request id is already in the plan
    "window_passed",  # the pickup window ends before now
    "ride_too_long",  # the direct trip is longer than the allowed ride
    "arrives_too_late",  # even a direct ride from the earliest pickup misses the latest drop-off
    "no_vehicle_fits",  # no vehicle has the seats or wheelchair places
    "outside_hours",  # no vehicle is in service for a pickup in the window
    "no_feasible_time",  # no vehicle can fit the trip into its schedule within the windows
    "internal",  # a promise failed its own check (a bug)
    "refused",  # any other reason (other dispatchers)
)
"""The machine-readable reasons of a :class:`Refusal`."""


def effective_request(
    request: Request, tt: TravelTimes, *, now: int, options: InsertionOptions
) -> Request | str:
    """The request tightened by ``now`` and the options, or why it cannot be served at all."""
    eff = _effective(request, tt, now=now, options=options)
    return eff.reason if isinstance(eff, Refusal) else eff


def _effective(
    request: Request, tt: TravelTimes, *, now: int, options: InsertionOptions
) -> Request | Refusal:
    return _effective_direct(request, tt, now=now, options=options)[0]


def _effective_direct(
    request: Request, tt: TravelTimes, *, now: int, options: InsertionOptions
) -> tuple[Request | Refusal, int]:
    """:func:`_effective` and the direct driving time of the request (-1 when not looked up)."""
    rid = request.id
    size = int(tt.durations.shape[0])
    if not (0 <= request.pickup < size and 0 <= request.dropoff < size):
        why = f"pickup {request.pickup} or drop-off {request.dropoff} is not a known location"
        return Refusal(rid, why, "unknown_location"), -1
    earliest = max(request.earliest_pickup, now)
    if earliest > request.latest_pickup:
        why = (
            f"outside hours: the pickup window ends at {request.latest_pickup}, "
            f"before now ({now}); ask for a later pickup"
        )
        return Refusal(rid, why, "window_passed"), -1
    latest = request.latest_pickup
    if options.max_wait is not None:
        latest = min(latest, earliest + options.max_wait)
    max_ride = request.max_ride
    direct = int(tt.durations[request.pickup, request.dropoff])
    if options.max_detour_factor is not None:
        max_ride = min(max_ride, math.ceil(direct * options.max_detour_factor) + options.detour_constant)
    if direct > max_ride:
        why = f"the direct trip takes {direct} s, more than the allowed ride of {max_ride} s"
        return Refusal(rid, why, "ride_too_long"), direct
    if earliest + request.pickup_service + direct > request.latest_dropoff:
        why = (
            f"no feasible time: even a direct trip from {earliest} cannot reach the drop-off "
            f"by {request.latest_dropoff}"
        )
        return Refusal(rid, why, "arrives_too_late"), direct
    return replace(request, earliest_pickup=earliest, latest_pickup=latest, max_ride=max_ride), direct


def insertion_cost(
    old: RouteSchedule,
    new: RouteSchedule,
    old_route: Route,
    new_route: Route,
    request: Request,
    options: InsertionOptions,
) -> float:
    """The cost of going from ``old`` to ``new`` by inserting ``request`` (module docstring)."""
    old_metric = old.drive_time if options.cost == "time" else old.distance
    old_drop = {
        s.request_id: t
        for s, t in zip(old_route.stops, old.earliest_start, strict=True)
        if s.kind is StopKind.DROPOFF
    }
    return _cost(old_metric, old_drop, new, new_route, request, options)


def _cost(
    old_metric: int,
    old_drop: Mapping[str, int],
    new: RouteSchedule,
    new_route: Route,
    request: Request,
    options: InsertionOptions,
) -> float:
    vehicle = (new.drive_time if options.cost == "time" else new.distance) - old_metric
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


_Base = tuple[NDArray[np.int64], int, int]
"""The chosen insertion's old route profile rows and positions (for :func:`schedule_inserted`)."""
_Found = tuple[float, int, Route, RouteSchedule | None, _Base | None]
"""What a search finds: cost, vehicle index, new route, its schedule (or ``None``), and its base."""

_BIG = 1 << 60
_FAR = 1 << 40  # a travel time no window can absorb (the compiled search's unreachable nodes)
_VEHICLE_OFFSET = 1 << 40  # separates the cumulative-waiting arrays of different vehicles


@dataclass(slots=True, eq=False)
class _Entry:
    """A route's least-schedule profile, cached by route identity and availability time."""

    source: Route
    route: Route  # ``source`` with ``available_from`` raised to the time used
    ids: tuple[str, ...]
    reqs: list[Request | None]
    tt: TravelTimes
    built: RouteProfile | None  # the profile (see ``profile``), unless ``lazy`` is still to build it
    old_drop: dict[str, int] | None = None
    old_time: int = 0
    old_distance: int = 0
    pack: NDArray[np.int64] | None = None  # the profile's node arrays stacked (the compiled search)
    lazy: Callable[[], RouteProfile | None] | None = None  # builds ``profile`` at the first use

    @property
    def profile(self) -> RouteProfile | None:
        """The route's profile (built now if it was given as a function); ``None``: infeasible."""
        if self.lazy is not None:
            self.built, self.lazy = self.lazy(), None
        return self.built

    @property
    def feasible(self) -> bool:
        """Whether the route has a profile; its rows are taken as they are when at hand (the
        compiled search needs no more), else the profile is built."""
        if self.pack is not None:
            return True
        if self.lazy is not None:
            rows = profile_rows(self.lazy)
            if rows is not None:
                self.pack = rows
                return True
        return self.profile is not None

    def packed(self) -> NDArray[np.int64]:
        """The profile's node arrays as rows of one array, in the order of :data:`_PACK`."""
        if self.pack is None and self.lazy is not None:
            self.pack = profile_rows(self.lazy)  # the rows, when at hand, without the profile
        if self.pack is None:
            prof = self.profile
            assert prof is not None
            if prof.rows is not None:
                self.pack = prof.rows
            else:
                self.pack = np.array([getattr(prof, name) for name in _PACK], dtype=np.int64)
        return self.pack

    def old_cost_data(self) -> tuple[dict[str, int], int, int]:
        """Least drop-off times, driving time and distance of the route before insertion."""
        if self.old_drop is None:
            prof = self.profile
            assert prof is not None
            self.old_drop = {
                s.request_id: int(t)
                for s, t in zip(self.route.stops, prof.start[1:], strict=True)
                if s.kind is StopKind.DROPOFF
            }
            v = self.route.vehicle
            locs = prof.loc if v.end is None else np.append(prof.loc, v.end)
            self.old_time = int(self.tt.durations[locs[:-1], locs[1:]].sum())
            self.old_distance = int(self.tt.distances[locs[:-1], locs[1:]].sum())
        return self.old_drop, self.old_time, self.old_distance


_PACK = PROFILE_ROWS
_START_ROW = _PACK.index("start")
_LOC_ROW = _PACK.index("loc")
_TRAVEL_ROW = _PACK.index("travel_next")
_FSLACK_ROW = _PACK.index("fslack")


class _ProfileCache:
    """Profiles of routes seen recently: a plan changes one route per insertion.

    An entry is reused only for the same route object, travel times and availability
    time, and when the plan maps the route's request ids to the same (or equal)
    requests, so a caller that changes a request's windows gets a fresh profile.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._data: dict[tuple[int, int], _Entry] = {}

    def get(self, route: Route, requests: Mapping[str, Request], tt: TravelTimes, avail: int) -> _Entry:
        key = (id(route), avail)
        hit = self._data.get(key)
        if (
            hit is not None
            and hit.source is route
            and hit.tt is tt
            and list(map(requests.get, hit.ids)) == hit.reqs
        ):
            return hit  # a profile given as a function is built when needed (see _Entry.feasible)
        ids = tuple(s.request_id for s in route.stops)
        reqs = list(map(requests.get, ids))
        v = route.vehicle
        timed = route if v.available_from == avail else Route(replace(v, available_from=avail), route.stops)
        entry = _Entry(route, timed, ids, reqs, tt, route_profile(timed, requests, tt))
        self._store(key, entry)
        return entry

    def put(
        self, route: Route, requests: Mapping[str, Request], tt: TravelTimes, profile: GivenProfile
    ) -> None:
        """Remember ``profile`` as ``route``'s (from its own availability time), computed by the caller
        (or a function that computes it, called at the first use)."""
        ids = tuple(s.request_id for s in route.stops)
        if callable(profile):
            entry = _Entry(route, route, ids, list(map(requests.get, ids)), tt, None, lazy=profile)
        else:
            entry = _Entry(route, route, ids, list(map(requests.get, ids)), tt, profile)
        self._store((id(route), route.vehicle.available_from), entry)

    def _store(self, key: tuple[int, int], entry: _Entry) -> None:
        if len(self._data) >= self._size:
            for old in list(self._data)[: self._size // 2]:
                self._data.pop(old, None)  # tolerant of another thread evicting the same key
        self._data[key] = entry


_CACHE = _ProfileCache()


GivenProfile = RouteProfile | None | Callable[[], RouteProfile | None]
"""A route's profile as a caller hands it over: built, ``None`` (infeasible), or a function building it."""


def prime_profile(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes, profile: GivenProfile
) -> None:
    """Give the insertion search a route's profile computed elsewhere (it would compute the same).

    ``profile`` must be ``route_profile(route, requests, tt)`` (e.g. from
    :func:`~ondemand.routing.solver.schedule.schedule_and_profile`), or a function returning it
    (:func:`~ondemand.routing.solver.schedule.schedule_and_lazy_profile`: built only if a search
    meets the route), ``requests`` holding every request of the route; the next search that meets
    this route object uses it.
    """
    _CACHE.put(route, requests, tt, profile)


def _delay_sum(
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    base: NDArray[np.int64],
    push: NDArray[np.int64],
    gcum: NDArray[np.int64],
    cum: NDArray[np.int64],
    n_drop: NDArray[np.int64],
    cum_drop: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Sum over drop-off nodes ``k`` in ``(lo, hi]`` of ``max(0, push - (cum[k] - cum[base]))``.

    Cumulative waiting is non-decreasing along a route, so the nodes still pushed form
    a prefix of the range: one ``searchsorted`` and two prefix sums per candidate.
    """
    kend = np.searchsorted(gcum, gcum[base] + push, side="left")
    top = np.minimum(kend - 1, hi)
    m = n_drop[top] - n_drop[lo]
    total = m * (push + cum[base]) - (cum_drop[top] - cum_drop[lo])
    return np.where((top > lo) & (push > 0), total, 0)


def _search(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    options: InsertionOptions,
    now: int,
    index: SearchIndex | None = None,
    schedule: bool = True,
) -> _Found | None:
    """Cheapest feasible insertion: vectorised necessary checks and lower bounds, then exact checks.

    ``schedule=False``: the compiled search may leave out the chosen route's schedule (``None``).

    Every (vehicle, pickup position, drop-off position) passes O(1) necessary tests
    (capacity over the range, windows through the forward slack, ride-time bounds, shift
    end) and gets a lower bound on its cost. Candidates are then evaluated exactly with
    :func:`evaluate_route` in order of that bound until the bound reaches the best exact
    cost found, so the result is the exact optimum over all positions (for travel times
    that obey the triangle inequality, which the bounds assume).
    """
    if use_compiled():
        store = index.fleet if index is not None else _FLEETS.fleet
        if store is None:
            store = _FLEETS.fleet = _Fleet()
        got = store.search(plan, request, tt, options, now, schedule)
        if got is not _SLOW:
            return got  # type: ignore[return-value]
    dur = tt.durations
    dist = tt.distances
    pu, do = request.pickup, request.dropoff
    q, w = request.passengers, request.wheelchair
    e_p, l_p, s_p = request.earliest_pickup, request.latest_pickup, request.pickup_service
    e_d, l_d, s_d = request.earliest_dropoff, request.latest_dropoff, request.dropoff_service
    max_ride = request.max_ride
    entries: list[_Entry] = []
    vindex: list[int] = []
    avails: list[int] = []
    dep0: list[int] = []
    routes = plan.routes
    # Vectorised pre-filter (one travel-time look-up for the whole fleet): a vehicle that cannot
    # reach the pickup from its start by the latest pickup cannot reach it from any later stop.
    vehs = [r.vehicle for r in routes]
    fleet = np.array(
        [(v.seats, v.wheelchair_places, v.available_from, v.shift_end, v.start) for v in vehs],
        dtype=np.int64,
    ).reshape(-1, 5)
    avail_all = np.maximum(fleet[:, 2], now)
    maybe = (q <= fleet[:, 0]) & (w <= fleet[:, 1]) & (avail_all <= fleet[:, 3]) & (avail_all <= l_p)
    near = np.flatnonzero(maybe)
    if near.size:
        near = near[avail_all[near] + np.asarray(dur[fleet[near, 4], pu], dtype=np.int64) <= l_p]
    for vi in near.tolist():
        route = routes[vi]
        v = vehs[vi]
        avail = max(v.available_from, now)
        entry = _CACHE.get(route, plan.requests, tt, v.available_from)
        prof = entry.profile
        # Leaving later than the profile assumed changes nothing after the start when the
        # first stop's least service start absorbs it (and the route is cached as it is);
        # otherwise profile the route from ``avail``.
        if avail > v.available_from and (
            prof is None or (len(prof.loc) > 1 and avail + int(prof.travel_next[0]) > int(prof.start[1]))
        ):
            entry = _CACHE.get(route, plan.requests, tt, avail)
            prof = entry.profile
        if prof is None:
            continue
        entries.append(entry)
        vindex.append(vi)
        avails.append(avail)
        dep0.append(max(int(prof.departure[0]), avail))
    if not entries:
        return None
    profs = [e.profile for e in entries if e.profile is not None]
    sizes = np.fromiter((len(p.loc) for p in profs), dtype=np.int64, count=len(profs))
    off = np.zeros(len(profs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=off[1:])
    if use_compiled():
        return _search_compiled(request, tt, options, entries, off, vindex, avails, dep0)
    total_nodes = int(off[-1])
    veh_of = np.repeat(np.arange(len(profs), dtype=np.int64), sizes)
    idx = np.arange(total_nodes, dtype=np.int64)
    last = (off[1:] - 1)[veh_of]
    loc = np.concatenate([p.loc for p in profs])
    start = np.concatenate([p.start for p in profs])
    dep = np.concatenate([p.departure for p in profs])
    dep[off[:-1]] = dep0  # the departure from each vehicle's start, no earlier than now
    cum = np.concatenate([p.cum_wait for p in profs])
    fs = np.concatenate([p.fslack for p in profs])
    load = np.concatenate([p.load for p in profs])
    wheel = np.concatenate([p.wheel for p in profs])
    is_drop = np.concatenate([p.is_drop for p in profs])
    reach = np.concatenate([p.reach for p in profs])
    svc = np.concatenate([p.service for p in profs])
    vehicles = [e.route.vehicle for e in entries]
    seats = np.array([v.seats for v in vehicles], dtype=np.int64)[veh_of]
    chairs = np.array([v.wheelchair_places for v in vehicles], dtype=np.int64)[veh_of]
    shift_end = np.array([v.shift_end for v in vehicles], dtype=np.int64)[veh_of]
    endloc = np.array([-1 if v.end is None else v.end for v in vehicles], dtype=np.int64)[veh_of]
    has_end = endloc >= 0
    safe_end = np.where(has_end, endloc, 0)
    has_next = idx < last
    nxt = np.where(has_next, idx + 1, idx)
    succ = np.where(has_next, loc[nxt], safe_end)
    has_succ = has_next | has_end
    gcum = cum + veh_of * _VEHICLE_OFFSET
    n_drop = np.cumsum(is_drop, dtype=np.int64)
    cum_drop = np.cumsum(np.where(is_drop, cum, 0), dtype=np.int64)
    metric = dur if options.cost == "time" else dist

    def detour(x: int, after: NDArray[np.int64]) -> NDArray[np.int64]:
        """Added metric for visiting ``x`` right after node ``after`` (before its successor)."""
        la, sa = loc[after], succ[after]
        return np.asarray(
            metric[la, x] + np.where(has_succ[after], metric[x, sa] - metric[la, sa], 0), dtype=np.int64
        )

    def end_ok(node: NDArray[np.int64], leave: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether leaving the new drop-off at ``leave``, as the last stop after ``node``, ends in time."""
        back = np.where(has_end[node], dur[do, safe_end[node]], 0)
        return np.asarray(leave + back <= shift_end[node], dtype=np.bool_)

    # -- pickup right after node a -----------------------------------------------------
    arr_p = dep + dur[loc, pu]
    b_p = np.maximum(arr_p, e_p)
    d_p = b_p + s_p
    ok_a = (b_p <= l_p) & (load + q <= seats) & (wheel + w <= chairs)

    # -- drop-off right after the pickup (b == a) ---------------------------------------
    sa = np.flatnonzero(ok_a)
    bd = np.maximum(d_p[sa] + int(dur[pu, do]), e_d)
    ok = bd <= l_d
    leave = bd + s_d
    push = np.maximum(0, leave + dur[do, loc[nxt[sa]]] - start[nxt[sa]])
    ok &= np.where(has_next[sa], push <= fs[nxt[sa]], end_ok(sa, leave))
    ok &= bd - l_p - s_p <= max_ride
    push = np.where(has_next[sa], push, 0)
    delay = _delay_sum(sa, last[sa], nxt[sa], push, gcum, cum, n_drop, cum_drop)
    veh = (
        metric[loc[sa], pu]
        + metric[pu, do]
        + np.where(has_succ[sa], metric[do, succ[sa]] - metric[loc[sa], succ[sa]], 0)
    )
    ride = np.maximum(int(dur[pu, do]), bd - l_p - s_p)
    lb_same = (
        veh
        + options.delay_weight * delay
        + options.wait_weight * (b_p[sa] - e_p)
        + options.ride_weight * ride
    )
    cand_a = [sa[ok]]
    cand_b = [sa[ok]]
    cand_lb = [np.asarray(lb_same[ok], dtype=np.float64)]

    # -- drop-off after a later node b > a ----------------------------------------------
    first = np.maximum(0, d_p + dur[pu, loc[nxt]] - start[nxt])
    ok_pair = ok_a & has_next & (first <= fs[nxt])
    pa_nodes = np.flatnonzero(ok_pair)
    if pa_nodes.size:
        bad = (load + q > seats) | (wheel + w > chairs)
        bad[off[:-1]] = True  # a vehicle's start node bounds the previous vehicle's ranges
        bad_at = np.where(bad, idx, total_nodes)
        next_bad = np.append(np.minimum.accumulate(bad_at[::-1])[::-1], total_nodes)
        bmax = np.minimum(next_bad[pa_nodes + 1] - 1, last[pa_nodes])
        counts = np.maximum(bmax - pa_nodes, 0)
        n_pairs = int(counts.sum())
        if n_pairs:
            pa = np.repeat(pa_nodes, counts)
            starts = np.repeat(np.cumsum(counts) - counts, counts)
            pb = pa + 1 + (np.arange(n_pairs, dtype=np.int64) - starts)
            a1 = pa + 1
            push1 = first[pa]
            push_b = np.maximum(0, push1 - (cum[pb] - cum[a1]))
            bd = np.maximum(dep[pb] + push_b + dur[loc[pb], do], e_d)
            pure = dur[pu, loc[a1]] + reach[pb] - reach[a1] + svc[pb] + dur[loc[pb], do]
            ok = (bd <= l_d) & (pure <= max_ride) & (bd - l_p - s_p <= max_ride)
            leave = bd + s_d
            nb = nxt[pb]
            push2 = np.maximum(0, leave + dur[do, loc[nb]] - start[nb])
            ok &= np.where(has_next[pb], push2 <= fs[nb], end_ok(pb, leave))
            if ok.any():
                pa, pb, a1, push1, bd, pure, push2, nb = (
                    x[ok] for x in (pa, pb, a1, push1, bd, pure, push2, nb)
                )
                push2 = np.where(has_next[pb], push2, 0)
                delay = _delay_sum(pa, pb, a1, push1, gcum, cum, n_drop, cum_drop) + _delay_sum(
                    pb, last[pb], nb, push2, gcum, cum, n_drop, cum_drop
                )
                veh = detour(pu, pa) + detour(do, pb)
                ride = np.maximum(pure, bd - l_p - s_p)
                lb = (
                    veh
                    + options.delay_weight * delay
                    + options.wait_weight * (b_p[pa] - e_p)
                    + options.ride_weight * ride
                )
                cand_a.append(pa)
                cand_b.append(pb)
                cand_lb.append(np.asarray(lb, dtype=np.float64))

    all_a = np.concatenate(cand_a)
    all_b = np.concatenate(cand_b)
    all_lb = np.concatenate(cand_lb)
    order = np.argsort(all_lb, kind="stable")
    best: _Found | None = None
    checks = 0
    for k in order:
        bound = float(all_lb[k])
        if best is not None and bound >= best[0] - 1e-9:
            break
        if checks >= options.max_exact_checks:
            break
        checks += 1
        ga, gb = int(all_a[k]), int(all_b[k])
        vi = int(veh_of[ga])
        entry = entries[vi]
        route = entry.route
        if route.vehicle.available_from != avails[vi]:
            route = Route(replace(route.vehicle, available_from=avails[vi]), route.stops)
        i, j = ga - int(off[vi]), gb - int(off[vi])
        cand = Route(route.vehicle, _insert(route.stops, i, j, request))
        reqs = {rid: r for rid, r in zip(entry.ids, entry.reqs, strict=True) if r is not None}
        reqs[request.id] = request
        sched = evaluate_route(cand, reqs, tt)
        if not sched.feasible:
            continue
        old_drop, old_time, old_distance = entry.old_cost_data()
        old_metric = old_time if options.cost == "time" else old_distance
        cost = _cost(old_metric, old_drop, sched, cand, request, options)
        if best is None or cost < best[0]:
            best = (cost, vindex[vi], cand, sched, None)
    return best


USE_COMPILED = True
"""Whether :func:`best_insertion` runs its compiled search (Numba) when Numba is installed.

``False``: the numpy path (the reference the compiled one is tested against; same answers)."""


def use_compiled() -> bool:
    """Whether the compiled search runs (:data:`USE_COMPILED` and Numba importable)."""
    if not USE_COMPILED:
        return False
    global _HAVE_NUMBA
    if _HAVE_NUMBA is None:
        from ondemand.routing.solver._insert_kernel import HAVE_NUMBA

        _HAVE_NUMBA = HAVE_NUMBA
    return _HAVE_NUMBA


_HAVE_NUMBA: bool | None = None


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the compiled search now, not at the first request.

    A no-op without Numba or with :data:`USE_COMPILED` off. Servers and benchmarks call it at start-up.
    """
    if not use_compiled():
        return
    tt = ArrayTravelTimes(np.array([[0, 60], [60, 0]], dtype=np.int64))
    plan = Plan((Route(Vehicle("warm-up", 1, 0, 0, 10_000), ()),), {})
    best_insertion(plan, Request("warm-up", 0, 1, 0, 600, 2_000, 600), tt, now=0)


_SLOW = object()
""":meth:`_Fleet.search` could not answer from the stored arrays: take the general path."""


_ROOM = 4
"""Spare nodes in each vehicle's slot of the fleet arrays (a booking adds two nodes, a commit takes one)."""


class _Fleet:
    """The fleet's profiles packed into arrays, updated only for the vehicles whose route changed.

    Between two searches a dispatcher changes few routes; unchanged ``Route`` objects (by
    identity) keep their packed profile, and the requests they mention are checked for
    identity in one pass (a changed request re-profiles its vehicle, as :class:`_ProfileCache`
    does). One per thread (see :data:`_FLEETS`).

    Layout: every vehicle has a slot of columns in ``packed`` with room to spare (:data:`_ROOM`); its
    nodes are ``lo[v]..hi[v]-1``. A changed route is written into its slot in place; one that has
    outgrown it moves to a new slot at the end (its old one is left unused), and when the array is
    full every slot is laid out afresh. Columns outside the runs are never read.
    """

    def __init__(self, *, trusted: bool = False) -> None:
        self.trusted = trusted  # the caller guarantees: a route passed again serves the same requests
        self.tt: TravelTimes | None = None
        self.routes: list[Route] = []
        self.entries: list[_Entry] = []
        self.usable = np.zeros(0, dtype=np.bool_)
        self.ids: list[str] = []
        self.reqs: list[Request | None] = []
        self.packed = np.zeros((len(_PACK), 0), dtype=np.int64)
        self.lo = np.zeros(0, dtype=np.int64)  # each vehicle's first node (its start) in ``packed``
        self.hi = np.zeros(0, dtype=np.int64)  # and the column after its last
        self.cap = np.zeros(0, dtype=np.int64)  # the columns of its slot
        self.used = 0  # the columns of ``packed`` given to slots (new slots go after them)
        self.columns = np.zeros((0, 5), dtype=np.int64)
        self.fleet = np.zeros((0, 4), dtype=np.int64)  # seats, chairs, available from, start
        self.route_ids = np.zeros(0, dtype=np.uint64)
        self.synced: Sequence[Route] | None = None  # the routes object of the last sync (kept alive)
        # With hints (SearchIndex.note_changed): the route indices that may be new objects since
        # the last sync; ``None``: no hints, every route's identity is compared.
        self.noted: set[int] | None = None
        # Profiles handed over by the caller (SearchIndex.prime), by route index, until a sync takes them.
        self.primed: dict[int, _Entry] = {}

    def _entry(self, vi: int, route: Route, requests: Mapping[str, Request], tt: TravelTimes) -> _Entry:
        """The profile of ``route`` (at index ``vi``): the one primed for this very route object, else the
        shared cache's."""
        got = self.primed.pop(vi, None)
        if got is not None and got.source is route and got.tt is tt:
            return got
        return _CACHE.get(route, requests, tt, route.vehicle.available_from)

    def _sync(self, plan: Plan, tt: TravelTimes) -> None:
        routes = plan.routes
        requests = plan.requests
        trusted = self.trusted
        if tt is not self.tt or len(routes) != len(self.routes):
            self.tt = tt
            self.routes = []
        old = self.routes
        noted = self.noted
        if noted is not None and old and trusted:
            # The caller said which routes may have changed: only those are compared.
            changed = [vi for vi in sorted(noted) if routes[vi] is not old[vi]]
            noted.clear()
            if not changed:
                self.synced = routes
                return
            self._splice(routes, changed, plan.requests, tt)
            return
        if noted is not None:
            noted.clear()
        # Identity of every route in one vectorised comparison (the old routes are kept alive in
        # ``self.routes``, so no new route can have an old one's id).
        ids = np.fromiter(map(id, routes), dtype=np.uint64, count=len(routes))
        if not old:
            changed = list(range(len(routes)))
        else:
            changed = np.flatnonzero(ids != self.route_ids).tolist()
            if not changed:
                if trusted or list(map(requests.get, self.ids)) == self.reqs:
                    self.synced = routes
                    return
                changed = list(range(len(routes)))  # a request changed: check every vehicle again
        if len(changed) < len(routes):
            for vi in changed:
                self._put(vi, self._entry(vi, routes[vi], requests, tt))
            if not trusted:
                self._flatten()
                if list(map(requests.get, self.ids)) != self.reqs:
                    changed = list(range(len(routes)))  # a request of an unchanged route changed
        if len(changed) == len(routes):
            self.entries = [self._entry(vi, r, requests, tt) for vi, r in enumerate(routes)]
            self.primed.clear()
            self.usable = np.array([e.feasible for e in self.entries], dtype=np.bool_)
            vehicles = [r.vehicle for r in routes]
            self.columns = _vehicle_columns(vehicles)
            self.fleet = np.array([_fleet_row(v) for v in vehicles], dtype=np.int64).reshape(-1, 4)
            self._lay_out()
            if not trusted:
                self._flatten()
        self.routes = list(routes)
        self.route_ids = ids
        self.synced = routes

    def _splice(
        self, routes: Sequence[Route], changed: list[int], requests: Mapping[str, Request], tt: TravelTimes
    ) -> None:
        """Bring the arrays up to date for the routes ``changed`` (ascending indices) alone."""
        mine = self.routes
        for vi in changed:
            r = mine[vi] = routes[vi]
            self._put(vi, self._entry(vi, r, requests, tt))
        self.synced = routes

    def _lay_out(self) -> None:
        """Give every vehicle a new slot, one after another, and write its nodes there."""
        packs = [_pack_of(e) for e in self.entries]
        sizes = np.fromiter((p.shape[1] for p in packs), dtype=np.int64, count=len(packs))
        self.cap = sizes + _ROOM
        self.lo = np.zeros(len(packs), dtype=np.int64)
        np.cumsum(self.cap[:-1], out=self.lo[1:])
        self.hi = self.lo + sizes
        self.used = int(self.cap.sum())
        # room for as many moved slots again before the next lay-out
        self.packed = np.zeros((len(_PACK), 2 * self.used), dtype=np.int64)
        for lo, pack in zip(self.lo.tolist(), packs, strict=True):
            self.packed[:, lo : lo + pack.shape[1]] = pack

    def _put(self, vi: int, entry: _Entry) -> None:
        """Store one vehicle's new profile (in its slot, or a new one) and its fleet columns."""
        self.entries[vi] = entry
        self.usable[vi] = entry.feasible
        v = entry.source.vehicle
        self.columns[vi] = _vehicle_row(v)
        self.fleet[vi] = _fleet_row(v)
        pack = _pack_of(entry)
        size = pack.shape[1]
        if size > self.cap[vi]:
            need = size + _ROOM
            if self.used + need > self.packed.shape[1]:
                self._lay_out()  # (every slot afresh, this vehicle's new nodes included)
                return
            self.lo[vi], self.cap[vi] = self.used, need
            self.used += need
        lo = int(self.lo[vi])
        self.packed[:, lo : lo + size] = pack
        self.hi[vi] = lo + size

    def _flatten(self) -> None:
        self.ids = list(chain.from_iterable(e.ids for e in self.entries))
        self.reqs = list(chain.from_iterable(e.reqs for e in self.entries))

    def search(
        self,
        plan: Plan,
        request: Request,
        tt: TravelTimes,
        options: InsertionOptions,
        now: int,
        schedule: bool = True,
    ) -> _Found | object | None:
        """:func:`_search` from the stored arrays, or :data:`_SLOW`."""
        self._sync(plan, tt)
        if not self.routes:
            return None
        fleet_filter, prepare_search, look_up_search, _ = _kernels()
        pu, do, l_p = request.pickup, request.dropoff, request.latest_pickup
        l_any = max(l_p, request.latest_dropoff)
        fleet, columns = self.fleet, self.columns
        # The vehicles with the room that are in service by the latest pickup, then (one travel-time
        # look-up for them all) those that reach the pickup from their start by then: a vehicle that
        # cannot cannot reach it from any later stop either.
        avail, near, starts, pus = fleet_filter(
            fleet, columns, self.usable, now, request.passengers, request.wheelchair, l_p, pu
        )
        if not near.size:
            return None
        to_pu = np.asarray(tt.durations[starts, pus], dtype=np.int64)
        packed, lo, hi, entries = self.packed, self.lo, self.hi, self.entries
        include, redo, *look = prepare_search(
            packed, lo, hi, columns, fleet, avail, near, to_pu, pu, do, l_p, l_any
        )
        if redo.size:
            # Leaving later than the profile assumed: where the first stop's least start cannot absorb
            # it, the route is profiled from ``avail`` for this search (as the general path does), in
            # this search's copy of the arrays.
            entries = list(entries)
            packed = packed[:, : self.used].copy()
            for vi in redo.tolist():
                r = self.routes[vi]
                entry = _CACHE.get(r, plan.requests, tt, int(avail[vi]))
                entries[vi] = entry
                if not entry.feasible:
                    include[vi] = False  # kept in the arrays as it was, not searched
                    continue
                # the same route from a later start: as many nodes, written over its own
                packed[:, lo[vi] : hi[vi]] = entry.packed()
            if not include.any():
                return None
            look = list(look_up_search(packed, lo, hi, columns, avail, include, pu, do, l_p, l_any))
        elif not look[1].size:
            return None  # no vehicle left (every search looks up at least the pickup to the drop-off)
        found = _run_kernel(request, tt, options, packed, lo, hi, columns, avail, include, look)
        if found is None:
            return None
        cost, vi, a, b = found
        return _finish(request, tt, entries[vi], int(avail[vi]), cost, vi, a, b, schedule)


def _pack_of(entry: _Entry) -> NDArray[np.int64]:
    """The packed profile; one node for an infeasible route (never searched: not usable)."""
    if entry.feasible:
        return entry.packed()
    out = np.zeros((len(_PACK), 1), dtype=np.int64)
    out[0, 0] = entry.route.vehicle.start
    return out


def _fleet_row(v: Vehicle) -> tuple[int, int, int, int]:
    return (v.seats, v.wheelchair_places, v.available_from, v.start)


class _Fleets(threading.local):
    fleet: _Fleet | None = None


class SearchIndex:
    """The packed fleet arrays of the compiled search, kept by one caller between searches.

    For a caller that changes few routes between fleet-wide searches (a dispatcher): only
    the routes that are new objects are profiled again. The caller guarantees that a
    ``Route`` object passed again (by identity) serves the same requests (by identity) as
    before, so the per-search check of every request in the plan is skipped. The plan of an
    insertion found with an index maps the searched plan's requests plus the new one without
    copying them: the caller reads it before it changes those requests. Not thread-safe.
    """

    __slots__ = ("fleet",)

    def __init__(self) -> None:
        self.fleet = _Fleet(trusted=True)

    def note_changed(self, indices: Iterable[int]) -> None:
        """Say that the routes at these indices may be new objects at the next search.

        After the first call the index compares only the routes it was told about (not the
        identity of every route): from then on the caller must note every index whose route
        object it replaces, until the next search (a fleet of another size, or other travel
        times, is taken in full as before).
        """
        f = self.fleet
        if f.noted is None:
            f.noted = set(indices)
        else:
            f.noted.update(indices)

    def prime(self, vi: int, route: Route, tt: TravelTimes, profile: GivenProfile) -> None:
        """Hand over the profile of ``route``, the route at index ``vi`` of the plans to come, computed
        by the caller: :func:`prime_profile` for this index alone (the next sync that meets this very
        route object at ``vi`` takes it; no shared cache, no per-request bookkeeping, as the index's
        caller guarantees the route's requests)."""
        if callable(profile):
            entry = _Entry(route, route, (), [], tt, None, lazy=profile)
        else:
            entry = _Entry(route, route, (), [], tt, profile)
        self.fleet.primed[vi] = entry

    def route_rows(self, routes: tuple[Route, ...], vi: int) -> NDArray[np.int64] | None:
        """:attr:`RouteProfile.rows` of ``routes[vi]`` as the index holds them (a view, valid until the
        index's next search: not to be written or kept); ``None`` when the route is infeasible or the
        index was not last synced with this ``routes`` object."""
        f = self.fleet
        if f.synced is not routes or not f.usable[vi]:
            return None
        return f.packed[:, f.lo[vi] : f.hi[vi]]

    def turn_rows(self, routes: tuple[Route, ...]) -> TurnRows | None:
        """Every route's nodes (its start, then its stops), each route's in one run: their locations,
        the travel time from each to the next (a route's last: to its end depot, or 0), the least
        service start at each and how much later it may start (:attr:`RouteProfile.fslack`); where
        each route's nodes begin and end (``lo[i]..hi[i]-1``), and whether each route is feasible
        (else its nodes mean nothing). ``None`` unless the index was last synced with this very
        ``routes`` object (as by a search of a plan over it). Read-only views, valid until the index's
        next search, nothing computed: the diversion pre-filter reads the few routes it tests (a
        route's least departure from its start and its slack are ``start[lo[i]] + ...``,
        ``fslack[lo[i]]``)."""
        f = self.fleet
        if f.synced is not routes or not len(routes):
            return None
        p = f.packed
        return p[_LOC_ROW], p[_TRAVEL_ROW], p[_START_ROW], p[_FSLACK_ROW], f.lo, f.hi, f.usable


_FLEETS = _Fleets()


def _search_compiled(
    request: Request,
    tt: TravelTimes,
    options: InsertionOptions,
    entries: list[_Entry],
    off: NDArray[np.int64],
    vindex: list[int],
    avails: list[int],
    dep0: list[int],
) -> _Found | None:
    """:func:`_search` after its vehicle pre-filter, with the compiled kernel."""
    packed = np.concatenate([e.packed() for e in entries], axis=1)
    packed[2, off[:-1]] = dep0  # the departure from each vehicle's start, no earlier than now
    vehicles = [e.route.vehicle for e in entries]
    found = _run_kernel(
        request,
        tt,
        options,
        packed,
        off[:-1],
        off[1:],
        _vehicle_columns(vehicles),
        np.array(avails, dtype=np.int64),
        np.ones(len(entries), dtype=np.bool_),
    )
    if found is None:
        return None
    cost, vi, a, b = found
    return _finish(request, tt, entries[vi], avails[vi], cost, vindex[vi], a, b)


def _vehicle_columns(vehicles: list[Vehicle]) -> NDArray[np.int64]:
    """Per vehicle: seats, wheelchair places, shift end, end depot (-1: none), maximum duration (-1: none)."""
    return np.array([_vehicle_row(v) for v in vehicles], dtype=np.int64).reshape(-1, 5)


def _vehicle_row(v: Vehicle) -> tuple[int, int, int, int, int]:
    """One vehicle's row of :func:`_vehicle_columns`."""
    return (
        v.seats,
        v.wheelchair_places,
        v.shift_end,
        -1 if v.end is None else v.end,
        -1 if v.max_route_duration is None else v.max_route_duration,
    )


def _finish(
    request: Request,
    tt: TravelTimes,
    entry: _Entry,
    avail: int,
    cost: float,
    vi: int,
    a: int,
    b: int,
    schedule: bool = True,
) -> _Found:
    """The chosen insertion as a route and its schedule (``schedule=False``: ``None``, not evaluated),
    and its base: the old route's profile rows and the positions, to schedule it from."""
    route = entry.route
    if route.vehicle.available_from != avail:
        route = Route(replace(route.vehicle, available_from=avail), route.stops)
    cand = Route(route.vehicle, _insert(route.stops, a, b, request))
    base = (entry.packed(), a, b)
    if not schedule:
        return cost, vi, cand, None, base
    # evaluate_route(cand, the entry's requests and ``request``), from the profile the search used
    sched = schedule_inserted(base[0], cand, a, b, request, tt)[0]
    if not sched.feasible:  # pragma: no cover - the kernel ports evaluate_route's least schedule
        raise AssertionError(f"compiled insertion chose an infeasible route: {sched.reason}")
    return cost, vi, cand, sched, base


_KERNELS: tuple[Any, Any, Any, Any] | None = None


def _kernels() -> tuple[Any, Any, Any, Any]:
    """The compiled functions of the search (imported at the first search, not with this module)."""
    global _KERNELS
    if _KERNELS is None:
        from ondemand.routing.solver._insert_kernel import (
            fleet_filter,
            look_up_search,
            prepare_search,
            search_packed,
        )

        _KERNELS = (fleet_filter, prepare_search, look_up_search, search_packed)
    return _KERNELS


def _run_kernel(
    request: Request,
    tt: TravelTimes,
    options: InsertionOptions,
    packed: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    columns: NDArray[np.int64],
    avails: NDArray[np.int64],
    include: NDArray[np.bool_],
    look: Sequence[NDArray[Any]] | None = None,
) -> tuple[float, int, int, int] | None:
    """Call the kernel on packed profiles (rows as :data:`_PACK`; vehicle ``v``'s nodes are columns
    ``lo[v]..hi[v]-1``); travel times are looked up for the included vehicles only. ``look``: what
    ``look_up_search`` gives for these arguments (computed here when ``None``): the departures, each
    start's no earlier than ``avails``, and the look-ups."""
    _, _, look_up_search, search_packed = _kernels()
    pu, do = request.pickup, request.dropoff
    # Only nodes left by the latest pickup can be followed by the pickup, and only nodes left by
    # the latest drop-off (or pickup) by the drop-off: the others get an unreachable time (the
    # kernel rejects them as it would with the true one, travel times being non-negative), and
    # half the look-ups are saved.
    if look is None:
        l_any = max(request.latest_pickup, request.latest_dropoff)
        look = look_up_search(packed, lo, hi, columns, avails, include, pu, do, request.latest_pickup, l_any)
    dep, rows, cols, selp, seld, succ, has_succ = look
    got = np.asarray(tt.durations[rows, cols], dtype=np.int64)
    by_time = options.cost == "time"
    if by_time:
        gm, m_leg = got, packed[_TRAVEL_ROW]
    else:
        loc = packed[_LOC_ROW]
        inc = np.flatnonzero(include)
        sizes = (hi - lo)[inc]
        # the included vehicles' nodes, vehicle after vehicle
        sel = np.repeat(lo[inc] - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        lsel, ssel = loc[sel], succ[sel]
        gm = np.asarray(tt.distances[np.append(rows, lsel), np.append(cols, ssel)], dtype=np.int64)
        m_leg = np.zeros(packed.shape[1], dtype=np.int64)
        m_leg[sel] = gm[rows.size :]
        m_leg = np.where(has_succ, m_leg, 0)
    found, cost, vi, a, b = search_packed(
        packed,
        dep,
        lo,
        hi,
        columns,
        avails,
        include,
        got,
        by_time,
        gm,
        m_leg,
        selp,
        seld,
        has_succ,
        request.passengers,
        request.wheelchair,
        request.earliest_pickup,
        request.latest_pickup,
        request.pickup_service,
        request.earliest_dropoff,
        request.latest_dropoff,
        request.dropoff_service,
        request.max_ride,
        float(options.delay_weight),
        float(options.wait_weight),
        float(options.ride_weight),
        options.max_exact_checks,
    )
    if not found:
        return None
    return float(cost), int(vi), int(a), int(b)


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
    found = _search(plan, request, tt, opts, route.vehicle.available_from)
    if found is None:
        return None
    assert found[3] is not None
    return found[2], found[3]


def cheapest_insertion(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    *,
    now: int,
    options: InsertionOptions | None = None,
) -> tuple[int, Route, RouteSchedule, float] | None:
    """The cheapest feasible insertion of ``request`` into any route of ``plan``, windows taken as given.

    The fleet-wide search of :func:`best_insertion` without its tightening and promise (used
    by re-optimisation to move a request that already has its promise); no vehicle leaves
    before ``now``. ``request`` must be in ``plan.requests`` or nowhere in the plan's routes.

    Returns
    -------
    tuple or None
        ``(route index, new route, its schedule, cost)`` (cost as in the module docstring), or
        ``None`` when no position of any route is feasible.
    """
    opts = options if options is not None else InsertionOptions()
    found = _search(plan, request, tt, opts, now)
    if found is None:
        return None
    cost, vi, route, sched, _ = found
    assert sched is not None
    return vi, route, sched, cost


def best_insertion(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    *,
    now: int,
    options: InsertionOptions | None = None,
    index: SearchIndex | None = None,
) -> Insertion | Refusal:
    """Insert one request where it costs least, or say why it cannot be served.

    :func:`best_candidate` and its promise (see there for the parameters).
    """
    got = best_candidate(plan, request, tt, now=now, options=options, index=index)
    return got if isinstance(got, Refusal) else got.promise()


def best_candidate(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    *,
    now: int,
    options: InsertionOptions | None = None,
    index: SearchIndex | None = None,
) -> Candidate | Refusal:
    """The cheapest insertion of one request, its promise not yet made, or why it cannot be served.

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
    index
        The caller's :class:`SearchIndex` (its guarantee applies to ``plan``); ``None``: a
        per-thread one that checks every request of the plan.

    Returns
    -------
    Candidate | Refusal
        The cheapest feasible insertion (its :meth:`Candidate.promise` makes the promise), or the
        reason for refusal.

    Notes
    -----
    The search is exact (the same optimum as trying every position with
    :func:`evaluate_route`, see :func:`ondemand.routing.solver.reference.brute_force_insertion`)
    when travel times obey the triangle inequality, which its lower bounds assume;
    otherwise the answer is still feasible and keeps every promise, but may not be the
    cheapest. The search runs compiled (Numba, :mod:`ondemand.routing.solver._insert_kernel`;
    ``USE_COMPILED = False`` selects the numpy path it is tested against); its latency is
    measured by ``benchmarks/bench_insertion.py``.
    """
    opts = options if options is not None else InsertionOptions()
    if request.id in plan.requests:
        why = f"request id {request.id!r} is already in the plan; use a new id"
        return Refusal(request.id, why, "duplicate_id")
    eff, direct = _effective_direct(request, tt, now=now, options=opts)
    if isinstance(eff, Refusal):
        return eff
    if not any(
        r.vehicle.seats >= eff.passengers and r.vehicle.wheelchair_places >= eff.wheelchair
        for r in plan.routes
    ):
        return Refusal(
            request.id,
            f"no vehicle has {eff.passengers} seat(s) and {eff.wheelchair} wheelchair place(s)",
            "no_vehicle_fits",
        )
    if not any(
        max(r.vehicle.available_from, eff.earliest_pickup) + eff.pickup_service <= r.vehicle.shift_end
        and max(r.vehicle.available_from, now) <= eff.latest_pickup
        for r in plan.routes
    ):
        return Refusal(
            request.id,
            "outside hours: no vehicle is in service for a pickup between "
            f"{eff.earliest_pickup} and {eff.latest_pickup}; ask for another time",
            "outside_hours",
        )
    # When the promised window cannot depend on the planned pickup time (it is as wide as the
    # request's own window on both sides), the chosen route is evaluated once, with the promise.
    width = eff.latest_pickup - eff.earliest_pickup
    eta_free = opts.promise_before >= width and opts.promise_after >= width
    found = _search(plan, eff, tt, opts, now, index, schedule=not eta_free)
    if found is None:
        return Refusal(
            request.id,
            "no feasible time: no vehicle can fit this trip into its schedule within the requested windows",
            "no_feasible_time",
        )
    return Candidate(plan, eff, tt, opts, found, direct, index is not None)


class Candidate:
    """The cheapest insertion :func:`best_candidate` found, before its promise is made.

    ``cost`` and ``vehicle_id`` are known; :meth:`promise` makes the promise and the new plan, which is
    :func:`best_insertion`'s answer (so a caller comparing two searches promises only the one it takes).
    It reads the searched plan: call it before that plan's routes or requests change.
    """

    __slots__ = ("_direct", "_eff", "_found", "_opts", "_plan", "_shared", "_tt")

    def __init__(
        self,
        plan: Plan,
        eff: Request,
        tt: TravelTimes,
        opts: InsertionOptions,
        found: _Found,
        direct: int,
        shared: bool,
    ) -> None:
        self._plan, self._eff, self._tt, self._opts = plan, eff, tt, opts
        self._found, self._direct, self._shared = found, direct, shared

    @property
    def cost(self) -> float:
        """The insertion's cost (see the module docstring)."""
        return self._found[0]

    @property
    def vehicle_id(self) -> str:
        """The vehicle that would serve the request."""
        return self._found[2].vehicle.id

    def promise(self) -> Insertion | Refusal:
        """The promise and the new plan: :func:`best_insertion`'s answer."""
        cost, vi, route, sched, base = self._found
        return _promise(
            self._plan,
            self._eff,
            self._tt,
            self._opts,
            cost,
            vi,
            route,
            sched,
            self._direct,
            base,
            shared=self._shared,
        )


class _WithOne(Mapping[str, Request]):
    """The requests of a plan with one more (a new booking), without copying the plan's.

    The plan of an insertion found with a :class:`SearchIndex`: its caller reads it before it
    changes the mapping below (a dispatcher adopts the booking at once). Iterates as the copy it
    replaces would (the plan's requests in their order, then the new one); ``copy()`` gives a dict.
    """

    __slots__ = ("_base", "_id", "_request")

    def __init__(self, base: Mapping[str, Request], request_id: str, request: Request) -> None:
        self._base = base
        self._id = request_id
        self._request = request

    def __getitem__(self, key: str) -> Request:
        if key == self._id:
            return self._request
        return self._base[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The request of ``key``, or ``default``."""
        if key == self._id:
            return self._request
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key == self._id or key in self._base

    def __iter__(self) -> Iterator[str]:
        rid = self._id
        for key in self._base:
            if key != rid:
                yield key
        yield rid

    def __len__(self) -> int:
        return len(self._base) + (self._id not in self._base)

    def copy(self) -> dict[str, Request]:
        """The requests as a new dict."""
        base = self._base
        out = base.copy() if isinstance(base, MappingProxyType | dict) else dict(base)
        out[self._id] = self._request
        return out


def _promise(
    plan: Plan,
    eff: Request,
    tt: TravelTimes,
    opts: InsertionOptions,
    cost: float,
    vi: int,
    route: Route,
    sched: RouteSchedule | None,
    direct: int,
    base: _Base | None = None,
    *,
    shared: bool = False,
) -> Insertion | Refusal:
    vid = route.vehicle.id
    if not (0 <= vi < len(plan.routes) and plan.routes[vi].vehicle.id == vid):
        vi = next(k for k, r in enumerate(plan.routes) if r.vehicle.id == vid)
    ip = next(k for k, s in enumerate(route.stops) if s.request_id == eff.id and s.kind is StopKind.PICKUP)
    # The realistic ETA: what the vehicle will follow. Without the schedule (best_insertion's
    # eta_free) any ETA in the window gives the same promise: the earliest pickup.
    eta = sched.service_start[ip] if sched is not None else eff.earliest_pickup
    start = max(eff.earliest_pickup, eta - opts.promise_before)
    # With promise_full_width a window cut at the earliest pickup is shifted later instead.
    width_end = start + opts.promise_before + opts.promise_after if opts.promise_full_width else eta
    # No later than a direct trip (``direct``, looked up by _effective_direct) could still make
    # the latest drop-off.
    end = min(
        eff.latest_pickup,
        max(eta + opts.promise_after, width_end),
        eff.latest_dropoff - eff.pickup_service - direct,
    )
    latest_drop = min(eff.latest_dropoff, end + eff.pickup_service + eff.max_ride)
    promised = eff.with_promise(start, end, latest_drop)
    known = plan.requests
    requests: Mapping[str, Request]
    if shared:  # a SearchIndex's caller reads the plan before it changes its requests: no copy
        requests = _WithOne(known, eff.id, promised)
    else:
        # A Plan's requests are a read-only proxy: its copy() is the dict's own (dict() goes key by key).
        own = known.copy() if isinstance(known, MappingProxyType) else dict(known)
        own[eff.id] = promised
        requests = own
    if base is not None:  # the route the compiled search chose: from the profile it searched
        final, profile = schedule_inserted(base[0], route, base[1], base[2], promised, tt)
    else:
        final, profile = schedule_and_lazy_profile(route, requests, tt)
    if not final.feasible:  # pragma: no cover - the planned schedule keeps the promise by construction
        return Refusal(eff.id, f"internal: promised route failed its check ({final.reason})", "internal")
    idp = next(k for k, s in enumerate(route.stops) if s.request_id == eff.id and s.kind is StopKind.DROPOFF)
    routes = list(plan.routes)
    routes[vi] = route
    new_plan = Plan._wrap(tuple(routes), requests, tuple(u for u in plan.unassigned if u != eff.id))
    return Insertion(
        request=promised,
        vehicle_id=route.vehicle.id,
        plan=new_plan,
        pickup_window=(start, end),
        dropoff_eta=final.service_start[idp],
        latest_dropoff=latest_drop,
        cost=cost,
        schedule=final,
        profile=profile,
        direct=direct,
    )
