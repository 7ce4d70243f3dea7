"""The API side of the service policy: the service an API process runs, and booking body -> core request.

Every rule (windows, promise, fleet and depot, walking, calendar) is the
:class:`~ondemand.dispatch.policy.ServicePolicy`'s, the one the simulator follows;
:class:`BookingDesk` only turns a booking body (aware datetimes, stop ids or places) into
the policy's :class:`~ondemand.dispatch.policy.Booking` and checks what only the API
sees: times in the past by the clients' clock, times on another day.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ondemand.api.clock import ServiceDay
from ondemand.api.schemas import PointRef, RideRequestIn, StopRef
from ondemand.dispatch.base import Dispatcher
from ondemand.dispatch.policy import Booking, ClockText, ServicePolicy
from ondemand.errors import InvalidRequestError, OutsideServiceAreaError, UnknownStopError
from ondemand.routing.solver.model import BookingKind, TravelTimes, Vehicle
from ondemand.routing.solver.model import Request as CoreRequest

__all__ = [
    "AreaLike",
    "BookingDesk",
    "DispatcherFactory",
    "ServiceConfig",
    "service_config_from_scenario",
]


class AreaLike(Protocol):
    """What the API needs of a service area (:class:`ondemand.routing.geo.area.ServiceArea` has it)."""

    @property
    def stops(self) -> Sequence[Any]: ...

    @property
    def matrix(self) -> TravelTimes: ...

    def stop_index(self, stop_id: str) -> int: ...

    def nearest(self, lon: float, lat: float) -> tuple[int, float]: ...


DispatcherFactory = Callable[[Sequence[Vehicle], TravelTimes], Dispatcher]
"""``(vehicles, travel_times) -> dispatcher`` (default: the policy's, :meth:`ServicePolicy.dispatcher`)."""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The service an API process runs: its policy and the fleet (a template for every day).

    Parameters
    ----------
    policy
        The service's rules (:meth:`ServicePolicy.from_scenario`), shared with the simulator.
    vehicles
        The fleet (default in :func:`service_config_from_scenario`: ``policy.vehicles``);
        times are seconds from a service day's midnight, locations are stop indices.
    """

    policy: ServicePolicy
    vehicles: tuple[Vehicle, ...]

    def __post_init__(self) -> None:
        if not self.vehicles:
            raise ValueError("a service needs at least one vehicle")
        ids = [v.id for v in self.vehicles]
        if len(set(ids)) != len(ids):
            raise ValueError("vehicle ids must be unique")

    @property
    def name(self) -> str:
        """Name of the service (the scenario's name)."""
        return self.policy.name


def service_config_from_scenario(
    scenario: Any, area: AreaLike, *, fleet: int | None = None, auto_complete: bool = False
) -> ServiceConfig:
    """The policy and fleet of a scenario (:func:`ondemand.scenario.load_scenario`), as the simulator's.

    ``fleet`` overrides ``service.fleet``; ``auto_complete`` treats planned stops as done on
    time (vehicles without a driver app).
    """
    policy = ServicePolicy.from_scenario(scenario, fleet=fleet, auto_complete=auto_complete)
    return ServiceConfig(policy, policy.vehicles(area.stops))


class BookingDesk:
    """Turns a booking body into a core request with its windows, by the service's policy.

    Parameters
    ----------
    area
        The service area (meeting points, travel times, ``stop_index``, ``nearest``).
    config
        The policy and the fleet.
    tz
        The service time zone.
    past_tolerance_s
        How far in the past an ``earliest_pickup`` may lie (clock skew of clients).
    """

    def __init__(self, area: AreaLike, config: ServiceConfig, *, tz: ZoneInfo, past_tolerance_s: int) -> None:
        self.area = area
        self.config = config
        self.policy = config.policy
        self.tz = tz
        self.past_tolerance_s = past_tolerance_s
        self.stops = list(area.stops)
        self.stop_ids = [str(s.id) for s in self.stops]

    def place(self, ref: StopRef | PointRef, what: str) -> tuple[int, int]:
        """The stop index of a place and the walking metres to it (0 for a stop id)."""
        if isinstance(ref, StopRef):
            try:
                return self.area.stop_index(ref.stop_id), 0
            except UnknownStopError as exc:
                raise UnknownStopError(f"{what}: {exc}") from exc
        try:
            return self.policy.walking.snap(self.area, ref.lon, ref.lat)
        except OutsideServiceAreaError as exc:
            raise OutsideServiceAreaError(f"{what}: {exc}") from exc

    def booking_date(self, body: RideRequestIn, today: _dt.date) -> _dt.date:
        """The service day a request is for (the day of its earliest pickup, else of its latest drop-off).

        Raises :class:`InvalidRequestError` beyond the booking horizon or on a day without service.
        """
        when = body.earliest_pickup if body.earliest_pickup is not None else body.latest_dropoff
        date = today if when is None else when.astimezone(self.tz).date()
        if date != today or not self.policy.runs_on(date):
            self.policy.check_bookable(date, today)
        return date

    def clock_text(self, day: ServiceDay, now: _dt.datetime | None = None) -> ClockText:
        """How answers about ``day`` write times for a reader at ``now``: ``HH:MM``, with the date
        when it is another day than the reader's (e.g. ``12/01 08:15`` booked the evening before)."""
        today = day.date if now is None else now.astimezone(self.tz).date()
        return ClockText(day.date, today, self.tz)

    def booking(
        self,
        rid: str,
        body: RideRequestIn,
        now_s: int,
        day: ServiceDay,
        *,
        clock: ClockText | None = None,
        now: _dt.datetime | None = None,
    ) -> tuple[Booking, int, int]:
        """The policy's :class:`Booking` of a body booked at ``now_s`` on ``day``, and the walks
        (``clock`` writes the times of error messages, default :meth:`clock_text`; ``now`` is the
        moment of booking, for the channel's hours, default ``now_s`` on ``day``)."""
        p, p_walk = self.place(body.pickup, "pickup")
        d, d_walk = self.place(body.dropoff, "dropoff")
        if p == d:
            raise InvalidRequestError(
                f"pickup and dropoff are the same meeting point ({self.stop_ids[p]!r}); "
                "choose two different places"
            )
        pickup_at: int | None = None
        if body.earliest_pickup is not None:
            pickup_at = day.seconds(body.earliest_pickup)
            if pickup_at < now_s - self.past_tolerance_s:
                c = clock or self.clock_text(day)
                raise InvalidRequestError(
                    f"earliest_pickup ({c(pickup_at)}) is in the past (it is {c(now_s)} now); "
                    "give a later time or leave it out for as soon as possible"
                )
            if pickup_at >= 86400:
                raise InvalidRequestError(
                    f"earliest_pickup must be on the service day {day.date.isoformat()} ({self.tz.key})"
                )
        dropoff_by = None if body.latest_dropoff is None else day.seconds(body.latest_dropoff)
        if pickup_at is not None:
            kind = BookingKind.LEAVE_AT
        elif dropoff_by is not None:
            kind = BookingKind.ARRIVE_BY
        else:
            kind = BookingKind.ASAP
            if p_walk > 0:  # booked from a place: ready once the rider has walked to the stop
                pickup_at = self.config.policy.walking.ready_at(now_s, p_walk)
        if body.channel is not None:
            self.policy.check_channel(body.channel, day.at(now_s) if now is None else now.astimezone(self.tz))
        booking = Booking(
            id=rid,
            pickup=p,
            dropoff=d,
            kind=kind,
            pickup_at=pickup_at,
            dropoff_by=dropoff_by,
            passengers=body.passengers,
            wheelchair=1 if body.wheelchair else 0,
            channel=body.channel,
        )
        return booking, p_walk, d_walk

    def core_request(
        self,
        rid: str,
        body: RideRequestIn,
        now_s: int,
        day: ServiceDay,
        *,
        clock: ClockText | None = None,
        now: _dt.datetime | None = None,
    ) -> tuple[CoreRequest, int, int]:
        """The core request of a booking made at ``now_s`` on ``day`` (the policy's), and the walks."""
        booking, p_walk, d_walk = self.booking(rid, body, now_s, day, clock=clock, now=now)
        request = self.policy.request(
            booking, self.area.matrix, now=now_s, clock=clock or self.clock_text(day)
        )
        return request, p_walk, d_walk
