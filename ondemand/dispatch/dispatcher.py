"""Immediate insertion with rolling-horizon re-optimisation: the dispatcher of sim and API.

State per vehicle
-----------------
* its position (``location``, free from ``free_at``) and the riders on board;
* at most one *committed* leg: the stop it is driving to (or serving). Once a leg is
  committed it is never reordered; the vehicle the solvers see starts at that
  stop's location, available at its planned departure, with the riders on board
  after that stop;
* the *uncommitted* stops, in planned order: the only thing insertion and
  re-optimisation change.

:meth:`InsertionDispatcher.advance` commits the next leg when the planned departure
towards it has come (the planned schedule of
:func:`~ondemand.routing.solver.schedule.evaluate_route`, which delays departures as late as
the plan allows). Promises are the requests' hard windows (see
:mod:`ondemand.routing.solver.insertion`), so every plan the dispatcher accepts keeps them;
a re-optimised plan is adopted only after every route passes ``evaluate_route`` with
the dispatcher's own (promised) requests and every assigned request is still there.

Time. A vehicle without a committed leg is free from ``max(free_at, anchor)``, where
``anchor`` is the latest time the dispatcher knew when that vehicle's plan last
changed; solvers never let it leave before ``now`` (insertion and the re-optimisation
snapshot apply ``max(available_from, now)``). So a vehicle's solver route only changes
when its state does, and the caches keyed by route identity stay valid between calls.

Mid-leg diversion. With ``options.divert_mid_leg`` and travel times that can name the point
where a driving vehicle can next turn (:class:`~ondemand.routing.solver.model.Divertible`), a
booking is tried a second time with vehicles driving a committed leg starting at that point, at
the time they get there, with the committed stop back among their planned stops, so that the new
rider may be picked up before it (only vehicles for which that turn could beat the best insertion
with every leg committed; the cheaper answer wins). The leg stays committed unless the chosen
insertion needs the turn; then the vehicle is planned from the turning point (its ``location``
until ``free_at``). Where it is on its leg comes from the plan (it left when planned, at the
travel times' pace) or from its latest report (:meth:`InsertionDispatcher.record_progress`);
the same rule serves both. A scenario sets it with ``[service] divert_mid_leg``
(:class:`~ondemand.dispatch.policy.ServicePolicy`); the simulator drives to the turning point
and the live API stores the turn so that a restart plans the vehicle from there again.

For a simulator or a vehicle app: call :meth:`InsertionDispatcher.advance` at
:meth:`InsertionDispatcher.next_departure` (when a vehicle has to leave), drive to the
committed stop, and serve it at ``max(arrival, PlannedStop.eta)`` (the planned service
start, which is never before the window): that reproduces the plan exactly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from ondemand.dispatch import _turn_kernel as _tk
from ondemand.dispatch.base import (
    Assignment,
    DispatchCounts,
    DispatchOptions,
    PlannedStop,
    Reoptimiser,
    RequestStatus,
)
from ondemand.errors import EventOrderError, InfeasibleRequestError
from ondemand.routing.solver.budget import check_budget
from ondemand.routing.solver.insertion import (
    Candidate,
    GivenProfile,
    Insertion,
    Refusal,
    SearchIndex,
    TurnRows,
    best_candidate,
    insert_into_route,
)
from ondemand.routing.solver.insertion import (
    warm_up as insertion_warm_up,
)
from ondemand.routing.solver.model import (
    Divertible,
    OnboardRider,
    Plan,
    Request,
    Route,
    Stop,
    StopKind,
    TravelTimes,
    Vehicle,
)
from ondemand.routing.solver.schedule import (
    RouteSchedule,
    compiled_of_profile,
    compiled_of_schedule,
    evaluate_route,
    route_profile_with_first_stop,
    schedule_after_first_stop,
    schedule_lazy_profile_and_compiled,
)
from ondemand.routing.solver.schedule import (
    warm_up as schedule_warm_up,
)

__all__ = ["DarpReoptimiser", "InsertionDispatcher", "darp_reoptimiser", "dropoff_estimate", "warm_up"]


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the dispatcher's compiled parts now: the
    insertion search, the schedule of a route after a committed stop and the mid-leg diversion
    pre-filter. Servers and benchmarks call it at start-up."""
    insertion_warm_up()
    schedule_warm_up()
    _tk.warm_up()


def darp_reoptimiser(
    plan: Plan,
    tt: TravelTimes,
    *,
    now: int,
    time_limit: float | None = None,
    iterations: int | None = None,
    seed: int = 0,
) -> Plan:
    """The default re-optimiser: :func:`ondemand.routing.solver.darp.reoptimise`.

    OR-Tools is imported at the first call, not with the dispatcher.
    """
    from ondemand.routing.solver.darp import reoptimise

    return reoptimise(plan, tt, now=now, time_limit=time_limit, iterations=iterations, seed=seed)


def dropoff_estimate(
    request: Request, pickup_end: int, planned: int, tt: TravelTimes, *, direct: int | None = None
) -> int:
    """The drop-off time a rider is told: the planned drop-off, never before a direct ride from the
    end of the pickup window could arrive (boarding included), never after the promised latest drop-off.

    The planned drop-off alone may lie before the pickup window ends (a short ride picked up
    early in a window centred on its pickup); the rider reads the window and the estimate
    together, so the estimate holds wherever in the window the vehicle comes.
    """
    if direct is None:  # else the caller looked it up already
        direct = int(tt.durations[request.pickup, request.dropoff])
    return min(int(request.latest_dropoff), max(int(planned), pickup_end + request.pickup_service + direct))


@dataclass(frozen=True, slots=True)
class DarpReoptimiser:
    """:func:`darp_reoptimiser` with a bounded neighbourhood under a work budget.

    Parameters
    ----------
    neighbourhood
        With ``iterations`` (the simulator), at most this many vehicles are re-planned per
        call by the search (``reoptimise(..., neighbourhood=...)``: a vehicle drawn from the
        seed and ``now`` and those nearest to it); ``None``: all. A wall-clock budget (the
        live API) always re-plans the whole fleet.
    moves
        With ``iterations``, first a relocation descent over the whole fleet with at most
        this many fleet-wide insertion searches (``reoptimise(..., moves=...)``; ``0``: none).
        A wall-clock budget (the live API) never uses it.
    """

    neighbourhood: int | None = None
    moves: int = 0

    def __post_init__(self) -> None:
        n = self.neighbourhood
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"neighbourhood must be a whole number of vehicles >= 1 or None, got {n!r}")
        m = self.moves
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(f"moves must be a whole number of searches >= 0, got {m!r}")

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
        """Re-optimise ``plan`` (see :func:`ondemand.routing.solver.darp.reoptimise`)."""
        from ondemand.routing.solver.darp import reoptimise

        hood, moves = (self.neighbourhood, self.moves) if iterations is not None else (None, 0)
        return reoptimise(
            plan,
            tt,
            now=now,
            time_limit=time_limit,
            iterations=iterations,
            seed=seed,
            neighbourhood=hood,
            moves=moves,
        )


def _hms(t: int) -> str:
    """Seconds of the service day as ``HH:MM:SS`` (hours may pass 24 after midnight)."""
    sign, t = ("-", -t) if t < 0 else ("", t)
    return f"{sign}{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def _promised(found: Candidate | Refusal) -> Insertion | Refusal:
    """A search's answer with its promise made (a refusal as it is)."""
    return found if isinstance(found, Refusal) else found.promise()


_NONE = np.zeros(0, dtype=np.int64)  # the kernels' stand-in for no slack arrays
_NOT_USABLE = np.zeros(0, dtype=np.bool_)


def _pickup_and_slack(
    request: Request, slack: TurnRows | None
) -> tuple[
    int,
    int,
    int,
    bool,
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.bool_],
]:
    """The arguments of the turn kernels that say the pickup's window and service and the routes'
    slack: earliest and latest pickup, pickup service, whether there is slack, the routes' least
    service starts and forward slack node by node, where each route's nodes begin and end, which are
    feasible."""
    if slack is None:
        start, room, lo, hi, usable = _NONE, _NONE, _NONE, _NONE, _NOT_USABLE
    else:
        _, _, start, room, lo, hi, usable = slack
    return (
        request.earliest_pickup,
        request.latest_pickup,
        request.pickup_service,
        slack is not None,
        start,
        room,
        lo,
        hi,
        usable,
    )


