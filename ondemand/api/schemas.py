"""Request and response bodies of the live API (pydantic v2, strict: unknown fields are refused).

Times are ISO 8601 strings *with* an offset (``2026-11-26T10:00:00+09:00``); a time
without an offset is refused. Places are either ``{"stop_id": "..."}`` or
``{"lon": .., "lat": ..}`` (snapped to the nearest meeting point within walking distance).
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
)

__all__ = [
    "MAX_LISTED_ERRORS",
    "ApiError",
    "DeskInfo",
    "DriverSheet",
    "DriverStop",
    "EventAck",
    "FieldError",
    "Health",
    "ItineraryStop",
    "Kpis",
    "LivePicture",
    "Place",
    "PointRef",
    "Position",
    "Quote",
    "QuoteOffer",
    "RideRequestIn",
    "RideRequestOut",
    "RiderErased",
    "RiderExport",
    "RiderIn",
    "RiderOut",
    "RiderPatch",
    "RiderSearch",
    "StopOut",
    "StopRef",
    "TimeWindow",
    "VehicleEventIn",
    "VehicleOut",
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
# Coordinates are JSON numbers (integers allowed): strings such as "135.45", booleans, NaN and
# infinities (also 1e309, which parses to infinity) are refused.
Lon = Annotated[StrictFloat, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[StrictFloat, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=64)]

_FIRST_YEAR, _LAST_YEAR = 2000, 2999


def _plausible(when: _dt.datetime) -> _dt.datetime:
    """Refuse times whose year (in UTC) is outside 2000-2999 (year 1 or 9999 would overflow later)."""
    try:
        year = when.astimezone(_dt.UTC).year
    except OverflowError:
        year = when.year
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise ValueError(f"time must be between the years {_FIRST_YEAR} and {_LAST_YEAR}")
    return when


ApiTime = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""An ISO 8601 time with an offset, in the years 2000 to 2999."""

MAX_LISTED_ERRORS = 20
"""At most this many problems are listed in an error answer (``ApiError.errors``)."""


class StopRef(BaseModel):
    """A meeting point given by its id."""

    model_config = _STRICT
    stop_id: Id


class PointRef(BaseModel):
    """A point given by longitude and latitude (WGS 84), snapped to the nearest meeting point."""

    model_config = _STRICT
    lon: Lon
    lat: Lat


def _place_kind(value: Any) -> str:
    """``"stop"`` for a place with a ``stop_id``, else ``"point"`` (errors then name one kind only)."""
    if isinstance(value, dict):
        return "stop" if "stop_id" in value else "point"
    return "stop" if isinstance(value, StopRef) else "point"


Place = Annotated[
    Annotated[StopRef, Tag("stop")] | Annotated[PointRef, Tag("point")], Discriminator(_place_kind)
]


class RideRequestIn(BaseModel):
    """A ride request: where from and to, how many, and when."""

    model_config = _STRICT
    pickup: Place
    dropoff: Place
    passengers: StrictInt = Field(default=1, ge=1, le=100)
    wheelchair: StrictBool = False
    earliest_pickup: ApiTime | None = Field(
        default=None, description="Earliest pickup; absent means as soon as possible."
    )
    latest_dropoff: ApiTime | None = Field(default=None, description="Arrive by this time (optional).")
    rider_id: Id | None = Field(
        default=None, description="The registered rider this ride is for (optional; see /v1/riders)."
    )
    channel: Id | None = Field(
        default=None,
        description=(
            "How the rider booked: one of the service's booking channels (app, phone, web, line)."
            " Its hours apply (a closed channel is refused with the time it opens) and its lead time"
            " (the earliest pickup is at least that long after booking). Absent: no channel rule."
        ),
    )


class TimeWindow(BaseModel):
    """A time window [start, end]."""

    start: AwareDatetime
    end: AwareDatetime


