"""``/v1/kpis`` and ``/v1/live``: today's figures and everything the control-room map shows."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from ondemand.api.clock import ServiceDay
from ondemand.api.db import RideRequestRow
from ondemand.api.deps import AUTH_ERRORS, Context, OperatorWho
from ondemand.api.schemas import Kpis, LivePicture
from ondemand.api.views import row_out, vehicle_views

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/v1/kpis", response_model=Kpis, responses=AUTH_ERRORS)
def kpis(who: OperatorWho, ctx: Context) -> Kpis:
    """Today's figures: requests, refusals, cancellations, riders, promised wait, walking, lost rides."""
    day = ServiceDay.of(ctx.now(), ctx.tz)
    with ctx.db.read() as session:
        rows = list(
            session.scalars(
                select(RideRequestRow).where(
                    RideRequestRow.operator_id == who.operator_id,
                    RideRequestRow.service_date == day.date.isoformat(),
                )
            )
        )
    by: dict[str, int] = {}
    for r in rows:
        by[r.status] = by.get(r.status, 0) + 1
    accepted = [r for r in rows if r.status in ("assigned", "onboard", "completed", "no_show")]
    waits = [
        r.promise_pickup_start_s - r.earliest_pickup_s
        for r in accepted
        if r.promise_pickup_start_s is not None
    ]
    walks = [r.pickup_walk_m + r.dropoff_walk_m for r in accepted]
    n = len(rows)
    return Kpis(
        service_date=day.date.isoformat(),
        requests=n,
        assigned=by.get("assigned", 0),
        refused=by.get("refused", 0),
        cancelled=by.get("cancelled", 0),
        completed=by.get("completed", 0),
        no_show=by.get("no_show", 0),
        onboard=by.get("onboard", 0),
        lost=by.get("lost", 0),
        refusal_rate=by.get("refused", 0) / n if n else 0.0,
        passengers_booked=sum(r.passengers for r in accepted),
        mean_promised_wait_s=sum(waits) / len(waits) if waits else None,
        mean_walk_m=sum(walks) / len(walks) if walks else None,
        vehicles=len(ctx.config.vehicles),
    )


@router.get("/v1/live", response_model=LivePicture, responses=AUTH_ERRORS)
def live(who: OperatorWho, ctx: Context) -> LivePicture:
    """Everything the control-room map shows, in one call."""
    svc = ctx.registry.get(who.operator_id)
    now_dt = ctx.now()
    views, nexts = vehicle_views(ctx, svc, svc.day.seconds(now_dt))
    with ctx.db.read() as session:

        def today(statuses: tuple[str, ...], limit: int) -> list[RideRequestRow]:
            """Today's requests of this operator in ``statuses``, by promised pickup."""
            return list(
                session.scalars(
                    select(RideRequestRow)
                    .where(
                        RideRequestRow.operator_id == who.operator_id,
                        RideRequestRow.service_date == svc.day.date.isoformat(),
                        RideRequestRow.status.in_(statuses),
                    )
                    .order_by(RideRequestRow.promise_pickup_start_s)
                    .limit(limit)
                )
            )

        open_rows = today(("assigned", "onboard"), 500)
        lost_rows = today(("lost",), 100)
    return LivePicture(
        now=now_dt,
        vehicles=views,
        next_stops=nexts,
        open_requests=[row_out(ctx, r) for r in open_rows],
        alarms=[row_out(ctx, r) for r in lost_rows],
    )
