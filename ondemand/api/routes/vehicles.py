"""``/v1/vehicles``: the fleet, a vehicle's itinerary, and the events vehicles report."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from sqlalchemy.orm import Session

from ondemand.api.db import RideRequestRow, VehicleEventRow, VehicleRow
from ondemand.api.deps import AUTH_ERRORS, ApiContext, Context, OperatorWho, Principal, Who
from ondemand.api.persistence import flush_rides, plan_sequences, write_plans
from ondemand.api.schemas import ApiError, EventAck, ItineraryStop, VehicleEventIn, VehicleOut
from ondemand.api.views import itinerary_views, own_row, vehicle_views
from ondemand.errors import InvalidRequestError

__all__ = ["router"]

router = APIRouter(tags=["vehicles"])


def _for_vehicle(ctx: ApiContext, vehicle_id: str, who: Principal) -> None:
    """404 for a vehicle not in the fleet; 403 for a vehicle key of another vehicle."""
    if vehicle_id not in ctx.vehicle_ids:
        raise HTTPException(404, f"no vehicle {vehicle_id!r} in this service")
    if who.role == "vehicle" and who.vehicle_id != vehicle_id:
        raise HTTPException(403, "a vehicle key may only act for its own vehicle")


@router.get("/v1/vehicles", response_model=list[VehicleOut], responses=AUTH_ERRORS)
def list_vehicles(who: OperatorWho, ctx: Context) -> list[VehicleOut]:
    """The fleet with positions, riders on board and next stops."""
    svc = ctx.registry.get(who.operator_id)
    views, _ = vehicle_views(ctx, svc, svc.day.seconds(ctx.now()))
    return views


@router.get(
    "/v1/vehicles/{vehicle_id}/itinerary",
    response_model=list[ItineraryStop],
    responses={
        **AUTH_ERRORS,
        404: {"model": ApiError, "description": "Unknown vehicle"},
        422: {"model": ApiError, "description": "Invalid request"},
    },
)
def vehicle_itinerary(vehicle_id: str, who: Who, ctx: Context) -> list[ItineraryStop]:
    """The planned stops of one vehicle, in order (for the driver)."""
    _for_vehicle(ctx, vehicle_id, who)
    svc = ctx.registry.get(who.operator_id)
    return itinerary_views(ctx, svc, vehicle_id, svc.day.seconds(ctx.now()))


@router.post(
    "/v1/vehicles/{vehicle_id}/events",
    response_model=EventAck,
    responses={
        **AUTH_ERRORS,
        404: {"model": ApiError, "description": "Unknown vehicle or ride request"},
        409: {"model": ApiError, "description": "Event does not fit the ride's state"},
        422: {"model": ApiError, "description": "Invalid event"},
    },
)
def vehicle_event(vehicle_id: str, ev: VehicleEventIn, who: Who, ctx: Context) -> EventAck:
    """Report a vehicle event: position, arrived at a stop, picked up, dropped off, no-show."""
    _for_vehicle(ctx, vehicle_id, who)
    committer = ctx.committer
    svc = ctx.registry.get(who.operator_id)
    now_dt = ctx.now()
    at_dt = ev.at if ev.at is not None else now_dt
    if at_dt > now_dt + _dt.timedelta(seconds=60):
        raise InvalidRequestError("event time 'at' is in the future")
    at_s = svc.day.seconds(at_dt)
    if at_s < 0:
        raise InvalidRequestError("event time 'at' is before today's service day")
    date = svc.day.date.isoformat()
    event_row = VehicleEventRow(
        operator_id=who.operator_id,
        vehicle_id=vehicle_id,
        service_date=date,
        kind=ev.type,
        at_s=at_s,
        lon=ev.lon,
        lat=ev.lat,
        stop_id=ev.stop_id,
        request_id=ev.request_id,
    )
    if ev.type == "position":
        if ev.lon is None or ev.lat is None:
            raise InvalidRequestError("a position event needs 'lon' and 'lat'")
        lon, lat = ev.lon, ev.lat

        def moved(session: Session) -> None:
            vrow = session.get(VehicleRow, (who.operator_id, vehicle_id))
            if vrow is not None:
                vrow.last_lon, vrow.last_lat = lon, lat
                vrow.last_seen_at = at_dt.astimezone(_dt.UTC)
            session.add(event_row)

        committer.run(moved)
        return EventAck(accepted=True, type=ev.type)
    if ev.type == "arrived":
        if ev.stop_id is None:
            raise InvalidRequestError("an arrived event needs 'stop_id'")
        loc = ctx.area.stop_index(ev.stop_id)
        with svc.lock:
            svc.check_live()
            svc.dispatcher.record_arrival(vehicle_id, loc, at=at_s)
            svc.version += 1
            seqs = plan_sequences(svc.dispatcher, [vehicle_id])

            def arrived(session: Session) -> None:
                write_plans(session, svc, seqs)
                session.add(event_row)

            ticket = committer.enqueue(arrived, owner=svc)
        ticket.wait()
        return EventAck(accepted=True, type=ev.type)
    if ev.request_id is None:
        raise InvalidRequestError(f"a {ev.type} event needs 'request_id'")
    with ctx.db.read() as session:
        row = own_row(session, ev.request_id, who)
    if row.vehicle_id != vehicle_id or row.service_date != date:
        raise HTTPException(409, f"ride request {row.id!r} is not assigned to vehicle {vehicle_id!r} today")
    needed = {"picked_up": "assigned", "no_show": "assigned", "dropped_off": "onboard"}[ev.type]
    if row.status != needed:
        raise HTTPException(409, f"cannot record {ev.type} for a ride request in status {row.status!r}")
    record: Callable[..., None] = {
        "picked_up": svc.dispatcher.record_pickup,
        "dropped_off": svc.dispatcher.record_dropoff,
        "no_show": svc.dispatcher.record_no_show,
    }[ev.type]
    new_status = {"picked_up": "onboard", "dropped_off": "completed", "no_show": "no_show"}[ev.type]
    rid = row.id
    with svc.lock:
        svc.check_live()
        try:
            record(rid, at=at_s)
        except (LookupError, ValueError) as exc:
            raise HTTPException(409, f"the dispatcher refused this event: {exc}") from exc
        svc.version += 1
        seqs = plan_sequences(svc.dispatcher, [vehicle_id])

        def ride_event(session: Session) -> None:
            flush_rides(session)
            stored = session.get(RideRequestRow, rid)
            if stored is not None:
                stored.status = new_status
                if ev.type == "picked_up":
                    stored.picked_up_at_s = at_s
                elif ev.type == "dropped_off":
                    stored.dropped_off_at_s = at_s
                stored.updated_at = _dt.datetime.now(_dt.UTC)
            write_plans(session, svc, seqs)
            session.add(event_row)

        ticket = committer.enqueue(ride_event, owner=svc)
    ticket.wait()
    return EventAck(accepted=True, type=ev.type, request_status=new_status)
