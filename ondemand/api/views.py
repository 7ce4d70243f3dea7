"""What the API shows: stored ride requests and live plans as response models.

Shared by the routes of several resources (ride requests, vehicles, the live picture).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from fastapi import HTTPException
from sqlalchemy import func, select

from ondemand.api.clock import ServiceDay
from ondemand.api.db import RideRequestRow, VehicleRow
from ondemand.api.deps import ApiContext, Principal
from ondemand.api.persistence import stop_kind
from ondemand.api.registry import OperatorService
from ondemand.api.schemas import ItineraryStop, Position, RideRequestOut, StopOut, TimeWindow, VehicleOut

__all__ = ["itinerary_views", "own_row", "row_out", "stop_out", "vehicle_views"]


def stop_out(ctx: ApiContext, i: int) -> StopOut:
    """The meeting point with index ``i``."""
    s = ctx.stops[i]
    return StopOut(id=str(s.id), name=str(s.name), lon=float(s.lon), lat=float(s.lat))


def row_out(ctx: ApiContext, row: RideRequestRow) -> RideRequestOut:
    """A stored ride request as the API shows it (times in the service time zone)."""
    day = ServiceDay(_dt.date.fromisoformat(row.service_date), ctx.tz)
    window = None
    if row.promise_pickup_start_s is not None and row.promise_pickup_end_s is not None:
        window = TimeWindow(start=day.at(row.promise_pickup_start_s), end=day.at(row.promise_pickup_end_s))
    return RideRequestOut(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        vehicle_id=row.vehicle_id,
        pickup_stop=row.pickup_stop,
        dropoff_stop=row.dropoff_stop,
        pickup_walk_m=row.pickup_walk_m,
        dropoff_walk_m=row.dropoff_walk_m,
        passengers=row.passengers,
        wheelchair=row.wheelchair > 0,
        pickup_window=window,
        dropoff_eta=None if row.promise_dropoff_eta_s is None else day.at(row.promise_dropoff_eta_s),
        latest_dropoff=(
            None if row.promise_latest_dropoff_s is None else day.at(row.promise_latest_dropoff_s)
        ),
        reason=row.reason,
        reason_code=row.reason_code,
        booked_at=day.at(row.booked_at_s),
        rider_id=row.rider_id,
        channel=row.channel,
    )


def own_row(session: Any, request_id: str, who: Principal) -> RideRequestRow:
    """The caller's operator's ride request ``request_id`` (404 when there is none)."""
    row = session.get(RideRequestRow, request_id)
    if row is None or row.operator_id != who.operator_id:
        raise HTTPException(404, f"no ride request {request_id!r} for this operator")
    return row  # type: ignore[no-any-return]


def itinerary_views(
    ctx: ApiContext, svc: OperatorService, vehicle_id: str, now_s: int
) -> list[ItineraryStop]:
    """The planned stops of a vehicle from ``now_s`` on, in order."""
    stops = ctx.stops
    with svc.lock:
        svc.dispatcher.advance(now_s)
        planned = list(svc.dispatcher.itinerary(vehicle_id))
        requests = dict(svc.dispatcher.plan.requests)
    out = []
    for ps in planned:
        loc = int(ps.location)
        req = requests.get(ps.request_id)
        s = stops[loc] if 0 <= loc < len(stops) else None
        out.append(
            ItineraryStop(
                request_id=str(ps.request_id),
                kind=stop_kind(ps.kind),  # type: ignore[arg-type]
                stop_id=str(s.id) if s is not None else str(loc),
                stop_name=str(s.name) if s is not None else "",
                lon=float(s.lon) if s is not None else 0.0,
                lat=float(s.lat) if s is not None else 0.0,
                eta=svc.day.at(int(ps.eta)),
                window=TimeWindow(start=svc.day.at(int(ps.window[0])), end=svc.day.at(int(ps.window[1]))),
                passengers=req.passengers if req is not None else 0,
                wheelchair=req is not None and req.wheelchair > 0,
            )
        )
    return out


def vehicle_views(
    ctx: ApiContext, svc: OperatorService, now_s: int
) -> tuple[list[VehicleOut], dict[str, list[ItineraryStop]]]:
    """The fleet (positions, riders on board, next stop) and each vehicle's next five stops."""
    stops, tz = ctx.stops, ctx.tz
    date = svc.day.date.isoformat()
    with ctx.db.read() as session:
        rows = {
            r.id: r
            for r in session.scalars(select(VehicleRow).where(VehicleRow.operator_id == svc.operator_id))
        }
        onboard = dict(
            session.execute(
                select(RideRequestRow.vehicle_id, func.sum(RideRequestRow.passengers))
                .where(
                    RideRequestRow.operator_id == svc.operator_id,
                    RideRequestRow.service_date == date,
                    RideRequestRow.status == "onboard",
                )
                .group_by(RideRequestRow.vehicle_id)
            ).all()
        )
    with svc.lock:
        starts = {r.vehicle.id: r.vehicle.start for r in svc.dispatcher.plan.routes}
    out = []
    nexts: dict[str, list[ItineraryStop]] = {}
    midnight = svc.day.midnight
    for v in ctx.config.vehicles:
        row = rows.get(v.id)
        position = None
        if row is not None and row.last_lon is not None and row.last_lat is not None:
            seen = row.last_seen_at
            if seen is not None and seen.tzinfo is None:
                seen = seen.replace(tzinfo=_dt.UTC)
            if seen is None or seen >= midnight:
                position = Position(
                    lon=row.last_lon, lat=row.last_lat, at=None if seen is None else seen.astimezone(tz)
                )
        if position is None:
            start = starts.get(v.id, v.start)
            if 0 <= start < len(stops):
                position = Position(lon=float(stops[start].lon), lat=float(stops[start].lat), at=None)
        itin = itinerary_views(ctx, svc, v.id, now_s)
        nexts[v.id] = itin[:5]
        out.append(
            VehicleOut(
                id=v.id,
                seats=v.seats,
                wheelchair_places=v.wheelchair_places,
                position=position,
                onboard=int(onboard.get(v.id, 0) or 0),
                next_stop=itin[0] if itin else None,
            )
        )
    return out, nexts
