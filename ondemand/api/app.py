"""The FastAPI application of the live dispatch API (``/v1``), the live map (``/map``) and ``/healthz``.

:func:`create_app` takes the service area, the fleet and rules (:class:`ServiceConfig`),
and optionally a dispatcher factory and a clock; ``ondemand serve`` builds these from a
scenario, tests inject a small synthetic area.

Every ``/v1`` call needs ``Authorization: Bearer KEY`` (keys from ``ondemand keys create``).
An operator key sees only its operator's data; a vehicle key may read the stops, its own
itinerary and report events for its own vehicle only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as _dt
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import ondemand
from ondemand.api.db import ApiKey, Operator, RideRequestRow, VehicleEventRow, VehicleRow, hash_key
from ondemand.api.schemas import (
    ApiError,
    EventAck,
    Health,
    ItineraryStop,
    Kpis,
    LivePicture,
    PointRef,
    Position,
    RideRequestIn,
    RideRequestOut,
    StopOut,
    StopRef,
    TimeWindow,
    VehicleEventIn,
    VehicleOut,
)
from ondemand.api.service import (
    AreaLike,
    Clock,
    Database,
    DispatcherFactory,
    GroupCommitter,
    OperatorService,
    ServiceConfig,
    ServiceDay,
    ServiceRegistry,
    add_ride,
    flush_rides,
    insertion_dispatcher_factory,
    new_request_id,
    plan_sequences,
    stop_kind,
    write_plans,
)
from ondemand.api.settings import ApiSettings
from ondemand.dispatch.base import Assignment
from ondemand.errors import (
    CommitFailedError,
    InfeasibleRequestError,
    InvalidRequestError,
    OndemandError,
    OutsideServiceAreaError,
    UnknownStopError,
)
from ondemand.routing.solver.model import BookingKind
from ondemand.routing.solver.model import Request as CoreRequest

__all__ = ["Principal", "create_app"]

log = logging.getLogger("ondemand.api")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "Missing or invalid API key"},
    403: {"model": ApiError, "description": "The key may not do this"},
    413: {"model": ApiError, "description": "Body too large"},
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the operator and the role of the key (never the key itself)."""

    operator_id: int
    operator_name: str
    role: Literal["operator", "vehicle"]
    vehicle_id: str | None
    key_prefix: str


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes; send a smaller body")


class _BodyLimit:
    """ASGI middleware: answer 413 for bodies above ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    detail = f"request body is larger than {self.max_bytes} bytes; send a smaller body"
                    resp = JSONResponse({"detail": detail}, status_code=413)
                    await resp(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited, send)


_bearer = HTTPBearer(auto_error=False, description="API key from `ondemand keys create`")


_KEY_CACHE_S = 30.0


async def _principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a /v1 endpoint, from its bearer key (401 when missing or unknown).

    Known keys are remembered (by hash) for 30 s, so a revoked key stops working within 30 s.
    """
    if creds is None or not creds.credentials:
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer KEY'", headers={"WWW-Authenticate": "Bearer"}
        )
    digest = hash_key(creds.credentials)
    cache: dict[str, tuple[float, Principal]] = request.app.state.key_cache
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _KEY_CACHE_S:
        return hit[1]
    who = await run_in_threadpool(_lookup_key, request.app.state.db, digest)
    if who is None:
        cache.pop(digest, None)
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (now, who)
    return who


def _lookup_key(db: Database, digest: str) -> Principal | None:
    """The principal of a key hash, or ``None`` for an unknown or revoked key."""
    with db.read() as session:
        found = session.execute(
            select(ApiKey, Operator.name)
            .join(Operator, Operator.id == ApiKey.operator_id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked.is_(False))
        ).first()
    if found is None:
        return None
    key, op_name = found
    role: Literal["operator", "vehicle"] = "vehicle" if key.role == "vehicle" else "operator"
    return Principal(key.operator_id, op_name, role, key.vehicle_id, key.prefix)