class RideRequestOut(BaseModel):
    """The answer to a ride request, and its current state."""

    id: str
    status: Literal["assigned", "refused", "cancelled", "onboard", "completed", "no_show", "lost"]
    vehicle_id: str | None
    pickup_stop: str
    dropoff_stop: str
    pickup_walk_m: int
    dropoff_walk_m: int
    passengers: int
    wheelchair: bool
    pickup_window: TimeWindow | None
    dropoff_eta: AwareDatetime | None
    latest_dropoff: AwareDatetime | None
    reason: str | None
    reason_code: str | None = Field(
        default=None,
        description=(
            "Why refused, for programs (the reason above is for people): window_passed, ride_too_long,"
            " arrives_too_late, no_vehicle_fits, outside_hours, no_feasible_time, unknown_location,"
            " duplicate_id, internal or refused."
        ),
    )
    booked_at: AwareDatetime
    rider_id: str | None = Field(default=None, description="The registered rider, if any.")
    channel: str | None = Field(default=None, description="The booking channel, if given.")


class StopOut(BaseModel):
    """A meeting point (乗降ポイント)."""

    id: str
    name: str
    lon: float
    lat: float


class Position(BaseModel):
    """A reported position."""

    lon: float
    lat: float
    at: AwareDatetime | None


class ItineraryStop(BaseModel):
    """One planned stop of a vehicle."""

    request_id: str
    kind: Literal["pickup", "dropoff"]
    stop_id: str
    stop_name: str
    lon: float
    lat: float
    eta: AwareDatetime
    window: TimeWindow | None
    passengers: int
    wheelchair: bool = Field(default=False, description="The riders need a wheelchair place")


class VehicleOut(BaseModel):
    """A vehicle with its last known position and next stop."""

    id: str
    seats: int
    wheelchair_places: int
    position: Position | None
    onboard: int
    next_stop: ItineraryStop | None


class VehicleEventIn(BaseModel):
    """An event reported by a vehicle.

    ``type`` decides which fields are needed: ``position`` needs ``lon``/``lat``;
    ``arrived`` needs ``stop_id``; ``picked_up``, ``dropped_off`` and ``no_show`` need
    ``request_id``. ``at`` defaults to now. A ``position`` may also say how far the van has
    got on the leg it is driving (``driven_s``): with mid-leg diversion the dispatcher then
    counts from there where the van can next turn (without it, from the position placed on the
    leg's road path).
    """

    model_config = _STRICT
    type: Literal["position", "arrived", "picked_up", "dropped_off", "no_show"]
    at: ApiTime | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    stop_id: Id | None = None
    request_id: Id | None = None
    driven_s: StrictInt | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="position only: seconds driven since the van left its last stop for the next one",
    )


class DriverStop(ItineraryStop):
    """A stop of the driver's sheet: the planned stop and the registered rider to meet there, if any."""

    rider_name: str | None = Field(default=None, description="How the driver greets the registered rider")
    needs: list[Need] = Field(default_factory=list, description="The registered rider's needs")


class DriverSheet(BaseModel):
    """What the driver's tablet shows: the vehicle, the service clock and the stops ahead in order."""

    vehicle_id: str
    service: str
    time_zone: str = Field(description="The service time zone (IANA name); times are given in it")
    now: AwareDatetime = Field(description="The server's current time (queued events are dated by it)")
    seats: int
    wheelchair_places: int
    stops: list[DriverStop]


class EventAck(BaseModel):
    """Acknowledgement of a vehicle event."""

    accepted: bool
    type: str
    request_status: str | None = None


class Kpis(BaseModel):
    """Today's key figures of the operator's service."""

    service_date: str
    requests: int
    assigned: int
    refused: int
    cancelled: int
    completed: int
    no_show: int
    onboard: int
    lost: int = Field(description="Bookings lost in a restart (their pickup window passed); an alarm")
    refusal_rate: float
    passengers_booked: int
    mean_promised_wait_s: float | None
    mean_walk_m: float | None
    vehicles: int


class LivePicture(BaseModel):
    """What the control-room map shows: vehicles, their next stops and open requests."""

    now: AwareDatetime
    vehicles: list[VehicleOut]
    next_stops: dict[str, list[ItineraryStop]]
    open_requests: list[RideRequestOut]
    alarms: list[RideRequestOut] = Field(
        default_factory=list, description="Today's lost bookings: riders who may be waiting in vain"
    )


class Health(BaseModel):
    """Liveness and readiness."""

    status: Literal["ok"]
    database: Literal["ok"]
    version: str


