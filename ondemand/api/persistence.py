"""Persistence of the live service: the database, the group committer, and ride/plan writing helpers.

Locking order, everywhere: first the database write transaction (SQLite ``BEGIN
IMMEDIATE``), then the operator's dispatcher lock. A booking holds both only for the
dispatcher call and the insert, so every acknowledged booking is committed (durably,
``synchronous=FULL``) before the answer leaves, and what the dispatcher holds is exactly
what the database holds. The ORM tables and migrations are in :mod:`ondemand.api.db`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as _dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ondemand.api.db import RideRequestRow, VehiclePlanRow, make_engine, migrate, normalise_url
from ondemand.dispatch.base import Dispatcher
from ondemand.errors import CommitFailedError, DatabaseUrlError, InvalidRequestError
from ondemand.routing.solver.model import BookingKind, Request, StopKind

if TYPE_CHECKING:
    from ondemand.api.registry import OperatorService

__all__ = [
    "Database",
    "GroupCommitter",
    "add_ride",
    "flush_plans",
    "flush_rides",
    "new_request_id",
    "plan_sequences",
    "request_from_row",
    "stop_kind",
    "write_plans",
]

log = logging.getLogger("ondemand.api")


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