@dataclass(slots=True)
class _Leg:
    """The committed leg: the vehicle drives to ``location`` and serves ``stop`` there."""

    location: int
    stop: Stop | None  # None: the stop was cancelled while the vehicle was on its way
    service_start: int
    departure: int
    origin: int | None = None  # where the vehicle left from (None: unknown, it cannot be diverted)
    left_at: int = 0  # when it left
    driven: tuple[int, int] | None = None  # (at, seconds of the leg driven by then), from a report
    arrived: bool = False
    drive: int = -1  # c(origin, location), once looked up (-1: not yet)


@dataclass(slots=True)
class _VehicleState:
    base: Vehicle
    location: int
    free_at: int
    leg: _Leg | None = None
    onboard: dict[str, OnboardRider] = field(default_factory=dict)
    stops: tuple[Stop, ...] = ()
    anchor: int = (
        0  # when this vehicle's plan last changed: an idle vehicle is free from max(free_at, anchor)
    )
    route: Route | None = None  # the solver route, rebuilt only when the vehicle's state changes
    previous: Route | None = None  # the route before the last change (reused when equal)
    previous_cache: tuple[Route, RouteSchedule] | None = None
    cache: tuple[Route, RouteSchedule] | None = None
    wake: int | None = None  # when advance() next has work for this vehicle (None: not known yet)
    shown: list[PlannedStop] | None = None  # the itinerary, until the vehicle's state changes
    compiled: tuple[Route, object | None] | None = None  # the last route evaluated: compiled, or its profile
    index: int = 0  # position in the fleet (and in the plan's routes)
    queued: int | None = None  # the wake-up of its newest entry still in the heap (None: not known)


def _vehicle_from(base: Vehicle, start: int, avail: int, onboard: tuple[OnboardRider, ...]) -> Vehicle:
    """The solver's vehicle: ``base`` starting at ``start``, free from ``avail``, with ``onboard``."""
    return Vehicle(
        id=base.id,
        seats=base.seats,
        start=start,
        available_from=avail,
        shift_end=max(base.shift_end, avail),
        end=base.end,
        wheelchair_places=base.wheelchair_places,
        max_route_duration=base.max_route_duration,
        onboard=onboard,
    )


_NEVER = 2**62
"""A wake-up time after every real one."""


