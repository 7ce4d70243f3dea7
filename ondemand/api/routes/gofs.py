"""``/gofs/...``: the service as MobilityData's General On-demand Feed Specification (GOFS 1.0), keyless.

Third-party apps discover the feeds at ``/gofs/gofs.json`` and read ``system_information``,
``service_brands``, ``vehicle_types``, ``zones``, ``operating_rules``, ``calendars``,
``fares`` (when the fare is known), ``booking_rules`` and ``wait_time``. Every answer has the
GOFS header (``last_updated``, ``ttl``, ``version``, ``data``).

What comes from where: hours, fleet, vehicle kind, calendar (public holidays, closures,
period), booking channels and horizon, walking limit from the running service's
:class:`~ondemand.dispatch.policy.ServicePolicy` (``ctx.config.policy``, the simulator's
rules); the operator's name, web page, phone and the fare from the scenario (``ondemand
serve`` sets ``app.state.gofs`` to :meth:`GofsInfo.from_scenario`; an app built without it
publishes the service's name and no fare). The zone is the scenario's zone polygon (the one the
booking path refuses pickups outside of) when it has one, else the convex hull of the meeting
points widened by the walking limit (riders board and alight at the meeting points).

``wait_time`` estimates how long a rider at a place would wait now: the place is snapped to
its meeting point as bookings are, and for every vehicle of today's live plans the pickup is
the end of its last planned stop (or now, when it is free) plus the drive to that meeting
point; the estimate is the earliest such pickup that is still within the vehicle's shift,
minus now. It appends the ride to a vehicle's route, so the dispatcher, which may also insert
the ride earlier in a route, can only do as well or better. No wait is given (an empty
list) outside the service area, on days without service and when no vehicle can come before
its shift ends.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ondemand.api.clock import ServiceDay
from ondemand.api.deps import ApiContext, Context
from ondemand.api.schemas import ApiError
from ondemand.errors import OutsideServiceAreaError
from ondemand.routing.geo.hull import widened_hull

__all__ = ["GOFS_VERSION", "GofsInfo", "estimate_wait", "router"]

GOFS_VERSION = "1.0"
_ZONE = "zone1"
_CALENDAR = "service"
_BRAND = "ondemand"
_FARE = "flat"
_STATIC_TTL = 3600
_WAIT_TTL = 60
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CALLING_CODES = {"JP": "81"}
_CALENDAR_DAYS = 365

router = APIRouter(prefix="/gofs", tags=["GOFS (public)"])


@dataclass(frozen=True, slots=True)
class GofsInfo:
    """What GOFS publishes that the service policy does not hold: the operator and the fare (scenario).

    Parameters
    ----------
    operator, url, phone, email, booking_url
        The operator (scenario ``[agency]``); ``phone`` as dialled locally or with ``+``.
    lang
        Language of names and messages.
    fare_jpy
        The flat fare per rider, or ``None`` when unknown (no ``fares`` feed).
    """

    operator: str | None = None
    url: str | None = None
    phone: str | None = None
    email: str | None = None
    booking_url: str | None = None
    lang: str = "ja"
    fare_jpy: int | None = None

    @classmethod
    def from_scenario(cls, scenario: Any) -> GofsInfo:
        """The operator and fare of a scenario (:func:`ondemand.scenario.load_scenario`)."""
        ag = scenario.agency
        return cls(
            operator=ag.name,
            url=ag.url,
            phone=ag.phone,
            email=ag.email,
            booking_url=ag.booking_url,
            lang=ag.lang,
            fare_jpy=int(scenario.fares.flat_jpy),
        )


def _info(request: Request) -> GofsInfo:
    info = getattr(request.app.state, "gofs", None)
    return info if isinstance(info, GofsInfo) else GofsInfo()


def _name(ctx: ApiContext, info: GofsInfo) -> str:
    return info.operator or ctx.config.name


def _phone(ctx: ApiContext, info: GofsInfo) -> str | None:
    return _e164(info.phone, ctx.config.policy.service.holiday_country)


def _e164(phone: str | None, country: str) -> str | None:
    """The number in E.164 form (GOFS forbids punctuation), or ``None`` when it cannot be told."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+"):
        return "+" + digits
    code = _CALLING_CODES.get(country)
    if code is not None and digits.startswith("0") and len(digits) > 1:
        return f"+{code}{digits[1:]}"
    return None


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _answer(ctx: ApiContext, data: dict[str, Any], *, ttl: int = _STATIC_TTL) -> dict[str, Any]:
    return {"last_updated": int(ctx.now().timestamp()), "ttl": ttl, "version": GOFS_VERSION, "data": data}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


