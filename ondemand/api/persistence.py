"""Persistence of the live service: the database, and ride/plan writing helpers for the writer.

Every change is written by one writer thread (:class:`~ondemand.api.writer.GroupCommitter`,
re-exported here), committed (durably, ``synchronous=FULL`` on SQLite) before the answer
leaves; a change that the database does not take is answered 503 and undone in the
dispatcher (see :mod:`ondemand.api.writer` for how "503 means not saved" is kept). The ORM
tables and migrations are in :mod:`ondemand.api.db`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ondemand.api.db import (
    RideRequestRow,
    VehicleEventRow,
    VehiclePlanRow,
    make_engine,
    migrate,
    normalise_url,
)
from ondemand.api.writer import GroupCommitter
from ondemand.dispatch.base import Dispatcher
from ondemand.errors import DatabaseUrlError, InvalidRequestError
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
        self.shown_url = shown = _hide_password(url)
        """The URL with any password replaced by ``***`` (for logs and messages)."""
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


TURNED = "turned"
"""Kind of the stored event of a mid-leg turn (a ``vehicle_events`` row the server writes)."""


def note_turn(svc: OperatorService, area: Any, vehicle_id: str) -> VehicleEventRow | None:
    """The record of a mid-leg turn the dispatcher has just made for a vehicle, else ``None``.

    Call under the dispatcher lock after a booking. A vehicle turned mid-leg
    (``service.divert_mid_leg``) is planned from a turning point of the travel times (past the
    meeting points), free from when it gets there; the record (kind ``"turned"``, the road
    node's coordinates and that time) lets a restart plan it from there again
    (:meth:`~ondemand.api.registry.ServiceRegistry` replays it like an arrival). A turn already
    recorded is not recorded again.
    """
    if not svc.divert:
        return None
    vehicle = svc.dispatcher.plan.route_of(vehicle_id).vehicle
    if vehicle.start < len(area.stops):
        return None
    turn = (int(vehicle.start), int(vehicle.available_from))
    if svc.turns.get(vehicle_id) == turn:
        return None
    svc.turns[vehicle_id] = turn
    svc.last_point[vehicle_id] = turn[0]
    node = int(area.matrix.node_of(turn[0]))
    return VehicleEventRow(
        operator_id=svc.operator_id,
        vehicle_id=vehicle_id,
        service_date=svc.day.date.isoformat(),
        kind=TURNED,
        at_s=turn[1],
        lon=float(area.network.lon[node]),
        lat=float(area.network.lat[node]),
    )


def driven_on_leg(
    svc: OperatorService, area: Any, vehicle_id: str, lon: float, lat: float, *, within_m: float = 50.0
) -> int | None:
    """Seconds a vehicle has driven on its committed leg, from a reported position, else ``None``.

    Call under the dispatcher lock. The position is placed on the road path of the leg (from
    where the vehicle last was, a stop or a turning point, to its committed stop) at the
    nearest point of the path's geometry; ``None`` when the vehicle drives no committed leg,
    the area has no road paths, or the position is more than ``within_m`` metres from the path
    (then the dispatcher keeps counting from the leg's planned departure).
    """
    from ondemand.routing.geo.geodesy import haversine_m

    if not hasattr(area, "path"):
        return None
    head = svc.dispatcher.next_stop(vehicle_id)
    origin = svc.last_point.get(vehicle_id)
    if head is None or not head.committed or origin is None or origin == int(head.location):
        return None
    k = len(area.stops)

    def named(point: int) -> int:  # a turning point as road paths name it: k + road node
        return point if point < k else k + int(area.matrix.node_of(point))

    path = area.path(named(origin), named(int(head.location)))
    metres = haversine_m(lon, lat, path.lon, path.lat)
    i = int(metres.argmin())
    if float(metres[i]) > within_m:
        return None
    return int(path.seconds[i])


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
