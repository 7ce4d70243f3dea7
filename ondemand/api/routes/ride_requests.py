"""``/v1/ride-requests``: book a ride (with an optional ``Idempotency-Key``), read it, cancel it."""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ondemand.api.clock import ServiceDay
from ondemand.api.db import RideRequestRow, VehicleEventRow
from ondemand.api.deps import AUTH_ERRORS, ApiContext, Context, OperatorWho, Principal
from ondemand.api.persistence import (
    add_ride,
    flush_rides,
    new_request_id,
    note_turn,
    plan_sequences,
    write_plans,
)
from ondemand.api.registry import OperatorService
from ondemand.api.riders import own_rider
from ondemand.api.schemas import ApiError, RideRequestIn, RideRequestOut
from ondemand.api.views import own_row, row_out
from ondemand.dispatch.base import Assignment
from ondemand.errors import CommitFailedError, InvalidRequestError

__all__ = ["router"]

router = APIRouter(tags=["ride requests"])


def _json(model: RideRequestOut, status: int) -> Response:
    """A JSON response of an already validated model (skips FastAPI's second validation)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _body_hash(body: RideRequestIn) -> str:
    data = body.model_dump(mode="json")
    if data.get("channel") is None:  # keys stored before bodies had a channel keep their hash
        del data["channel"]
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def _find_by_key(ctx: ApiContext, operator_id: int, key: str) -> RideRequestRow | None:
    with ctx.db.read() as session:
        return session.scalar(
            select(RideRequestRow).where(
                RideRequestRow.operator_id == operator_id, RideRequestRow.idempotency_key == key
            )
        )


def _check_rider(ctx: ApiContext, operator_id: int, rider_id: str) -> None:
    """Refuse a booking for a rider this operator has not registered (422)."""
    with ctx.db.read() as session:
        if own_rider(session, operator_id, rider_id) is None:
            raise InvalidRequestError(
                f"unknown rider_id {rider_id!r}: register the rider first (POST /v1/riders) or leave it out"
            )


async def _book(
    ctx: ApiContext, svc: OperatorService, body: RideRequestIn, who: Principal, idem: str | None, digest: str
) -> RideRequestOut:
    """Decide the request, commit the answer (group commit), then return it.

    Runs on the event loop: the dispatcher call is short and the commit is awaited.
    """
    now = ctx.now()
    booked_s = svc.day.seconds(now)  # when it was booked: < 0 on the day before (booked ahead)
    now_s = max(0, booked_s)  # the dispatcher's now: 0 on a booked-ahead day (not started yet)
    rid = new_request_id()
    clock = ctx.desk.clock_text(svc.day, now)  # answers write times as HH:MM, dated on another day
    req, p_walk, d_walk = ctx.desk.core_request(rid, body, now_s, svc.day, clock=clock, now=now)
    stop_ids = ctx.desk.stop_ids
    row = RideRequestRow(
        id=rid,
        operator_id=who.operator_id,
        idempotency_key=idem,
        body_hash=digest,
        service_date=svc.day.date.isoformat(),
        pickup_stop=stop_ids[req.pickup],
        dropoff_stop=stop_ids[req.dropoff],
        pickup_walk_m=p_walk,
        dropoff_walk_m=d_walk,
        passengers=req.passengers,
        wheelchair=req.wheelchair,
        kind=req.kind.value,
        booked_at_s=booked_s,
        earliest_pickup_s=req.earliest_pickup,
        latest_pickup_s=req.latest_pickup,
        latest_dropoff_s=req.latest_dropoff,
        max_ride_s=req.max_ride,
        pickup_service_s=req.pickup_service,
        dropoff_service_s=req.dropoff_service,
        created_at=_dt.datetime.now(_dt.UTC),
        updated_at=_dt.datetime.now(_dt.UTC),
        rider_id=body.rider_id,
        channel=body.channel,
    )
    seqs: dict[str, list[list[str]]] = {}
    turned: VehicleEventRow | None = None
    with svc.lock:
        svc.check_live()
        result = svc.dispatcher.submit(req, now=now_s)
        if isinstance(result, Assignment):
            vehicle_id = result.vehicle_id
            svc.version += 1
            seqs = plan_sequences(svc.dispatcher, [vehicle_id])
            turned = note_turn(svc, ctx.area, vehicle_id)
            start, end = result.pickup_window
            row.status, row.vehicle_id = "assigned", vehicle_id
            row.promise_pickup_start_s = int(start)
            row.promise_pickup_end_s = int(end)
            row.promise_dropoff_eta_s = int(result.dropoff_eta)
            row.promise_latest_dropoff_s = int(result.latest_dropoff)
            promised = result.request
            if promised is not None:  # the dispatcher may tighten the ride-time limit
                row.max_ride_s = int(promised.max_ride)
        else:
            row.status, row.vehicle_id = "refused", None
            row.reason_code = result.code
            # why, for people: HH:MM, the service hours, what would work (the simulator says the same)
            row.reason = ctx.desk.policy.explain(result, req, ctx.desk.area.matrix, now=now_s, clock=clock)

        def work(session: Session) -> None:
            if row.rider_id is not None and own_rider(session, who.operator_id, row.rider_id) is None:
                row.rider_id = None  # the rider was erased while this ride was being decided
            add_ride(session, row)
            write_plans(session, svc, seqs)
            if turned is not None:
                session.add(turned)

        # queued under the lock: database order = dispatcher order. If it is not committed,
        # the writer marks svc stale and the registry rebuilds it from the database.
        ticket = ctx.committer.enqueue(work, owner=svc)
    await ticket.wait_async()
    return row_out(ctx, row)


_UNKNOWN_RIDE: dict[str, Any] = {"model": ApiError, "description": "No such ride request for this operator"}
_INVALID: dict[str, Any] = {"model": ApiError, "description": "Invalid request"}


@router.post(
    "/v1/ride-requests",
    response_model=RideRequestOut,
    status_code=201,
    responses={
        **AUTH_ERRORS,
        200: {
            "model": RideRequestOut,
            "description": "Replay of an earlier request (same Idempotency-Key)",
        },
        409: {"model": ApiError, "description": "Idempotency-Key reused with another body"},
        422: {"model": ApiError, "description": "Invalid request"},
    },
)
async def create_ride_request(
    body: RideRequestIn,
    who: OperatorWho,
    ctx: Context,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> Response:
    """Book a ride: answered at once with a promise (``assigned``) or a refusal with a reason.

    The answer is committed to the database before it is sent. Send an
    ``Idempotency-Key`` to make retries safe: the same key returns the first answer.
    """
    registry, inflight = ctx.registry, ctx.inflight
    if body.rider_id is not None:
        await run_in_threadpool(_check_rider, ctx, who.operator_id, body.rider_id)
    digest = _body_hash(body)
    date = ctx.desk.booking_date(body, ServiceDay.of(ctx.now(), ctx.tz).date)

    async def service() -> OperatorService:
        svc = registry.peek(who.operator_id, date)
        return svc if svc is not None else await run_in_threadpool(registry.get, who.operator_id, date)

    if idempotency_key is None:
        return _json(await _book(ctx, await service(), body, who, None, digest), 201)
    slot = (who.operator_id, idempotency_key)
    while (busy := inflight.get(slot)) is not None:  # one request per key at a time
        await busy.wait()
    inflight[slot] = asyncio.Event()
    try:
        # a stored answer is replayed from the database (also by a standby server)
        prior = await run_in_threadpool(_find_by_key, ctx, who.operator_id, idempotency_key)
        if prior is None:
            try:
                return _json(await _book(ctx, await service(), body, who, idempotency_key, digest), 201)
            except CommitFailedError as exc:
                # Another server process on the same database committed this key first
                # (the unique constraint refused ours, nothing of ours was saved): replay.
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
                prior = await run_in_threadpool(_find_by_key, ctx, who.operator_id, idempotency_key)
                if prior is None:
                    raise
        if prior.body_hash != digest:
            raise HTTPException(409, "this Idempotency-Key was used with another body; use a new key")
        return _json(row_out(ctx, prior), 200)
    finally:
        inflight.pop(slot).set()


@router.get(
    "/v1/ride-requests/{request_id}",
    response_model=RideRequestOut,
    responses={**AUTH_ERRORS, 404: _UNKNOWN_RIDE, 422: _INVALID},
)
def get_ride_request(request_id: str, who: OperatorWho, ctx: Context) -> RideRequestOut:
    """A ride request and its current state."""
    with ctx.db.read() as session:
        return row_out(ctx, own_row(session, request_id, who))


@router.post(
    "/v1/ride-requests/{request_id}/cancel",
    response_model=RideRequestOut,
    responses={
        **AUTH_ERRORS,
        404: _UNKNOWN_RIDE,
        409: {"model": ApiError, "description": "Cannot be cancelled now"},
        422: _INVALID,
    },
)
def cancel_ride_request(request_id: str, who: OperatorWho, ctx: Context) -> RideRequestOut:
    """Cancel a booking that has not been picked up yet; its seat is freed at once."""
    registry, committer = ctx.registry, ctx.committer
    with ctx.db.read() as session:
        row = own_row(session, request_id, who)
    if row.status == "cancelled":
        return row_out(ctx, row)
    if row.status != "assigned":
        raise HTTPException(409, f"a ride request in status {row.status!r} cannot be cancelled")
    ride_date = _dt.date.fromisoformat(row.service_date)
    today = ServiceDay.of(registry.now(), ctx.tz).date
    svc = registry.get(who.operator_id, ride_date if ride_date >= today else None)
    seqs: dict[str, list[list[str]]] = {}
    changed_at = _dt.datetime.now(_dt.UTC)

    def work(session: Session) -> None:
        flush_rides(session)
        stored = session.get(RideRequestRow, request_id)
        if stored is not None:
            stored.status = "cancelled"
            stored.updated_at = changed_at
        write_plans(session, svc, seqs)

    if row.service_date == svc.day.date.isoformat():
        now_s = max(0, svc.day.seconds(registry.now()))
        with svc.lock:
            svc.check_live()
            refused = not svc.dispatcher.cancel(request_id, now=now_s)
            if refused:
                # Perhaps a cancel of the same ride got here first: wait for every change queued
                # before this point (the committer keeps their order), then answer from the database.
                ticket = committer.enqueue(lambda _session: None)
            else:
                svc.version += 1
                if row.vehicle_id:
                    seqs = plan_sequences(svc.dispatcher, [row.vehicle_id])
                ticket = committer.enqueue(work, owner=svc)
        if refused:
            ticket.wait()
            with ctx.db.read() as session:
                row = own_row(session, request_id, who)
            if row.status == "cancelled":
                return row_out(ctx, row)  # cancels are idempotent, also when they race
            raise HTTPException(409, "the dispatcher could not cancel this ride (already under way?)")
    else:
        ticket = committer.enqueue(work)
    ticket.wait()
    row.status = "cancelled"
    row.updated_at = changed_at
    return row_out(ctx, row)
