"""The live service behind the API: one dispatcher per operator, guarded by a lock, backed by the database.

Locking order, everywhere: first the database write transaction (SQLite ``BEGIN
IMMEDIATE``), then the operator's dispatcher lock. A booking holds both only for the
dispatcher call and the insert, so every acknowledged booking is committed (durably,
``synchronous=FULL``) before the answer leaves, and what the dispatcher holds is exactly
what the database holds.

Re-optimisation (:meth:`OperatorService.reoptimise_once`) copies the dispatcher under the
lock, solves on the copy *outside* the lock, and swaps the copy in only if nothing changed
meanwhile (a version counter); the dispatcher itself never breaks a promise because
promises are hard windows of the requests (:meth:`ondemand.routing.solver.model.Request.with_promise`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as _dt
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ondemand.api.db import (
    RideRequestRow,
    VehicleEventRow,
    VehiclePlanRow,
    VehicleRow,
    make_engine,
    migrate,
    normalise_url,
)
from ondemand.dispatch.base import Dispatcher
from ondemand.errors import CommitFailedError, DatabaseUrlError, InvalidRequestError
from ondemand.routing.solver.model import BookingKind, Plan, Request, Route, StopKind, TravelTimes, Vehicle

__all__ = [
    "AreaLike",
    "Database",
    "GroupCommitter",
    "OperatorService",
    "ServiceConfig",
    "ServiceDay",
    "ServiceRegistry",
    "ServiceRules",
    "add_ride",
    "flush_rides",
    "service_config_from_scenario",
]

log = logging.getLogger("ondemand.api")

Clock = Callable[[], _dt.datetime]


class AreaLike(Protocol):
    """What the API needs of a service area (:class:`ondemand.routing.geo.area.ServiceArea` has it)."""

    @property
    def stops(self) -> Sequence[Any]: ...

    @property
    def matrix(self) -> TravelTimes: ...

    def stop_index(self, stop_id: str) -> int: ...

    def snap(self, lon: float, lat: float, *, max_walk_m: int) -> tuple[int, int]: ...


DispatcherFactory = Callable[[Sequence[Vehicle], TravelTimes], Dispatcher]


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """How requests are turned into core requests with windows (as the simulator does).

    Parameters
    ----------
    max_walk_m
        Longest walk to a meeting point when a place is given by lon/lat.
    max_wait_s
        Latest pickup after the requested (or booking) time.
    detour_factor, min_extra_ride_s
        Longest ride = ``max(ceil(detour_factor × direct), direct + min_extra_ride_s)``.
    boarding_s, alighting_s
        Seconds per passenger to board and to alight.
    wheelchair_boarding_s
        Extra seconds to board or alight a wheelchair.
    promise_window_s
        Width of the pickup window promised to the rider (centred on the planned pickup).
    auto_complete
        Whether the dispatcher treats committed stops as done at their planned time
        (for services whose vehicles do not report events).
    wait_weight, ride_weight
        Weights of the new rider's wait and ride against vehicle driving when choosing a
        vehicle and position (the scenario's ``service.wait_weight``/``ride_weight``).
    """

    max_walk_m: int = 500
    max_wait_s: int = 1800
    detour_factor: float = 2.0
    min_extra_ride_s: int = 300
    boarding_s: int = 30
    alighting_s: int = 20
    wheelchair_boarding_s: int = 180
    promise_window_s: int = 600
    auto_complete: bool = False
    wait_weight: float = 1.0
    ride_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.max_walk_m < 0 or self.max_wait_s < 0 or self.min_extra_ride_s < 0:
            raise ValueError("max_walk_m, max_wait_s and min_extra_ride_s must be >= 0")
        if self.detour_factor < 1.0:
            raise ValueError(f"detour_factor must be >= 1, got {self.detour_factor}")
        if min(self.boarding_s, self.alighting_s, self.wheelchair_boarding_s) < 0:
            raise ValueError("boarding and alighting times must be >= 0")
        if self.promise_window_s < 0:
            raise ValueError("promise_window_s must be >= 0")

    def max_ride(self, direct: int) -> int:
        """Longest ride for a trip whose direct drive takes ``direct`` seconds."""
        return max(math.ceil(self.detour_factor * direct), direct + self.min_extra_ride_s)

    def service_times(self, passengers: int, wheelchair: int) -> tuple[int, int]:
        """Pickup and drop-off service durations of a group."""
        extra = self.wheelchair_boarding_s * wheelchair
        return self.boarding_s * passengers + extra, self.alighting_s * passengers + extra


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The service an API process runs: its fleet (a template for every day) and booking rules.

    Parameters
    ----------
    name
        Name of the service (the scenario's name).
    vehicles
        The fleet; times are seconds from a service day's midnight, locations are
        indices of the service area's stops.
    rules
        Booking rules.
    booking_horizon_days
        How many days ahead a ride can be booked (0: same day only); each service day
        booked gets its own dispatcher.
    calendar
        ``"every_day"`` or ``"weekdays"`` (Monday to Friday), as in the scenario.
    closed_dates
        Further days without service (e.g. public holidays when the scenario says
        ``holidays = false``; the project has no holiday table, so list them here).
    """

    name: str
    vehicles: tuple[Vehicle, ...]
    rules: ServiceRules = field(default_factory=ServiceRules)
    booking_horizon_days: int = 0
    calendar: str = "every_day"
    closed_dates: frozenset[_dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not self.vehicles:
            raise ValueError("a service needs at least one vehicle")
        ids = [v.id for v in self.vehicles]
        if len(set(ids)) != len(ids):
            raise ValueError("vehicle ids must be unique")
        if not 0 <= self.booking_horizon_days <= 60:
            raise ValueError(f"booking_horizon_days must be 0 to 60, got {self.booking_horizon_days}")
        if self.calendar not in ("every_day", "weekdays"):
            raise ValueError(f"calendar must be 'every_day' or 'weekdays', got {self.calendar!r}")

    def runs_on(self, date: _dt.date) -> bool:
        """Whether the service runs on ``date`` (its calendar and closed dates)."""
        if date in self.closed_dates:
            return False
        return self.calendar == "every_day" or date.weekday() < 5

    def check_bookable(self, date: _dt.date, today: _dt.date) -> None:
        """Raise :class:`InvalidRequestError` unless a ride on ``date`` can be booked ``today``."""
        ahead = (date - today).days
        if ahead < 0:
            raise InvalidRequestError(f"{date.isoformat()} is in the past; book for today or a later day")
        if ahead > self.booking_horizon_days:
            last = today + _dt.timedelta(days=self.booking_horizon_days)
            span = (
                "only same-day bookings are taken"
                if self.booking_horizon_days == 0
                else f"bookings are taken up to {self.booking_horizon_days} days ahead"
            )
            raise InvalidRequestError(
                f"{date.isoformat()} is beyond the booking horizon: {span} (until {last.isoformat()})"
            )
        if not self.runs_on(date):
            which = "on weekdays only" if self.calendar == "weekdays" else "not on this day"
            raise InvalidRequestError(
                f"there is no service on {date.isoformat()} ({date.strftime('%A')}): the service runs {which}"
            )

    @property
    def max_seats(self) -> int:
        """The largest number of seats of any vehicle."""
        return max(v.seats for v in self.vehicles)

    @property
    def max_wheelchair(self) -> int:
        """The largest number of wheelchair places of any vehicle."""
        return max(v.wheelchair_places for v in self.vehicles)

    @property
    def service_end_s(self) -> int:
        """The end of the latest shift."""
        return max(v.shift_end for v in self.vehicles)


@dataclass(frozen=True, slots=True)
class ServiceDay:
    """One service day: converts between aware datetimes and the core's seconds from midnight."""

    date: _dt.date
    tz: ZoneInfo

    @property
    def midnight(self) -> _dt.datetime:
        """The day's local midnight."""
        return _dt.datetime.combine(self.date, _dt.time(0), tzinfo=self.tz)

    def seconds(self, when: _dt.datetime) -> int:
        """Seconds from this day's midnight to ``when`` (an aware datetime), rounded down."""
        return math.floor((when - self.midnight).total_seconds())

    def at(self, seconds: int) -> _dt.datetime:
        """The aware datetime (in the service time zone) ``seconds`` after midnight."""
        return (self.midnight + _dt.timedelta(seconds=int(seconds))).astimezone(self.tz)

    @classmethod
    def of(cls, when: _dt.datetime, tz: ZoneInfo) -> ServiceDay:
        """The service day that contains ``when``."""
        return cls(when.astimezone(tz).date(), tz)


class Database:
    """Engines and sessions of the API database.

    For SQLite there are two engines on the same file: writes start with ``BEGIN
    IMMEDIATE`` (writers queue instead of failing), reads use plain deferred
    transactions that never block in WAL mode.
    """

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        url = normalise_url(url)
        self.url = url
        shown = _hide_password(url)
        try:
            self.write_engine: Engine = make_engine(url)
            if url.startswith("sqlite"):
                self.read_engine: Engine = make_engine(url, immediate=False)
            else:
                self.read_engine = self.write_engine
            if run_migrations:
                migrate(self.write_engine)
        except (ImportError, ArgumentError) as exc:
            raise DatabaseUrlError(
                f"cannot use database URL {shown!r}: {exc}; give e.g. sqlite:///./ondemand.db or "
                "postgresql+psycopg://user@host/db (with the psycopg package installed)"
            ) from exc
        except OperationalError as exc:
            raise DatabaseUrlError(
                f"cannot open the database {shown!r}: {exc.orig}; check the path or server"
            ) from exc
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction holds the database write lock (SQLite); commit it yourself."""
        with self._write() as session:
            session.connection()  # BEGIN IMMEDIATE now: lock order is database first, dispatcher second
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session."""
        with self._read() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def insertion_dispatcher_factory(rules: ServiceRules) -> DispatcherFactory:
    """A factory of :class:`~ondemand.dispatch.InsertionDispatcher` configured by the booking rules."""

    def build(vehicles: Sequence[Vehicle], tt: TravelTimes) -> Dispatcher:
        from ondemand.dispatch import DispatchOptions, InsertionDispatcher, InsertionOptions

        half = rules.promise_window_s // 2
        options = DispatchOptions(  # the same options as the simulator (ondemand.sim.engine)
            insertion=InsertionOptions(
                promise_before=half,
                promise_after=rules.promise_window_s - half,
                wait_weight=rules.wait_weight,
                ride_weight=rules.ride_weight,
            ),
            auto_complete=rules.auto_complete,
        )
        return InsertionDispatcher(vehicles, tt, options=options)

    return build


class _Ticket:
    """One unit of work waiting for the group commit."""

    __slots__ = ("future", "work")

    def __init__(self, work: Callable[[Session], None]) -> None:
        self.work = work
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the work is durably committed; raise ``CommitFailedError`` if it was not."""
        try:
            self.future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise CommitFailedError(f"the database did not commit within {timeout:.0f} s") from exc

    async def wait_async(self, timeout: float = 30.0) -> None:
        """:meth:`wait` for coroutines: the event loop is not blocked."""
        try:
            await asyncio.wait_for(asyncio.wrap_future(self.future), timeout)
        except TimeoutError as exc:
            raise CommitFailedError(f"the database did not commit within {timeout:.0f} s") from exc

    def _finish(self, error: BaseException | None) -> None:
        if error is None:
            self.future.set_result(None)
        else:
            failure = CommitFailedError(f"the database refused the change ({type(error).__name__})")
            failure.__cause__ = error
            self.future.set_exception(failure)


class GroupCommitter:
    """One writer thread that commits queued changes in batches: one ``fsync`` per batch.

    Handlers enqueue a change while they hold the dispatcher lock (so the database sees
    changes in the dispatcher's order) and wait for the ticket before they answer. A
    batch is committed in one transaction; if that fails, its changes are retried one
    by one (each in a SAVEPOINT), so one bad change does not take the others down.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[_Ticket] = []
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0
        self.changes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ondemand-commit", daemon=True)
        self._thread.start()
        self._checkpointer: threading.Thread | None = None
        if db.url.startswith("sqlite"):
            self._checkpointer = threading.Thread(target=self._checkpoints, name="ondemand-wal", daemon=True)
            self._checkpointer.start()

    def enqueue(self, work: Callable[[Session], None]) -> _Ticket:
        """Queue ``work(session)`` for the next batch."""
        ticket = _Ticket(work)
        with self._cond:
            if self._closed:
                ticket._finish(RuntimeError("the server is shutting down"))
                return ticket
            self._queue.append(ticket)
            self._cond.notify()
        return ticket

    def run(self, work: Callable[[Session], None]) -> None:
        """Queue ``work`` and wait until it is committed."""
        self.enqueue(work).wait()

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=60)
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)

    def _checkpoints(self) -> None:
        """Copy the WAL into the database file now and then, outside the writer's commits.

        Automatic checkpoints are off (they would stall the commit that triggers them);
        a PASSIVE checkpoint never blocks writers.
        """
        while not self._stop.wait(1.0):
            try:
                raw = self.db.read_engine.raw_connection()  # autocommit: no BEGIN around the pragma
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    raw.close()
            except Exception as exc:  # a failed checkpoint is retried in a second
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            errors: dict[int, BaseException] = {}
            try:
                with self.db.write() as session:
                    for ticket in batch:
                        ticket.work(session)
                    flush_rides(session)
                    flush_plans(session)
                    session.commit()
            except Exception:  # retry one by one so that only the bad change fails
                errors = self._one_by_one(batch)
            self.batches += 1
            self.changes += len(batch)
            for k, ticket in enumerate(batch):
                ticket._finish(errors.get(k))

    def _one_by_one(self, batch: list[_Ticket]) -> dict[int, BaseException]:
        errors: dict[int, BaseException] = {}
        try:
            with self.db.write() as session:
                for k, ticket in enumerate(batch):
                    try:
                        with session.begin_nested():
                            ticket.work(session)
                            flush_rides(session)
                    except Exception as exc:  # this change only
                        errors[k] = exc
                flush_plans(session)
                session.commit()
        except Exception as exc:  # the database itself failed: nothing was committed
            log.error("commit of %d changes failed: %s", len(batch), type(exc).__name__)
            return dict.fromkeys(range(len(batch)), exc)
        return errors


def _hide_password(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def new_request_id() -> str:
    """A fresh ride-request id."""
    return "rr_" + uuid.uuid4().hex[:20]


def request_from_row(row: RideRequestRow, stop_index: Callable[[str], int]) -> Request:
    """The core request of a stored ride request, with its promise applied when it has one."""
    request = Request(
        id=row.id,
        pickup=stop_index(row.pickup_stop),
        dropoff=stop_index(row.dropoff_stop),
        earliest_pickup=row.earliest_pickup_s,
        latest_pickup=row.latest_pickup_s,
        latest_dropoff=row.latest_dropoff_s,
        max_ride=row.max_ride_s,
        passengers=row.passengers,
        wheelchair=row.wheelchair,
        pickup_service=row.pickup_service_s,
        dropoff_service=row.dropoff_service_s,
        kind=BookingKind(row.kind),
        booked_at=row.booked_at_s,
    )
    if (
        row.promise_pickup_start_s is not None
        and row.promise_pickup_end_s is not None
        and row.promise_latest_dropoff_s is not None
    ):
        request = request.with_promise(
            row.promise_pickup_start_s, row.promise_pickup_end_s, row.promise_latest_dropoff_s
        )
    return request


def vehicle_of_requests(plan: Plan) -> dict[str, str]:
    """Request id → vehicle id for every request in a route of ``plan``."""
    out: dict[str, str] = {}
    for route in plan.routes:
        for stop in route.stops:
            out[stop.request_id] = route.vehicle.id
        for rider in route.vehicle.onboard:
            out[rider.request.id] = route.vehicle.id
    return out


class OperatorService:
    """The dispatcher of one operator for one service day, with its lock and a change counter."""

    def __init__(
        self,
        operator_id: int,
        day: ServiceDay,
        dispatcher: Dispatcher,
        tt: TravelTimes,
    ) -> None:
        self.operator_id = operator_id
        self.day = day
        self.dispatcher = dispatcher
        self.lock = threading.Lock()
        self.version = 0
        self.restore_failures = 0
        self._tt = tt

    def reoptimise_once(
        self,
        committer: GroupCommitter,
        *,
        now: int,
        time_limit: float,
        pool: concurrent.futures.Executor | None = None,
    ) -> bool:
        """Re-optimise the plan without holding the lock while the solver runs.

        With a dispatcher that offers ``reoptimisation_snapshot``/``apply_reoptimised``
        (the :class:`~ondemand.dispatch.InsertionDispatcher`), the plan is copied under
        the lock, solved outside it, and applied under the lock; the dispatcher refuses
        it if anything changed meanwhile or if it would break a promise. Requests moved
        to another vehicle are written to the database in the same step.

        With ``pool`` (a process pool), the solver runs in another process, so that
        request handling keeps the interpreter while OR-Tools searches.

        Returns
        -------
        bool
            Whether a new plan was adopted.
        """
        d = self.dispatcher
        snapshot = getattr(d, "reoptimisation_snapshot", None)
        apply = getattr(d, "apply_reoptimised", None)
        candidate: Plan | None = None
        version = 0
        if snapshot is not None and apply is not None:
            from ondemand.routing.solver.darp import reoptimise as darp_reoptimise

            with self.lock:
                plan, version = snapshot(now=now)
            if not any(r.stops for r in plan.routes):
                return False
            if pool is None:
                candidate = darp_reoptimise(plan, self._tt, now=now, time_limit=time_limit)
            else:  # OR-Tools holds the GIL while it solves: solve in another process
                durations = np.asarray(self._tt.durations)
                distances = np.asarray(self._tt.distances)
                job = pool.submit(
                    _solve_elsewhere,
                    plan.routes,
                    dict(plan.requests),
                    plan.unassigned,
                    durations,
                    distances,
                    now,
                    time_limit,
                )
                routes, requests, unassigned = job.result(timeout=time_limit + 120)
                candidate = Plan(routes, requests, unassigned)
        with self.lock:
            before = vehicle_of_requests(d.plan)
            if candidate is not None and apply is not None:
                adopted = bool(apply(candidate, version=version))
            else:  # a dispatcher without snapshots: solve under the lock
                adopted = bool(d.reoptimise(now=now, time_limit=time_limit))
            if not adopted:
                return False
            after = vehicle_of_requests(d.plan)
            seqs = plan_sequences(d, [r.vehicle.id for r in d.plan.routes])
            self.version += 1
            moved = {rid: vid for rid, vid in after.items() if before.get(rid) not in (None, vid)}

            def work(session: Session) -> None:
                flush_rides(session)
                write_plans(session, self, seqs)
                for rid, vid in moved.items():
                    row = session.get(RideRequestRow, rid)
                    if row is not None:
                        row.vehicle_id = vid
                        row.updated_at = _dt.datetime.now(_dt.UTC)

            ticket = committer.enqueue(work)
        ticket.wait()
        log.info("re-optimisation adopted; %d ride requests moved to another vehicle", len(moved))
        return True


def _solve_elsewhere(
    routes: tuple[Route, ...],
    requests: dict[str, Request],
    unassigned: tuple[str, ...],
    durations: NDArray[np.int64],
    distances: NDArray[np.int64],
    now: int,
    time_limit: float,
) -> tuple[tuple[Route, ...], dict[str, Request], tuple[str, ...]]:
    """Run :func:`ondemand.routing.solver.darp.reoptimise` in a worker process (picklable in and out)."""
    from ondemand.routing.solver.darp import reoptimise as darp_reoptimise
    from ondemand.routing.solver.model import ArrayTravelTimes

    tt = ArrayTravelTimes(durations, distances)
    result = darp_reoptimise(Plan(routes, requests, unassigned), tt, now=now, time_limit=time_limit)
    return result.routes, dict(result.requests), result.unassigned


class ServiceRegistry:
    """The operators' dispatchers, created on first use and rebuilt from the database."""

    def __init__(
        self,
        db: Database,
        area: AreaLike,
        config: ServiceConfig,
        dispatcher_factory: DispatcherFactory,
        *,
        tz: ZoneInfo,
        clock: Clock,
    ) -> None:
        self.db = db
        self.area = area
        self.config = config
        self.dispatcher_factory = dispatcher_factory
        self.tz = tz
        self.clock = clock
        self._services: dict[tuple[int, _dt.date], OperatorService] = {}
        self._lock = threading.Lock()

    def now(self) -> _dt.datetime:
        """The current time in the service time zone."""
        return self.clock().astimezone(self.tz)

    def today(self) -> ServiceDay:
        """The service day of the current time."""
        return ServiceDay.of(self.now(), self.tz)

    def get(self, operator_id: int, date: _dt.date | None = None) -> OperatorService:
        """The operator's service for ``date`` (default today), restored from the database when new.

        Booked-ahead days get their own dispatcher; services of past days are dropped.
        Never call this while holding a database write session (lock order).
        """
        today = self.today()
        day = today if date is None or date == today.date else ServiceDay(date, self.tz)
        key = (operator_id, day.date)
        with self._lock:
            for old in [k for k in self._services if k[1] < today.date]:
                del self._services[old]
            svc = self._services.get(key)
            if svc is None:
                svc = self._create(operator_id, day)
                self._services[key] = svc
            return svc

    def peek(self, operator_id: int, date: _dt.date | None = None) -> OperatorService | None:
        """The operator's service for ``date`` (default today) if it exists (no locking, no database)."""
        if date is None:
            date = self.today().date
        return self._services.get((operator_id, date))

    def services(self) -> list[OperatorService]:
        """The services created so far."""
        with self._lock:
            return list(self._services.values())

    def _create(self, operator_id: int, day: ServiceDay) -> OperatorService:
        dispatcher = self.dispatcher_factory(self.config.vehicles, self.area.matrix)
        svc = OperatorService(operator_id, day, dispatcher, self.area.matrix)
        for attempt in (1, 2):  # PostgreSQL: another server process may insert the fleet meanwhile
            try:
                with self.db.write() as session:
                    have = set(
                        session.scalars(select(VehicleRow.id).where(VehicleRow.operator_id == operator_id))
                    )
                    for v in self.config.vehicles:
                        if v.id not in have:
                            session.add(
                                VehicleRow(
                                    operator_id=operator_id,
                                    id=v.id,
                                    seats=v.seats,
                                    wheelchair_places=v.wheelchair_places,
                                )
                            )
                    session.commit()
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        self._restore(svc)
        return svc

    def _restore(self, svc: OperatorService) -> None:
        """Rebuild the dispatcher from the open bookings, saved stop orders and arrivals of the day.

        Riders on board are put back first, then each vehicle's waiting requests in the
        order of their pickups in the saved stop order; after each one the saved order is
        imposed again (:func:`_impose_order`), so the rebuilt routes are the routes that
        were running, and every request fits back in (a sub-sequence of a feasible route
        is feasible).
        """
        date = svc.day.date.isoformat()
        with self.db.read() as session:
            rows = list(
                session.scalars(
                    select(RideRequestRow)
                    .where(
                        RideRequestRow.operator_id == svc.operator_id,
                        RideRequestRow.service_date == date,
                        RideRequestRow.status.in_(("assigned", "onboard")),
                    )
                    .order_by(RideRequestRow.created_at, RideRequestRow.id)
                )
            )
            arrivals = list(
                session.scalars(
                    select(VehicleEventRow)
                    .where(
                        VehicleEventRow.operator_id == svc.operator_id,
                        VehicleEventRow.service_date == date,
                        VehicleEventRow.kind == "arrived",
                    )
                    .order_by(VehicleEventRow.id)
                )
            )
            saved = {
                p.vehicle_id: [(str(a), str(b)) for a, b in json.loads(p.stops)]
                for p in session.scalars(
                    select(VehiclePlanRow).where(
                        VehiclePlanRow.operator_id == svc.operator_id, VehiclePlanRow.service_date == date
                    )
                )
            }
        d = svc.dispatcher
        last_arrival = {ev.vehicle_id: ev for ev in arrivals if ev.stop_id is not None}
        for ev in last_arrival.values():
            try:
                d.record_arrival(ev.vehicle_id, self.area.stop_index(str(ev.stop_id)), at=ev.at_s)
            except (LookupError, ValueError) as exc:
                log.warning("could not replay the arrival of %s: %s", ev.vehicle_id, exc)
        by_vehicle: dict[str, list[RideRequestRow]] = {}
        for row in rows:
            if row.vehicle_id is not None:
                by_vehicle.setdefault(row.vehicle_id, []).append(row)
        restored = failed = 0
        now_s = svc.day.seconds(self.now())
        lost: dict[str, str] = {}
        if not self.config.rules.auto_complete:  # with auto-complete, past stops count as served
            for row in rows:
                end = (
                    row.promise_pickup_end_s if row.promise_pickup_end_s is not None else row.latest_pickup_s
                )
                if row.status == "assigned" and end < now_s:
                    ended, restarted = svc.day.at(end).strftime("%H:%M"), svc.day.at(now_s).strftime("%H:%M")
                    lost[row.id] = (
                        f"lost: the pickup window ended at {ended} with no pickup reported before the "
                        f"server restarted at {restarted}; the booking could not be restored - "
                        "contact the rider"
                    )
        for vid, vrows in by_vehicle.items():
            seq = saved.get(vid, [])
            pos = {key: k for k, key in enumerate(seq)}
            onboard = [r for r in vrows if r.status == "onboard" and r.picked_up_at_s is not None]
            waiting = sorted(
                (r for r in vrows if not (r.status == "onboard" and r.picked_up_at_s is not None)),
                key=lambda r: pos.get((r.id, "pickup"), len(seq)),
            )
            for row in (*onboard, *waiting):
                if row.id in lost:
                    continue
                try:
                    request = request_from_row(row, self.area.stop_index)
                    if row in onboard:
                        d.restore(request, vid, picked_up_at=row.picked_up_at_s)
                    else:
                        d.restore(request, vid)
                except (LookupError, ValueError) as exc:
                    failed += 1
                    log.error("could not restore ride request %s on %s: %s", row.id, vid, exc)
                    lost[row.id] = f"lost: the booking could not be restored after a restart ({exc})"[:500]
                    continue
                restored += 1
                _impose_order(d, vid, pos)
        d.advance(max(0, now_s))  # a booked-ahead day has not started yet
        if lost:
            self._mark_lost(lost)
        if rows:
            log.info(
                "restored %d of %d open ride requests for operator %d", restored, len(rows), svc.operator_id
            )
        svc.restore_failures = failed

    def _mark_lost(self, lost: Mapping[str, str]) -> None:
        """Store ``status = "lost"`` with its reason for ride requests that could not be restored."""
        changed_at = _dt.datetime.now(_dt.UTC)
        with self.db.write() as session:
            for rid, reason in lost.items():
                row = session.get(RideRequestRow, rid)
                if row is not None and row.status in ("assigned", "onboard"):
                    row.status, row.reason, row.updated_at = "lost", reason[:500], changed_at
            session.commit()
        for rid, reason in lost.items():
            log.error("ride request %s %s", rid, reason)

    def restore_all(self, services: Sequence[int | tuple[int, _dt.date]]) -> None:
        """Create (and restore) services now rather than on first use.

        Parameters
        ----------
        services
            Operator ids (today's service) or ``(operator_id, date)`` pairs; past dates are skipped.
        """
        today = self.today().date
        for item in services:
            op, date = item if isinstance(item, tuple) else (item, today)
            if date >= today:
                self.get(op, date)


def _impose_order(d: Dispatcher, vehicle_id: str, pos: dict[tuple[str, str], int]) -> bool:
    """Reorder the vehicle's planned stops to follow a saved order (``pos``: stop -> rank).

    Uses the dispatcher's ``reoptimisation_snapshot``/``apply_reoptimised``, which check
    feasibility of every promise; the cost test is switched off for this step because
    the saved order is the one that was promised, not necessarily the cheapest.
    """
    snap = getattr(d, "reoptimisation_snapshot", None)
    apply = getattr(d, "apply_reoptimised", None)
    options: Any = getattr(d, "options", None)
    if snap is None or apply is None or not pos:
        return False
    plan, version = snap(now=0)  # before the service day: nothing gets committed
    route = plan.route_of(vehicle_id)
    keys = [(s.request_id, stop_kind(s.kind)) for s in route.stops]
    if any(k not in pos for k in keys):
        return False
    desired = tuple(s for _, s in sorted(zip(keys, route.stops, strict=True), key=lambda ks: pos[ks[0]]))
    if desired == route.stops:
        return True
    routes = tuple(Route(r.vehicle, desired) if r.vehicle.id == vehicle_id else r for r in plan.routes)
    candidate = Plan(routes, plan.requests, plan.unassigned)
    relaxed = options is not None and hasattr(options, "require_improvement")
    if relaxed:
        d.options = dataclasses.replace(options, require_improvement=False)  # type: ignore[attr-defined]
    try:
        return bool(apply(candidate, version=version))
    finally:
        if relaxed:
            d.options = options  # type: ignore[attr-defined]


def plan_sequences(d: Dispatcher, vehicle_ids: Iterable[str]) -> dict[str, list[list[str]]]:
    """The stop order of each vehicle (``[[request_id, kind], ...]``); call under the dispatcher lock."""
    return {vid: [[str(ps.request_id), stop_kind(ps.kind)] for ps in d.itinerary(vid)] for vid in vehicle_ids}


def add_ride(session: Session, row: RideRequestRow) -> None:
    """Queue a new ride-request row; :func:`flush_rides` inserts a batch's rows in one statement."""
    session.info.setdefault("rides", []).append(row)


def flush_rides(session: Session) -> None:
    """Insert the rows queued by :func:`add_ride` (call before reading ride requests in a batch)."""
    rows: list[RideRequestRow] = session.info.pop("rides", [])
    if rows:
        table: Any = RideRequestRow.__table__
        keys = [c.key for c in table.columns]
        session.execute(table.insert(), [{k: getattr(r, k) for k in keys} for r in rows])


def write_plans(session: Session, svc: OperatorService, seqs: Mapping[str, list[list[str]]]) -> None:
    """Record stop orders to be saved with the session's commit (the last one per vehicle wins).

    Used inside :class:`GroupCommitter` work: the committer writes all the orders of a
    batch in one statement just before the batch's commit (:func:`flush_plans`).
    """
    pending: dict[tuple[int, str, str], str] = session.info.setdefault("plans", {})
    date = svc.day.date.isoformat()
    for vid, seq in seqs.items():
        pending[(svc.operator_id, vid, date)] = json.dumps(seq, separators=(",", ":"))


def flush_plans(session: Session) -> None:
    """Upsert the stop orders recorded by :func:`write_plans` (one statement on SQLite/PostgreSQL)."""
    pending: dict[tuple[int, str, str], str] = session.info.pop("plans", {})
    if not pending:
        return
    now = _dt.datetime.now(_dt.UTC)
    values = [
        {"operator_id": op, "vehicle_id": vid, "service_date": date, "stops": text, "updated_at": now}
        for (op, vid, date), text in pending.items()
    ]
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        stmt: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(VehiclePlanRow).values(
            values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["operator_id", "vehicle_id", "service_date"],
            set_={"stops": stmt.excluded.stops, "updated_at": stmt.excluded.updated_at},
        )
        session.execute(stmt)
        return
    for v in values:  # other databases: one row at a time
        row = session.get(VehiclePlanRow, (v["operator_id"], v["vehicle_id"], v["service_date"]))
        if row is None:
            session.add(VehiclePlanRow(**v))
        else:
            row.stops, row.updated_at = str(v["stops"]), now


def stop_kind(kind: Any) -> str:
    """``"pickup"`` or ``"dropoff"`` from a :class:`StopKind` or a string."""
    value = kind.value if isinstance(kind, StopKind) else str(kind)
    if value not in ("pickup", "dropoff"):
        raise InvalidRequestError(f"unknown stop kind {value!r}")
    return value


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def service_config_from_scenario(scenario: Any, area: AreaLike) -> ServiceConfig:
    """The fleet and booking rules of a scenario (:func:`ondemand.scenario.load_scenario`).

    Vehicles ``v1`` … ``vN`` start at the depot (``service.depot``: a stop id, or
    ``"centre"`` = the stop nearest the centroid of all stops) at the start of the
    service hours and end their shift at its end. Rides can be booked
    ``service.booking_horizon_days`` ahead on the days of ``service.calendar``
    (public holidays are not known: ``holidays = false`` closes no extra day).
    """
    svc = scenario.service
    stops = list(area.stops)
    if svc.depot == "centre":
        lon = sum(float(s.lon) for s in stops) / len(stops)
        lat = sum(float(s.lat) for s in stops) / len(stops)
        depot = min(
            range(len(stops)), key=lambda i: _metres(lon, lat, float(stops[i].lon), float(stops[i].lat))
        )
    else:
        depot = area.stop_index(svc.depot)
    vehicles = tuple(
        Vehicle(
            id=f"v{k + 1}",
            seats=svc.seats,
            start=depot,
            available_from=svc.start,
            shift_end=svc.end,
            wheelchair_places=svc.wheelchair_places,
        )
        for k in range(svc.fleet)
    )
    rules = ServiceRules(
        max_walk_m=int(scenario.demand.max_walk_m),
        max_wait_s=svc.max_wait_s,
        detour_factor=svc.max_detour,
        min_extra_ride_s=svc.min_extra_ride_s,
        boarding_s=svc.boarding_s,
        alighting_s=svc.alighting_s,
        wheelchair_boarding_s=svc.wheelchair_boarding_s,
        promise_window_s=svc.pickup_window_s,
        wait_weight=svc.wait_weight,
        ride_weight=svc.ride_weight,
    )
    return ServiceConfig(
        name=scenario.name,
        vehicles=vehicles,
        rules=rules,
        booking_horizon_days=int(getattr(svc, "booking_horizon_days", 0)),
        calendar=str(getattr(svc, "calendar", "every_day")),
    )
