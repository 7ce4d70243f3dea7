"""``/v1/vehicles``: the fleet, a vehicle's itinerary, and the events vehicles report.

``/v1/driver`` is what the driver's tablet page reads: its vehicle's stops ahead and the
service clock. Events may carry an ``Idempotency-Key``: a resent event (a tablet that was
offline, a retry after a timeout) is answered from the stored event and applied once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ondemand.api.db import RideRequestRow, RiderRow, VehicleEventRow, VehicleRow
from ondemand.api.deps import AUTH_ERRORS, ApiContext, Context, OperatorWho, Principal, Who
from ondemand.api.persistence import driven_on_leg, flush_rides, plan_sequences, write_plans
from ondemand.api.riders import split_needs
from ondemand.api.schemas import (
    ApiError,
    DriverSheet,
    DriverStop,
    EventAck,
    ItineraryStop,
    VehicleEventIn,
    VehicleOut,
)
from ondemand.api.views import itinerary_views, own_row, vehicle_views
from ondemand.errors import CommitFailedError, InvalidRequestError

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


@router.get(
    "/v1/driver",
    response_model=DriverSheet,
    responses={
        **AUTH_ERRORS,
        404: {"model": ApiError, "description": "Unknown vehicle"},
        422: {"model": ApiError, "description": "Invalid request (an operator key must name the vehicle)"},
    },
)
def driver_sheet(
    who: Who,
    ctx: Context,
    vehicle_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="The vehicle (needed with an operator key)"),
    ] = None,
) -> DriverSheet:
    """The driver's view: the key's vehicle, the service clock and the stops ahead, in order.

    A vehicle key shows its own vehicle; an operator key names one with ``vehicle_id``.
    """
    if vehicle_id is None:
        if who.vehicle_id is None:
            raise InvalidRequestError(
                "an operator key must name the vehicle: GET /v1/driver?vehicle_id=V (or use a vehicle key)"
            )
        vehicle_id = who.vehicle_id
    _for_vehicle(ctx, vehicle_id, who)
    svc = ctx.registry.get(who.operator_id)
    now = ctx.now()
    vehicle = next(v for v in ctx.config.vehicles if v.id == vehicle_id)
    planned = itinerary_views(ctx, svc, vehicle_id, svc.day.seconds(now))
    riders = _riders_of(ctx, who.operator_id, {s.request_id for s in planned})
    stops = []
    for s in planned:
        rider = riders.get(s.request_id)
        if rider is None:
            stops.append(DriverStop(**s.model_dump()))
        else:
            stops.append(DriverStop(**s.model_dump(), rider_name=rider[0], needs=split_needs(rider[1])))
    return DriverSheet(
        vehicle_id=vehicle_id,
        service=ctx.config.name,
        time_zone=ctx.settings.timezone,
        now=now,
        seats=vehicle.seats,
        wheelchair_places=vehicle.wheelchair_places,
        stops=stops,
    )


def _riders_of(ctx: ApiContext, operator_id: int, request_ids: set[str]) -> dict[str, tuple[str, str]]:
    """Name and stored needs of the registered rider of each ride request (the driver sees no more)."""
    if not request_ids:
        return {}
    with ctx.db.read() as session:
        rows = session.execute(
            select(RideRequestRow.id, RiderRow.name, RiderRow.needs)
            .join(RiderRow, RiderRow.id == RideRequestRow.rider_id)
            .where(RideRequestRow.id.in_(request_ids), RiderRow.operator_id == operator_id)
        ).all()
    return {str(rid): (str(name), str(needs)) for rid, name, needs in rows}


_NEW_STATUS = {"picked_up": "onboard", "dropped_off": "completed", "no_show": "no_show"}
"""The ride status each rider event leads to."""


def _event_hash(ev: VehicleEventIn) -> str:
    canon = json.dumps(ev.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _find_event(ctx: ApiContext, operator_id: int, vehicle_id: str, key: str) -> VehicleEventRow | None:
    with ctx.db.read() as session:
        return session.scalar(
            select(VehicleEventRow).where(
                VehicleEventRow.operator_id == operator_id,
                VehicleEventRow.vehicle_id == vehicle_id,
                VehicleEventRow.idempotency_key == key,
            )
        )


def _replay(prior: VehicleEventRow, digest: str, response: Response) -> EventAck:
    """The answer to a resent event: the first answer, or 409 when the key came with another event."""
    if prior.body_hash != digest:
        raise HTTPException(409, "this Idempotency-Key was used with another event; use a new key")
    response.headers["Idempotent-Replayed"] = "true"
    return EventAck(accepted=True, type=prior.kind, request_status=_NEW_STATUS.get(prior.kind))


@router.post(
    "/v1/vehicles/{vehicle_id}/events",
    response_model=EventAck,
    responses={
        **AUTH_ERRORS,
        404: {"model": ApiError, "description": "Unknown vehicle or ride request"},
        409: {
            "model": ApiError,
            "description": "Event does not fit the ride's state, or Idempotency-Key used for another event",
        },
        422: {"model": ApiError, "description": "Invalid event"},
    },
)
def vehicle_event(
    vehicle_id: str,
    ev: VehicleEventIn,
    who: Who,
    ctx: Context,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> EventAck:
    """Report a vehicle event: position, arrived at a stop, picked up, dropped off, no-show.

    Send an ``Idempotency-Key`` to make resending safe: an event already stored under
    the key is not applied again; its first answer is returned (with the header
    ``Idempotent-Replayed: true``).
    """
    _for_vehicle(ctx, vehicle_id, who)
    if idempotency_key is None:
        return _apply_event(vehicle_id, ev, who, ctx, None, None)
    digest = _event_hash(ev)
    with ctx.event_keys.hold((who.operator_id, vehicle_id, idempotency_key)):
        # a stored event is answered from the database, before any dispatcher work
        prior = _find_event(ctx, who.operator_id, vehicle_id, idempotency_key)
        if prior is None:
            try:
                return _apply_event(vehicle_id, ev, who, ctx, idempotency_key, digest)
            except CommitFailedError as exc:
                # another server process on the same database stored this key first
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
                prior = _find_event(ctx, who.operator_id, vehicle_id, idempotency_key)
                if prior is None:
                    raise
        return _replay(prior, digest, response)


def _apply_event(
    vehicle_id: str, ev: VehicleEventIn, who: Principal, ctx: ApiContext, key: str | None, digest: str | None
) -> EventAck:
    """Apply one event to the live plan and store it (with its idempotency key, if any)."""
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
        idempotency_key=key,
        body_hash=digest,
    )
    if ev.driven_s is not None and ev.type != "position":
        raise InvalidRequestError(f"'driven_s' belongs to a position event, not to {ev.type!r}")
    if ev.type == "position":
        if ev.lon is None or ev.lat is None:
            raise InvalidRequestError("a position event needs 'lon' and 'lat'")
        lon, lat = ev.lon, ev.lat
        if ev.driven_s is not None or svc.divert:
            # where the van is on its leg: where it can next turn (reported, or from the position)
            with svc.lock:
                svc.check_live()
                driven = ev.driven_s
                if driven is None:
                    driven = driven_on_leg(svc, ctx.area, vehicle_id, lon, lat)
                if driven is not None:
                    svc.dispatcher.record_progress(vehicle_id, driven, at=at_s)

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
            svc.last_point[vehicle_id] = loc
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
    new_status = _NEW_STATUS[ev.type]
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
