"""What the phone desk asks besides bookings: the service's clock (``/v1/desk``) and offers without booking.

``POST /v1/ride-requests/quote`` asks the operator's live dispatcher what it would offer
for a ride request now, and books nothing; when it would refuse, it says why and tries
the nearest times before and after the one asked for (``alternatives``). The offer is
not held: booking (``POST /v1/ride-requests``) decides again and may differ if other
bookings came in between.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from fastapi import APIRouter

from ondemand.api.clock import ServiceDay
from ondemand.api.deps import AUTH_ERRORS, ApiContext, Context, OperatorWho
from ondemand.api.registry import OperatorService
from ondemand.api.schemas import ApiError, DeskInfo, Quote, QuoteOffer, RideRequestIn, TimeWindow
from ondemand.dispatch.base import Assignment
from ondemand.errors import InvalidRequestError, OndemandError, ServiceUnavailableError

__all__ = ["ALTERNATIVE_OFFSETS_MIN", "MAX_ALTERNATIVES", "router"]

router = APIRouter(tags=["phone desk"])

ALTERNATIVE_OFFSETS_MIN = (-15, 15, -30, 30, -45, 45, -60, 60, 90, 120)
"""Minutes from the time asked for that a refused request is tried at again, nearest first."""

MAX_ALTERNATIVES = 3
"""At most this many alternatives are offered."""

_QUOTE_ID = "quote"


def _hhmm(seconds: int) -> str:
    h, m = divmod(max(0, seconds) // 60, 60)
    return f"{h:02d}:{m:02d}"


@router.get("/v1/desk", response_model=DeskInfo, responses=AUTH_ERRORS)
def desk_info(_who: OperatorWho, ctx: Context) -> DeskInfo:
    """The service's name, time zone, current time and daily hours (the desk forms times with them)."""
    now = ctx.now()
    svc = ctx.config.policy.service
    return DeskInfo(
        service=ctx.config.name,
        timezone=ctx.settings.timezone,
        now=now,
        today=ServiceDay.of(now, ctx.tz).date.isoformat(),
        service_start=_hhmm(int(svc.start)),
        service_end=_hhmm(int(svc.end)),
        channel="phone" if "phone" in ctx.config.policy.rules.names else None,
    )


def _offer(
    ctx: ApiContext, svc: OperatorService, body: RideRequestIn, now_s: int, now: _dt.datetime
) -> QuoteOffer | str:
    """The dispatcher's offer for ``body`` now, or the reason it would refuse (nothing is booked)."""
    req, _, _ = ctx.desk.core_request(_QUOTE_ID, body, now_s, svc.day, now=now)
    with svc.lock:
        svc.check_live()
        result = svc.dispatcher.quote(req, now=now_s)
    if not isinstance(result, Assignment):
        return str(result.reason)
    start, end = result.pickup_window
    return QuoteOffer(
        earliest_pickup=body.earliest_pickup,
        latest_dropoff=body.latest_dropoff,
        pickup_window=TimeWindow(start=svc.day.at(int(start)), end=svc.day.at(int(end))),
        dropoff_eta=svc.day.at(int(result.dropoff_eta)),
        latest_dropoff_promised=svc.day.at(int(result.latest_dropoff)),
    )


def _shifted(body: RideRequestIn, now: _dt.datetime, minutes: int) -> RideRequestIn:
    """The same request asked ``minutes`` from its time (from now when it asked for none)."""
    delta = _dt.timedelta(minutes=minutes)
    if body.latest_dropoff is not None and body.earliest_pickup is None:
        return body.model_copy(update={"latest_dropoff": body.latest_dropoff + delta})
    base = body.earliest_pickup if body.earliest_pickup is not None else now
    return body.model_copy(update={"earliest_pickup": base + delta})


@router.post(
    "/v1/ride-requests/quote",
    response_model=Quote,
    responses={**AUTH_ERRORS, 422: {"model": ApiError, "description": "Invalid request"}},
)
def quote_ride_request(body: RideRequestIn, who: OperatorWho, ctx: Context) -> Quote:
    """What the dispatcher would offer for this ride now, booking nothing; if nothing, why and when instead.

    Alternatives are the same ride asked up to two hours before or after (for "as soon as
    possible": later), nearest first, on the same service day. A time the service refuses
    outright (e.g. after its last pickup) is answered like a refusal when another time works.
    """
    now = ctx.now()
    date = ctx.desk.booking_date(body, ServiceDay.of(now, ctx.tz).date)
    svc = ctx.registry.get(who.operator_id, date)
    now_s = max(0, svc.day.seconds(now))
    invalid: InvalidRequestError | None = None
    try:
        answer = _offer(ctx, svc, body, now_s, now)
    except InvalidRequestError as exc:  # e.g. a time after the last service: perhaps another time works
        invalid, answer = exc, str(exc)
    if isinstance(answer, QuoteOffer):
        return Quote(offer=answer, reason=None, alternatives=[])
    found: list[QuoteOffer] = []
    offsets: Any = ALTERNATIVE_OFFSETS_MIN
    if body.earliest_pickup is None and body.latest_dropoff is None:
        offsets = sorted(m for m in ALTERNATIVE_OFFSETS_MIN if m > 0)  # as soon as possible: only later
    for minutes in offsets:
        other = _shifted(body, now, minutes)
        when = other.earliest_pickup if other.earliest_pickup is not None else other.latest_dropoff
        if when is None or when.astimezone(ctx.tz).date() != svc.day.date:
            continue
        try:
            alt = _offer(ctx, svc, other, now_s, now)
        except ServiceUnavailableError:
            raise
        except OndemandError:  # e.g. a time in the past: not an alternative
            continue
        if isinstance(alt, QuoteOffer):
            found.append(alt)
            if len(found) == MAX_ALTERNATIVES:
                break
    if invalid is not None and not found:
        raise invalid  # bad input no other time mends (the same stop twice, ...): 422
    return Quote(offer=None, reason=answer, alternatives=found)
