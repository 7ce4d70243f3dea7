"""Which server runs an operator's dispatcher: never two at once.

Each operator's bookings are decided by one in-memory dispatcher, so two servers on one
database must never both decide for the same operator (they would sell the same seat
twice).

- **SQLite** serves one server per database file: :class:`SoleServer` takes an exclusive
  ``flock`` on ``<file>.lock`` at start; a second server refuses to start with a clear
  message (:class:`~ondemand.errors.DatabaseInUseError`). The lock dies with its process,
  also on ``kill -9``.
- **PostgreSQL** allows standby servers: :class:`AdvisoryLeadership` holds a session-level
  advisory lock per operator on a dedicated connection. The server holding an operator's
  lock leads it; the others answer that operator's changes with 503 and ``Retry-After``
  and try to take the lock every second. Losing the connection loses the locks, and with
  them the lead: the server stops deciding (its dispatchers are dropped) at once.

Fencing. A leader can lose its lock between deciding and committing (its connection cut,
a standby taking over). So every write transaction that carries a dispatcher's change
first takes a *shared* transaction-level advisory lock on a second key of that operator
and checks in ``pg_locks`` that this server's dedicated connection still holds the
operator's lock; a new leader, right after taking the operator's lock, takes the second
key *exclusively* once (waiting for every such transaction of the old leader to end)
before it reads the database to rebuild the dispatcher. A transaction of the old leader
either checked before the lock was lost (then the new leader waits for its commit and
sees it) or after (then it fails and saves nothing).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ondemand.errors import DatabaseInUseError

__all__ = ["AdvisoryLeadership", "Leadership", "SoleServer", "leadership_for"]

log = logging.getLogger("ondemand.api")

LEAD_KEY = 0x6F6E64  # advisory lock class of "this server leads operator N" ("ond")
FENCE_KEY = 0x6F6E65  # advisory lock class of the fence of operator N


class Leadership:
    """Base: this server leads every operator (one server per database)."""

    def leads(self, operator_id: int) -> bool:
        """Whether this server leads ``operator_id`` now."""
        return True

    def try_lead(self, operator_id: int) -> bool:
        """Try to lead ``operator_id`` now (no waiting); whether this server leads it."""
        return True

    def fence(self, session: Session, operator_ids: Collection[int]) -> set[int]:
        """Hold the lead of ``operator_ids`` until ``session``'s transaction ends; those not led."""
        return set()

    def start(self, on_gained: Callable[[int], None], on_lost: Callable[[set[int]], None]) -> None:
        """Start watching (standbys: trying to take over); callbacks run on the watcher thread."""

    def close(self) -> None:
        """Give up every lead."""