_FEEDS = (
    ("system_information", "gofs_system_information"),
    ("service_brands", "gofs_service_brands"),
    ("vehicle_types", "gofs_vehicle_types"),
    ("zones", "gofs_zones"),
    ("operating_rules", "gofs_operating_rules"),
    ("calendars", "gofs_calendars"),
    ("fares", "gofs_fares"),
    ("booking_rules", "gofs_booking_rules"),
    ("wait_time", "gofs_wait_time"),
)


@router.get("/gofs.json", name="gofs_discovery")
def discovery(request: Request, ctx: Context) -> dict[str, Any]:
    """Auto-discovery: the GOFS feeds of this service, by language."""
    info = _info(request)
    feeds = [
        {"name": name, "url": str(request.url_for(route))}
        for name, route in _FEEDS
        if name != "fares" or info.fare_jpy is not None
    ]
    return _answer(ctx, {info.lang: {"feeds": feeds}})


@router.get("/system_information.json", name="gofs_system_information")
def system_information(request: Request, ctx: Context) -> dict[str, Any]:
    """The service: name, operator, time zone, language, contact."""
    info = _info(request)
    data = {
        "language": info.lang,
        "timezone": ctx.settings.timezone,
        "name": ctx.config.name,
        "operator": info.operator,
        "url": info.url,
        "phone_number": _phone(ctx, info),
        "email": info.email,
    }
    return _answer(ctx, _drop_none(data))


@router.get("/service_brands.json", name="gofs_service_brands")
def service_brands(request: Request, ctx: Context) -> dict[str, Any]:
    """The one service brand (shared rides between meeting points)."""
    return _answer(ctx, {"service_brands": [{"brand_id": _BRAND, "brand_name": _name(ctx, _info(request))}]})


@router.get("/vehicle_types.json", name="gofs_vehicle_types")
def vehicle_types(ctx: Context) -> dict[str, Any]:
    """The vehicles: seats and whether a wheelchair can board."""
    vehicles = ctx.config.vehicles
    wheel = (
        "boarding_accessible" if max(v.wheelchair_places for v in vehicles) > 0 else "boarding_inaccessible"
    )
    vt = {
        "vehicle_type_id": ctx.config.policy.service.vehicle_kind,
        "max_capacity": max(v.seats for v in vehicles),
        "wheelchair_boarding": wheel,
    }
    return _answer(ctx, {"vehicle_types": [vt]})


@router.get("/zones.json", name="gofs_zones")
def zones(request: Request, ctx: Context) -> dict[str, Any]:
    """The service area: the scenario's zone polygon, else the meeting points' hull widened by the walk."""
    zone = getattr(ctx.area, "zone", None)
    name = f"{_name(ctx, _info(request))} (board and alight at the meeting points)"
    if zone is not None:  # the same polygon the booking path refuses pickups outside of
        from shapely.geometry import mapping

        geometry: dict[str, Any] = json.loads(json.dumps(mapping(zone.geometry)))
        name = f"{zone.name}: {name}"
    else:
        walking = ctx.config.policy.walking
        geometry = widened_hull(
            ((float(s.lon), float(s.lat)) for s in ctx.stops), buffer_m=walking.max_walk_m / walking.circuity
        )
    feature = {"type": "Feature", "zone_id": _ZONE, "properties": {"name": name}, "geometry": geometry}
    return _answer(ctx, {"zones": {"type": "FeatureCollection", "features": [feature]}})


@router.get("/operating_rules.json", name="gofs_operating_rules")
def operating_rules(request: Request, ctx: Context) -> dict[str, Any]:
    """Rides within the zone during the service hours on the service days."""
    policy = ctx.config.policy
    rule = {
        "from_zone_id": _ZONE,
        "to_zone_id": _ZONE,
        "start_pickup_window": _hms(policy.start),
        "end_pickup_window": _hms(policy.end),
        "end_dropoff_window": _hms(policy.end),
        "calendars": [_CALENDAR],
        "brand_id": _BRAND,
        "vehicle_type_id": [policy.service.vehicle_kind],
        "fare_id": _FARE if _info(request).fare_jpy is not None else None,
    }
    return _answer(ctx, {"operating_rules": [_drop_none(rule)]})


@router.get("/calendars.json", name="gofs_calendars")
def calendars(ctx: Context) -> dict[str, Any]:
    """The next year's service days: weekly days minus holidays and closures (the policy's calendar)."""
    cal = ctx.config.policy.rules.calendar
    first = ctx.now().date()
    last = first + _dt.timedelta(days=_CALENDAR_DAYS - 1)
    if cal.period is not None:
        first, last = max(first, cal.period[0]), min(last, cal.period[1])
        last = max(first, last)
    days = list(_DAYS) if cal.days == "every_day" else list(_DAYS[:5])
    span = [first + _dt.timedelta(days=k) for k in range((last - first).days + 1)]
    excepted = [d.strftime("%Y%m%d") for d in span if _DAYS[d.weekday()] in days and not cal.runs_on(d)]
    entry = {
        "calendar_id": _CALENDAR,
        "days": days,
        "start_date": first.strftime("%Y%m%d"),
        "end_date": last.strftime("%Y%m%d"),
        "excepted_dates": excepted,
    }
    return _answer(ctx, {"calendars": [entry]}, ttl=86_400)


