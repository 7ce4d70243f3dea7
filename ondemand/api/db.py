"""Persistence of the live API: operators, hashed API keys, vehicles, ride requests and vehicle events.

SQLAlchemy 2 ORM on SQLite (default; WAL journal with ``synchronous=FULL`` so that a
committed booking survives a crash or power cut) or PostgreSQL (by URL). The schema is
versioned with Alembic; :func:`migrate` upgrades a database to the newest revision and
runs at every start of the server and of ``ondemand keys create``.

Times of ride requests and events are stored as integer seconds from the midnight of
their ``service_date`` (the core's unit); the API converts them to ISO 8601 at the edge.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import secrets
import struct
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError as _SqlDatabaseError
from sqlalchemy.exc import OperationalError as _SqlOperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ondemand.errors import DatabaseCorruptError

log = logging.getLogger("ondemand.api")

__all__ = [
    "ApiKey",
    "Base",
    "Operator",
    "RideRequestRow",
    "RiderRow",
    "VehicleEventRow",
    "VehiclePlanRow",
    "VehicleRow",
    "check_sqlite_files",
    "create_api_key",
    "hash_key",
    "list_api_keys",
    "make_engine",
    "migrate",
    "normalise_url",
    "revoke_api_key",
]

KEY_PREFIX = "odk_"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of the API tables."""


class Operator(Base):
    """A transport operator: the tenant that owns keys, vehicles and ride requests."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class ApiKey(Base):
    """An API key, stored only as the SHA-256 of the (256-bit random) key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(16))
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class VehicleRow(Base):
    """A vehicle of an operator's fleet, with its last reported position."""

    __tablename__ = "vehicles"

    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seats: Mapped[int] = mapped_column(Integer)
    wheelchair_places: Mapped[int] = mapped_column(Integer, default=0)
    last_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_seen_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RideRequestRow(Base):
    """One ride request with its answer: the promise when assigned, the reason when refused."""

    __tablename__ = "ride_requests"
    __table_args__ = (UniqueConstraint("operator_id", "idempotency_key", name="uq_ride_requests_idem"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    service_date: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    vehicle_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # why refused, for programs: one of ondemand.routing.solver.insertion.REFUSAL_CODES
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)  # app, phone, ...
    pickup_stop: Mapped[str] = mapped_column(String(64))
    dropoff_stop: Mapped[str] = mapped_column(String(64))
    pickup_walk_m: Mapped[int] = mapped_column(Integer, default=0)
    dropoff_walk_m: Mapped[int] = mapped_column(Integer, default=0)
    passengers: Mapped[int] = mapped_column(Integer)
    wheelchair: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    booked_at_s: Mapped[int] = mapped_column(BigInteger)  # when booked; < 0 on the day before
    earliest_pickup_s: Mapped[int] = mapped_column(BigInteger)
    latest_pickup_s: Mapped[int] = mapped_column(BigInteger)
    latest_dropoff_s: Mapped[int] = mapped_column(BigInteger)
    max_ride_s: Mapped[int] = mapped_column(BigInteger)
    pickup_service_s: Mapped[int] = mapped_column(Integer)
    dropoff_service_s: Mapped[int] = mapped_column(Integer)
    promise_pickup_start_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    promise_pickup_end_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    promise_dropoff_eta_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    promise_latest_dropoff_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    picked_up_at_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dropped_off_at_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    # The registered rider (riders.id); no foreign key, so that erasing a rider only clears it.
    rider_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True, default=None)


class RiderRow(Base):
    """A registered rider: personal data (APPI), only what the phone desk needs.

    ``name_key`` is the name folded for searching (NFKC, lower case); ``phone`` is digits
    only. Erasing a rider deletes the row and clears ``rider_id`` of their ride requests.
    """

    __tablename__ = "riders"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    needs: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True))