class SoleServer(Leadership):
    """SQLite: an exclusive lock on ``<database file>.lock`` for the life of the process.

    Raises
    ------
    DatabaseInUseError
        When another process holds the lock (another server on the same file).
    """

    def __init__(self, database: str) -> None:
        self.path = Path(database + ".lock")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUseError(
                f"another ondemand server (pid {other}) is serving the SQLite database {database}; "
                "SQLite serves one server at a time: stop that server first, or use PostgreSQL "
                "(--db postgresql://...) to run a standby"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd: int | None = fd

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock (the process ending releases it too)."""
        if getattr(self, "_fd", None) is not None:
            assert self._fd is not None
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class AdvisoryLeadership(Leadership):
    """PostgreSQL: session-level advisory locks per operator on one dedicated connection.

    Parameters
    ----------
    url
        SQLAlchemy URL of the database.
    poll_s
        How often the watcher checks the connection and tries to take over operators.
    """

    def __init__(self, url: str, *, poll_s: float = 1.0) -> None:
        self._engine = create_engine(url, poolclass=NullPool)
        self.poll_s = poll_s
        self._lock = threading.RLock()
        self._conn: Any = None
        self.pid: int | None = None
        self._led: set[int] = set()
        self._tried: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_gained: Callable[[int], None] = lambda op: None
        self._on_lost: Callable[[set[int]], None] = lambda ops: None

    # ------------------------------------------------------------------ the dedicated connection
    def _connection(self) -> Any:
        """The dedicated DBAPI connection (autocommit), opened when missing."""
        if self._conn is None:
            raw = self._engine.raw_connection()
            driver: Any = raw.driver_connection
            driver.autocommit = True
            self._conn = raw
            self.pid = int(self._query("SELECT pg_backend_pid()")[0][0])
        return self._conn

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        cur = self._conn.cursor()
        try:
            cur.execute(sql, args)
            return list(cur.fetchall())
        finally:
            cur.close()

    def _drop_connection(self) -> set[int]:
        """Forget the connection (and with it every lead); the operators that were led."""
        lost, self._led = self._led, set()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
            self._conn = None
            self.pid = None
        return lost

    # ------------------------------------------------------------------ Leadership
    def leads(self, operator_id: int) -> bool:
        """Whether this server leads ``operator_id`` now."""
        return operator_id in self._led

    def try_lead(self, operator_id: int) -> bool:
        """Take the operator's lock if it is free (at most every 0.5 s per operator).

        A call while another thread is taking the lead (the watcher, waiting on the old
        leader's fence) waits for that attempt and answers with its outcome, rather than
        "not led" because an attempt was made a moment ago.
        """
        if operator_id in self._led:
            return True
        gained = False
        lost: set[int] = set()
        with self._lock:
            if operator_id in self._led:
                return True
            now = time.monotonic()
            if now - self._tried.get(operator_id, -1.0) < 0.5:
                return False
            self._tried[operator_id] = now
            try:
                self._connection()
                got = self._query("SELECT pg_try_advisory_lock(%s, %s)", LEAD_KEY, operator_id)[0][0]
                if got:
                    # wait until the old leader's fenced transactions have ended, then read
                    self._query("SELECT pg_advisory_lock(%s, %s)", FENCE_KEY, operator_id)
                    self._query("SELECT pg_advisory_unlock(%s, %s)", FENCE_KEY, operator_id)
                    self._led.add(operator_id)
                    gained = True
            except Exception as exc:  # the connection is gone: so is every lead
                log.warning("leadership connection failed: %s", type(exc).__name__)
                lost = self._drop_connection()
        if lost:  # outside the lock: the callback takes the registry's lock
            self._on_lost(lost)
        if gained:
            log.info("this server now leads operator %d (pid %s holds its lock)", operator_id, self.pid)
        return gained

    def fence(self, session: Session, operator_ids: Collection[int]) -> set[int]:
        """Shared fence lock per operator, then check this server's connection still holds the lead."""
        pid = self.pid
        ops = sorted(set(operator_ids))
        if pid is None:
            return set(ops)
        for op in ops:
            session.execute(text("SELECT pg_advisory_xact_lock_shared(:k, :op)"), {"k": FENCE_KEY, "op": op})
        held = {
            int(r[0])
            for r in session.execute(
                text(
                    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND classid = :k "
                    "AND objsubid = 2 AND granted AND pid = :pid"
                ),
                {"k": LEAD_KEY, "pid": pid},
            )
        }
        return set(ops) - held

    def start(self, on_gained: Callable[[int], None], on_lost: Callable[[set[int]], None]) -> None:
        """Take every free operator now; then each second check the connection and take freed operators."""
        self._on_gained, self._on_lost = on_gained, on_lost
        self._round()
        self._thread = threading.Thread(target=self._watch, name="ondemand-leader", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._round()
            except Exception:  # the watcher must survive anything
                log.exception("leadership round failed")

    def _round(self) -> None:
        """Check the connection; try every operator this server does not lead."""
        lost: set[int] = set()
        with self._lock:
            try:
                self._connection()
                self._query("SELECT 1")
                ops = [int(r[0]) for r in self._query("SELECT id FROM operators ORDER BY id")]
            except Exception as exc:
                ops = []
                lost = self._drop_connection()
                log.warning("leadership connection failed (%s)", type(exc).__name__)
        if lost:  # outside the lock: the callback takes the registry's lock
            log.error("lost the leadership connection: no longer leading operators %s", sorted(lost))
            self._on_lost(lost)
            return
        for op in ops:
            if op not in self._led:
                self._tried.pop(op, None)
                if self.try_lead(op):
                    try:
                        self._on_gained(op)
                    except Exception:
                        log.exception("restoring operator %d after taking over failed", op)

    def close(self) -> None:
        """Stop watching and close the connection (which releases every lock)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
            self._led = set()
        self._engine.dispose()


def leadership_for(url: str) -> Leadership:
    """Leadership for a database URL: advisory locks (PostgreSQL), a file lock (SQLite file), else none."""
    if url.startswith("postgresql"):
        return AdvisoryLeadership(url)
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and "mode=memory" not in url:
            return SoleServer(str(Path(database).resolve()))
    return Leadership()
