"""``/v1/riders``: the phone desk's rider registry (personal data: find, register, change, export, erase).

Operator keys only. A rider is found with ``POST /v1/riders/search`` (a name or phone
number in a query string would end up in access logs). ``GET /v1/riders/{id}/export``
returns everything held about one rider; ``DELETE /v1/riders/{id}`` erases it (ride
requests stay, unlinked). See :mod:`ondemand.api.riders`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from ondemand.api.clock import ServiceDay
from ondemand.api.db import RideRequestRow, RiderRow
from ondemand.api.deps import AUTH_ERRORS, ApiContext, Context, OperatorWho
from ondemand.api.riders import (
    erase,
    export_rows,
    find,
    join_needs,
    name_key,
    new_rider_id,
    own_rider,
    rider_out,
)
from ondemand.api.schemas import (
    ApiError,
    RideRequestOut,
    RiderErased,
    RiderExport,
    RiderIn,
    RiderOut,
    RiderPatch,
    RiderSearch,
)
from ondemand.api.views import row_out

__all__ = ["router"]

router = APIRouter(tags=["riders"])

RiderId = Annotated[str, Path(min_length=1, max_length=64, description="The rider's id (ri_...)")]

_UNKNOWN: dict[str, Any] = {"model": ApiError, "description": "No such rider for this operator"}
_INVALID: dict[str, Any] = {"model": ApiError, "description": "Invalid request"}


def _utcnow(ctx: ApiContext) -> _dt.datetime:
    return ctx.now().astimezone(_dt.UTC)


def _get(ctx: ApiContext, operator_id: int, rider_id: str) -> RiderRow:
    with ctx.db.read() as session:
        row = own_rider(session, operator_id, rider_id)
    if row is None:
        raise HTTPException(404, f"no rider {rider_id!r} for this operator (erased, or never registered)")
    return row


@router.post(
    "/v1/riders",
    response_model=RiderOut,
    status_code=201,
    responses={**AUTH_ERRORS, 422: _INVALID},
)
def register_rider(body: RiderIn, who: OperatorWho, ctx: Context) -> RiderOut:
    """Register a rider: name, phone number and needs (a wheelchair place, help to board)."""
    now = _utcnow(ctx)
    row = RiderRow(
        id=new_rider_id(),
        operator_id=who.operator_id,
        name=body.name,
        name_key=name_key(body.name),
        phone=body.phone,
        needs=join_needs(body.needs),
        created_at=now,
        updated_at=now,
    )
    ctx.committer.run(lambda session: session.add(row))
    return rider_out(row, ctx.tz)


@router.post(
    "/v1/riders/search",
    response_model=list[RiderOut],
    responses={**AUTH_ERRORS, 422: _INVALID},
)
def search_riders(body: RiderSearch, who: OperatorWho, ctx: Context) -> list[RiderOut]:
    """Find riders by 3 or more digits of their phone number, or by part of their name (at most 20)."""
    with ctx.db.read() as session:
        rows = find(session, who.operator_id, body.q)
    return [rider_out(r, ctx.tz) for r in rows]


@router.get(
    "/v1/riders/{rider_id}", response_model=RiderOut, responses={**AUTH_ERRORS, 404: _UNKNOWN, 422: _INVALID}
)
def get_rider(rider_id: RiderId, who: OperatorWho, ctx: Context) -> RiderOut:
    """One rider."""
    return rider_out(_get(ctx, who.operator_id, rider_id), ctx.tz)


@router.patch(
    "/v1/riders/{rider_id}", response_model=RiderOut, responses={**AUTH_ERRORS, 404: _UNKNOWN, 422: _INVALID}
)
def update_rider(rider_id: RiderId, body: RiderPatch, who: OperatorWho, ctx: Context) -> RiderOut:
    """Change a rider's name, phone number or needs (fields left out stay as they are)."""
    _get(ctx, who.operator_id, rider_id)
    now = _utcnow(ctx)
    changed: list[RiderRow] = []

    def work(session: Session) -> None:
        row = own_rider(session, who.operator_id, rider_id)
        if row is None:  # erased meanwhile
            return
        if body.name is not None:
            row.name, row.name_key = body.name, name_key(body.name)
        if body.phone is not None:
            row.phone = body.phone
        if body.needs is not None:
            row.needs = join_needs(body.needs)
        row.updated_at = now
        changed.append(row)

    ctx.committer.run(work)
    if not changed:
        raise HTTPException(404, f"no rider {rider_id!r} for this operator (erased, or never registered)")
    return rider_out(changed[0], ctx.tz)


@router.get(
    "/v1/riders/{rider_id}/ride-requests",
    response_model=list[RideRequestOut],
    responses={**AUTH_ERRORS, 404: _UNKNOWN, 422: _INVALID},
)
def rider_rides(rider_id: RiderId, who: OperatorWho, ctx: Context) -> list[RideRequestOut]:
    """The rider's ride requests from today on (every status), soonest first."""
    _get(ctx, who.operator_id, rider_id)
    today = ServiceDay.of(ctx.now(), ctx.tz).date.isoformat()
    with ctx.db.read() as session:
        rows = session.scalars(
            select(RideRequestRow)
            .where(
                RideRequestRow.operator_id == who.operator_id,
                RideRequestRow.rider_id == rider_id,
                RideRequestRow.service_date >= today,
            )
            .order_by(RideRequestRow.service_date, RideRequestRow.earliest_pickup_s, RideRequestRow.id)
        )
        return [row_out(ctx, r) for r in rows]


@router.get(
    "/v1/riders/{rider_id}/export",
    response_model=RiderExport,
    responses={**AUTH_ERRORS, 404: _UNKNOWN, 422: _INVALID},
)
def export_rider(rider_id: RiderId, who: OperatorWho, ctx: Context) -> RiderExport:
    """Everything held about one rider, as JSON: the profile and every ride request linked to it."""
    with ctx.db.read() as session:
        row = own_rider(session, who.operator_id, rider_id)
        if row is None:
            raise HTTPException(404, f"no rider {rider_id!r} for this operator (erased, or never registered)")
        rides = [row_out(ctx, r) for r in export_rows(session, who.operator_id, rider_id)]
    return RiderExport(
        rider=rider_out(row, ctx.tz),
        bookings=rides,
        exported_at=ctx.now(),
        retention_days=ctx.settings.rider_retention_days,
    )


@router.delete(
    "/v1/riders/{rider_id}",
    response_model=RiderErased,
    responses={**AUTH_ERRORS, 404: _UNKNOWN, 422: _INVALID},
)
def erase_rider(rider_id: RiderId, who: OperatorWho, ctx: Context) -> RiderErased:
    """Erase a rider's personal data; their ride requests stay for statistics, without the link."""
    result: list[int | None] = []
    ctx.committer.run(lambda session: result.append(erase(session, who.operator_id, rider_id)))
    if not result or result[0] is None:
        raise HTTPException(404, f"no rider {rider_id!r} for this operator (erased, or never registered)")
    return RiderErased(id=rider_id, erased=True, bookings_unlinked=result[0])
