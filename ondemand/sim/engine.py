"""The SimPy simulator: one service day of vehicles, riders and the dispatcher.

Processes
---------
- *Bookings*: each trip of the demand is submitted to the dispatcher at its booking
  time (bookings made before midnight arrive at time 0, in booking order); the dispatcher
  answers at once with a promise or a refusal.
- *Riders*: an accepted rider may cancel at their cancellation time (while not yet picked
  up); a no-show rider is simply not at the meeting point when the vehicle comes.
- *Vehicles*: each follows the head of the dispatcher's itinerary (``dispatcher.next_stop(vehicle_id)``):
  it leaves a stop so as to reach the next one at its planned time, drives the road path
  (position reports every ``position_every_s``), waits for the planned pickup time (never
  before the promised window), boards or alights riders (service times from the request)
  and reports exactly what a live vehicle would report — arrival, pickup, drop-off,
  no-show — through ``record_*``; before it leaves, ``advance(now)`` lets the dispatcher
  commit the leg. After its shift, with nothing left to do, it drives back to its depot.
- *Re-optimiser*: every ``service.reoptimise_every_s`` the dispatcher re-optimises the
  plan (rolling horizon, ``reoptimise(now=..., iterations=service.reoptimise_iterations)``:
  relocations over the whole fleet, then a search over a neighbourhood of vehicles, see
  :class:`~ondemand.dispatch.policy.ServicePolicy`): a work budget, not a time limit, so the
  same scenario and seed give the same day on any machine and under any load.

Every service rule (requests and their windows, the promise, the fleet and its depot,
walking, re-optimisation) comes from the :class:`~ondemand.dispatch.policy.ServicePolicy`,
the same object the live API follows. The simulator uses only the
:class:`~ondemand.dispatch.Dispatcher` protocol.

The output is the list of :mod:`ondemand.sim.events`, in time order. The simulator never
changes the plan itself: everything it knows about the plan comes from the dispatcher.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import simpy

from ondemand.dispatch import Assignment, Dispatcher
from ondemand.dispatch.policy import Booking, ClockText, ServicePolicy
from ondemand.errors import InvalidRequestError
from ondemand.routing.geo.geodesy import haversine_m
from ondemand.routing.solver.model import (
    BookingKind,
    Divertible,
    Request,
    StopKind,
    TravelTimes,
    Vehicle,
)
from ondemand.scenario import FareParams, Scenario
from ondemand.sim.demand import DemandModel, StopLike, SyntheticDemand, TripRequest
from ondemand.sim.events import (
    BookingLost,
    Event,
    NoShow,
    RequestAssigned,
    RequestCancelled,
    RequestReassigned,
    RequestRefused,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleArrived,
    VehicleDeparted,
    VehiclePosition,
)

__all__ = [
    "SimArea",
    "SimResult",
    "default_dispatcher",
    "fare_table",
    "make_request",
    "run_day",
    "simulate",
    "trip_booking",
]


class PathLike(Protocol):
    """A road path (``ondemand.routing.geo.matrix.RoadPath``): geometry and cumulative seconds."""

    @property
    def duration(self) -> int: ...

    def position_at(self, seconds: float) -> tuple[float, float]: ...


class SimArea(Protocol):
    """What the simulator needs of a service area (``ondemand.routing.geo.area.ServiceArea``)."""

    @property
    def stops(self) -> Sequence[Any]: ...

    @property
    def matrix(self) -> TravelTimes: ...

    def path(self, i: int, j: int) -> Any:
        """The road path from stop ``i`` to ``j`` (``position_at``, ``duration``); with mid-leg
        diversion either may be a turning point ``len(stops) + network node``."""
        ...


DispatcherFactory = Callable[[Sequence[Vehicle], TravelTimes, ServicePolicy], Dispatcher]
"""``(vehicles, travel_times, policy) -> dispatcher`` (default :func:`default_dispatcher`)."""


@dataclass(frozen=True)
class SimResult:
    """A simulated day: its events, and what produced them."""

    scenario: Scenario | None
    seed: int
    events: tuple[Event, ...]
    stops: tuple[Any, ...]
    trips: tuple[TripRequest, ...]
    wall_seconds: float
    fleet: int
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def fare_table(stops: Sequence[StopLike], fares: FareParams) -> list[int | None]:
    """Per stop, the special fare that applies there (highest one), or None."""
    out: list[int | None] = []
    for s in stops:
        best: int | None = None
        for sp in fares.special:
            if haversine_m(float(s.lon), float(s.lat), sp.lon, sp.lat) <= sp.radius_m:
                best = sp.fare_jpy if best is None else max(best, sp.fare_jpy)
        out.append(best)
    return out


def trip_booking(trip: TripRequest) -> Booking:
    """The booking a simulated rider makes (what the live API receives as a booking body)."""
    return Booking(
        id=trip.id,
        pickup=trip.pickup_stop,
        dropoff=trip.dropoff_stop,
        kind=trip.kind,
        pickup_at=trip.requested_pickup,
        dropoff_by=trip.dropoff_by,
        passengers=trip.passengers,
        wheelchair=trip.wheelchair,
        channel=trip.channel or None,
    )


def channel_intake(
    trips: Sequence[TripRequest], policy: ServicePolicy, date: _dt.date
) -> tuple[list[TripRequest], dict[str, str]]:
    """Apply the booking channels' hours to a day's trips (:meth:`BookingRules.intake`).

    A booking made while its channel is open is unchanged. One made while it is closed is
    taken when the channel next opens (``outside_hours = "next_open"``): an as-soon-as-possible
    ride then starts from that time; a ride booked for a time is lost when the channel opens
    too late for it (after the pickup time less the channel's ``min_lead_s``, or after the
    service day). Under ``"lost"`` it is lost. Trips without a channel are unchanged.

    Returns
    -------
    trips, lost
        The trips (lost ones included, unchanged) sorted by booking time, and the reason
        each lost trip was lost, by id.
    """
    rules = policy.rules
    midnight = _dt.datetime.combine(date, _dt.time())
    out: list[TripRequest] = []
    lost: dict[str, str] = {}
    for trip in trips:
        if not trip.channel:
            out.append(trip)
            continue
        channel = rules.channel(trip.channel)
        when = midnight + _dt.timedelta(seconds=trip.booked_at)
        taken = rules.intake(trip.channel, when)
        if taken is None:
            lost[trip.id] = f"booked at {when:%a %H:%M} while {channel.describe()} was closed (rule: lost)"
            out.append(trip)
            continue
        at = int((taken - midnight).total_seconds())
        if at == trip.booked_at:
            out.append(trip)
            continue
        queued = f"booked at {when:%a %H:%M}; {channel.name} opens {taken:%a %H:%M}"
        if trip.kind is BookingKind.ASAP:
            if at >= policy.end:
                lost[trip.id] = f"{queued}, after the service day"
                out.append(trip)
                continue
            pickup = at + trip.walk_to_s
        else:
            pickup = trip.requested_pickup
            if at > pickup - channel.min_lead_s:
                lost[trip.id] = f"{queued}, too late for the ride"
                out.append(trip)
                continue
        cancel = None if trip.cancel_at is None else max(trip.cancel_at, at)
        out.append(dataclasses.replace(trip, booked_at=at, requested_pickup=pickup, cancel_at=cancel))
    out.sort(key=lambda r: (r.booked_at, r.id))
    return out, lost


def make_request(
    trip: TripRequest, tt: TravelTimes, policy: ServicePolicy, *, now: int, clock: ClockText | None = None
) -> Request:
    """The dispatcher's :class:`Request` for a trip booked at ``now`` (:meth:`ServicePolicy.request`).

    Raises
    ------
    InvalidRequestError
        When the policy cannot take the booking as made (the simulator reports a refusal;
        ``clock`` writes the times in its message).
    """
    return policy.request(trip_booking(trip), tt, now=now, clock=clock)


# --------------------------------------------------------------------------- the day


class _Day:
    def __init__(
        self,
        *,
        area: SimArea,
        policy: ServicePolicy,
        fares: FareParams,
        trips: Sequence[TripRequest],
        dispatcher: Dispatcher,
        vehicles: Sequence[Vehicle],
        depot: int,
        position_every_s: int,
        on_progress: Callable[[int], None] | None,
        clock: ClockText,
        lost: dict[str, str] | None = None,
    ) -> None:
        self.lost = lost or {}
        self.env = simpy.Environment()
        self.area = area
        self.stops = area.stops
        self.tt = area.matrix
        self.dur = self.tt.durations  # indexed only: dense or answered on demand
        self.dist = self.tt.distances
        self.policy = policy
        self.clock = clock
        self.trips = {t.id: t for t in trips}
        self.order = list(trips)
        self.disp = dispatcher
        self.vehicles = list(vehicles)
        self.depot = depot
        self.pos_every = position_every_s
        self.on_progress = on_progress
        self.events: list[Event] = []
        self.state: dict[str, str] = {}
        self.requests: dict[str, Request] = {}
        self.submitted = 0  # bookings made so far
        self.wake: dict[str, simpy.Event] = {v.id: self.env.event() for v in vehicles}
        self.onboard: dict[str, int] = {v.id: 0 for v in vehicles}
        self.special = fare_table(self.stops, fares)
        self.flat = fares.flat_jpy
        self._paths: dict[tuple[int, int], Any] = {}
        self.dirty = True
        self.last_advance: int | None = None
        self.vehicle_of: dict[str, str] = {}
        self.suspect: set[str] = set()
        # mid-leg diversion: vehicles drive ready to turn when the policy allows it and the
        # travel times can name turning points (else every leg stays committed, as before)
        self.divert = bool(policy.service.divert_mid_leg) and isinstance(self.tt, Divertible)
        self.n_stops = len(self.stops)
        self.node_of: Callable[[int], int] | None = getattr(self.tt, "node_of", None)

    # -- plumbing
    @property
    def now(self) -> int:
        return int(self.env.now)

    def emit(self, ev: Event) -> None:
        self.events.append(ev)

    def poke(self, vid: str | None = None) -> None:
        """Wake one vehicle (its plan changed) or all of them (``None``)."""
        self.dirty = True
        for v, ev in self.wake.items():
            if (vid is None or v == vid) and not ev.triggered:
                ev.succeed()

    def advance(self) -> None:
        """``dispatcher.advance(now)``, once per instant unless the dispatcher changed since."""
        if self.dirty or self.last_advance != self.now:
            self.disp.advance(self.now)
            self.last_advance = self.now
            self.dirty = False

    def _fresh_wake(self, vid: str) -> simpy.Event:
        if self.wake[vid].triggered:
            self.wake[vid] = self.env.event()
        return self.wake[vid]

    def fare(self, trip: TripRequest) -> int:
        sp = [f for f in (self.special[trip.pickup_stop], self.special[trip.dropoff_stop]) if f is not None]
        per = max(sp) if sp else self.flat
        return per * trip.passengers

    def path(self, i: int, j: int) -> Any:
        """The road path between two points of the travel times (turning points included)."""
        key = (self.point(i), self.point(j))
        if key not in self._paths:
            self._paths[key] = self.area.path(*key)
        return self._paths[key]

    def point(self, p: int) -> int:
        """A point of the travel times as events name it: a stop index, or for a turning point
        past the stops ``len(stops) + network node`` (the travel times number turning points in
        the order they name them, which depends on earlier days sharing them)."""
        if p < self.n_stops or self.node_of is None:
            return p
        return self.n_stops + int(self.node_of(p))

    # -- bookings and riders
    def bookings(self) -> Generator[simpy.Event, Any, None]:
        for trip in self.order:
            at = max(0, trip.booked_at)
            if at > self.now:
                yield self.env.timeout(at - self.now)
            now = self.now
            self.submitted += 1
            if trip.id in self.lost:
                self.emit(
                    BookingLost(
                        t=now,
                        request_id=trip.id,
                        channel=trip.channel,
                        passengers=trip.passengers,
                        reason=self.lost[trip.id],
                    )
                )
                continue
            req: Request | None
            try:
                req = make_request(trip, self.tt, self.policy, now=now, clock=self.clock)
            except InvalidRequestError as exc:  # the policy refuses it as booked, as the API would
                req, invalid = None, str(exc)
            else:
                self.requests[trip.id] = req
            self.emit(
                RequestSubmitted(
                    t=now,
                    request_id=trip.id,
                    booking=trip.kind.value,
                    requested_pickup=max(now, trip.requested_pickup) if req is None else req.earliest_pickup,
                    pickup_stop=trip.pickup_stop,
                    dropoff_stop=trip.dropoff_stop,
                    passengers=trip.passengers,
                    wheelchair=trip.wheelchair,
                    direct_s=int(self.dur[trip.pickup_stop, trip.dropoff_stop]),
                    direct_m=int(self.dist[trip.pickup_stop, trip.dropoff_stop]),
                    walk_to_m=trip.walk_to_m,
                    walk_from_m=trip.walk_from_m,
                    origin_lon=trip.origin[0],
                    origin_lat=trip.origin[1],
                    dest_lon=trip.destination[0],
                    dest_lat=trip.destination[1],
                    fare_jpy=self.fare(trip),
                    older=trip.older,
                )
            )
            if req is None:
                self.state[trip.id] = "refused"
                self.emit(RequestRefused(t=now, request_id=trip.id, reason=invalid, code="invalid"))
                if self.on_progress is not None:
                    self.on_progress(now)
                continue
            answer = self.disp.submit(req, now=now)
            self.dirty = True
            if isinstance(answer, Assignment):
                pw = answer.pickup_window
                self.state[trip.id] = "assigned"
                self.emit(
                    RequestAssigned(
                        t=now,
                        request_id=trip.id,
                        vehicle_id=str(answer.vehicle_id),
                        pickup_start=int(pw[0]),
                        pickup_end=int(pw[1]),
                        dropoff_eta=int(answer.dropoff_eta),
                        latest_dropoff=int(answer.latest_dropoff),
                    )
                )
                self.vehicle_of[trip.id] = str(answer.vehicle_id)
                if trip.cancel_at is not None:
                    self.env.process(self.canceller(trip))
                self.poke(str(answer.vehicle_id))
            else:
                self.state[trip.id] = "refused"
                why = self.policy.explain(answer, req, self.tt, now=now, clock=self.clock)
                self.emit(RequestRefused(t=now, request_id=trip.id, reason=why, code=answer.code))
            if self.on_progress is not None:
                self.on_progress(now)

    def canceller(self, trip: TripRequest) -> Generator[simpy.Event, Any, None]:
        assert trip.cancel_at is not None
        if trip.cancel_at > self.now:
            yield self.env.timeout(trip.cancel_at - self.now)
        if self.state.get(trip.id) != "assigned":
            return
        if self.disp.cancel(trip.id, now=self.now):
            self.state[trip.id] = "cancelled"
            self.emit(RequestCancelled(t=self.now, request_id=trip.id))
            vid = self.vehicle_of[trip.id]
            self.suspect.add(vid)  # the vehicle may be committed to the cancelled stop
            self.poke(vid)
        self.dirty = True

    def reoptimiser(self) -> Generator[simpy.Event, Any, None]:
        """Re-optimise every ``reoptimise_every_s`` with the work budget ``reoptimise_iterations``.

        A work budget, not the live API's time limit, so the day does not depend on the
        machine's speed or load.
        """
        policy = self.policy
        iterations = policy.reoptimise_iterations
        if policy.reoptimise_every_s <= 0 or iterations <= 0:
            return
        every = policy.reoptimise_every_s
        t = policy.start + every
        while t < policy.end:
            yield self.env.timeout(t - self.now)
            if self.disp.reoptimise(now=self.now, iterations=iterations):
                self._note_reassignments()
                self.poke()
            self.dirty = True
            t += every

    def _note_reassignments(self) -> None:
        """After a re-optimisation, record requests that moved to another vehicle."""
        for rid, old in sorted(self.vehicle_of.items()):
            if self.state.get(rid) != "assigned":
                continue
            new = self.disp.vehicle_of(rid)
            if new is not None and str(new) != old:
                self.vehicle_of[rid] = str(new)
                self.emit(
                    RequestReassigned(t=self.now, request_id=rid, from_vehicle=old, to_vehicle=str(new))
                )

    # -- vehicles
    def _wait(self, vid: str, until: int) -> Generator[simpy.Event, Any, None]:
        wake = self._fresh_wake(vid)
        yield self.env.any_of([self.env.timeout(max(0, until - self.now)), wake])

    def _drive(self, vid: str, a: int, b: int) -> Generator[simpy.Event, Any, int]:
        """Drive from ``a`` to ``b``; returns where the vehicle is at the end (``b``, or the
        point where the dispatcher turned it mid-leg: see :meth:`_drive_divertible`)."""
        if self.divert:
            return (yield from self._drive_divertible(vid, a, b))
        duration = int(self.dur[a, b])
        self.emit(
            VehicleDeparted(
                t=self.now,
                vehicle_id=vid,
                from_stop=a,
                to_stop=b,
                onboard=self.onboard[vid],
                duration_s=duration,
                distance_m=int(self.dist[a, b]),
            )
        )
        path = self.path(a, b) if self.pos_every > 0 else None
        scale = (path.duration / duration) if (path is not None and duration > 0) else 1.0
        elapsed = 0
        while elapsed < duration:
            step = duration - elapsed if self.pos_every <= 0 else min(self.pos_every, duration - elapsed)
            yield self.env.timeout(step)
            elapsed += step
            if path is not None and elapsed < duration:
                lon, lat = path.position_at(elapsed * scale)
                self.emit(VehiclePosition(self.now, vid, round(lon, 6), round(lat, 6), self.onboard[vid]))
        self._arrive(vid, b)
        return b

    def _arrive(self, vid: str, b: int) -> None:
        s = self.stops[b]
        if self.pos_every > 0:
            self.emit(
                VehiclePosition(
                    self.now, vid, round(float(s.lon), 6), round(float(s.lat), 6), self.onboard[vid]
                )
            )
        self.emit(VehicleArrived(t=self.now, vehicle_id=vid, stop=b))
        self.disp.record_arrival(vid, b, at=self.now)
        self.dirty = True

    def _drive_divertible(self, vid: str, a: int, b: int) -> Generator[simpy.Event, Any, int]:
        """Drive from ``a`` to ``b`` ready to turn (``service.divert_mid_leg``).

        The vehicle reports its departure to the dispatcher (``record_progress``: 0 s driven
        now), so that the turning point it names is where this vehicle really is. Woken while
        driving (its plan changed), it asks whether the dispatcher turned it: then it drives on
        to the turning point, reaching it when the dispatcher planned, and the leg's
        ``VehicleDeparted`` record is rewritten to the leg driven (to the turning point, its
        time and distance), so that kilometres, hours and map lines follow the real path; the
        next leg departs from the turning point (numbered after the stops). No arrival is
        reported there: it is not a stop, and the dispatcher already has the vehicle free there.
        """
        start = self.now
        duration = int(self.dur[a, b])
        k = len(self.events)
        self.emit(
            VehicleDeparted(
                t=start,
                vehicle_id=vid,
                from_stop=self.point(a),
                to_stop=self.point(b),
                onboard=self.onboard[vid],
                duration_s=duration,
                distance_m=int(self.dist[a, b]),
            )
        )
        if duration > 0:
            self.disp.record_progress(vid, 0, at=start)
        path = self.path(a, b) if self.pos_every > 0 else None
        scale = (path.duration / duration) if (path is not None and duration > 0) else 1.0
        end, target = start + duration, b
        report = start + self.pos_every if self.pos_every > 0 else end
        while self.now < end:
            until = min(report, end)
            wake = self._fresh_wake(vid)
            yield self.env.any_of([self.env.timeout(until - self.now), wake])
            if wake.triggered and target == b:  # the plan changed: did the dispatcher turn it?
                turn = self._turned(vid, b)
                if turn is not None:
                    target, end = turn[0], max(turn[1], self.now)
                    dep = self.events[k]
                    assert isinstance(dep, VehicleDeparted)
                    self.events[k] = dataclasses.replace(
                        dep,
                        to_stop=self.point(target),
                        duration_s=end - start,
                        distance_m=int(self.dist[a, target]),
                    )
            if self.now < until:
                continue
            if path is not None and self.now == report and self.now < end:
                lon, lat = path.position_at((self.now - start) * scale)
                self.emit(VehiclePosition(self.now, vid, round(lon, 6), round(lat, 6), self.onboard[vid]))
            if self.now >= report:
                report += self.pos_every if self.pos_every > 0 else 0
        if target == b:
            self._arrive(vid, b)
        elif path is not None:
            lon, lat = path.position_at((self.now - start) * scale)
            self.emit(VehiclePosition(self.now, vid, round(lon, 6), round(lat, 6), self.onboard[vid]))
        self.dirty = True
        return target

    def _turned(self, vid: str, b: int) -> tuple[int, int] | None:
        """The turning point and time if the dispatcher turned the vehicle off its leg to ``b``."""
        head = self.disp.next_stop(vid)
        if head is not None and head.committed and int(head.location) == b:
            return None
        vehicle = self.disp.plan.route_of(vid).vehicle
        if int(vehicle.start) == b:
            return None  # the leg's stop was cancelled: it drives on to it
        return int(vehicle.start), int(vehicle.available_from)

    def vehicle(self, veh: Vehicle) -> Generator[simpy.Event, Any, None]:
        vid = veh.id
        loc = veh.start
        if veh.available_from > self.now:
            yield self.env.timeout(veh.available_from - self.now)
        self.emit(ShiftStarted(t=self.now, vehicle_id=vid, stop=loc))
        guard = 0
        while True:
            guard += 1
            if guard > 1_000_000:  # pragma: no cover - a dispatcher that never converges
                raise RuntimeError(f"vehicle {vid}: itinerary does not progress")
            self.advance()
            head = self.disp.next_stop(vid)
            if head is None:
                committed_at = self._cancelled_leg(vid, loc)
                if committed_at is not None:  # a committed leg whose stop was cancelled
                    loc = yield from self._drive(vid, loc, committed_at)
                    continue
                if self.now >= veh.shift_end and self._no_more_bookings():
                    break
                yield from self._wait(vid, veh.shift_end if self.now < veh.shift_end else self.now + 600)
                continue
            target = int(head.location)
            if not head.committed:
                # A committed leg whose stop was cancelled first: the dispatcher has the
                # vehicle on its way there since the leg's departure and plans the next stop
                # from there, so it leaves now, not when the next stop would be due.
                committed_at = self._cancelled_leg(vid, loc)
                if committed_at is not None:
                    loc = yield from self._drive(vid, loc, committed_at)
                    continue
                # Leave so as to arrive at the planned service start; the dispatcher has
                # committed the leg by then (its planned departure is not later).
                until = int(head.eta) - int(self.dur[loc, target])
                if until > self.now:
                    yield from self._wait(vid, until)
                    continue
            if target != loc:
                loc = yield from self._drive(vid, loc, target)
                continue
            rid = str(head.request_id)
            if self.state.get(rid) not in ("assigned", "onboard"):
                raise RuntimeError(
                    f"vehicle {vid}: the dispatcher's itinerary lists request {rid!r}, "
                    f"which is {self.state.get(rid)!r}"
                )
            kind = head.kind
            req = self.requests[rid]
            trip = self.trips[rid]
            if kind is StopKind.PICKUP:
                # Follow the plan: board at its planned start (an early vehicle waits for it),
                # never before the promised window.
                start = max(int(head.window[0]), int(head.eta))
                if start > self.now:
                    yield from self._wait(vid, start)
                    continue
                if trip.no_show:
                    self.state[rid] = "no_show"
                    self.emit(NoShow(t=self.now, request_id=rid, vehicle_id=vid, stop=loc))
                    self.disp.record_no_show(rid, at=self.now)
                    self.dirty = True
                    continue
                self.state[rid] = "onboard"
                self.onboard[vid] += req.passengers
                self.emit(
                    RiderPickedUp(
                        t=self.now,
                        request_id=rid,
                        vehicle_id=vid,
                        stop=loc,
                        passengers=req.passengers,
                        wheelchair=req.wheelchair,
                        boarded_at=self.now + req.pickup_service,
                        onboard=self.onboard[vid],
                    )
                )
                self.disp.record_pickup(rid, at=self.now)
                self.dirty = True
                if req.pickup_service > 0:
                    yield self.env.timeout(req.pickup_service)
            else:
                self.state[rid] = "served"
                self.onboard[vid] -= req.passengers
                self.emit(
                    RiderDroppedOff(
                        t=self.now,
                        request_id=rid,
                        vehicle_id=vid,
                        stop=loc,
                        passengers=req.passengers,
                        alighted_at=self.now + req.dropoff_service,
                        onboard=self.onboard[vid],
                    )
                )
                self.disp.record_dropoff(rid, at=self.now)
                self.dirty = True
                if req.dropoff_service > 0:
                    yield self.env.timeout(req.dropoff_service)
        home = veh.end if veh.end is not None else self.depot
        if loc != home:
            loc = yield from self._drive(vid, loc, home)
        self.emit(ShiftEnded(t=self.now, vehicle_id=vid, stop=home))

    def _cancelled_leg(self, vid: str, loc: int) -> int | None:
        """Where to drive to finish a committed leg whose stop was cancelled, if anywhere.

        Asked only after a cancellation of one of the vehicle's requests (the one way a
        committed leg loses its stop), since building the plan costs O(fleet). The
        dispatcher's solver start is where the vehicle is committed to go; when that is
        where it already stands, the arrival is reported again so the empty leg closes.
        """
        if vid not in self.suspect:
            return None
        self.suspect.discard(vid)
        start = int(self.disp.plan.route_of(vid).vehicle.start)
        if start == loc:
            self.disp.record_arrival(vid, loc, at=self.now)
            self.dirty = True
            return None
        return start

    def _no_more_bookings(self) -> bool:
        return self.submitted == len(self.order)

    def run(self) -> list[Event]:
        self.env.process(self.bookings())
        self.env.process(self.reoptimiser())
        for v in self.vehicles:
            self.env.process(self.vehicle(v))
        self.env.run()
        # Stable time order: events were appended in simulation order already.
        return self.events


def run_day(
    *,
    area: SimArea,
    policy: ServicePolicy,
    fares: FareParams,
    trips: Sequence[TripRequest],
    dispatcher_factory: DispatcherFactory | None = None,
    depot: int | None = None,
    scenario_name: str = "custom",
    seed: int = 0,
    date: str = "",
    cost_per_vehicle_hour_jpy: int | None = None,
    position_every_s: int = 60,
    on_progress: Callable[[int], None] | None = None,
) -> list[Event]:
    """Simulate one day on an area with a dispatcher; the low-level entry point.

    Parameters
    ----------
    area
        Stops, travel-time matrix and road paths (:class:`SimArea`).
    policy
        The service's rules (:meth:`ServicePolicy.from_scenario`): fleet, depot, requests,
        promise, re-optimisation.
    fares
        The scenario's fares.
    trips
        The day's demand.
    dispatcher_factory
        ``(vehicles, travel_times, policy) -> dispatcher`` (default :func:`default_dispatcher`).
    depot
        Stop index where vehicles start and end (default: the policy's depot).
    position_every_s
        Period of position reports while driving (0: none, and no road paths needed).
    date
        ``YYYY-MM-DD`` of the day; when given, the booking channels' hours apply
        (:func:`channel_intake`).

    Returns
    -------
    list of Event
        The events in time order.
    """
    dep = policy.depot(area.stops) if depot is None else depot
    vehicles = policy.vehicles(area.stops, depot=dep)
    dispatcher = (dispatcher_factory or default_dispatcher)(vehicles, area.matrix, policy)
    lost: dict[str, str] = {}
    if date:
        trips, lost = channel_intake(trips, policy, _dt.date.fromisoformat(date))
    day = _Day(
        area=area,
        policy=policy,
        fares=fares,
        trips=trips,
        lost=lost,
        dispatcher=dispatcher,
        vehicles=vehicles,
        depot=dep,
        position_every_s=position_every_s,
        on_progress=on_progress,
        clock=ClockText(_dt.date.fromisoformat(date)) if date else ClockText(),
    )
    head = SimulationStarted(
        t=0,
        scenario=scenario_name,
        seed=seed,
        date=date,
        fleet=policy.fleet,
        service_start=policy.start,
        service_end=policy.end,
        cost_per_vehicle_hour_jpy=(
            fares.operating_cost_per_vehicle_hour_jpy
            if cost_per_vehicle_hour_jpy is None
            else cost_per_vehicle_hour_jpy
        ),
    )
    return [head, *day.run()]


def default_dispatcher(vehicles: Sequence[Vehicle], tt: TravelTimes, policy: ServicePolicy) -> Dispatcher:
    """The service's dispatcher (:meth:`ServicePolicy.dispatcher`), as the live API builds it."""
    return policy.dispatcher(vehicles, tt)


def _day_date(scenario: Scenario, date: str | None) -> str:
    """The simulated date: the given one (a service day), else the first service day from
    2024-01-15 (a Monday), or from the start of the scenario's ``service.period`` when that
    day is outside it.

    Raises
    ------
    ScenarioError
        When the date is not ``YYYY-MM-DD`` or the service does not run that day.
    """
    from ondemand.errors import ScenarioError

    cal = ServicePolicy.from_scenario(scenario).rules.calendar
    if date:
        try:
            day = _dt.date.fromisoformat(date)
        except ValueError as exc:
            raise ScenarioError(f"date {date!r} is not YYYY-MM-DD") from exc
        why = cal.closed_reason(day)
        if why is not None:
            raise ScenarioError(
                f"date {date} ({day:%A}): {scenario.name} does not run that day: {why}; pick a service day"
            )
        return date
    start = _dt.date(2024, 1, 15)
    period = scenario.service.period
    if period is not None and not (period[0] <= start <= period[1]):
        start = period[0]
    first = cal.next_service_day(start)
    if first is None:
        raise ScenarioError(f"{scenario.name}: the service calendar has no service day from {start}")
    return first.isoformat()


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    fleet: int | None = None,
    riders_per_day: float | None = None,
    demand: DemandModel | None = None,
    area: SimArea | None = None,
    dispatcher_factory: DispatcherFactory | None = None,
    date: str | None = None,
    data_dir: Path | None = None,
    position_every_s: int = 60,
    reoptimise: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> SimResult:
    """Simulate one service day of a scenario.

    Parameters
    ----------
    scenario
        The scenario (:func:`ondemand.scenario.load_scenario`).
    seed
        Seed of the demand (and of the re-optimiser).
    fleet, riders_per_day
        Overrides of the scenario's fleet size and mean riders a day (for sweeps).
    demand
        Demand model (default :class:`SyntheticDemand` of the scenario).
    area
        Service area (default :meth:`Scenario.service_area <ondemand.scenario.Scenario.service_area>`).
    dispatcher_factory
        Default :func:`default_dispatcher`.
    date
        ``YYYY-MM-DD`` of the simulated day (recorded in the events).
    position_every_s
        Period of vehicle position reports (0: none).
    reoptimise
        Keep the scenario's rolling-horizon re-optimisation (``False``: insertion only).
        Either way the day is reproducible: the re-optimiser works to the scenario's
        work budget (``service.reoptimise_iterations``), not to a time limit.
    on_progress
        Called with the simulation clock (seconds from midnight) as the day advances (the CLI
        draws its progress bar with it).

    Returns
    -------
    SimResult
    """
    t0 = time.perf_counter()
    policy = ServicePolicy.from_scenario(scenario, fleet=fleet, reoptimise=reoptimise)
    if area is None:
        area = scenario.service_area(data_dir=data_dir)
    model = (
        demand
        if demand is not None
        else SyntheticDemand(scenario, data_dir=data_dir, riders_per_day=riders_per_day)
    )
    trips = model.trips(area.stops, seed=seed)
    day = _day_date(scenario, date)
    events = run_day(
        area=area,
        policy=policy,
        fares=scenario.fares,
        trips=trips,
        dispatcher_factory=dispatcher_factory,
        scenario_name=scenario.name,
        seed=seed,
        date=day,
        position_every_s=position_every_s,
        on_progress=on_progress,
    )
    return SimResult(
        scenario=scenario,
        seed=seed,
        events=tuple(events),
        stops=tuple(area.stops),
        trips=tuple(trips),
        wall_seconds=time.perf_counter() - t0,
        fleet=policy.fleet,
    )


def iter_type(events: Sequence[Event], cls: type[Any]) -> Iterator[Any]:
    """Events of one class, in order."""
    return (e for e in events if isinstance(e, cls))
