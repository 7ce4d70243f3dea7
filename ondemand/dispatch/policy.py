"""The service policy: every rule of a service that the simulator and the live API share.

One frozen :class:`ServicePolicy` is built from a scenario (:meth:`ServicePolicy.from_scenario`)
and both drivers ask it, never the scenario, how to

* turn a booking (as soon as possible, leave at, arrive by) into a
  :class:`~ondemand.routing.solver.model.Request` with its windows, ride-time limit and
  service times (:meth:`ServicePolicy.request`);
* promise a pickup window (:meth:`ServicePolicy.insertion_options`);
* build the fleet and say where it starts (:meth:`ServicePolicy.vehicles`,
  :meth:`ServicePolicy.depot`) and the dispatcher that serves it
  (:meth:`ServicePolicy.dispatcher`);
* measure a walk to a meeting point (:class:`Walking`, :attr:`ServicePolicy.walking`);
* re-optimise (:attr:`ServicePolicy.reoptimise_every_s`, :attr:`ServicePolicy.reoptimise_time_limit_s`
  live, :attr:`ServicePolicy.reoptimise_iterations` simulated);
* tell service days and booking channels' hours (:attr:`ServicePolicy.rules`, a
  :class:`~ondemand.dispatch.calendar.BookingRules`: public holidays, closures, channel hours,
  bookings outside them queued or lost).

The rules
---------
Windows. A ride is ready to be picked up at its *requested pickup*: for as-soon-as-possible
rides the booking time plus the rider's walk to the stop (:meth:`Walking.ready_at`), for rides booked to
leave at a time that time; never before the booking. The pickup window runs from there to
``service.max_wait_s`` later. The ride may take ``max(ceil(max_detour * direct), direct +
min_extra_ride_s)`` (``direct``: the direct drive), so the latest drop-off is the latest pickup
plus boarding plus that. An *arrive-by* ride gives the latest drop-off instead: the pickup
window is the ``max_wait_s`` before the latest pickup from which the longest allowed ride
still arrives in time; when that starts before the booking, it runs from the booking to the
latest pickup from which a direct ride still arrives in time.

Service times. Boarding takes ``boarding_s`` per passenger, alighting ``alighting_s``; a
wheelchair adds ``wheelchair_boarding_s`` to each.

Promise. Every accepted ride is promised a pickup window ``service.pickup_window_s`` wide
around the planned pickup, centred on it, but never starting before the requested pickup:
a window that would is shifted later, so rides booked for a time get the full width from
that time (only the request's own latest pickup or drop-off can cut a window). Costs weigh
the rider's wait and ride by ``service.wait_weight``/``ride_weight``.

Fleet. Vehicles ``v1`` … ``vN`` (``N = service.fleet``), each with ``service.seats`` seats
and ``service.wheelchair_places`` wheelchair places, start at the depot at ``service.start``
and end their shift at ``service.end``. The depot is a stop id, or ``"centre"``: the stop
nearest (great circle) the mean position of all stops.

Walking. A walk to or from a meeting point is the great-circle distance
(:func:`ondemand.routing.geo.geodesy.haversine_m`) times ``demand.walk_circuity`` (1.25 in
every shipped scenario: streets are not straight), rounded to whole metres, and it takes
``ceil(metres / demand.walking_speed_mps)`` seconds. Places further than ``demand.max_walk_m``
(walking metres) from every meeting point are not served.

Channels. A booking made through a channel with ``min_lead_s`` (e.g. pilot 3's app: up to
10 minutes before the ride) is picked up no earlier than that long after it is made.

Re-optimisation. Every ``service.reoptimise_every_s`` the whole plan is re-optimised; the
live API gives the solver ``service.reoptimise_time_limit_s`` seconds of wall-clock time
(``0`` in either switches it off). The simulator gives it a work budget instead,
``service.reoptimise_iterations`` LNS iterations (``0``: never), so that a simulated day is
the same on any machine and under any load, on at most ``service.reoptimise_vehicles``
vehicles per round (a vehicle drawn from the seed and the time and those nearest to it), so that
the work of a round stays bounded however large the fleet; before that search each simulated
round moves single requests to their cheapest feasible place in the whole fleet with at most
``service.reoptimise_moves`` insertion searches (:mod:`ondemand.routing.solver.relocate`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ondemand.dispatch.base import Dispatcher, DispatchOptions, Reoptimiser
from ondemand.dispatch.calendar import BookingRules
from ondemand.dispatch.dispatcher import DarpReoptimiser, InsertionDispatcher
from ondemand.errors import InvalidRequestError, OutsideServiceAreaError, UnknownStopError
from ondemand.routing.geo.geodesy import haversine_m, project
from ondemand.routing.solver.insertion import InsertionOptions, Refusal
from ondemand.routing.solver.model import BookingKind, Request, TravelTimes, Vehicle
from ondemand.scenario import Scenario, ServiceParams

__all__ = ["Booking", "ClockText", "NearestStop", "PlaceLike", "ServicePolicy", "Walking"]

_LAST_DROPOFF_S = 86_400 + 6 * 3600
"""A service day may run past midnight, but no ride ends after 06:00 the next morning."""


class NearestStop(Protocol):
    """A service area that finds the nearest meeting point (``ServiceArea.nearest``)."""

    @property
    def stops(self) -> Sequence[PlaceLike]: ...

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """Index of the nearest meeting point and the great-circle metres to it."""
        ...


class PlaceLike(Protocol):
    """What the policy needs of a meeting point: its id and position."""

    @property
    def id(self) -> str: ...

    @property
    def lon(self) -> float: ...

    @property
    def lat(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Booking:
    """A ride as the rider booked it, before the policy gives it windows.

    Parameters
    ----------
    id
        The request id.
    pickup, dropoff
        Indices of the meeting points (into the service area's stops and travel times).
    kind
        As soon as possible, leave at a time, or arrive by a time.
    pickup_at
        The requested pickup: the time to leave at (``LEAVE_AT``), or when an
        as-soon-as-possible rider is ready at the stop (``ASAP``; default: at booking).
    dropoff_by
        The latest arrival (required for ``ARRIVE_BY``; optional for ``LEAVE_AT``).
    passengers, wheelchair
        Group size and wheelchair places.
    channel
        The booking channel (``None``: no channel rule applies).
    """

    id: str
    pickup: int
    dropoff: int
    kind: BookingKind = BookingKind.ASAP
    pickup_at: int | None = None
    dropoff_by: int | None = None
    passengers: int = 1
    wheelchair: int = 0
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Walking:
    """How far and how long riders walk to and from meeting points (one rule for sim and API).

    Parameters
    ----------
    max_walk_m
        Longest walk (walking metres) to or from a meeting point.
    circuity
        Walking metres per great-circle metre (streets are not straight).
    speed_mps
        Walking speed.
    """

    max_walk_m: int = 500
    circuity: float = 1.25
    speed_mps: float = 1.0

    def __post_init__(self) -> None:
        if self.max_walk_m < 0:
            raise ValueError(f"max_walk_m must be >= 0, got {self.max_walk_m}")
        if not (1.0 <= self.circuity <= 3.0):
            raise ValueError(f"walk circuity must be between 1 and 3, got {self.circuity}")
        if not (self.speed_mps > 0 and math.isfinite(self.speed_mps)):
            raise ValueError(f"walking speed must be > 0 m/s, got {self.speed_mps}")

    def metres(self, straight_m: ArrayLike) -> NDArray[np.int64]:
        """Walking metres for great-circle metres (times :attr:`circuity`, rounded)."""
        return np.rint(np.asarray(straight_m, dtype=np.float64) * self.circuity).astype(np.int64)

    def seconds(self, walk_m: int) -> int:
        """Seconds to walk ``walk_m`` metres (rounded up)."""
        return math.ceil(int(walk_m) / self.speed_mps)

    def ready_at(self, booked_at: int, walk_m: int) -> int:
        """When an as-soon-as-possible rider who books at ``booked_at`` is at the meeting point.

        The rider books where they are and then walks ``walk_m`` metres to the stop; the
        simulator's demand and the live API both start the pickup window here.
        """
        return int(booked_at) + self.seconds(walk_m)

    def nearest(
        self, stops: Sequence[PlaceLike], lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The nearest meeting point of each place and the walking metres to it (no limit applied).

        The nearest point is found in the local projection around the stops' mean
        position; the metres are :meth:`metres` of the great-circle distance.
        """
        from scipy.spatial import cKDTree

        s_lon = np.array([float(s.lon) for s in stops], dtype=np.float64)
        s_lat = np.array([float(s.lat) for s in stops], dtype=np.float64)
        lon0, lat0 = float(s_lon.mean()), float(s_lat.mean())
        tree = cKDTree(project(s_lon, s_lat, lon0=lon0, lat0=lat0))
        p_lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        p_lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        _, idx = tree.query(project(p_lon, p_lat, lon0=lon0, lat0=lat0))
        idx = np.asarray(idx, dtype=np.int64)
        return idx, self.metres(haversine_m(p_lon, p_lat, s_lon[idx], s_lat[idx]))

    def snap(self, area: NearestStop, lon: float, lat: float) -> tuple[int, int]:
        """The meeting point a rider at a place walks to and the walking metres (the live API's snapping).

        Raises
        ------
        OutsideServiceAreaError
            When the place is outside the area, or the walk would be longer than :attr:`max_walk_m`.
        """
        idx, straight = area.nearest(lon, lat)
        walk = int(self.metres(straight))
        if walk > self.max_walk_m:
            raise OutsideServiceAreaError(
                f"no meeting point within the {self.max_walk_m} m walking limit of "
                f"(lon {lon:.6f}, lat {lat:.6f}); "
                f"the nearest, {area.stops[idx].id!r}, is a {walk} m walk away "
                f"({straight:.0f} m straight line x {self.circuity:g}); choose a place inside the area"
            )
        return idx, walk


@dataclass(frozen=True, slots=True)
class ClockText:
    """Writes times of a service day as a person reads them: ``HH:MM``, and ``MM/DD HH:MM`` on another day.

    Every refusal and error that names a time uses it (never seconds from midnight).

    Parameters
    ----------
    day
        The service day the seconds count from (``None``: not known; a time past midnight
        then reads ``00:15 (+1 day)``).
    today
        The reader's day (default: ``day``); a time on any other day says its date.
    tz
        The service time zone (only matters on days when its clocks change).
    """

    day: _dt.date | None = None
    today: _dt.date | None = None
    tz: zoneinfo.ZoneInfo | None = None

    def __call__(self, seconds: int, *, up: bool = False) -> str:
        """``seconds`` of the service day as ``HH:MM`` (rounded down, or ``up`` to the next minute)."""
        t = int(seconds)
        if up:
            t = -(-t // 60) * 60
        if self.day is None:
            days, rest = divmod(t, 86_400)
            hhmm = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
            return hhmm if days == 0 else f"{hhmm} ({days:+d} day{'' if abs(days) == 1 else 's'})"
        midnight = _dt.datetime.combine(self.day, _dt.time(0), tzinfo=self.tz)
        when = midnight + _dt.timedelta(seconds=t)
        if self.tz is not None:
            when = when.astimezone(self.tz)
        today = self.today if self.today is not None else self.day
        return when.strftime("%H:%M") if when.date() == today else when.strftime("%m/%d %H:%M")


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The rules of one service, shared by the simulator and the live API (see the module docstring).

    Parameters
    ----------
    name
        The service's (scenario's) name.
    service
        Hours, calendar, fleet, capacity, service times, windows, promise, re-optimisation
        (the scenario's ``[service]`` table).
    walking
        Walking rules (the scenario's ``demand.max_walk_m``, ``walk_circuity`` and
        ``walking_speed_mps``).
    auto_complete
        Whether the dispatcher treats committed stops as done at their planned time (a
        live service whose vehicles report no events; the simulator always reports).
    closed_dates
        Further days without service, added to the calendar's (public holidays, closures and
        the period come from ``service``).
    booking
        Service days and booking channels (default: built from ``service``); read it as
        :attr:`rules`.
    """

    name: str
    service: ServiceParams
    walking: Walking = Walking()
    auto_complete: bool = False
    closed_dates: frozenset[_dt.date] = frozenset()
    booking: BookingRules | None = None

    @property
    def rules(self) -> BookingRules:
        """The service days and booking channels: :attr:`booking`, else built from :attr:`service`
        (so a policy copied with another ``service`` follows it), with :attr:`closed_dates` added."""
        rules = self.booking if self.booking is not None else BookingRules.from_service(self.service)
        if self.closed_dates - rules.calendar.closed_dates:
            closed = rules.calendar.closed_dates | self.closed_dates
            calendar = dataclasses.replace(rules.calendar, closed_dates=closed)
            rules = dataclasses.replace(rules, calendar=calendar)
        return rules

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        fleet: int | None = None,
        reoptimise: bool = True,
        auto_complete: bool = False,
    ) -> ServicePolicy:
        """The policy of a scenario (:func:`ondemand.scenario.load_scenario`).

        Parameters
        ----------
        scenario
            The scenario.
        fleet
            Override of ``service.fleet`` (sweeps, ``--fleet``).
        reoptimise
            ``False`` switches re-optimisation off (``reoptimise_every_s = 0``).
        auto_complete
            See the class.
        """
        svc = scenario.service
        if fleet is not None:
            if fleet < 1:
                raise ValueError(f"fleet must be >= 1, got {fleet}")
            svc = dataclasses.replace(svc, fleet=fleet)
        if not reoptimise:
            svc = dataclasses.replace(svc, reoptimise_every_s=0)
        d = scenario.demand
        return cls(
            name=scenario.name,
            service=svc,
            walking=Walking(
                max_walk_m=int(d.max_walk_m),
                circuity=float(d.walk_circuity),
                speed_mps=float(d.walking_speed_mps),
            ),
            auto_complete=auto_complete,
        )

    # ------------------------------------------------------------------ hours and fleet

    @property
    def start(self) -> int:
        """Start of service (seconds from midnight)."""
        return int(self.service.start)

    @property
    def end(self) -> int:
        """End of service: the vehicles' shift end."""
        return int(self.service.end)

    @property
    def fleet(self) -> int:
        """Number of vehicles."""
        return int(self.service.fleet)

    @property
    def reoptimise_every_s(self) -> int:
        """Seconds between re-optimisations (0: never)."""
        return int(self.service.reoptimise_every_s)

    @property
    def reoptimise_time_limit_s(self) -> float:
        """Wall-clock seconds the live API gives one re-optimisation."""
        return float(self.service.reoptimise_time_limit_s)

    @property
    def reoptimise_iterations(self) -> int:
        """The simulator's work budget per re-optimisation: LNS iterations (reproducible; 0: never)."""
        return int(self.service.reoptimise_iterations)

    @property
    def reoptimise_vehicles(self) -> int | None:
        """The simulator's neighbourhood per re-optimisation: most vehicles re-planned (``None``: all)."""
        n = int(self.service.reoptimise_vehicles)
        return n if n > 0 else None

    @property
    def reoptimise_moves(self) -> int:
        """The simulator's relocation budget per re-optimisation: fleet-wide insertion searches (0: none)."""
        return int(self.service.reoptimise_moves)

    @property
    def reoptimises(self) -> bool:
        """Whether the live service re-optimises (a cadence and a wall-clock limit above 0)."""
        return self.reoptimise_every_s > 0 and self.reoptimise_time_limit_s > 0

    # ------------------------------------------------------------------ calendar

    def runs_on(self, date: _dt.date) -> bool:
        """Whether the service runs on ``date`` (the calendar of :attr:`rules`: ``service.calendar``,
        public holidays, closures, the period, :attr:`closed_dates`)."""
        return self.rules.calendar.runs_on(date)

    def check_bookable(self, date: _dt.date, today: _dt.date) -> None:
        """Raise :class:`InvalidRequestError` unless a ride on ``date`` can be booked ``today``.

        Rides can be booked ``service.booking_horizon_days`` ahead (0: the same day only),
        for the days the service runs (:meth:`runs_on`).
        """
        horizon = int(self.service.booking_horizon_days)
        ahead = (date - today).days
        if ahead < 0:
            raise InvalidRequestError(f"{date.isoformat()} is in the past; book for today or a later day")
        if ahead > horizon:
            last = today + _dt.timedelta(days=horizon)
            span = (
                "only same-day bookings are taken"
                if horizon == 0
                else f"bookings are taken up to {horizon} days ahead"
            )
            raise InvalidRequestError(
                f"{date.isoformat()} is beyond the booking horizon: {span} (until {last.isoformat()})"
            )
        why = self.rules.calendar.closed_reason(date)
        if why is not None:
            raise InvalidRequestError(
                f"there is no service on {date.isoformat()} ({date.strftime('%A')}): {why}"
            )

    def check_channel(self, name: str, when: _dt.datetime) -> None:
        """Raise :class:`InvalidRequestError` unless channel ``name`` takes a booking at local time ``when``.

        The live API refuses a booking made through a closed channel and says when it opens
        (the rider books again then); the simulator models that rider as booking when the
        channel next opens (:meth:`~ondemand.dispatch.calendar.BookingRules.intake`). A
        channel's lead time applies in :meth:`request` (``Booking.channel``).
        """
        channel = self.rules.channel(name)  # unknown to this service: InvalidRequestError
        calendar = self.rules.calendar
        if channel.is_open(when, calendar):
            return
        again = channel.next_open(when, calendar)
        opens = (
            "it does not open again within a year"
            if again is None
            else f"it opens again at {again:%m/%d %H:%M}"
            if again.date() != when.date()
            else f"it opens again at {again:%H:%M}"
        )
        raise InvalidRequestError(
            f"bookings by {name} are not taken now ({when:%m/%d %H:%M}): {channel.describe()}; {opens}"
        )

    # ------------------------------------------------------------------ fleet

    def depot(self, stops: Sequence[PlaceLike]) -> int:
        """Index of the stop where vehicles start and end (``service.depot``).

        Raises
        ------
        UnknownStopError
            When ``service.depot`` is neither ``"centre"`` nor a stop id.
        """
        if not stops:
            raise ValueError("a service needs at least one stop")
        depot = str(self.service.depot)
        if depot == "centre":
            lon = np.array([float(s.lon) for s in stops])
            lat = np.array([float(s.lat) for s in stops])
            d = haversine_m(float(lon.mean()), float(lat.mean()), lon, lat)
            return int(np.argmin(d))
        for k, s in enumerate(stops):
            if s.id == depot:
                return k
        raise UnknownStopError(f"service.depot {depot!r} is not a stop id of the area (or use 'centre')")

    def vehicles(self, stops: Sequence[PlaceLike], *, depot: int | None = None) -> tuple[Vehicle, ...]:
        """The fleet: ``v1`` … ``vN`` at the depot (or at stop index ``depot``) for the service hours."""
        start = self.depot(stops) if depot is None else depot
        svc = self.service
        return tuple(
            Vehicle(
                id=f"v{k + 1}",
                seats=int(svc.seats),
                start=start,
                available_from=self.start,
                shift_end=self.end,
                end=None,
                wheelchair_places=int(svc.wheelchair_places),
            )
            for k in range(self.fleet)
        )

    # ------------------------------------------------------------------ promise and dispatcher

    def insertion_options(self) -> InsertionOptions:
        """How the dispatcher promises and prices: a ``pickup_window_s`` wide window, the weights."""
        width = int(self.service.pickup_window_s)
        half = width // 2
        return InsertionOptions(
            promise_before=half,
            promise_after=width - half,
            promise_full_width=True,
            wait_weight=float(self.service.wait_weight),
            ride_weight=float(self.service.ride_weight),
        )

    def dispatch_options(self) -> DispatchOptions:
        """The dispatcher's options: :meth:`insertion_options`, :attr:`auto_complete` and
        ``service.divert_mid_leg`` (whether a booking may turn a driving van mid-leg)."""
        return DispatchOptions(
            insertion=self.insertion_options(),
            auto_complete=self.auto_complete,
            divert_mid_leg=bool(self.service.divert_mid_leg),
        )

    def dispatcher(
        self,
        vehicles: Sequence[Vehicle],
        tt: TravelTimes,
        *,
        reoptimiser: Reoptimiser | None = None,
    ) -> Dispatcher:
        """The service's dispatcher: an :class:`~ondemand.dispatch.InsertionDispatcher`.

        Parameters
        ----------
        vehicles, tt
            The fleet (:meth:`vehicles`) and the travel times between stops.
        reoptimiser
            The plan re-optimiser (default :func:`ondemand.routing.solver.darp.reoptimise`,
            re-planning at most :attr:`reoptimise_vehicles` vehicles per call under a work
            budget: the simulator).
        """
        if reoptimiser is None:
            reoptimiser = DarpReoptimiser(neighbourhood=self.reoptimise_vehicles, moves=self.reoptimise_moves)
        return InsertionDispatcher(vehicles, tt, options=self.dispatch_options(), reoptimiser=reoptimiser)

    # ------------------------------------------------------------------ refusals

    def hours(self) -> str:
        """The service hours as people read them, e.g. ``09:00-18:00`` (every service day)."""
        c = ClockText()
        return f"{c(self.start, up=True)}-{c(self.end)}"

    def latest_pickup_for(self, request: Request, tt: TravelTimes) -> int:
        """The latest pickup from which a direct ride, drop-off included, ends within the vehicles' shift."""
        direct = int(tt.durations[request.pickup, request.dropoff])
        return self.end - request.pickup_service - direct - request.dropoff_service

    def explain(
        self, refusal: Refusal, request: Request, tt: TravelTimes, *, now: int, clock: ClockText | None = None
    ) -> str:
        """Why a request was refused and what would work, for people: times as ``HH:MM``, the
        service hours, and the latest possible pickup or the earliest possible time where known.

        The simulator's events and the live API both say this (with the machine-readable
        :attr:`Refusal.code` beside it in the events).

        Parameters
        ----------
        refusal
            The dispatcher's answer.
        request
            The request as submitted.
        tt
            Travel times (for the direct ride).
        now
            When it was refused (seconds of the service day).
        clock
            How times are written (default: ``HH:MM`` of the service day).
        """
        c = clock or ClockText()
        hours = f"service hours are {self.hours()}"
        code = refusal.code
        if code in ("unknown_location", "duplicate_id", "no_vehicle_fits", "internal", "refused"):
            return refusal.reason  # no time in it
        direct = int(tt.durations[request.pickup, request.dropoff])
        earliest = max(request.earliest_pickup, now)
        last = self.latest_pickup_for(request, tt)
        if last >= max(now, self.start):
            latest = f"the latest possible pickup for this trip is {c(last)}"
        else:
            latest = "it is too late for this trip on this service day; book for another day"
        if code == "window_passed":
            return (
                f"outside hours: the pickup window ended at {c(request.latest_pickup)}, before now "
                f"({c(now)}); ask for a pickup from {c(now, up=True)} on; {hours}"
            )
        if code == "outside_hours":
            head = (
                f"outside hours: no vehicle is in service for a pickup between {c(earliest)} and "
                f"{c(request.latest_pickup)}; {hours}"
            )
            if request.latest_pickup < self.start:
                return f"{head}; the earliest possible pickup is {c(self.start, up=True)}"
            return f"{head}; {latest}"
        if code == "no_feasible_time":
            head = (
                "no feasible time: no vehicle can fit this trip into its schedule between "
                f"{c(earliest)} and {c(request.latest_pickup)}"
            )
            if earliest > last:
                return f"{head}; {hours}, {latest}"
            return f"{head}; {hours}; ask for a later time or another day"
        if code == "arrives_too_late":
            arrive = earliest + request.pickup_service + direct
            return (
                f"no feasible time: even a direct ride from {c(earliest)} reaches the drop-off at "
                f"{c(arrive, up=True)}, after {c(request.latest_dropoff)}; ask to arrive at "
                f"{c(arrive, up=True)} or later"
            )
        if code == "ride_too_long":
            return (
                f"the direct trip takes {_minutes(direct)}, more than the allowed ride of "
                f"{_minutes(request.max_ride)}; choose a nearer drop-off"
            )
        return refusal.reason

    # ------------------------------------------------------------------ requests

    def max_ride(self, direct: int) -> int:
        """Longest ride for a trip whose direct drive takes ``direct`` seconds."""
        svc = self.service
        return max(math.ceil(float(svc.max_detour) * direct), direct + int(svc.min_extra_ride_s))

    def service_times(self, passengers: int, wheelchair: int) -> tuple[int, int]:
        """Boarding and alighting seconds of a group."""
        svc = self.service
        extra = int(svc.wheelchair_boarding_s) * wheelchair
        return int(svc.boarding_s) * passengers + extra, int(svc.alighting_s) * passengers + extra

    def check_group(self, passengers: int, wheelchair: int) -> None:
        """Raise :class:`InvalidRequestError` when no vehicle of the fleet can carry the group."""
        if passengers < 1:
            raise InvalidRequestError(f"a ride needs at least 1 passenger, got {passengers}")
        if passengers > int(self.service.seats):
            raise InvalidRequestError(
                f"{passengers} passengers do not fit in any vehicle (at most {self.service.seats} seats); "
                "split the group into several requests"
            )
        if wheelchair < 0 or wheelchair > int(self.service.wheelchair_places):
            raise InvalidRequestError(
                "no vehicle of this service has a wheelchair place"
                if int(self.service.wheelchair_places) == 0
                else f"no vehicle has {wheelchair} wheelchair places"
            )

    def request(
        self, booking: Booking, tt: TravelTimes, *, now: int, clock: ClockText | None = None
    ) -> Request:
        """The dispatcher's :class:`Request` for a booking (the rules of the module docstring).

        Parameters
        ----------
        booking
            The ride as booked.
        tt
            Travel times between stops (for the direct drive).
        now
            The booking time (seconds of the service day).
        clock
            How error messages write times (default: ``HH:MM`` of the service day).

        Raises
        ------
        InvalidRequestError
            When the booking cannot be served as asked: same pickup and drop-off, a group
            no vehicle carries, times in the past, after the service or reversed, an
            arrive-by time too early for even a direct ride.
        """
        b = booking
        c = clock or ClockText()
        if b.pickup == b.dropoff:
            raise InvalidRequestError(
                "pickup and dropoff are the same meeting point; choose two different places"
            )
        self.check_group(b.passengers, b.wheelchair)
        direct = int(tt.durations[b.pickup, b.dropoff])
        p_service, d_service = self.service_times(b.passengers, b.wheelchair)
        max_ride = self.max_ride(direct)
        max_wait = int(self.service.max_wait_s)
        latest_dropoff = b.dropoff_by
        if latest_dropoff is not None and latest_dropoff < now:
            raise InvalidRequestError(
                f"latest_dropoff ({c(latest_dropoff)}) is in the past (it is {c(now)} now); give a later time"
            )
        if b.kind is BookingKind.ARRIVE_BY:
            if latest_dropoff is None:
                raise InvalidRequestError("an arrive-by booking needs a latest drop-off time")
            earliest = max(now, latest_dropoff - p_service - max_ride - max_wait)
        else:
            if b.kind is BookingKind.LEAVE_AT and b.pickup_at is None:
                raise InvalidRequestError("a leave-at booking needs a pickup time")
            requested = now if b.pickup_at is None else b.pickup_at
            if b.channel is not None:
                requested = max(requested, now + self.rules.channel(b.channel).min_lead_s)
            if b.kind is BookingKind.LEAVE_AT and requested > self.end:
                last = self.end - p_service - direct - d_service
                raise InvalidRequestError(
                    f"earliest_pickup ({c(requested, up=True)}) is after the service hours ({self.hours()}); "
                    + (
                        f"the latest possible pickup for this trip is {c(last)}"
                        if last >= max(now, self.start)
                        else "book for another day"
                    )
                )
            earliest = max(requested, now)
            if latest_dropoff is not None and latest_dropoff <= earliest:
                raise InvalidRequestError("latest_dropoff is not after earliest_pickup (reversed window)")
        latest_pickup = earliest + max_wait
        if latest_dropoff is None:
            latest_dropoff = latest_pickup + p_service + max_ride
        else:
            latest_pickup = min(latest_pickup, latest_dropoff - p_service - direct)
            if latest_pickup < earliest:
                arrive = earliest + p_service + direct
                raise InvalidRequestError(
                    f"latest_dropoff ({c(latest_dropoff)}) is too early: even a direct ride from "
                    f"{c(earliest)} arrives at {c(arrive, up=True)}; "
                    f"ask to arrive at {c(arrive, up=True)} or later"
                )
        if latest_dropoff >= _LAST_DROPOFF_S:
            raise InvalidRequestError("latest_dropoff must be on the same service day")
        return Request(
            id=b.id,
            pickup=b.pickup,
            dropoff=b.dropoff,
            earliest_pickup=earliest,
            latest_pickup=latest_pickup,
            latest_dropoff=latest_dropoff,
            max_ride=max_ride,
            passengers=b.passengers,
            wheelchair=b.wheelchair,
            pickup_service=p_service,
            dropoff_service=d_service,
            kind=b.kind,
            booked_at=now,
        )


def _minutes(seconds: int) -> str:
    return f"{math.ceil(int(seconds) / 60)} min"