class VehicleEventRow(Base):
    """One event reported by a vehicle (position, arrived, picked_up, dropped_off, no_show).

    ``idempotency_key`` (optional, unique per operator and vehicle) and ``body_hash`` let a
    vehicle resend an event safely: the same key is answered from the stored event.
    """

    __tablename__ = "vehicle_events"
    __table_args__ = (
        Index("uq_vehicle_events_idem", "operator_id", "vehicle_id", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    vehicle_id: Mapped[str] = mapped_column(String(64))
    service_date: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at_s: Mapped[int] = mapped_column(BigInteger)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    stop_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class VehiclePlanRow(Base):
    """The stop order of one vehicle on one service day, saved with every change of its plan.

    ``stops`` is JSON: ``[[request_id, "pickup" | "dropoff"], ...]`` (committed and
    planned stops, in order). After a restart the dispatcher's routes are rebuilt in
    exactly this order, so every promise that held before still holds.
    """

    __tablename__ = "vehicle_plans"

    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    stops: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL to connect with: plain PostgreSQL URLs get the psycopg 3 driver.

    ``postgresql://...`` and ``postgres://...`` (the forms operators and hosting
    services hand out) would make SQLAlchemy look for psycopg2; the ``api`` extra
    installs psycopg 3, so they become ``postgresql+psycopg://...``. Any URL that names
    a driver is kept as it is.
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def make_engine(url: str, *, immediate: bool = True) -> Engine:
    """An engine for ``url``; SQLite files get WAL, ``synchronous=FULL`` and immediate write locks.

    Parameters
    ----------
    url
        SQLAlchemy database URL.
    immediate
        For SQLite: start every transaction with ``BEGIN IMMEDIATE`` (the write engine);
        ``False`` gives plain deferred transactions (the read engine).

    Returns
    -------
    Engine
        The engine; for SQLite every transaction starts with ``BEGIN IMMEDIATE`` so that
        concurrent writers wait (``busy_timeout``) instead of failing.
    """
    is_sqlite = url.startswith("sqlite")
    if is_sqlite and immediate:
        check_sqlite_files(url)  # before SQLite opens (and silently trims) a damaged write-ahead log
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        kwargs["pool_size"] = 16
        kwargs["max_overflow"] = 32
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url.rstrip("/") != "sqlite:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the commit path
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest schema revision (Alembic ``head``)."""
    from alembic import command
    from alembic.config import Config

    script_location = str(resources.files("ondemand.api").joinpath("migrations"))
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                _quick_check(conn, str(engine.url.database))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
    except _SqlDatabaseError as exc:
        if isinstance(exc, _SqlOperationalError) or engine.dialect.name != "sqlite":
            raise
        raise DatabaseCorruptError(_damaged(str(engine.url.database), str(exc.orig))) from exc


_BACKUP_HINT = (
    "stop the server, keep a copy of the damaged files for analysis, and restore the last backup "
    '(made with: sqlite3 ondemand.db ".backup backup.db"; see the README)'
)


def _damaged(path: str, what: str) -> str:
    return f"the database {path} is damaged ({what}); {_BACKUP_HINT}"


def _quick_check(conn: Any, path: str) -> None:
    """Raise :class:`DatabaseCorruptError` unless SQLite's ``PRAGMA quick_check`` says ``ok``."""
    rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check(5)").fetchall()]
    if rows != ["ok"]:
        raise DatabaseCorruptError(_damaged(path, "PRAGMA quick_check: " + "; ".join(rows)[:300]))


_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # little- / big-endian checksums


def _wal_checksum(data: bytes, s0: int, s1: int, fmt: str) -> tuple[int, int]:
    words = struct.unpack(f"{fmt}{len(data) // 4}I", data)
    for k in range(0, len(words), 2):
        s0 = (s0 + words[k] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[k + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def check_sqlite_files(url: str) -> None:
    """Refuse a SQLite database file, or its write-ahead log, that SQLite would misread.

    Run before SQLite opens the file: a WAL frame with a wrong checksum makes SQLite
    silently ignore it and every later commit, so acknowledged bookings would vanish.
    This reads the WAL as SQLite's recovery does; committed transactions behind a
    damaged frame are an error. A damaged *last* transaction is what a power cut
    during an unacknowledged commit leaves; it is dropped with a warning.

    Raises
    ------
    DatabaseCorruptError
        When the file is not a SQLite database or committed transactions in its WAL are unreadable.
    """
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise DatabaseCorruptError(
                f"{path} is not a SQLite database (or its header is damaged); "
                "give the right --db, or restore the last backup "
                '(made with: sqlite3 ondemand.db ".backup backup.db"; see the README)'
            )
    wal = Path(f"{name}-wal")
    if not wal.is_file() or wal.stat().st_size < 32:
        return
    data = wal.read_bytes()
    magic, _version, page, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:32])
    frame = page + 24
    frames = (len(data) - 32) // frame if page else 0
    fmt = ">" if magic == 0x377F0683 else "<"
    if magic not in _WAL_MAGIC or page < 512 or (c0, c1) != _wal_checksum(data[:24], 0, 0, fmt):
        if frames:
            raise DatabaseCorruptError(
                f"the write-ahead log {wal} of the database is damaged (bad header): SQLite would ignore "
                f"its {frames} frames, and the commits in them; {_BACKUP_HINT}"
            )
        return
    s0, s1 = c0, c1
    broken: int | None = None
    commits_after = 0
    for k in range(frames):
        off = 32 + k * frame
        _pgno, commit, f1, f2, k0, k1 = struct.unpack(">6I", data[off : off + 24])
        current = (f1, f2) == (salt1, salt2)  # frames of an older generation have other salts
        if broken is None:
            if current:
                s0, s1 = _wal_checksum(data[off : off + 8], s0, s1, fmt)
                s0, s1 = _wal_checksum(data[off + 24 : off + frame], s0, s1, fmt)
            if current and (s0, s1) == (k0, k1):
                continue
            broken = k  # SQLite's recovery stops here: this frame and all after it are ignored
        if current and commit:
            commits_after += 1
    if broken is None:
        return
    if commits_after >= 2:
        raise DatabaseCorruptError(
            f"the write-ahead log {wal} of the database is damaged at frame {broken + 1} of {frames}: "
            f"SQLite would silently drop the {commits_after - 1} or more committed transactions after it "
            f"(acknowledged bookings); {_BACKUP_HINT}"
        )
    log.warning(
        "the last transaction in %s is incomplete (frame %d of %d; a power cut during a commit that "
        "was never acknowledged); SQLite drops it",
        wal,
        broken + 1,
        frames,
    )


def hash_key(key: str) -> str:
    """SHA-256 hex digest of an API key (keys are 256-bit random, so no salt or stretching is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session, operator_name: str, *, role: str = "operator", vehicle_id: str | None = None
) -> str:
    """Create an API key for an operator (created when new) and return the key in clear.

    Only its hash is stored; the clear key cannot be recovered later.

    Parameters
    ----------
    session
        An open session; the caller commits.
    operator_name
        Name of the operator.
    role
        ``"operator"`` (full access to the operator's data) or ``"vehicle"``.
    vehicle_id
        For ``role="vehicle"``: the one vehicle the key may report for (required).

    Returns
    -------
    str
        The new key, ``odk_`` followed by 43 URL-safe characters.
    """
    from ondemand.errors import InvalidRequestError

    name = operator_name.strip()
    if not name or len(name) > 100:
        raise InvalidRequestError("operator name must be 1 to 100 characters")
    if role not in ("operator", "vehicle"):
        raise InvalidRequestError(f"role must be 'operator' or 'vehicle', got {role!r}")
    if role == "vehicle" and not vehicle_id:
        raise InvalidRequestError("a vehicle key needs --vehicle ID (the vehicle it reports for)")
    if role == "operator" and vehicle_id:
        raise InvalidRequestError("--vehicle is only for --role vehicle")
    operator = session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        operator = Operator(name=name)
        session.add(operator)
        session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            operator_id=operator.id,
            key_hash=hash_key(key),
            prefix=key[:8],
            role=role,
            vehicle_id=vehicle_id,
        )
    )
    return key


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def list_api_keys(session: Session, operator_name: str | None = None) -> list[tuple[ApiKey, str]]:
    """Every API key (optionally of one operator) with its operator's name, oldest first.

    The rows hold only hashes and an 8-character prefix; clear keys are never stored.
    """
    stmt = select(ApiKey, Operator.name).join(Operator, Operator.id == ApiKey.operator_id)
    if operator_name is not None:
        stmt = stmt.where(Operator.name == operator_name.strip())
    return [(key, str(name)) for key, name in session.execute(stmt.order_by(ApiKey.id))]


def revoke_api_key(session: Session, ref: str) -> tuple[ApiKey, str]:
    """Mark one API key revoked; the caller commits.

    Parameters
    ----------
    session
        An open session.
    ref
        The key's id (as ``ondemand keys list`` shows it), its prefix (``odk_`` and at
        least 4 more characters, as listed), or the whole key.

    Returns
    -------
    tuple[ApiKey, str]
        The revoked key's row and its operator's name (revoking twice is not an error).

    Raises
    ------
    InvalidRequestError
        When no key matches, or a prefix matches several keys (give the id instead).
    """
    from ondemand.errors import InvalidRequestError

    ref = ref.strip().rstrip(".")  # the PREFIX column shows "odk_abcd..."
    stmt = select(ApiKey, Operator.name).join(Operator, Operator.id == ApiKey.operator_id)
    found: list[tuple[ApiKey, str]]
    if ref.isdigit():
        found = [(k, n) for k, n in session.execute(stmt.where(ApiKey.id == int(ref)))]
    elif ref.startswith(KEY_PREFIX) and len(ref) > 12:  # a whole key: match its hash
        found = [(k, n) for k, n in session.execute(stmt.where(ApiKey.key_hash == hash_key(ref)))]
    elif ref.startswith(KEY_PREFIX) and len(ref) >= len(KEY_PREFIX) + 4:
        found = [(k, n) for k, n in session.execute(stmt) if k.prefix.startswith(ref)]
    else:
        raise InvalidRequestError(
            f"{ref!r} is neither a key id nor a key prefix; "
            "give the ID or PREFIX column of 'ondemand keys list'"
        )
    if not found:
        raise InvalidRequestError(f"no API key matches {ref!r}; see 'ondemand keys list'")
    if len(found) > 1:
        ids = ", ".join(str(k.id) for k, _ in found)
        raise InvalidRequestError(
            f"{len(found)} keys start with {ref!r} (ids {ids}); give the key id instead"
        )
    key, name = found[0]
    key.revoked = True
    return key, str(name)