class InsertionDispatcher:
    """Decide each request at once by insertion; re-optimise the rest on a rolling horizon.

    Parameters
    ----------
    vehicles
        The fleet at the start of the day: ``start`` and ``available_from`` give where
        and when each vehicle starts; ``onboard`` must be empty (use :meth:`restore`
        with ``picked_up_at`` to put riders on board).
    tt
        Travel times between locations.
    options
        Dispatch options (insertion options, event handling, re-optimisation).
    reoptimiser
        What :meth:`reoptimise` calls to re-plan (default:
        :func:`ondemand.routing.solver.darp.reoptimise`, imported at the first call).

    Notes
    -----
    Not thread-safe: a server must hold one lock around every call (or use
    :meth:`reoptimisation_snapshot` and :meth:`apply_reoptimised` to solve without the
    lock).
    """

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        tt: TravelTimes,
        *,
        options: DispatchOptions | None = None,
        reoptimiser: Reoptimiser | None = None,
    ) -> None:
        self._tt = tt
        self.options = options if options is not None else DispatchOptions()
        self._reoptimiser: Reoptimiser = reoptimiser if reoptimiser is not None else darp_reoptimiser
        self._vehicles: dict[str, _VehicleState] = {}
        for v in vehicles:
            if v.id in self._vehicles:
                raise ValueError(f"vehicle id {v.id!r} appears twice; give every vehicle its own id")
            if v.onboard:
                raise ValueError(
                    f"vehicle {v.id!r} has riders on board; start it empty and "
                    "put them back with restore(..., picked_up_at=...)"
                )
            self._vehicles[v.id] = _VehicleState(
                base=v, location=v.start, free_at=v.available_from, index=len(self._vehicles)
            )
        if not self._vehicles:
            raise ValueError("a dispatcher needs at least one vehicle")
        self._now: int | None = None
        self._requests: dict[str, Request] = {}  # promised requests, every status
        self._status: dict[str, RequestStatus] = {}
        self._active: dict[str, Request] = {}  # assigned or on board, in order of acceptance
        # Kept up to date per changed vehicle (not rebuilt per call): the solver routes in fleet
        # order, the vehicles changed since they were last built, and the heap of wake-up times
        # (``(wake, index)``; an entry is current while the vehicle's cached wake equals it).
        fleet = list(self._vehicles.values())
        self._fleet = fleet
        self._route_list: list[Route | None] = [None] * len(fleet)
        self._routes_tuple: tuple[Route, ...] | None = None
        self._stale: dict[int, None] = dict.fromkeys(range(len(fleet)))  # routes to rebuild
        self._unwoken: dict[int, None] = dict.fromkeys(range(len(fleet)))  # wake-ups to recompute
        self._wakes: list[tuple[int, int]] = []
        self._index = SearchIndex()  # the compiled search's arrays, updated per changed route
        # the diversion search's: its turned routes are new objects every time (so always profiled
        # again), and its plan is read before the requests change, as the index requires
        self._turn_index = SearchIndex()
        self._vehicle_of: dict[str, str] = {}
        self._snap_id = 0
        self._snapshot: tuple[int, Plan, dict[str, Route]] | None = None
        self._turns: Divertible | None = tt if isinstance(tt, Divertible) else None
        # The committed legs a vehicle might turn from, by fleet index, for a vectorised
        # pre-filter of the diversion search (:meth:`_turn_candidates`): the leg's origin (-1:
        # none), its stop's location, and its driving so far as ``base + max(0, now - since)``.
        # Refreshed for the vehicles marked in ``_legs_dirty`` (by :meth:`_touch` and
        # :meth:`record_progress`) when a search needs them.
        n = len(fleet)
        self._legs = np.zeros((_tk.ROWS, n), dtype=np.int64)  # one row per fact (see _turn_kernel.ROWS)
        self._leg_from = self._legs[_tk.FROM]  # -1: no leg to turn from
        self._leg_from[:] = -1
        self._leg_to = self._legs[_tk.TO]
        self._leg_base = self._legs[_tk.BASE]
        self._leg_since = self._legs[_tk.SINCE]
        self._leg_drive = self._legs[_tk.DRIVE]  # c(A, B): the leg's driving time
        self._leg_start = self._legs[_tk.START]  # the planned service start at B
        # whether B is a pickup whose rider's ride limit, counted from the planned start, comes
        # before the rider's latest drop-off (so picking up later can give the rider's drop-off room)
        self._leg_retime = self._legs[_tk.RETIME]
        # the committed stop's window and service time (a drop-off: the ride limit included)
        self._leg_early = self._legs[_tk.EARLY]
        self._leg_late = self._legs[_tk.LATE]
        self._leg_service = self._legs[_tk.SERVICE]
        self._legs_dirty: dict[int, None] = dict.fromkeys(range(n))
        self._has_end = np.array([vs.base.end is not None for vs in fleet], dtype=np.bool_)

    # -- views -------------------------------------------------------------------------

    @property
    def now(self) -> int | None:
        """The latest time the dispatcher has been told about (``None`` before any call)."""
        return self._now

    @property
    def reoptimiser(self) -> Reoptimiser:
        """What :meth:`reoptimise` calls to re-plan."""
        return self._reoptimiser

    @property
    def plan(self) -> Plan:
        """The plan the solvers see: uncommitted stops, vehicles at their committed stop."""
        return Plan(self._routes(), self._active)

    def _routes(self) -> tuple[Route, ...]:
        """The solver routes in fleet order, rebuilt only for the vehicles changed since the last call."""
        if self._stale or self._routes_tuple is None:
            lst, fleet = self._route_list, self._fleet
            for i in self._stale:
                lst[i] = self._route(fleet[i])
            self._index.note_changed(self._stale)  # the search index compares only these routes
            self._stale.clear()
            self._routes_tuple = tuple(lst)  # type: ignore[arg-type]  # every slot is filled now
        return self._routes_tuple

    def status(self, request_id: str) -> RequestStatus:
        """The status of a request (``KeyError`` if the dispatcher never saw it)."""
        return self._status[request_id]

    def request(self, request_id: str) -> Request:
        """The request as accepted, with its promise applied (``KeyError`` if unknown)."""
        return self._requests[request_id]

    def vehicle_of(self, request_id: str) -> str | None:
        """The vehicle serving a request, or ``None``."""
        return self._vehicle_of.get(request_id)

    def counts(self) -> DispatchCounts:
        """How many requests are in each status."""
        tally = dict.fromkeys(RequestStatus, 0)
        for st in self._status.values():
            tally[st] += 1
        return DispatchCounts(
            submitted=len(self._status),
            assigned=tally[RequestStatus.ASSIGNED],
            onboard=tally[RequestStatus.ONBOARD],
            completed=tally[RequestStatus.COMPLETED],
            cancelled=tally[RequestStatus.CANCELLED],
            no_shows=tally[RequestStatus.NO_SHOW],
            refused=tally[RequestStatus.REFUSED],
        )

    def itinerary(self, vehicle_id: str) -> list[PlannedStop]:
        """The vehicle's committed stop (if any) and its planned stops, in order."""
        vs = self._state(vehicle_id)
        if vs.shown is not None:
            return list(vs.shown)
        out: list[PlannedStop] = []
        if vs.leg is not None and vs.leg.stop is not None:
            out.append(self._planned(vs.leg.stop, vs.leg.service_start, vs.leg.departure, committed=True))
        route, sched = self._evaluate(vs)
        if sched.feasible:
            for stop, eta, dep in zip(vs.stops, sched.service_start, sched.departure, strict=True):
                out.append(self._planned(stop, eta, dep, committed=False))
        else:  # only after reality diverged from the plan (e.g. a late vehicle): as early as it can
            t, loc = route.vehicle.available_from, route.vehicle.start
            for stop in vs.stops:
                req = self._requests[stop.request_id]
                pickup = stop.kind is StopKind.PICKUP
                earliest = req.earliest_pickup if pickup else req.earliest_dropoff
                eta = max(t + int(self._tt.durations[loc, stop.location]), earliest)
                t = eta + (req.pickup_service if pickup else req.dropoff_service)
                loc = stop.location
                out.append(self._planned(stop, eta, t, committed=False))
        vs.shown = out
        return list(out)

    def next_stop(self, vehicle_id: str) -> PlannedStop | None:
        """The first stop of :meth:`itinerary` (``None`` when it is empty), without building the rest.

        The simulator's vehicles ask for it after every event; a planned route of twenty stops
        made twenty :class:`PlannedStop` objects per question where one is read.
        """
        vs = self._state(vehicle_id)
        if vs.shown is not None:
            return vs.shown[0] if vs.shown else None
        if vs.leg is not None and vs.leg.stop is not None:
            return self._planned(vs.leg.stop, vs.leg.service_start, vs.leg.departure, committed=True)
        if not vs.stops:
            return None
        _, sched = self._evaluate(vs)
        if not sched.feasible:  # only after reality diverged from the plan: the whole itinerary's rule
            return self.itinerary(vehicle_id)[0]
        return self._planned(vs.stops[0], sched.service_start[0], sched.departure[0], committed=False)

    def next_departure(self) -> int | None:
        """The earliest planned departure of a vehicle towards an uncommitted stop.

        A simulator should call :meth:`advance` at that time so that the leg is
        committed exactly when the vehicle has to leave.
        """
        best: int | None = None
        for vs in self._vehicles.values():
            if vs.leg is not None or not vs.stops:
                continue
            _, sched = self._evaluate(vs)
            if sched.feasible and (best is None or sched.start_departure < best):
                best = sched.start_departure
        return best

    # -- requests ----------------------------------------------------------------------

    def submit(self, request: Request, *, now: int) -> Assignment | Refusal:
        """Insert a new request at its cheapest feasible place, or refuse it.

        Parameters
        ----------
        request
            The request; its id must be new.
        now
            Current time.

        Returns
        -------
        Assignment | Refusal
            The promise made, or the reason for refusal.
        """
        if request.id in self._status:
            why = f"request id {request.id!r} was already submitted; use a new id"
            return Refusal(request.id, why, "duplicate_id")
        self.advance(now)
        now = max(now, self._now if self._now is not None else now)
        result, turn = self._best(request, now)
        if isinstance(result, Refusal):
            self._requests[request.id] = request
            self._set_status(request.id, RequestStatus.REFUSED)
            return result
        return self._adopt_insertion(result, turn)

    def quote(self, request: Request, *, now: int) -> Assignment | Refusal:
        """What :meth:`submit` would answer now, without booking anything.

        The dispatcher moves on to ``now`` as every call does (legs due by then are
        committed), but the request is neither inserted nor remembered: its id may be
        submitted later, when the answer may differ if the plan changed meanwhile.
        """
        self.advance(now)
        now = max(now, self._now if self._now is not None else now)
        result, _ = self._best(request, now)
        if isinstance(result, Refusal):
            return result
        return self._promise(result)

    def _promise(self, ins: Insertion) -> Assignment:
        """The promise an insertion makes (the one answer of :meth:`submit` and :meth:`quote`)."""
        eta = dropoff_estimate(
            ins.request, ins.pickup_window[1], ins.dropoff_eta, self._tt, direct=ins.direct
        )
        rid = ins.request.id
        return Assignment(rid, ins.vehicle_id, ins.pickup_window, eta, ins.latest_dropoff, ins.request)

    def _adopt_insertion(self, ins: Insertion, turn: tuple[int, int] | None = None) -> Assignment:
        vs = self._vehicles[ins.vehicle_id]
        routes = ins.plan.routes
        if vs.index < len(routes) and routes[vs.index].vehicle.id == ins.vehicle_id:
            chosen = routes[vs.index]
        else:
            chosen = ins.plan.route_of(ins.vehicle_id)
        stops = chosen.stops
        if turn is None:
            vs.stops = stops
        else:
            self._divert(vs, stops, turn, ins.plan.requests)
        self._touch(vs)
        rid = ins.request.id
        self._requests[rid] = ins.request
        self._set_status(rid, RequestStatus.ASSIGNED)
        self._vehicle_of[rid] = ins.vehicle_id
        if turn is None and ins.schedule is not None and ins.profile is not None:
            route = self._route(vs)
            if route == chosen:  # the insertion evaluated this very route: keep its schedule and profile
                vs.cache = (route, ins.schedule)
                vs.compiled = (route, ins.profile)  # its compiled form, when its first stop is committed
                self._prime(vs, route, ins.profile)
        return self._promise(ins)

    def cancel(self, request_id: str, *, now: int) -> bool:
        """Cancel a request that is not yet on board; its seat is freed at once.

        Returns ``False`` (and changes nothing) when the request is unknown, on board,
        or already finished.
        """
        if self._status.get(request_id) is not RequestStatus.ASSIGNED:
            return False
        self.advance(now)
        if self._status.get(request_id) is not RequestStatus.ASSIGNED:  # auto-completed meanwhile
            return False
        vs = self._vehicles[self._vehicle_of[request_id]]
        self._drop_stops(vs, request_id)
        self._set_status(request_id, RequestStatus.CANCELLED)
        return True

    def restore(
        self,
        request: Request,
        vehicle_id: str,
        *,
        now: int | None = None,
        picked_up_at: int | None = None,
    ) -> Assignment:
        """Put an accepted request back into its vehicle, e.g. after a restart.

        The request (with its promised windows, as in :attr:`Assignment.request`) is
        inserted at its cheapest feasible position in that vehicle only. With
        ``picked_up_at`` the rider is on board and only the drop-off is inserted.

        Raises
        ------
        InfeasibleRequestError
            When the vehicle cannot serve it any more (e.g. its window has passed).
        KeyError
            When the vehicle is unknown.
        """
        vs = self._state(vehicle_id)
        if request.id in self._status and self._status[request.id] in (
            RequestStatus.ASSIGNED,
            RequestStatus.ONBOARD,
        ):
            raise ValueError(f"request {request.id!r} is already active; restore each request once")
        if now is not None:
            self._now = now if self._now is None else max(self._now, now)
        current = self.plan if self._now is None else self._plan_at(self._now)
        route = current.route_of(vehicle_id)
        requests = dict(current.requests)
        if picked_up_at is not None:
            rider = OnboardRider(request, picked_up_at)
            vehicle = replace(route.vehicle, onboard=(*route.vehicle.onboard, rider))
            best: tuple[RouteSchedule, tuple[Stop, ...]] | None = None
            drop = Stop(request.id, StopKind.DROPOFF, request.dropoff)
            for j in range(len(vs.stops) + 1):
                stops = (*vs.stops[:j], drop, *vs.stops[j:])
                sched = evaluate_route(Route(vehicle, stops), requests, self._tt)
                if sched.feasible and (best is None or sched.drive_time < best[0].drive_time):
                    best = (sched, stops)
            if best is None:
                raise InfeasibleRequestError(
                    f"cannot restore rider {request.id!r} on board vehicle {vehicle_id!r}: "
                    "no drop-off position keeps every window; check the vehicle's position and time"
                )
            sched, stops = best
            vs.onboard[request.id] = rider
            vs.stops = stops
            self._touch(vs, new_requests=True)
            status = RequestStatus.ONBOARD
            eta = sched.service_start[stops.index(drop)]
        else:
            found = insert_into_route(route, requests, request, self._tt)
            if found is None:
                raise InfeasibleRequestError(
                    f"cannot restore request {request.id!r} into vehicle {vehicle_id!r}: no position keeps "
                    "its promised windows (has its pickup window passed?)"
                )
            new_route, sched = found
            vs.stops = new_route.stops
            self._touch(vs, new_requests=True)
            status = RequestStatus.ASSIGNED
            idx = next(
                k
                for k, s in enumerate(new_route.stops)
                if s.request_id == request.id and s.kind is StopKind.DROPOFF
            )
            eta = dropoff_estimate(request, request.latest_pickup, sched.service_start[idx], self._tt)
        self._requests[request.id] = request
        self._set_status(request.id, status)
        self._vehicle_of[request.id] = vehicle_id
        return Assignment(
            request.id,
            vehicle_id,
            (request.earliest_pickup, request.latest_pickup),
            eta,
            request.latest_dropoff,
            request,
        )

    def restore_vehicle(
        self,
        vehicle_id: str,
        stops: Sequence[tuple[Request, StopKind]],
        *,
        onboard: Mapping[str, int] | None = None,
    ) -> RouteSchedule:
        """Set a vehicle's planned stops to a saved order, e.g. the plan it ran before a restart.

        Unlike :meth:`restore` no window is checked: this is the plan the vehicle was
        following, and reality may already have broken one of its promises (a rider
        picked up before the window opened, a late vehicle); the live dispatcher held
        the same plan, so a restart must not drop the bookings in it. Requests already
        active on this vehicle keep their state and must all appear in ``stops``; new
        ones become active, on board if listed in ``onboard``.

        Parameters
        ----------
        vehicle_id
            The vehicle.
        stops
            Every open stop of the vehicle in order: a waiting request's pickup before its
            drop-off, a rider on board only by the drop-off.
        onboard
            Riders to put on board: request id -> pick-up time.

        Returns
        -------
        RouteSchedule
            The restored route's schedule (``feasible`` false: a promise is broken already).

        Raises
        ------
        ValueError
            When the stops do not form such a route, a request is active on another
            vehicle, an active request of this vehicle is missing, or the vehicle is
            driving to a committed stop (restore before :meth:`advance`).
        KeyError
            When the vehicle is unknown.
        """
        vs = self._state(vehicle_id)
        riding_new = dict(onboard or {})
        if vs.leg is not None and vs.leg.stop is not None:
            raise ValueError(
                f"vehicle {vehicle_id!r} is driving to a committed stop; restore its plan before advancing"
            )
        requests: dict[str, Request] = {}
        kinds: dict[str, list[StopKind]] = {}
        for req, kind in stops:
            if requests.setdefault(req.id, req) != req:
                raise ValueError(f"request {req.id!r} appears with two different definitions")
            kinds.setdefault(req.id, []).append(kind)
        mine = {rid for rid in self._active if self._vehicle_of.get(rid) == vehicle_id}
        for rid, ks in kinds.items():
            if rid in self._active and rid not in mine:
                other = self._vehicle_of[rid]
                raise ValueError(f"request {rid!r} is active on vehicle {other!r}, not {vehicle_id!r}")
            if rid in riding_new and rid in self._status:
                raise ValueError(f"request {rid!r} is already known; restore each request once")
            riding = rid in vs.onboard or rid in riding_new
            expected = [StopKind.DROPOFF] if riding else [StopKind.PICKUP, StopKind.DROPOFF]
            if ks != expected:
                rule = "a rider on board needs only a drop-off" if riding else "it needs pickup then drop-off"
                got = [k.value for k in ks]
                raise ValueError(f"request {rid!r} has stops {got} on {vehicle_id!r}; {rule}")
        if missing := sorted(mine - kinds.keys()):
            raise ValueError(f"the order given for {vehicle_id!r} leaves out its active requests {missing}")
        if stray := sorted(riding_new.keys() - kinds.keys()):
            raise ValueError(f"riders {stray} are put on board without a drop-off")
        for rid, at in riding_new.items():
            if rid not in vs.onboard:
                vs.onboard[rid] = OnboardRider(requests[rid], at)
        vs.stops = tuple(
            Stop(req.id, kind, req.pickup if kind is StopKind.PICKUP else req.dropoff) for req, kind in stops
        )
        self._touch(vs, new_requests=True)
        for rid, req in requests.items():
            if rid not in mine:
                self._requests[rid] = req
                self._set_status(rid, RequestStatus.ONBOARD if rid in vs.onboard else RequestStatus.ASSIGNED)
                self._vehicle_of[rid] = vehicle_id
        return self._evaluate(vs)[1]

    # -- vehicle events ----------------------------------------------------------------

    def record_arrival(self, vehicle_id: str, stop_location: int, *, at: int) -> None:
        """A vehicle reached ``stop_location`` at ``at``.

        If that is its committed stop, the stop's service start becomes
        ``max(at, planned service start)`` (never before the window) and its departure
        follows: an early vehicle waits for the planned time, a late one serves on arrival.
        """
        vs = self._state(vehicle_id)
        self._touch(vs)
        leg = vs.leg
        if leg is not None and leg.location == stop_location:
            leg.arrived = True
            if leg.stop is None:
                vs.leg = None
                vs.location, vs.free_at = stop_location, at
                return
            req = self._requests[leg.stop.request_id]
            # An early vehicle keeps the planned start (the plan may wait here to spare
            # riders a wait on board later); a late one starts on arrival.
            if leg.stop.kind is StopKind.PICKUP:
                start = max(at, leg.service_start, req.earliest_pickup)
                leg.service_start, leg.departure = start, start + req.pickup_service
            else:
                start = max(at, leg.service_start, req.earliest_dropoff)
                leg.service_start, leg.departure = start, start + req.dropoff_service
        elif leg is None:
            vs.location, vs.free_at = stop_location, max(at, vs.free_at)

    def record_pickup(self, request_id: str, *, at: int) -> None:
        """The riders of a request boarded; service started at ``at``.

        Raises
        ------
        ValueError
            When the request is not waiting for pickup.
        EventOrderError
            When ``at`` is before the request was booked, or the vehicle has no room for
            the riders (drop-offs not reported yet); nothing changes.
        """
        if self._status.get(request_id) is not RequestStatus.ASSIGNED:
            raise ValueError(f"request {request_id!r} is not waiting for pickup; cannot record a pickup")
        req = self._requests[request_id]
        if at < req.booked_at:
            raise EventOrderError(
                f"request {request_id!r}: a pick-up at {_hms(at)} is before it was booked "
                f"({_hms(req.booked_at)}); report the time the riders boarded"
            )
        vs = self._vehicles[self._vehicle_of[request_id]]
        seated = chairs = 0
        for r in vs.onboard.values():
            seated += r.request.passengers
            chairs += r.request.wheelchair
        if seated + req.passengers > vs.base.seats or chairs + req.wheelchair > vs.base.wheelchair_places:
            raise EventOrderError(
                f"request {request_id!r}: vehicle {vs.base.id!r} has {seated} of {vs.base.seats} seats and "
                f"{chairs} of {vs.base.wheelchair_places} wheelchair places taken, no room for "
                f"{req.passengers} more; report the drop-offs of the riders who have left first"
            )
        self._remove_stop(vs, request_id, StopKind.PICKUP)
        vs.onboard[request_id] = OnboardRider(req, at)
        vs.location, vs.free_at = req.pickup, at + req.pickup_service
        self._set_status(request_id, RequestStatus.ONBOARD)

    def record_dropoff(self, request_id: str, *, at: int) -> None:
        """The riders of a request alighted; service started at ``at``.

        Raises
        ------
        ValueError
            When the request is not on board.
        EventOrderError
            When ``at`` is before the pick-up.
        """
        if self._status.get(request_id) is not RequestStatus.ONBOARD:
            raise ValueError(f"request {request_id!r} is not on board; cannot record a drop-off")
        req = self._requests[request_id]
        vs = self._vehicles[self._vehicle_of[request_id]]
        boarded = vs.onboard[request_id].picked_up_at
        if at < boarded:
            raise EventOrderError(
                f"request {request_id!r}: a drop-off at {_hms(at)} is before its pick-up ({_hms(boarded)}); "
                "report the time the riders alighted"
            )
        self._remove_stop(vs, request_id, StopKind.DROPOFF)
        del vs.onboard[request_id]
        vs.location, vs.free_at = req.dropoff, at + req.dropoff_service
        self._set_status(request_id, RequestStatus.COMPLETED)

    def record_no_show(self, request_id: str, *, at: int) -> None:
        """The rider did not come; their seat is freed and the drop-off removed.

        Raises
        ------
        ValueError
            When the request is not waiting for pickup.
        EventOrderError
            When ``at`` is before the (promised) pickup window opens: the rider still has time.
        """
        if self._status.get(request_id) is not RequestStatus.ASSIGNED:
            raise ValueError(f"request {request_id!r} is not waiting for pickup; cannot record a no-show")
        req = self._requests[request_id]
        if at < req.earliest_pickup:
            raise EventOrderError(
                f"request {request_id!r}: a no-show at {_hms(at)} is before its pickup window opens "
                f"({_hms(req.earliest_pickup)}); wait for the window before reporting a no-show"
            )
        vs = self._vehicles[self._vehicle_of[request_id]]
        leg = vs.leg
        at_pickup = leg is not None and leg.stop is not None and leg.stop.request_id == request_id
        self._drop_stops(vs, request_id)
        if at_pickup:
            vs.leg = None
            vs.location, vs.free_at = req.pickup, at
        self._set_status(request_id, RequestStatus.NO_SHOW)

    # -- time --------------------------------------------------------------------------

    def advance(self, now: int) -> None:
        """Commit, for every vehicle, the next leg whose planned departure is not after ``now``.

        The departure is taken from the plan as it stood before ``now`` (the vehicle
        followed its plan). If a vehicle's plan has become infeasible (reality
        diverged, e.g. it reported a late arrival), its next stop is committed at once
        so that it heads there as early as possible. With ``options.auto_complete``, committed stops whose
        planned departure has passed are completed as planned, and the next legs
        committed in turn.
        """
        if self._now is not None and now < self._now:
            now = self._now  # time never runs backwards; late callers see the current state
        for vs in self._due(now):
            for _ in range(2 * len(vs.stops) + 2):
                leg = vs.leg
                if leg is not None:
                    if self.options.auto_complete and leg.departure <= now:
                        self._complete_leg(vs, leg)
                        continue
                    break
                if not vs.stops:
                    break
                route, sched = self._evaluate(vs)
                if len(sched.service_start) != len(vs.stops):
                    break  # malformed route (cannot happen through this class's own methods)
                if sched.feasible and sched.start_departure > now:
                    break
                # Feasible: leave at the planned time. Infeasible (reality diverged from the plan,
                # e.g. a late vehicle): head for the next stop at once, as early as possible.
                stop = vs.stops[0]
                left = sched.start_departure if sched.feasible else max(now, vs.free_at)
                vs.leg = _Leg(
                    stop.location,
                    stop,
                    sched.service_start[0],
                    sched.departure[0],
                    origin=vs.location,
                    left_at=left,
                )
                vs.stops = vs.stops[1:]
                self._touch(vs)
                if vs.stops and sched.feasible:
                    # The route from the committed stop, scheduled and profiled in one pass now: the
                    # next search profiles it, and the stop's completion as planned reuses it.
                    self._evaluate_after_commit(vs, route, sched)
            self._unwoken[vs.index] = None  # its wake-up is looked at again next time
        if self._now is None or now > self._now:
            self._now = now

    def _due(self, now: int) -> list[_VehicleState]:
        """The vehicles whose wake-up time is not after ``now``, in fleet order.

        Event-driven: only vehicles changed since the last call get their wake-up time
        (:meth:`_wake`) computed again; the others wait in a heap until their time comes.
        """
        heap, fleet = self._wakes, self._fleet
        for i in self._unwoken:
            vs = fleet[i]
            wake = self._wake(vs)
            if wake < _NEVER and wake != vs.queued:  # (an entry with that time waits already)
                heapq.heappush(heap, (wake, i))
                vs.queued = wake
        self._unwoken.clear()
        due: dict[int, None] = {}
        while heap and heap[0][0] <= now:
            wake, i = heapq.heappop(heap)
            vs = fleet[i]
            if vs.queued == wake:
                vs.queued = None  # (if an older entry had the same time, the next change pushes again)
            if vs.wake is None:  # the cache was cleared without a change: look again
                current = self._wake(vs)
                if current > now:
                    if current < _NEVER:
                        heapq.heappush(heap, (current, i))
                        vs.queued = current
                    continue
            elif vs.wake != wake:
                continue  # an older entry of a vehicle changed since
            due[i] = None
        return [fleet[i] for i in sorted(due)]

    def _complete_leg(self, vs: _VehicleState, leg: _Leg) -> None:
        if leg.stop is None:
            vs.leg = None
            vs.location, vs.free_at = leg.location, leg.service_start
            self._touch(vs)
        elif leg.stop.kind is StopKind.PICKUP:
            self.record_pickup(leg.stop.request_id, at=leg.service_start)
        else:
            self.record_dropoff(leg.stop.request_id, at=leg.service_start)

    # -- re-optimisation ---------------------------------------------------------------

    def reoptimise(self, *, now: int, time_limit: float | None = None, iterations: int | None = None) -> bool:
        """Re-plan every uncommitted stop with :attr:`reoptimiser`.

        Give exactly one budget: ``time_limit`` (seconds of wall clock, the live API) or
        ``iterations`` (a work budget: the same state and ``options.seed`` give the same
        plan on any machine, the simulator). The new plan is adopted only if every route passes
        :func:`~ondemand.routing.solver.schedule.evaluate_route` with the promised requests,
        every assigned request is still served by exactly one vehicle, committed legs
        are untouched and (with ``options.require_improvement``) it costs no more.

        Returns
        -------
        bool
            Whether a new plan was adopted.
        """
        check_budget(time_limit, iterations)  # before the snapshot changes any state
        snapshot, version = self.reoptimisation_snapshot(now=now)
        if not any(r.stops for r in snapshot.routes):
            return False
        candidate = self._reoptimiser(
            snapshot,
            self._tt,
            now=now,
            time_limit=time_limit,
            iterations=iterations,
            seed=self.options.seed,
        )
        return self.apply_reoptimised(candidate, version=version)

    def reoptimisation_snapshot(self, *, now: int) -> tuple[Plan, int]:
        """The plan to re-optimise and a version number for :meth:`apply_reoptimised`.

        Vehicles without a committed leg are available no earlier than ``now`` in it.
        Only the latest snapshot can be applied.
        """
        self.advance(now)
        at = self._now if self._now is not None else now
        self._snap_id += 1
        plan = self._plan_at(at)
        routes = {vid: self._route(vs) for vid, vs in self._vehicles.items()}
        self._snapshot = (self._snap_id, plan, routes)
        return plan, self._snap_id

    def apply_reoptimised(self, plan: Plan, *, version: int, require_improvement: bool | None = None) -> bool:
        """Adopt a re-optimised plan where it still applies, if it keeps every promise.

        Vehicles whose state changed since the snapshot (a booking, a cancellation, an
        event, a committed leg) keep their current route; the others take the new one.
        The merged plan is then checked as a whole against the current state
        (:meth:`check_candidate`): feasible with the promised windows, every active
        request served exactly once, and (with ``require_improvement``, by default
        ``options.require_improvement``) no dearer.

        Returns
        -------
        bool
            Whether any route changed.
        """
        snap = self._snapshot
        if snap is None or snap[0] != version:
            return False
        _, then, routes_then = snap
        theirs = {r.vehicle.id: r for r in plan.routes}
        if len(theirs) != len(plan.routes) or set(theirs) != set(self._vehicles):
            return False
        now = self._now if self._now is not None else 0
        current = self._plan_at(now)
        merged: list[Route] = []
        for route in current.routes:
            vid = route.vehicle.id
            if self._route(self._vehicles[vid]) is routes_then[vid]:
                if theirs[vid].vehicle != then.route_of(vid).vehicle:
                    return False  # the solver changed a vehicle (start, time, riders, limits)
                merged.append(Route(route.vehicle, theirs[vid].stops))
            else:
                merged.append(route)
        candidate = Plan(tuple(merged), current.requests)
        if self._check_candidate(current, candidate, require_improvement=require_improvement) is not None:
            return False
        changed = False
        for route in candidate.routes:
            vs = self._vehicles[route.vehicle.id]
            if vs.stops != route.stops:
                vs.stops = route.stops
                self._touch(vs)
                changed = True
            for s in route.stops:
                self._vehicle_of[s.request_id] = route.vehicle.id
        return changed

    def check_candidate(self, plan: Plan) -> str | None:
        """Why ``plan`` may not replace the current plan, or ``None`` if it may."""
        at = self._now if self._now is not None else 0
        return self._check_candidate(self._plan_at(at), plan)

    def _check_candidate(
        self, current: Plan, plan: Plan, *, require_improvement: bool | None = None
    ) -> str | None:
        ours = {r.vehicle.id: r for r in current.routes}
        theirs = {r.vehicle.id: r for r in plan.routes}
        if len(theirs) != len(plan.routes) or set(theirs) != set(ours):
            return "the plan's vehicles differ from the dispatcher's"
        needed: set[str] = set()
        for r in current.routes:
            needed.update(s.request_id for s in r.stops)
        seen: dict[str, str] = {}
        old_cost = new_cost = 0
        use_time = self.options.improvement_metric == "time"
        for vid, route in theirs.items():
            if route.vehicle != ours[vid].vehicle:
                return f"vehicle {vid!r} was changed (start, time, riders on board or limits)"
            for s in route.stops:
                if s.request_id not in current.requests:
                    return f"request {s.request_id!r} is not one of the dispatcher's active requests"
                owner = seen.setdefault(s.request_id, vid)
                if owner != vid:
                    return f"request {s.request_id!r} is served by two vehicles"
            sched = evaluate_route(route, current.requests, self._tt)
            if not sched.feasible:
                return f"vehicle {vid!r}: {sched.reason}"
            old = self._evaluate(self._vehicles[vid])[1]
            old_cost += old.drive_time if use_time else old.distance
            new_cost += sched.drive_time if use_time else sched.distance
        missing = needed - set(seen)
        if missing:
            return f"requests {sorted(missing)} were dropped"
        for rid, vid in seen.items():
            if self._vehicle_of.get(rid) != vid and self._status.get(rid) is RequestStatus.ONBOARD:
                return f"rider {rid!r} is on board {self._vehicle_of.get(rid)!r}, not {vid!r}"
        if require_improvement is None:
            require_improvement = self.options.require_improvement
        if require_improvement and new_cost > old_cost:
            return f"the plan costs {new_cost}, more than the current {old_cost}"
        return None

    # -- mid-leg diversion -------------------------------------------------------------

    def record_progress(self, vehicle_id: str, driven_s: int, *, at: int) -> None:
        """A vehicle reported that it had driven ``driven_s`` seconds of its committed leg at ``at``.

        Where it can turn next is then counted from this report (at the leg's pace) instead of
        from its planned departure; a vehicle not driving a committed leg ignores it. The
        simulator reports each departure; the live API passes on a position event's ``driven_s``.
        """
        vs = self._state(vehicle_id)
        leg = vs.leg
        if leg is not None and not leg.arrived and driven_s >= 0:
            leg.driven = (int(at), int(driven_s))
            self._legs_dirty[vs.index] = None

    def _best(self, request: Request, now: int) -> tuple[Insertion | Refusal, tuple[int, int] | None]:
        """The best insertion of a booking, and the turning point it needs (``None``: no turn).

        First with every leg committed; then, with ``options.divert_mid_leg``, again with the
        driving vehicles that could beat it by turning toward the pickup diverted
        (:meth:`_divertible_plan`); the second answer is taken only if it is cheaper.
        """
        opts = self.options.insertion
        # The plan over the live table of active requests (no copy): it is only read during the search.
        live = Plan._wrap(self._routes(), self._active)
        first = best_candidate(live, request, self._tt, now=now, options=opts, index=self._index)
        if isinstance(first, Refusal):
            first = self._busy_is_not_closed(first, request, now)
        if not (self.options.divert_mid_leg and self._turns is not None):
            return _promised(first), None
        bound = math.inf if isinstance(first, Refusal) else first.cost
        plan, turns = self._divertible_plan(now, request, bound)
        if not turns:
            return _promised(first), None
        # Only the diverted vehicles: the others are as in the first search, which they cannot
        # beat, so the cheapest insertion strictly cheaper than the first is among these. Only the
        # answer taken is promised (the searched plans are unchanged until then).
        other = best_candidate(plan, request, self._tt, now=now, options=opts, index=self._turn_index)
        if isinstance(other, Refusal) or (not isinstance(first, Refusal) and other.cost >= first.cost):
            return _promised(first), None
        taken = other.promise()
        if isinstance(taken, Refusal):  # pragma: no cover - the promise keeps the route feasible
            return _promised(first), None
        return taken, turns.get(taken.vehicle_id)

    def _busy_is_not_closed(self, result: Refusal, request: Request, now: int) -> Refusal:
        """``no_feasible_time`` for an ``outside_hours`` refusal when a vehicle's shift covers the window.

        The solver sees a vehicle driving a committed leg as available only from that leg's
        end, which it cannot tell from a shift that has not begun; the shifts of the day
        (:attr:`_VehicleState.base`) can: the service runs then, its vehicles are busy.
        """
        if result.code != "outside_hours":
            return result
        earliest = max(request.earliest_pickup, now)
        for vs in self._vehicles.values():
            v = vs.base
            if (
                v.available_from <= request.latest_pickup
                and max(v.available_from, earliest) + request.pickup_service <= v.shift_end
                and v.seats >= request.passengers
                and v.wheelchair_places >= request.wheelchair
            ):
                why = (
                    "no feasible time: the vehicles in service then are busy and none can fit this trip "
                    "into its schedule within the requested windows"
                )
                return Refusal(request.id, why, "no_feasible_time")
        return result

    def _refresh_legs(self) -> None:
        """Bring the turn pre-filter's arrays up to date for the vehicles changed since last time."""
        legs = self._legs
        for i in self._legs_dirty:
            leg = self._fleet[i].leg
            if leg is None or leg.stop is None or leg.arrived or leg.origin in (None, leg.location):
                legs[_tk.FROM, i] = -1
                continue
            if leg.driven is None:
                since, base = leg.left_at, 0
            else:
                since, base = leg.driven
            drive = leg.drive
            if drive < 0:  # once per leg (a vehicle is refreshed again for every change behind it)
                drive = leg.drive = int(self._tt.durations[leg.origin, leg.location])
            rid = leg.stop.request_id
            req = self._requests[rid]
            retime = False
            if leg.stop.kind is StopKind.PICKUP:
                early, late, service = req.earliest_pickup, req.latest_pickup, req.pickup_service
                retime = leg.service_start + req.pickup_service + req.max_ride < req.latest_dropoff
            else:
                early, late, service = req.earliest_dropoff, req.latest_dropoff, req.dropoff_service
                rider = self._fleet[i].onboard.get(rid)
                if rider is not None:
                    late = min(late, rider.picked_up_at + req.pickup_service + req.max_ride)
            legs[:, i] = _tk.column(
                origin=leg.origin,
                stop=leg.location,
                base=base,
                since=since,
                drive=drive,
                start=leg.service_start,
                retime=retime,
                early=early,
                late=late,
                service=service,
                reported=leg.driven is not None,
            )
        self._legs_dirty.clear()

    def _turn_candidates(
        self, now: int, request: Request, bound: float, slack: TurnRows | None
    ) -> NDArray[np.int64]:
        """Fleet indices of the driving vehicles that might beat ``bound`` by turning toward the pickup.

        Vectorised over the fleet, without placing any turning point. A vehicle that left ``A``
        for ``B`` and has driven ``e`` s turns at a point ``P`` with ``c(A, P) <= e + wait``
        (it is on the way, reached ``wait`` s from now), so by the triangle inequality of
        shortest travel times it cannot reach the pickup ``p`` before ``now + c(A, p) - e``, and
        (with ``cost="time"``) turning adds at least ``c(A, p) + c(p, B) - c(A, B)``, the detour
        from the leg's origin. A second of slack on each bound absorbs rounding to whole seconds.
        The committed stop ``B`` is then reached no earlier than ``p``'s service and ``c(p, B)``
        later (a drop-off on the way only adds), which must keep ``B``'s own window and push
        the rest of the route no more than its ``slack`` (the least departure from ``B`` and how
        much later it may be, by fleet index: the first search's profiles, when the index holds
        them). The same tests on the turning point itself (:meth:`_turns_may_pay`) follow for
        those kept.
        """
        kernels = _tk.kernels()
        idx: NDArray[np.int64]
        idx, rows, cols = kernels.candidate_look_ups(self._legs, request.pickup)
        if not idx.size:
            return idx
        # c(A, p), c(p, B) and c(B, p) of every such vehicle in one look-up
        got = np.asarray(self._tt.durations[rows, cols], dtype=np.int64)
        # Kept whatever the pickup's tests say: a vehicle that might reach B before its planned
        # start (ahead of its plan by a report, or planned to wait there), and one bound for a
        # pickup whose rider's ride limit binds and that could still reach the new rider after it
        # (planned from the turning point, that pickup may move later in its window, which gives
        # its rider's drop-off room): either may also gain with the new rider after B. (No second
        # of slack in the first test: a vehicle on its plan would always look a second early.)
        use_bound = self.options.insertion.cost == "time" and math.isfinite(bound)
        kept: NDArray[np.int64] = kernels.keep_candidates(
            self._legs,
            idx,
            np.ascontiguousarray(got),
            now,
            *_pickup_and_slack(request, slack),
            use_bound,
            float(bound),
        )
        return kept

    def _divertible_plan(
        self, now: int, request: Request, bound: float
    ) -> tuple[Plan, dict[str, tuple[int, int]]]:
        """The driving vehicles that could beat ``bound`` by turning toward the pickup, each planned
        from where it can next turn, its committed stop first among the planned ones; and those
        turning points.

        The vehicles are those of :meth:`_turn_candidates` whose turning points pass
        :meth:`_turns_may_pay`. The plan holds only them (in fleet order), over the active requests.
        """
        turns: dict[str, tuple[int, int]] = {}
        routes: list[Route] = []
        self._refresh_legs()
        fleet_routes = self._routes()
        slack = self._index.turn_rows(fleet_routes)
        candidates = self._turn_candidates(now, request, bound, slack)
        if not candidates.size:
            return Plan._wrap((), self._active), turns
        # Where and when each can next turn: a vehicle that has driven ``e`` s of its leg from A to B
        # (counted from its latest report, else from its planned departure) and not all of it turns
        # where the travel times say (``turn_point(A, B, e)``: the point and the wait for it, counted
        # from now after a report, else from no earlier than the departure), unless that is B itself.
        turn_point = self._turns.turn_point  # type: ignore[union-attr]  # (_best calls only with turns)
        got_idx, origin, target, elapsed, base = _tk.kernels().turn_inputs(self._legs, candidates, now)
        found: list[int] = []
        points: list[int] = []
        ats: list[int] = []
        for i, a, b, e, t in zip(
            got_idx.tolist(), origin.tolist(), target.tolist(), elapsed.tolist(), base.tolist(), strict=True
        ):
            got = turn_point(a, b, e)
            if got is None:
                continue
            point = int(got[0])
            if point != b:
                found.append(i)
                points.append(point)
                ats.append(t + max(0, int(got[1])))
        if not found:
            return Plan._wrap((), self._active), turns
        idx = np.array(found, dtype=np.int64)
        may = self._turns_may_pay(
            idx, np.array(points, dtype=np.int64), np.array(ats, dtype=np.int64), request, bound, slack
        )
        for k, pays in enumerate(may.tolist()):
            if not pays:
                continue
            i = found[k]
            vs = self._fleet[i]
            leg = vs.leg
            assert leg is not None
            assert leg.stop is not None
            point, at = turn = points[k], ats[k]
            # the solver's vehicle (_route's but for its start, its time and who is on board)
            vehicle = _vehicle_from(vs.base, point, at, tuple(vs.onboard.values()))
            turned = Route(vehicle, (leg.stop, *vs.stops))
            travel = int(self._tt.durations[point, leg.location])
            rows = self._index.route_rows(fleet_routes, i)
            if rows is None:
                # From the turning point it reaches its stop by the planned start, so it can keep
                # its plan (waiting there if early); if not (a late report), only if still feasible.
                late = at + travel > leg.service_start
                if late and not evaluate_route(turned, self._active, self._tt).feasible:
                    continue
            else:
                # Profiled from the route it drives now, as the first search holds it (the second
                # would profile it from scratch); ``None``: infeasible, which it would leave out.
                profile = route_profile_with_first_stop(rows, turned, self._active, self._tt, travel)
                if profile is None:
                    continue
                self._turn_index.prime(len(routes), turned, self._tt, profile)
            routes.append(turned)
            turns[vehicle.id] = turn
        return Plan._wrap(tuple(routes), self._active), turns

    def _turns_may_pay(
        self,
        idx: NDArray[np.int64],
        points: NDArray[np.int64],
        ats: NDArray[np.int64],
        request: Request,
        bound: float,
        slack: TurnRows | None,
    ) -> NDArray[np.bool_]:
        """Per vehicle ``idx[k]`` turning at ``points[k]`` (reached at ``ats[k]``): whether picking the
        rider up first from there can keep the windows and cost less than ``bound`` —
        :meth:`_turn_candidates`' tests, exact on the turning point (one look-up for all of them).

        Every turn must cost less than ``bound`` the rider's pickup from the turning point ``P``,
        ``c(P, p) + c(p, B) - c(P, B)`` (``c``: the insertion's cost measure; every other term of
        the cost is not negative). A vehicle that reaches its committed stop ``B`` from ``P`` no
        earlier than planned gains nothing from picking the rider up after ``B`` (that is the
        committed leg again, which the first search covered) unless ``B`` is a pickup whose
        rider's ride limit binds (moved later in its window, it gives that rider's drop-off room)
        and the new rider can still be reached after it (then only the bound applies); otherwise
        the pickup comes before ``B``:
        it must keep the pickup's and ``B``'s windows and the route's slack, and (time costs)
        the drop-off's least detour, right after the pickup or anywhere after ``B``, is added.
        """
        kernels = _tk.kernels()
        time_cost = self.options.insertion.cost == "time"
        # With time costs and a bound, the drop-off's least detour is added for those that fit: its
        # travel times are looked up with the turning points' (for every vehicle with a feasible
        # route in the index, whether it fits or not), in one look-up.
        with_drop = slack is not None and time_cost and math.isfinite(bound)
        loc, travel, _, _, lo, hi, usable = (
            slack if slack is not None else (_NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NOT_USABLE)
        )
        rows, cols = kernels.turn_look_ups(
            self._legs, idx, points, request.pickup, request.dropoff, loc, lo, hi, usable, with_drop
        )
        got = np.ascontiguousarray(self._tt.durations[rows, cols], dtype=np.int64)
        if time_cost:
            cost = got
        else:
            three = 3 * len(idx)
            cost = np.ascontiguousarray(self._tt.distances[rows[:three], cols[:three]], dtype=np.int64)
        out: NDArray[np.bool_] = kernels.turn_tests(
            self._legs,
            idx,
            ats,
            got,
            cost,
            *_pickup_and_slack(request, slack),
            float(bound),
            with_drop,
            travel,
            self._has_end,
        )
        return out

    def _divert(
        self,
        vs: _VehicleState,
        stops: tuple[Stop, ...],
        turn: tuple[int, int],
        requests: Mapping[str, Request],
    ) -> None:
        """Adopt ``stops``, planned from the turning point ``turn`` of the vehicle's committed leg.

        When the committed stop is still first and the rest keeps every window from the leg as
        committed, the leg stays (the vehicle drives on); otherwise the vehicle is planned from
        the turning point (``location``, free from its time) and the stop is planned again.
        """
        leg = vs.leg
        if leg is not None and stops and stops[0] == leg.stop:
            route = Route(self._solver_vehicle(vs), stops[1:])
            active = {s.request_id: requests[s.request_id] for s in stops[1:]}
            if evaluate_route(route, active, self._tt).feasible:
                vs.stops = stops[1:]
                return
        vs.leg = None
        vs.location, vs.free_at = turn
        vs.stops = stops

    # -- internals ---------------------------------------------------------------------

    def _state(self, vehicle_id: str) -> _VehicleState:
        try:
            return self._vehicles[vehicle_id]
        except KeyError:
            raise KeyError(f"no vehicle {vehicle_id!r}; known vehicles: {sorted(self._vehicles)}") from None

    def _solver_start(self, vs: _VehicleState) -> tuple[int, int, tuple[OnboardRider, ...]]:
        """Where and when the solver's vehicle starts, and who is on board then (the rest of the
        solver's vehicle is the vehicle's own, :attr:`_VehicleState.base`)."""
        leg = vs.leg
        if leg is None:
            return vs.location, max(vs.free_at, vs.anchor), tuple(vs.onboard.values())
        stop = leg.stop
        if stop is None:
            return leg.location, leg.departure, tuple(vs.onboard.values())
        onboard = dict(vs.onboard)
        if stop.kind is StopKind.PICKUP:
            onboard[stop.request_id] = OnboardRider(self._requests[stop.request_id], leg.service_start)
        else:
            onboard.pop(stop.request_id, None)
        return leg.location, leg.departure, tuple(onboard.values())

    def _solver_vehicle(self, vs: _VehicleState) -> Vehicle:
        return _vehicle_from(vs.base, *self._solver_start(vs))

    def _set_status(self, request_id: str, status: RequestStatus) -> None:
        self._status[request_id] = status
        if status is RequestStatus.ASSIGNED or status is RequestStatus.ONBOARD:
            self._active[request_id] = self._requests[request_id]
        else:
            self._active.pop(request_id, None)

    def _touch(self, vs: _VehicleState, *, new_requests: bool = False) -> None:
        """Mark a vehicle's state as changed: its solver route and schedule are rebuilt on demand.

        ``new_requests``: a request object of the route may have changed (a restore), so the
        route before the change may not be reused even when its stops are equal (the search
        index and the schedule cache key on route identity).
        """
        if vs.route is not None:
            vs.previous = vs.route
            vs.previous_cache = vs.cache
        if new_requests:
            vs.previous = vs.previous_cache = None
        vs.route = None
        vs.cache = None
        vs.wake = None
        vs.shown = None
        self._stale[vs.index] = None
        self._unwoken[vs.index] = None
        self._legs_dirty[vs.index] = None
        vs.anchor = vs.free_at if self._now is None else max(vs.free_at, self._now)

    def _wake(self, vs: _VehicleState) -> int:
        """The earliest ``now`` at which :meth:`advance` changes this vehicle (cached until it changes).

        Mirrors :meth:`advance`'s loop: a committed leg completes at its departure (with
        ``auto_complete``, else never); the next stop is committed at the planned departure
        towards it, or at once when the plan has become infeasible.
        """
        if vs.wake is not None:
            return vs.wake
        leg = vs.leg
        if leg is not None:
            wake = leg.departure if self.options.auto_complete else _NEVER
        elif not vs.stops:
            wake = _NEVER
        else:
            _, sched = self._evaluate(vs)
            if len(sched.service_start) != len(vs.stops):
                wake = _NEVER
            else:
                wake = sched.start_departure if sched.feasible else -_NEVER
        vs.wake = wake
        return wake

    def _route(self, vs: _VehicleState) -> Route:
        """The solver's route of a vehicle; the same object while nothing changed (insertion caches by it)."""
        route = vs.route
        if route is not None:
            return route
        start, avail, onboard = self._solver_start(vs)
        # An event that changes nothing for the solver (e.g. a pickup at its planned time)
        # keeps the route object, so cached profiles and schedules stay valid. The route before
        # was built here from the same ``base``, so its vehicle is equal when these fields are.
        previous = vs.previous
        if previous is not None:
            pv = previous.vehicle
            if (
                pv.start == start
                and pv.available_from == avail
                and previous.stops == vs.stops
                and pv.onboard == onboard
            ):
                vs.cache = vs.previous_cache
                vs.route = previous
                return previous
        vs.route = route = Route(_vehicle_from(vs.base, start, avail, onboard), vs.stops)
        return route

    def _plan_at(self, now: int) -> Plan:
        """:attr:`plan` with vehicles that have no committed leg available no earlier than ``now``."""
        plan = self.plan
        routes = []
        for route in plan.routes:
            v = route.vehicle
            if self._vehicles[v.id].leg is None and v.available_from < now:
                v = replace(v, available_from=now, shift_end=max(v.shift_end, now))
                route = Route(v, route.stops)
            routes.append(route)
        return Plan(tuple(routes), plan.requests)

    def _prime(self, vs: _VehicleState, route: Route, profile: GivenProfile) -> None:
        """Give the next search the profile of ``vs``'s solver route ``route``, computed here."""
        self._index.prime(vs.index, route, self._tt, profile)

    def _evaluate(self, vs: _VehicleState) -> tuple[Route, RouteSchedule]:
        route = self._route(vs)
        if vs.cache is not None and vs.cache[0] is route:
            return vs.cache
        # Every request of the stops is in ``_requests`` (all the solvers read of it are those).
        sched, profile, compiled = schedule_lazy_profile_and_compiled(route, self._requests, self._tt)
        self._prime(vs, route, profile)  # for the next search
        vs.cache = (route, sched)
        vs.compiled = (route, compiled)
        return vs.cache

    def _evaluate_after_commit(self, vs: _VehicleState, old: Route, before: RouteSchedule) -> None:
        """:meth:`_evaluate` of a vehicle that has just committed the first stop of ``old`` (its
        solver route before, whose feasible schedule is ``before``), derived from ``old``'s compiled
        form: the one at hand, or else the one its schedule gives (a booking's route, scheduled by
        the search, was never compiled here)."""
        leg = vs.leg
        if leg is not None:
            kept = vs.compiled
            compiled = kept[1] if kept is not None and kept[0] is old else None
            if callable(compiled):  # a booking's profile (its search's): the form its rows hold
                compiled = compiled_of_profile(compiled, before.distance)
            if compiled is None:
                compiled = compiled_of_schedule(old, self._requests, before)
            route = self._route(vs)
            got = schedule_after_first_stop(old, compiled, route, self._requests, self._tt, leg.service_start)
            if got is not None:
                sched, profile, compiled = got
                self._prime(vs, route, profile)
                vs.cache = (route, sched)
                vs.compiled = (route, compiled)
                return
        self._evaluate(vs)

    def _planned(self, stop: Stop, eta: int, departure: int, *, committed: bool) -> PlannedStop:
        req = self._requests[stop.request_id]
        if stop.kind is StopKind.PICKUP:
            window = (req.earliest_pickup, req.latest_pickup)
        else:
            window = (req.earliest_dropoff, req.latest_dropoff)
        return PlannedStop(
            stop.request_id,
            stop.kind,
            stop.location,
            eta,
            window,
            committed=committed,
            departure=departure,
            passengers=req.passengers,
            wheelchair=req.wheelchair,
        )

    def _remove_stop(self, vs: _VehicleState, request_id: str, kind: StopKind) -> None:
        leg = vs.leg
        if (
            leg is not None
            and leg.stop is not None
            and leg.stop.request_id == request_id
            and leg.stop.kind is kind
        ):
            vs.leg = None
        else:
            vs.stops = tuple(s for s in vs.stops if not (s.request_id == request_id and s.kind is kind))
        self._touch(vs)

    def _drop_stops(self, vs: _VehicleState, request_id: str) -> None:
        """Remove every stop of a request; a committed leg to it becomes a plain drive."""
        leg = vs.leg
        if leg is not None and leg.stop is not None and leg.stop.request_id == request_id:
            leg.stop = None
            leg.departure = leg.service_start
        vs.stops = tuple(s for s in vs.stops if s.request_id != request_id)
        self._touch(vs)