@router.get("/fares.json", name="gofs_fares")
def fares(request: Request, ctx: Context) -> dict[str, Any]:
    """The flat fare per rider (an empty list when the app was built without the scenario's fare)."""
    fare = _info(request).fare_jpy
    items = [] if fare is None else [{"fare_id": _FARE, "currency": "JPY", "rider": [{"amount": fare}]}]
    return _answer(ctx, {"fares": items})


@router.get("/booking_rules.json", name="gofs_booking_rules")
def booking_rules(request: Request, ctx: Context) -> dict[str, Any]:
    """How far ahead and how late a ride can be booked (the policy's channels and horizon), and where."""
    info = _info(request)
    policy = ctx.config.policy
    horizon = int(policy.service.booking_horizon_days)
    channels = policy.rules.channels
    notice = math.ceil(min(c.min_lead_s for c in channels) / 60)
    ahead = "same day only" if horizon == 0 else f"up to {horizon} days ahead"
    rule: dict[str, Any] = {"from_zone_ids": [_ZONE], "to_zone_ids": [_ZONE]}
    if horizon == 0 and notice == 0:
        rule["booking_type"] = 0
    else:
        rule["booking_type"] = 1
        rule["prior_notice_duration_min"] = notice
        if horizon > 0:
            rule["prior_notice_duration_max"] = horizon * 1440
    rule["message"] = f"Book by {'; '.join(c.describe() for c in channels)}; {ahead}."
    rule.update(
        _drop_none({"phone_number": _phone(ctx, info), "info_url": info.url, "booking_url": info.booking_url})
    )
    return _answer(ctx, {"booking_rules": [rule]})


def _fleet_states(ctx: ApiContext, date: _dt.date) -> list[tuple[int, int, int, Any]]:
    """(free from, at location, shift end, durations) of every vehicle of the live plans of ``date``.

    When no operator has a plan for ``date`` yet, the fleet is idle at its depot.
    """
    out: list[tuple[int, int, int, Any]] = []
    services = [s for s in ctx.registry.services() if s.day.date == date]
    for svc in services:
        durations = svc.tt.durations
        with svc.lock:
            for route in svc.dispatcher.plan.routes:
                v = route.vehicle
                itin = svc.dispatcher.itinerary(v.id)
                if itin:
                    out.append((itin[-1].departure, itin[-1].location, v.shift_end, durations))
                else:
                    out.append((v.available_from, v.start, v.shift_end, durations))
    if not services:
        durations = ctx.area.matrix.durations
        out = [(v.available_from, v.start, v.shift_end, durations) for v in ctx.config.vehicles]
    return out


def estimate_wait(states: Sequence[tuple[int, int, int, Any]], stop: int, now_s: int) -> int | None:
    """The earliest pickup at ``stop`` a vehicle can make after its planned stops, minus ``now_s``.

    ``None`` when no vehicle reaches the stop before its shift ends.
    """
    best: int | None = None
    for free_at, loc, shift_end, durations in states:
        pickup = max(now_s, free_at) + int(durations[loc, stop])
        if pickup <= shift_end and (best is None or pickup - now_s < best):
            best = pickup - now_s
    return best


@router.get(
    "/wait_time",
    name="gofs_wait_time",
    responses={422: {"model": ApiError, "description": "Coordinates missing or out of range"}},
)
def wait_time(
    ctx: Context,
    pickup_lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    pickup_lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    drop_off_lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    drop_off_lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    brand_id: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The current wait for a pickup at a place: seconds until a vehicle could be there (see the module)."""
    del drop_off_lat, drop_off_lon  # the wait does not depend on the destination
    none = _answer(ctx, {"wait_times": []}, ttl=_WAIT_TTL)
    if brand_id is not None and _BRAND not in brand_id.split(","):
        return none
    policy = ctx.config.policy
    now = ctx.now()
    day = ServiceDay.of(now, ctx.tz)
    try:
        stop, _walk = policy.walking.snap(ctx.area, pickup_lon, pickup_lat)
    except OutsideServiceAreaError:
        return none
    if not policy.runs_on(day.date):
        return none
    wait = estimate_wait(_fleet_states(ctx, day.date), stop, day.seconds(now))
    items = [] if wait is None else [{"brand_id": _BRAND, "wait_time": wait}]
    return _answer(ctx, {"wait_times": items}, ttl=_WAIT_TTL)