async def _operator_only(who: Annotated[Principal, Depends(_principal)]) -> Principal:
    """The caller, who must hold an operator key (403 for vehicle keys)."""
    if who.role != "operator":
        raise HTTPException(403, "this needs an operator key; vehicle keys may only report events")
    return who


Who = Annotated[Principal, Depends(_principal)]
OperatorWho = Annotated[Principal, Depends(_operator_only)]


def _lower_priority() -> None:
    """Initializer of the solver process: yield the CPU to request handling.

    On Linux the process runs under ``SCHED_IDLE`` (it gets a core only when nothing
    else wants it); elsewhere, or when that is refused, at nice 19.
    """
    idle = getattr(os, "SCHED_IDLE", None)
    try:
        if idle is None:
            raise OSError("no SCHED_IDLE")
        os.sched_setscheduler(0, idle, os.sched_param(0))
    except OSError:
        if hasattr(os, "nice"):
            os.nice(19)


def _json(model: RideRequestOut, status: int) -> Response:
    """A JSON response of an already validated model (skips FastAPI's second validation)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _body_hash(body: RideRequestIn) -> str:
    canon = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def create_app(
    area: AreaLike,
    config: ServiceConfig,
    *,
    settings: ApiSettings | None = None,
    dispatcher_factory: DispatcherFactory | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    area
        The service area: meeting points, travel-time matrix, ``stop_index`` and ``snap``.
    config
        The fleet and the booking rules.
    settings
        Database URL, time zone, re-optimisation interval, limits; from the environment when omitted.
    dispatcher_factory
        ``(vehicles, travel_times) -> dispatcher``; :class:`ondemand.dispatch.InsertionDispatcher` by default.
    clock
        Returns the current aware datetime; the wall clock by default (tests inject a fixed one).

    Returns
    -------
    FastAPI
        The application; the database is migrated and the dispatchers are rebuilt from it at startup.
    """
    settings = settings or ApiSettings()
    tz = settings.tz
    if dispatcher_factory is None:
        dispatcher_factory = insertion_dispatcher_factory(config.rules)
    the_clock: Clock = clock or (lambda: _dt.datetime.now(tz))
    rules = config.rules
    stops = list(area.stops)
    stop_ids = [str(s.id) for s in stops]
    durations = area.matrix.durations

    db = Database(settings.database_url)
    registry = ServiceRegistry(db, area, config, dispatcher_factory, tz=tz, clock=the_clock)
    committer = GroupCommitter(db)
    inflight: dict[tuple[int, str], asyncio.Event] = {}  # only touched on the event loop
    stop_reopt = threading.Event()

    def reopt_loop() -> None:
        import multiprocessing

        # OR-Tools keeps the GIL while it solves, so the solver gets its own process,
        # at a lower CPU priority than the bookings
        def new_pool() -> concurrent.futures.ProcessPoolExecutor:
            ctx = multiprocessing.get_context("spawn")
            return concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx, initializer=_lower_priority)

        pool = new_pool()  # its process starts at the first round (starting it with the server
        # measurably slowed the first seconds of bookings after a start: loading OR-Tools competes)
        try:
            while not stop_reopt.wait(settings.reopt_interval_s):
                reopt_round(pool)
                if getattr(pool, "_broken", False):
                    log.warning("the solver process died; starting a new one")
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def reopt_round(pool: concurrent.futures.Executor | None) -> int:
        """Re-optimise every operator's plan once; the number of plans adopted."""
        adopted = 0
        for svc in registry.services():
            try:
                now_s = max(0, svc.day.seconds(registry.now()))  # booked-ahead days: not started
                limit = settings.reopt_time_limit_s
                adopted += svc.reoptimise_once(committer, now=now_s, time_limit=limit, pool=pool)
            except Exception:  # the background loop must survive any solver failure
                log.exception(
                    "re-optimisation of operator %d failed; the current plan stays", svc.operator_id
                )
        return adopted

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        today = ServiceDay.of(registry.now(), tz).date.isoformat()
        with db.read() as session:  # today's operators, and every day ahead with open bookings
            pairs = session.execute(
                select(RideRequestRow.operator_id, RideRequestRow.service_date)
                .where(
                    (RideRequestRow.service_date == today)
                    | (
                        (RideRequestRow.service_date > today)
                        & RideRequestRow.status.in_(("assigned", "onboard"))
                    )
                )
                .distinct()
            ).all()
        registry.restore_all([(op, _dt.date.fromisoformat(date)) for op, date in pairs])
        thread = None
        if settings.reopt_interval_s > 0:
            thread = threading.Thread(target=reopt_loop, name="ondemand-reopt", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop_reopt.set()
            if thread is not None:
                thread.join(timeout=settings.reopt_time_limit_s + 5)
            committer.close()
            db.dispose()

    app = FastAPI(
        title="ondemand live dispatch API",
        version=ondemand.__version__,
        description=(
            f"Live booking and dispatch for the on-demand service **{config.name}**. "
            "Every /v1 call needs `Authorization: Bearer KEY` (create keys with `ondemand keys create`). "
            f"Times are ISO 8601 with an offset; the service time zone is {settings.timezone}."
        ),
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.db = db
    app.state.committer = committer
    app.state.key_cache = {}
    app.state.reoptimise_now = reopt_round
    app.state.settings = settings
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )

    # ------------------------------------------------------------------ errors
    def _err(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(OndemandError)
    async def _ondemand_error(_req: Request, exc: OndemandError) -> JSONResponse:
        if isinstance(exc, UnknownStopError | OutsideServiceAreaError | InvalidRequestError):
            return _err(422, str(exc))
        if isinstance(exc, InfeasibleRequestError):
            return _err(422, str(exc))
        return _err(400, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error (nothing was committed): %s", type(exc).__name__)
        return _err(500, "internal error; nothing was changed. The operator's log has the details")

    @app.exception_handler(CommitFailedError)
    async def _commit_failed(_req: Request, exc: CommitFailedError) -> JSONResponse:
        log.error("commit failed: %s", exc)
        return _err(503, "the database could not store this change, so it was not made; retry shortly")

    @app.exception_handler(SQLAlchemyError)
    async def _db_error(_req: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.error("database error: %s", type(exc).__name__)
        return _err(503, "the database is unavailable; nothing was changed, retry shortly")

    def for_vehicle(vehicle_id: str, who: Principal) -> None:
        if vehicle_id not in vehicle_ids:
            raise HTTPException(404, f"no vehicle {vehicle_id!r} in this service")
        if who.role == "vehicle" and who.vehicle_id != vehicle_id:
            raise HTTPException(403, "a vehicle key may only act for its own vehicle")

    vehicle_ids = {v.id for v in config.vehicles}

    # ------------------------------------------------------------------ helpers
    def stop_out(i: int) -> StopOut:
        s = stops[i]
        return StopOut(id=str(s.id), name=str(s.name), lon=float(s.lon), lat=float(s.lat))

    def row_out(row: RideRequestRow) -> RideRequestOut:
        day = ServiceDay(_dt.date.fromisoformat(row.service_date), tz)
        window = None
        if row.promise_pickup_start_s is not None and row.promise_pickup_end_s is not None:
            window = TimeWindow(
                start=day.at(row.promise_pickup_start_s), end=day.at(row.promise_pickup_end_s)
            )
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
            booked_at=day.at(row.booked_at_s),
        )

    def place(ref: StopRef | PointRef, what: str) -> tuple[int, int]:
        if isinstance(ref, StopRef):
            try:
                return area.stop_index(ref.stop_id), 0
            except UnknownStopError as exc:
                raise UnknownStopError(f"{what}: {exc}") from exc
        try:
            idx, walk = area.snap(ref.lon, ref.lat, max_walk_m=rules.max_walk_m)
        except OutsideServiceAreaError as exc:
            raise OutsideServiceAreaError(f"{what}: {exc}") from exc
        return int(idx), int(walk)

    def booking_date(body: RideRequestIn) -> _dt.date:
        """The service day a request is for (the day of its earliest pickup, else of its latest drop-off).

        Raises :class:`InvalidRequestError` beyond the booking horizon or on a day without service.
        """
        when = body.earliest_pickup if body.earliest_pickup is not None else body.latest_dropoff
        today = ServiceDay.of(registry.now(), tz).date
        date = today if when is None else when.astimezone(tz).date()
        if date != today or not config.runs_on(date):
            config.check_bookable(date, today)
        return date

    def core_request(
        rid: str, body: RideRequestIn, now_s: int, day: ServiceDay
    ) -> tuple[CoreRequest, int, int]:
        p, p_walk = place(body.pickup, "pickup")
        d, d_walk = place(body.dropoff, "dropoff")
        if p == d:
            raise InvalidRequestError(
                f"pickup and dropoff are the same meeting point ({stop_ids[p]!r}); "
                "choose two different places"
            )
        if body.passengers > config.max_seats:
            raise InvalidRequestError(
                f"{body.passengers} passengers do not fit in any vehicle (at most {config.max_seats} seats); "
                "split the group into several requests"
            )
        wheelchair = 1 if body.wheelchair else 0
        if wheelchair > config.max_wheelchair:
            raise InvalidRequestError("no vehicle of this service has a wheelchair place")
        tol = app.state.settings.past_tolerance_s
        direct = int(durations[p, d])
        p_service, d_service = rules.service_times(body.passengers, wheelchair)
        max_ride = rules.max_ride(direct)
        end_of_day = config.service_end_s
        latest_dropoff_s: int | None = None
        if body.latest_dropoff is not None:
            latest_dropoff_s = day.seconds(body.latest_dropoff)
            if latest_dropoff_s < now_s:
                raise InvalidRequestError("latest_dropoff is in the past; give a future time")
        if body.earliest_pickup is not None:
            earliest = day.seconds(body.earliest_pickup)
            if earliest < now_s - tol:
                raise InvalidRequestError(
                    "earliest_pickup is in the past; give a future time or leave it out"
                )
            if earliest >= 86400:
                raise InvalidRequestError(
                    f"earliest_pickup must be on the service day {day.date.isoformat()} ({tz.key})"
                )
            if earliest > end_of_day:
                raise InvalidRequestError(
                    f"earliest_pickup is after the day's last service time ({day.at(end_of_day).isoformat()})"
                )
            earliest = max(earliest, now_s)
            kind = BookingKind.LEAVE_AT
            if latest_dropoff_s is not None and latest_dropoff_s <= earliest:
                raise InvalidRequestError("latest_dropoff is not after earliest_pickup (reversed window)")
        elif latest_dropoff_s is not None:
            kind = BookingKind.ARRIVE_BY
            earliest = max(now_s, latest_dropoff_s - p_service - max_ride - rules.max_wait_s)
        else:
            kind = BookingKind.ASAP
            earliest = now_s
        latest_pickup = earliest + rules.max_wait_s
        if latest_dropoff_s is None:
            latest_dropoff_s = latest_pickup + p_service + max_ride
        else:
            latest_pickup = min(latest_pickup, latest_dropoff_s - p_service - direct)
            if latest_pickup < earliest:
                raise InvalidRequestError(
                    "latest_dropoff is too early: even a direct ride from the earliest pickup arrives later"
                )
        if latest_dropoff_s >= 86400 + 6 * 3600:  # a service day may run past midnight, not past 06:00
            raise InvalidRequestError("latest_dropoff must be on the same service day")
        req = CoreRequest(
            id=rid,
            pickup=p,
            dropoff=d,
            earliest_pickup=earliest,
            latest_pickup=latest_pickup,
            latest_dropoff=latest_dropoff_s,
            max_ride=max_ride,
            passengers=body.passengers,
            wheelchair=wheelchair,
            pickup_service=p_service,
            dropoff_service=d_service,
            kind=kind,
            booked_at=now_s,
        )
        return req, p_walk, d_walk

    def itinerary_views(svc: OperatorService, vehicle_id: str, now_s: int) -> list[ItineraryStop]:
        with svc.lock:
            svc.dispatcher.advance(now_s)
            planned = list(svc.dispatcher.itinerary(vehicle_id))
            requests = dict(svc.dispatcher.plan.requests)
        out = []
        for ps in planned:
            loc = int(ps.location)
            window = getattr(ps, "window", None)
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
                    window=None
                    if window is None
                    else TimeWindow(start=svc.day.at(int(window[0])), end=svc.day.at(int(window[1]))),
                    passengers=req.passengers if req is not None else 0,
                )
            )
        return out

    def vehicle_views(
        svc: OperatorService, now_s: int
    ) -> tuple[list[VehicleOut], dict[str, list[ItineraryStop]]]:
        date = svc.day.date.isoformat()
        with db.read() as session:
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
        for v in config.vehicles:
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
            itin = itinerary_views(svc, v.id, now_s)
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

    def own_row(session: Any, request_id: str, who: Principal) -> RideRequestRow:
        row = session.get(RideRequestRow, request_id)
        if row is None or row.operator_id != who.operator_id:
            raise HTTPException(404, f"no ride request {request_id!r} for this operator")
        return row  # type: ignore[no-any-return]

    def find_by_key(operator_id: int, key: str) -> RideRequestRow | None:
        with db.read() as session:
            return session.scalar(
                select(RideRequestRow).where(
                    RideRequestRow.operator_id == operator_id, RideRequestRow.idempotency_key == key
                )
            )

    async def book(
        svc: OperatorService, body: RideRequestIn, who: Principal, idem: str | None, digest: str
    ) -> RideRequestOut:
        """Decide the request, commit the answer (group commit), then return it.

        Runs on the event loop: the dispatcher call is short and the commit is awaited.
        """
        now_s = max(0, svc.day.seconds(registry.now()))  # 0 on a booked-ahead day (not started yet)
        rid = new_request_id()
        req, p_walk, d_walk = core_request(rid, body, now_s, svc.day)
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
            booked_at_s=req.booked_at,
            earliest_pickup_s=req.earliest_pickup,
            latest_pickup_s=req.latest_pickup,
            latest_dropoff_s=req.latest_dropoff,
            max_ride_s=req.max_ride,
            pickup_service_s=req.pickup_service,
            dropoff_service_s=req.dropoff_service,
            created_at=_dt.datetime.now(_dt.UTC),
            updated_at=_dt.datetime.now(_dt.UTC),
        )
        seqs: dict[str, list[list[str]]] = {}
        with svc.lock:
            result = svc.dispatcher.submit(req, now=now_s)
            if isinstance(result, Assignment):
                vehicle_id = result.vehicle_id
                svc.version += 1
                seqs = plan_sequences(svc.dispatcher, [vehicle_id])
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
                row.reason = result.reason

            def work(session: Session) -> None:
                add_ride(session, row)
                write_plans(session, svc, seqs)

            ticket = committer.enqueue(work)  # queued under the lock: database order = dispatcher order
        try:
            await ticket.wait_async()
        except CommitFailedError:
            if vehicle_id is not None:
                with svc.lock:  # not durable, so not promised: take it back
                    svc.dispatcher.cancel(rid, now=now_s)
                    svc.version += 1
            raise
        return row_out(row)

    # ------------------------------------------------------------------ endpoints
    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and database readiness (no key needed)."""
        try:
            with db.read() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise HTTPException(503, "database unavailable") from exc
        return Health(status="ok", database="ok", version=ondemand.__version__)

    @app.get("/v1/stops", response_model=list[StopOut], responses=_ERRORS, tags=["service"])
    def list_stops(_who: Who) -> list[StopOut]:
        """The meeting points (乗降ポイント) of the service."""
        return [stop_out(i) for i in range(len(stops))]

    @app.post(
        "/v1/ride-requests",
        response_model=RideRequestOut,
        status_code=201,
        responses={
            **_ERRORS,
            200: {
                "model": RideRequestOut,
                "description": "Replay of an earlier request (same Idempotency-Key)",
            },
            409: {"model": ApiError, "description": "Idempotency-Key reused with another body"},
            422: {"model": ApiError, "description": "Invalid request"},
        },
        tags=["ride requests"],
    )
    async def create_ride_request(
        body: RideRequestIn,
        who: OperatorWho,
        idempotency_key: Annotated[
            str | None,
            Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
        ] = None,
    ) -> Response:
        """Book a ride: answered at once with a promise (``assigned``) or a refusal with a reason.

        The answer is committed to the database before it is sent. Send an
        ``Idempotency-Key`` to make retries safe: the same key returns the first answer.
        """
        digest = _body_hash(body)
        date = booking_date(body)
        svc: OperatorService | None = registry.peek(who.operator_id, date)
        if svc is None:
            svc = await run_in_threadpool(registry.get, who.operator_id, date)
        if idempotency_key is None:
            return _json(await book(svc, body, who, None, digest), 201)
        slot = (who.operator_id, idempotency_key)
        while (busy := inflight.get(slot)) is not None:  # one request per key at a time
            await busy.wait()
        inflight[slot] = asyncio.Event()
        try:
            prior = await run_in_threadpool(find_by_key, who.operator_id, idempotency_key)
            if prior is None:
                try:
                    return _json(await book(svc, body, who, idempotency_key, digest), 201)
                except CommitFailedError as exc:
                    # Another server process on the same database committed this key first
                    # (the unique constraint refused ours; book() took our seat back): replay.
                    if not isinstance(exc.__cause__, IntegrityError):
                        raise
                    prior = await run_in_threadpool(find_by_key, who.operator_id, idempotency_key)
                    if prior is None:
                        raise
            if prior.body_hash != digest:
                raise HTTPException(409, "this Idempotency-Key was used with another body; use a new key")
            return _json(row_out(prior), 200)
        finally:
            inflight.pop(slot).set()

    @app.get(
        "/v1/ride-requests/{request_id}",
        response_model=RideRequestOut,
        responses=_ERRORS,
        tags=["ride requests"],
    )
    def get_ride_request(request_id: str, who: OperatorWho) -> RideRequestOut:
        """A ride request and its current state."""
        with db.read() as session:
            return row_out(own_row(session, request_id, who))

    @app.post(
        "/v1/ride-requests/{request_id}/cancel",
        response_model=RideRequestOut,
        responses={**_ERRORS, 409: {"model": ApiError, "description": "Cannot be cancelled now"}},
        tags=["ride requests"],
    )
    def cancel_ride_request(request_id: str, who: OperatorWho) -> RideRequestOut:
        """Cancel a booking that has not been picked up yet; its seat is freed at once."""
        with db.read() as session:
            row = own_row(session, request_id, who)
        if row.status == "cancelled":
            return row_out(row)
        if row.status != "assigned":
            raise HTTPException(409, f"a ride request in status {row.status!r} cannot be cancelled")
        ride_date = _dt.date.fromisoformat(row.service_date)
        today = ServiceDay.of(registry.now(), tz).date
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
                if not svc.dispatcher.cancel(request_id, now=now_s):
                    raise HTTPException(409, "the dispatcher could not cancel this ride (already under way?)")
                svc.version += 1
                if row.vehicle_id:
                    seqs = plan_sequences(svc.dispatcher, [row.vehicle_id])
                ticket = committer.enqueue(work)
        else:
            ticket = committer.enqueue(work)
        ticket.wait()
        row.status = "cancelled"
        row.updated_at = changed_at
        return row_out(row)

    @app.get("/v1/vehicles", response_model=list[VehicleOut], responses=_ERRORS, tags=["vehicles"])
    def list_vehicles(who: OperatorWho) -> list[VehicleOut]:
        """The fleet with positions, riders on board and next stops."""
        svc = registry.get(who.operator_id)
        views, _ = vehicle_views(svc, svc.day.seconds(registry.now()))
        return views

    @app.get(
        "/v1/vehicles/{vehicle_id}/itinerary",
        response_model=list[ItineraryStop],
        responses={**_ERRORS, 404: {"model": ApiError, "description": "Unknown vehicle"}},
        tags=["vehicles"],
    )
    def vehicle_itinerary(vehicle_id: str, who: Who) -> list[ItineraryStop]:
        """The planned stops of one vehicle, in order (for the driver)."""
        for_vehicle(vehicle_id, who)
        svc = registry.get(who.operator_id)
        return itinerary_views(svc, vehicle_id, svc.day.seconds(registry.now()))

    @app.post(
        "/v1/vehicles/{vehicle_id}/events",
        response_model=EventAck,
        responses={
            **_ERRORS,
            404: {"model": ApiError, "description": "Unknown vehicle or ride request"},
            409: {"model": ApiError, "description": "Event does not fit the ride's state"},
            422: {"model": ApiError, "description": "Invalid event"},
        },
        tags=["vehicles"],
    )
    def vehicle_event(vehicle_id: str, ev: VehicleEventIn, who: Who) -> EventAck:
        """Report a vehicle event: position, arrived at a stop, picked up, dropped off, no-show."""
        for_vehicle(vehicle_id, who)
        svc = registry.get(who.operator_id)
        now_dt = registry.now()
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
            loc = area.stop_index(ev.stop_id)
            with svc.lock:
                svc.dispatcher.record_arrival(vehicle_id, loc, at=at_s)
                svc.version += 1
                seqs = plan_sequences(svc.dispatcher, [vehicle_id])

                def arrived(session: Session) -> None:
                    write_plans(session, svc, seqs)
                    session.add(event_row)

                ticket = committer.enqueue(arrived)
            ticket.wait()
            return EventAck(accepted=True, type=ev.type)
        if ev.request_id is None:
            raise InvalidRequestError(f"a {ev.type} event needs 'request_id'")
        with db.read() as session:
            row = own_row(session, ev.request_id, who)
        if row.vehicle_id != vehicle_id or row.service_date != date:
            raise HTTPException(
                409, f"ride request {row.id!r} is not assigned to vehicle {vehicle_id!r} today"
            )
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

            ticket = committer.enqueue(ride_event)
        ticket.wait()
        return EventAck(accepted=True, type=ev.type, request_status=new_status)

    @app.get("/v1/kpis", response_model=Kpis, responses=_ERRORS, tags=["service"])
    def kpis(who: OperatorWho) -> Kpis:
        """Today's figures: requests, refusals, cancellations, riders, promised wait, walking, lost rides."""
        day = ServiceDay.of(registry.now(), tz)
        with db.read() as session:
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
            vehicles=len(config.vehicles),
        )

    @app.get("/v1/live", response_model=LivePicture, responses=_ERRORS, tags=["service"])
    def live(who: OperatorWho) -> LivePicture:
        """Everything the control-room map shows, in one call."""
        svc = registry.get(who.operator_id)
        now_dt = registry.now()
        views, nexts = vehicle_views(svc, svc.day.seconds(now_dt))
        with db.read() as session:

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
            open_requests=[row_out(r) for r in open_rows],
            alarms=[row_out(r) for r in lost_rows],
        )

    # ------------------------------------------------------------------ live map
    static_dir = resources.files("ondemand.api").joinpath("static")
    # One vendored Leaflet for the whole package: the copy the offline folium maps inline.
    leaflet_dir = resources.files("ondemand.viz").joinpath("static", "leaflet-1.9.3")
    app.mount("/static/leaflet", StaticFiles(directory=str(leaflet_dir)), name="leaflet")
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    def live_map() -> HTMLResponse:
        html = static_dir.joinpath("map.html").read_text(encoding="utf-8")
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": (
                    "default-src 'self'; img-src 'self' data: https://tile.openstreetmap.org; "
                    "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'"
                ),
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    return app