class FieldError(BaseModel):
    """One problem of a request: where (``loc``, e.g. ``["body", "pickup", "lon"]``) and what."""

    loc: list[str | int]
    msg: str
    type: str


class ApiError(BaseModel):
    """An error answer: what is wrong and what to do.

    Validation errors (422) also list the problems found, at most ``MAX_LISTED_ERRORS``
    of them (``detail`` says how many there were).
    """

    detail: str
    errors: list[FieldError] | None = Field(default=None, max_length=MAX_LISTED_ERRORS)


# --------------------------------------------------------------------------- riders (personal data)

Need = Literal["wheelchair", "boarding_help"]
"""What a rider needs of the service: a wheelchair place, or help to board (more time at the stop)."""


def _name(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a name may not contain control characters")
    return value


def _phone(value: str) -> str:
    """A phone number as digits (an optional leading ``+``); spaces, hyphens, dots and brackets dropped."""
    import unicodedata

    text = unicodedata.normalize("NFKC", value).strip()
    plus = text.startswith("+")
    digits = "".join(c for c in text if c not in " -.()‐‑‒–—−ー")
    digits = digits[1:] if plus else digits
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a phone number has digits, spaces, hyphens and brackets only (e.g. 0187-43-1234)")
    if not 6 <= len(digits) <= 15:
        raise ValueError("a phone number has 6 to 15 digits")
    return ("+" if plus else "") + digits


RiderName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Phone = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_phone)]


class RiderIn(BaseModel):
    """A rider to register: only what the service needs to book for them and call them back."""

    model_config = _STRICT
    name: RiderName = Field(description="How the clerk and the driver address the rider.")
    phone: Phone = Field(description="To find the rider when they call and to call them back.")
    needs: list[Need] = Field(default_factory=list, max_length=2)


class RiderPatch(BaseModel):
    """Changes to a rider (fields left out stay as they are)."""

    model_config = _STRICT
    name: RiderName | None = None
    phone: Phone | None = None
    needs: list[Need] | None = Field(default=None, max_length=2)


class RiderSearch(BaseModel):
    """Find riders by part of a phone number (3 or more digits) or of a name.

    A POST body, not a query string: a phone number or name in a URL would end up in access logs.
    """

    model_config = _STRICT
    q: str = Field(min_length=1, max_length=100)


class RiderOut(BaseModel):
    """A registered rider."""

    id: str
    name: str
    phone: str
    needs: list[Need]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class RiderExport(BaseModel):
    """Everything held about one rider (a disclosure request under the APPI): profile and bookings."""

    rider: RiderOut
    bookings: list[RideRequestOut]
    exported_at: AwareDatetime
    retention_days: int = Field(description="Riders without a booking for this many days are erased.")


class RiderErased(BaseModel):
    """The answer to an erasure: the rider's personal data is gone, their bookings stay unlinked."""

    id: str
    erased: bool
    bookings_unlinked: int


# ------------------------------------------------------------------------------------ the desk


class DeskInfo(BaseModel):
    """What the phone desk needs to know of the service: its name, time zone and current time."""

    service: str
    timezone: str
    now: AwareDatetime
    today: str
    service_start: str = Field(description="First pickup of a service day, HH:MM")
    service_end: str = Field(description="End of a service day, HH:MM")
    channel: str | None = Field(
        default=None, description="The channel the desk books through: phone, when the service has it"
    )


class QuoteOffer(BaseModel):
    """An offer the dispatcher would make now (nothing is booked)."""

    earliest_pickup: AwareDatetime | None = Field(description="The time asked for (leave at), if any")
    latest_dropoff: AwareDatetime | None = Field(description="The time asked for (arrive by), if any")
    pickup_window: TimeWindow
    dropoff_eta: AwareDatetime
    latest_dropoff_promised: AwareDatetime


class Quote(BaseModel):
    """The dispatcher's answer to a ride request, without booking: an offer, or the reason and alternatives.

    ``alternatives`` are the nearest times (before and after the one asked for) at which
    the same ride would be offered now, nearest first; empty when the offer is given.
    """

    offer: QuoteOffer | None
    reason: str | None
    alternatives: list[QuoteOffer]
