"""The booking rules of the API as it runs today: service rules and fleet, and booking body -> core request.

:class:`ServiceRules` and :class:`ServiceConfig` (built from a scenario by
:func:`service_config_from_scenario`) say how a booking becomes a core
:class:`~ondemand.routing.solver.model.Request` with its windows (:class:`BookingDesk`)
and how the dispatcher is configured (:func:`insertion_dispatcher_factory`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ondemand.api.clock import ServiceDay
from ondemand.api.schemas import PointRef, RideRequestIn, StopRef
from ondemand.dispatch.base import Dispatcher
from ondemand.dispatch.calendar import BookingRules, ServiceCalendar
from ondemand.errors import InvalidRequestError, OutsideServiceAreaError, UnknownStopError
from ondemand.routing.solver.model import BookingKind, TravelTimes, Vehicle
from ondemand.routing.solver.model import Request as CoreRequest

__all__ = [
    "AreaLike",
    "BookingDesk",
    "DispatcherFactory",
    "ServiceConfig",
    "ServiceRules",
    "insertion_dispatcher_factory",
    "service_config_from_scenario",
]


class AreaLike(Protocol):
    """What the API needs of a service area (:class:`ondemand.routing.geo.area.ServiceArea` has it)."""

    @property
    def stops(self) -> Sequence[Any]: ...

    @property
    def matrix(self) -> TravelTimes: ...

    def stop_index(self, stop_id: str) -> int: ...

    def snap(self, lon: float, lat: float, *, max_walk_m: int) -> tuple[int, int]: ...


DispatcherFactory = Callable[[Sequence[Vehicle], TravelTimes], Dispatcher]


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """How requests are turned into core requests with windows (as the simulator does).

    Parameters
    ----------
    max_walk_m
        Longest walk to a meeting point when a place is given by lon/lat.
    max_wait_s
        Latest pickup after the requested (or booking) time.
    detour_factor, min_extra_ride_s
        Longest ride = ``max(ceil(detour_factor × direct), direct + min_extra_ride_s)``.
    boarding_s, alighting_s
        Seconds per passenger to board and to alight.
    wheelchair_boarding_s
        Extra seconds to board or alight a wheelchair.
    promise_window_s
        Width of the pickup window promised to the rider (centred on the planned pickup).
    auto_complete
        Whether the dispatcher treats committed stops as done at their planned time
        (for services whose vehicles do not report events).
    wait_weight, ride_weight
        Weights of the new rider's wait and ride against vehicle driving when choosing a
        vehicle and position (the scenario's ``service.wait_weight``/``ride_weight``).
    """

    max_walk_m: int = 500
    max_wait_s: int = 1800
    detour_factor: float = 2.0
    min_extra_ride_s: int = 300
    boarding_s: int = 30
    alighting_s: int = 20
    wheelchair_boarding_s: int = 180
    promise_window_s: int = 600
    auto_complete: bool = False
    wait_weight: float = 1.0
    ride_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.max_walk_m < 0 or self.max_wait_s < 0 or self.min_extra_ride_s < 0:
            raise ValueError("max_walk_m, max_wait_s and min_extra_ride_s must be >= 0")
        if self.detour_factor < 1.0:
            raise ValueError(f"detour_factor must be >= 1, got {self.detour_factor}")
        if min(self.boarding_s, self.alighting_s, self.wheelchair_boarding_s) < 0:
            raise ValueError("boarding and alighting times must be >= 0")
        if self.promise_window_s < 0:
            raise ValueError("promise_window_s must be >= 0")

    def max_ride(self, direct: int) -> int:
        """Longest ride for a trip whose direct drive takes ``direct`` seconds."""
        return max(math.ceil(self.detour_factor * direct), direct + self.min_extra_ride_s)

    def service_times(self, passengers: int, wheelchair: int) -> tuple[int, int]:
        """Pickup and drop-off service durations of a group."""
        extra = self.wheelchair_boarding_s * wheelchair
        return self.boarding_s * passengers + extra, self.alighting_s * passengers + extra


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The service an API process runs: its fleet (a template for every day) and booking rules.

    Parameters
    ----------
    name
        Name of the service (the scenario's name).
    vehicles
        The fleet; times are seconds from a service day's midnight, locations are
        indices of the service area's stops.
    rules
        Booking rules.
    booking_horizon_days
        How many days ahead a ride can be booked (0: same day only); each service day
        booked gets its own dispatcher.
    calendar
        The service days: the policy layer's
        :class:`~ondemand.dispatch.calendar.ServiceCalendar` (the one the simulator uses:
        weekdays, public holidays, year-end closures, the service period). ``"every_day"`` or
        ``"weekdays"`` stand for a calendar with just that rule.
    closed_dates
        Further days without service, added to the calendar's.
    """

    name: str
    vehicles: tuple[Vehicle, ...]
    rules: ServiceRules = field(default_factory=ServiceRules)
    booking_horizon_days: int = 0
    calendar: ServiceCalendar | str = field(default_factory=ServiceCalendar)
    closed_dates: frozenset[_dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not self.vehicles:
            raise ValueError("a service needs at least one vehicle")
        ids = [v.id for v in self.vehicles]
        if len(set(ids)) != len(ids):
            raise ValueError("vehicle ids must be unique")
        if not 0 <= self.booking_horizon_days <= 60:
            raise ValueError(f"booking_horizon_days must be 0 to 60, got {self.booking_horizon_days}")
        cal = self.calendar
        if isinstance(cal, str):
            cal = ServiceCalendar(days=cal)  # ValueError for anything but every_day / weekdays
        if self.closed_dates:
            cal = dataclasses.replace(cal, closed_dates=cal.closed_dates | self.closed_dates)
        object.__setattr__(self, "calendar", cal)

    @property
    def service_calendar(self) -> ServiceCalendar:
        """The calendar (:class:`~ondemand.dispatch.calendar.ServiceCalendar`)."""
        assert isinstance(self.calendar, ServiceCalendar)  # normalised in __post_init__
        return self.calendar

    def runs_on(self, date: _dt.date) -> bool:
        """Whether the service runs on ``date`` (the policy layer's calendar)."""
        return self.service_calendar.runs_on(date)

    def check_bookable(self, date: _dt.date, today: _dt.date) -> None:
        """Raise :class:`InvalidRequestError` unless a ride on ``date`` can be booked ``today``."""
        ahead = (date - today).days
        if ahead < 0:
            raise InvalidRequestError(f"{date.isoformat()} is in the past; book for today or a later day")
        if ahead > self.booking_horizon_days:
            last = today + _dt.timedelta(days=self.booking_horizon_days)
            span = (
                "only same-day bookings are taken"
                if self.booking_horizon_days == 0
                else f"bookings are taken up to {self.booking_horizon_days} days ahead"
            )
            raise InvalidRequestError(
                f"{date.isoformat()} is beyond the booking horizon: {span} (until {last.isoformat()})"
            )
        why = self.service_calendar.closed_reason(date)
        if why is not None:
            raise InvalidRequestError(
                f"there is no service on {date.isoformat()} ({date.strftime('%A')}): {why}"
            )

    @property
    def max_seats(self) -> int:
        """The largest number of seats of any vehicle."""
        return max(v.seats for v in self.vehicles)

    @property
    def max_wheelchair(self) -> int:
        """The largest number of wheelchair places of any vehicle."""
        return max(v.wheelchair_places for v in self.vehicles)

    @property
    def service_end_s(self) -> int:
        """The end of the latest shift."""
        return max(v.shift_end for v in self.vehicles)


def insertion_dispatcher_factory(rules: ServiceRules) -> DispatcherFactory:
    """A factory of :class:`~ondemand.dispatch.InsertionDispatcher` configured by the booking rules."""

    def build(vehicles: Sequence[Vehicle], tt: TravelTimes) -> Dispatcher:
        from ondemand.dispatch import DispatchOptions, InsertionDispatcher, InsertionOptions

        half = rules.promise_window_s // 2
        options = DispatchOptions(  # the same options as the simulator (ondemand.sim.engine)
            insertion=InsertionOptions(
                promise_before=half,
                promise_after=rules.promise_window_s - half,
                wait_weight=rules.wait_weight,
                ride_weight=rules.ride_weight,
            ),
            auto_complete=rules.auto_complete,
        )
        return InsertionDispatcher(vehicles, tt, options=options)

    return build


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def service_config_from_scenario(scenario: Any, area: AreaLike) -> ServiceConfig:
    """The fleet and booking rules of a scenario (:func:`ondemand.scenario.load_scenario`).

    Vehicles ``v1`` … ``vN`` start at the depot (``service.depot``: a stop id, or
    ``"centre"`` = the stop nearest the centroid of all stops) at the start of the
    service hours and end their shift at its end. Rides can be booked
    ``service.booking_horizon_days`` ahead on the service days of the policy layer's calendar
    (``service.calendar``, public holidays when ``holidays = false``, ``closures``,
    ``closed_dates``, ``period``).
    """
    svc = scenario.service
    stops = list(area.stops)
    if svc.depot == "centre":
        lon = sum(float(s.lon) for s in stops) / len(stops)
        lat = sum(float(s.lat) for s in stops) / len(stops)
        depot = min(
            range(len(stops)), key=lambda i: _metres(lon, lat, float(stops[i].lon), float(stops[i].lat))
        )
    else:
        depot = area.stop_index(svc.depot)
    vehicles = tuple(
        Vehicle(
            id=f"v{k + 1}",
            seats=svc.seats,
            start=depot,
            available_from=svc.start,
            shift_end=svc.end,
            wheelchair_places=svc.wheelchair_places,
        )
        for k in range(svc.fleet)
    )
    rules = ServiceRules(
        max_walk_m=int(scenario.demand.max_walk_m),
        max_wait_s=svc.max_wait_s,
        detour_factor=svc.max_detour,
        min_extra_ride_s=svc.min_extra_ride_s,
        boarding_s=svc.boarding_s,
        alighting_s=svc.alighting_s,
        wheelchair_boarding_s=svc.wheelchair_boarding_s,
        promise_window_s=svc.pickup_window_s,
        wait_weight=svc.wait_weight,
        ride_weight=svc.ride_weight,
    )
    return ServiceConfig(
        name=scenario.name,
        vehicles=vehicles,
        rules=rules,
        booking_horizon_days=int(getattr(svc, "booking_horizon_days", 0)),
        calendar=BookingRules.from_service(svc).calendar,
    )


class BookingDesk:
    """Turns a booking body into a core request with its windows, by the service's rules.

    Parameters
    ----------
    area
        The service area (meeting points, travel times, ``stop_index``, ``snap``).
    config
        The fleet and the booking rules.
    tz
        The service time zone.
    past_tolerance_s
        How far in the past an ``earliest_pickup`` may lie (clock skew of clients).
    """

    def __init__(self, area: AreaLike, config: ServiceConfig, *, tz: ZoneInfo, past_tolerance_s: int) -> None:
        self.area = area
        self.config = config
        self.rules = config.rules
        self.tz = tz
        self.past_tolerance_s = past_tolerance_s
        self.stops = list(area.stops)
        self.stop_ids = [str(s.id) for s in self.stops]
        self.durations = area.matrix.durations

    def place(self, ref: StopRef | PointRef, what: str) -> tuple[int, int]:
        """The stop index of a place and the walking metres to it (0 for a stop id)."""
        if isinstance(ref, StopRef):
            try:
                return self.area.stop_index(ref.stop_id), 0
            except UnknownStopError as exc:
                raise UnknownStopError(f"{what}: {exc}") from exc
        try:
            idx, walk = self.area.snap(ref.lon, ref.lat, max_walk_m=self.rules.max_walk_m)
        except OutsideServiceAreaError as exc:
            raise OutsideServiceAreaError(f"{what}: {exc}") from exc
        return int(idx), int(walk)

    def booking_date(self, body: RideRequestIn, today: _dt.date) -> _dt.date:
        """The service day a request is for (the day of its earliest pickup, else of its latest drop-off).

        Raises :class:`InvalidRequestError` beyond the booking horizon or on a day without service.
        """
        config = self.config
        when = body.earliest_pickup if body.earliest_pickup is not None else body.latest_dropoff
        date = today if when is None else when.astimezone(self.tz).date()
        if date != today or not config.runs_on(date):
            config.check_bookable(date, today)
        return date

    def core_request(
        self, rid: str, body: RideRequestIn, now_s: int, day: ServiceDay
    ) -> tuple[CoreRequest, int, int]:
        """The core request of a booking made at ``now_s`` on ``day``, and the walks to and from it."""
        config, rules, tz, stop_ids = self.config, self.rules, self.tz, self.stop_ids
        p, p_walk = self.place(body.pickup, "pickup")
        d, d_walk = self.place(body.dropoff, "dropoff")
        if p == d:
            raise InvalidRequestError(
                f"pickup and dropoff are the same meeting point ({stop_ids[p]!r}); "
                "choose two different places"
            )
        if body.passengers > config.max_seats:
            raise InvalidRequestError(
                f"{body.passengers} passengers do not fit in any vehicle (at most {config.max_seats} seats); "
                "split the group into several requests"
            )
        wheelchair = 1 if body.wheelchair else 0
        if wheelchair > config.max_wheelchair:
            raise InvalidRequestError("no vehicle of this service has a wheelchair place")
        tol = self.past_tolerance_s
        direct = int(self.durations[p, d])
        p_service, d_service = rules.service_times(body.passengers, wheelchair)
        max_ride = rules.max_ride(direct)
        end_of_day = config.service_end_s
        latest_dropoff_s: int | None = None
        if body.latest_dropoff is not None:
            latest_dropoff_s = day.seconds(body.latest_dropoff)
            if latest_dropoff_s < now_s:
                raise InvalidRequestError("latest_dropoff is in the past; give a future time")
        if body.earliest_pickup is not None:
            earliest = day.seconds(body.earliest_pickup)
            if earliest < now_s - tol:
                raise InvalidRequestError(
                    "earliest_pickup is in the past; give a future time or leave it out"
                )
            if earliest >= 86400:
                raise InvalidRequestError(
                    f"earliest_pickup must be on the service day {day.date.isoformat()} ({tz.key})"
                )
            if earliest > end_of_day:
                raise InvalidRequestError(
                    f"earliest_pickup is after the day's last service time ({day.at(end_of_day).isoformat()})"
                )
            earliest = max(earliest, now_s)
            kind = BookingKind.LEAVE_AT
            if latest_dropoff_s is not None and latest_dropoff_s <= earliest:
                raise InvalidRequestError("latest_dropoff is not after earliest_pickup (reversed window)")
        elif latest_dropoff_s is not None:
            kind = BookingKind.ARRIVE_BY
            earliest = max(now_s, latest_dropoff_s - p_service - max_ride - rules.max_wait_s)
        else:
            kind = BookingKind.ASAP
            earliest = now_s
        latest_pickup = earliest + rules.max_wait_s
        if latest_dropoff_s is None:
            latest_dropoff_s = latest_pickup + p_service + max_ride
        else:
            latest_pickup = min(latest_pickup, latest_dropoff_s - p_service - direct)
            if latest_pickup < earliest:
                raise InvalidRequestError(
                    "latest_dropoff is too early: even a direct ride from the earliest pickup arrives later"
                )
        if latest_dropoff_s >= 86400 + 6 * 3600:  # a service day may run past midnight, not past 06:00
            raise InvalidRequestError("latest_dropoff must be on the same service day")
        req = CoreRequest(
            id=rid,
            pickup=p,
            dropoff=d,
            earliest_pickup=earliest,
            latest_pickup=latest_pickup,
            latest_dropoff=latest_dropoff_s,
            max_ride=max_ride,
            passengers=body.passengers,
            wheelchair=wheelchair,
            pickup_service=p_service,
            dropoff_service=d_service,
            kind=kind,
            booked_at=now_s,
        )
        return req, p_walk, d_walk
