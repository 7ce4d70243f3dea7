"""Request and response bodies of the live API (pydantic v2, strict: unknown fields are refused).

Times are ISO 8601 strings *with* an offset (``2026-11-26T10:00:00+09:00``); a time
without an offset is refused. Places are either ``{"stop_id": "..."}`` or
``{"lon": .., "lat": ..}`` (snapped to the nearest meeting point within walking distance).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

__all__ = [
    "ApiError",
    "EventAck",
    "Health",
    "ItineraryStop",
    "Kpis",
    "LivePicture",
    "Place",
    "PointRef",
    "Position",
    "RideRequestIn",
    "RideRequestOut",
    "StopOut",
    "StopRef",
    "TimeWindow",
    "VehicleEventIn",
    "VehicleOut",
]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class StopRef(BaseModel):
    """A meeting point given by its id."""

    model_config = _STRICT
    stop_id: Id


class PointRef(BaseModel):
    """A point given by longitude and latitude (WGS 84), snapped to the nearest meeting point."""

    model_config = _STRICT
    lon: Lon
    lat: Lat


Place = StopRef | PointRef


class RideRequestIn(BaseModel):
    """A ride request: where from and to, how many, and when."""

    model_config = _STRICT
    pickup: Place
    dropoff: Place
    passengers: StrictInt = Field(default=1, ge=1, le=100)
    wheelchair: StrictBool = False
    earliest_pickup: AwareDatetime | None = Field(
        default=None, description="Earliest pickup; absent means as soon as possible."
    )
    latest_dropoff: AwareDatetime | None = Field(default=None, description="Arrive by this time (optional).")


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
    booked_at: AwareDatetime


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
    ``request_id``. ``at`` defaults to now.
    """

    model_config = _STRICT
    type: Literal["position", "arrived", "picked_up", "dropped_off", "no_show"]
    at: AwareDatetime | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    stop_id: Id | None = None
    request_id: Id | None = None


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


class ApiError(BaseModel):
    """An error answer: what is wrong and what to do."""

    detail: str
