"""The writer of the live API: one thread commits the queued changes to the database, in batches.

A change of a booking, a cancel or a vehicle event is made in two places: the operator's
in-memory dispatcher (under its lock) and the database. Handlers make the dispatcher's
change, queue the database's part here as a :class:`Ticket` (still under the dispatcher
lock, so the database sees changes in the dispatcher's order), and answer only when the
ticket is resolved. The two places are kept as one transaction like this:

**An answer of 503 means nothing was saved.** A ticket is *pending* until the writer has
opened the batch's write transaction (SQLite: holds ``BEGIN IMMEDIATE``); only then does
the writer *claim* the pending tickets, and it commits only claimed ones. A handler that
waited ``commit_timeout`` seconds abandons its ticket if it is still pending (atomically,
under the writer's lock) and answers 503: an abandoned ticket is never claimed, so it can
never be committed later. If the writer has already claimed it, the handler keeps waiting
for the outcome, which comes within the writer's own bounds (SQLite ``busy_timeout``,
PostgreSQL ``lock_timeout``/``statement_timeout``, all ``commit_timeout``). When a
PostgreSQL connection is lost during ``COMMIT`` (outcome unknown), the writer asks the
server with ``txid_status`` and answers only once it knows; until then the handler waits.
So there is no answer that contradicts the database: 2xx means committed, 503 means not.

**A failed change undoes the dispatcher's change.** When a ticket fails (refused by the
database, timed out, abandoned, or fenced off), its owner -- the operator's service of
that day -- is marked *stale*, and so are the changes queued after it for the same owner
(they were decided on top of it): they fail too. A stale service takes no more changes
(503 with ``Retry-After``) and, once none of its tickets is outstanding, the registry
rebuilds its dispatcher from the database (the path a restart takes), which then equals
what the database says.

**The writer cannot die.** Every step runs under a catch-all that fails the step's
unresolved tickets and carries on; a ticket's future is never cancelled (it is marked
running at creation) and is resolved at most once. When writing fails the writer reports
unhealthy (``/healthz`` answers 503) and probes the database every second with a tiny
write until it works again. The probe takes the write locks of every table the writer writes
(PostgreSQL ``ROW EXCLUSIVE``, as an ``INSERT`` or ``UPDATE`` would; SQLite's ``BEGIN IMMEDIATE``
locks the whole file), so a lock on one table keeps the writer unhealthy; and ``/healthz``
stays 503 for ``commit_timeout`` after any failed write, even if a write to another table
succeeded meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ondemand.api.db import Base
from ondemand.errors import CommitFailedError

if TYPE_CHECKING:
    from ondemand.api.persistence import Database

__all__ = ["Fence", "GroupCommitter", "Ticket"]

log = logging.getLogger("ondemand.api")

_PENDING, _CLAIMED, _DONE = 0, 1, 2

_WRITTEN_TABLES = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
"""The application's tables, which the writer's probe locks as a write would (PostgreSQL)."""


class Owner(Protocol):
    """What a ticket's owner (an operator's service of one day) offers the writer."""

    operator_id: int
    stale: bool


class Fence(Protocol):
    """Leadership check inside the writer's transaction (:mod:`ondemand.api.leader`)."""

    def fence(self, session: Session, operator_ids: Collection[int]) -> set[int]:
        """Make sure this server leads ``operator_ids`` until the transaction ends; those it does not."""
        ...


class Ticket:
    """One change waiting for the writer; :meth:`wait` or :meth:`wait_async` for its outcome."""

    __slots__ = ("_committer", "future", "owner", "seq", "state", "work")

    def __init__(
        self, work: Callable[[Session], None], owner: Owner | None, seq: int, committer: GroupCommitter
    ):
        self.work = work
        self.owner = owner
        self.seq = seq
        self.state = _PENDING
        self._committer = committer
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.future.set_running_or_notify_cancel()  # a running future cannot be cancelled by a waiter

    def wait(self, timeout: float | None = None) -> None:
        """Wait until committed; :class:`CommitFailedError` if it was not (and never will be)."""
        limit = self._committer.timeout if timeout is None else timeout
        try:
            self.future.result(limit)
        except concurrent.futures.TimeoutError:
            self._committer.abandon(self, limit)
            self.future.result()  # abandoned: raises; claimed: the writer's outcome comes within its bounds

    async def wait_async(self, timeout: float | None = None) -> None:
        """:meth:`wait` for coroutines: the event loop is not blocked."""
        limit = self._committer.timeout if timeout is None else timeout
        fut = asyncio.wrap_future(self.future)
        fut.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({fut}, timeout=limit)
        if not done:
            self._committer.abandon(self, limit)
        await asyncio.shield(fut)


def _retrieve(fut: asyncio.Future[None]) -> None:
    """Mark an asyncio future's exception as seen (the waiter may have answered already)."""
    if not fut.cancelled():
        fut.exception()


class GroupCommitter:
    """One writer thread that commits queued changes in batches: one ``fsync`` per batch.

    A batch is committed in one transaction. If a change itself is refused (e.g. a
    constraint), the batch is retried one change at a time, each in a SAVEPOINT, so one bad
    change does not take the others down; if the database is unavailable (locked, timed
    out, disconnected, full), the whole batch fails at once.

    Parameters
    ----------
    db
        The database.
    timeout
        ``commit_timeout``: how long a handler waits for a pending change, and the bound
        on the writer's lock waits and statements.
    fence
        Leadership check run in every transaction that changes a dispatcher's operator
        (PostgreSQL standby servers); ``None``: this server leads every operator.
    """

    def __init__(self, db: Database, *, timeout: float = 10.0, fence: Fence | None = None) -> None:
        self.db = db
        self.timeout = timeout
        self.fence = fence
        self.batches = 0
        self.changes = 0
        self._queue: list[Ticket] = []
        self._cond = threading.Condition()
        self._closed = False
        self._seq = itertools.count()
        self._open: Counter[int] = Counter()  # id(owner) -> tickets not yet resolved
        self._busy_since: float | None = None
        self._failing: str | None = None
        self._failed_at: tuple[float, str] | None = None  # the last failed write: when, why
        self._is_pg = db.url.startswith("postgresql")
        self._engine = self._writer_engine()
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ondemand-commit", daemon=True)
        self._thread.start()
        self._checkpointer: threading.Thread | None = None
        if db.url.startswith("sqlite"):
            self._checkpointer = threading.Thread(target=self._checkpoints, name="ondemand-wal", daemon=True)
            self._checkpointer.start()

    def _writer_engine(self) -> Engine:
        """The write engine, its SQLite lock waits (``busy_timeout``) bounded by ``timeout``.

        The database's own write engine is reused: a second engine would mean running
        :func:`~ondemand.api.db.make_engine`'s file checks while connections are open, and
        a process that opens and closes a SQLite file behind SQLite's back loses SQLite's
        POSIX locks on it (then another process may take the WAL away).
        """
        engine = self.db.write_engine
        if not self.db.url.startswith("sqlite"):
            return engine
        busy_ms = max(1, int(self.timeout * 1000))

        @event.listens_for(engine, "connect")
        def _bounded_wait(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        engine.dispose()  # connections opened before (migrations) get the bounded wait when reopened
        return engine

    # ------------------------------------------------------------------ handlers' side
    def enqueue(self, work: Callable[[Session], None], *, owner: Owner | None = None) -> Ticket:
        """Queue ``work(session)`` for the next batch.

        Parameters
        ----------
        work
            Writes the change into the session (no commit).
        owner
            The service whose dispatcher already holds the change (call under its lock);
            if the change fails, the owner is marked stale and rebuilt from the database.
        """
        with self._cond:
            ticket = Ticket(work, owner, next(self._seq), self)
            if self._closed:
                self._resolve(ticket, RuntimeError("the server is shutting down"))
                return ticket
            if owner is not None:
                self._open[id(owner)] += 1
            self._queue.append(ticket)
            self._cond.notify()
        return ticket

    def run(self, work: Callable[[Session], None]) -> None:
        """Queue ``work`` (no dispatcher change) and wait until it is committed."""
        self.enqueue(work).wait()

    def abandon(self, ticket: Ticket, waited: float) -> bool:
        """Give up a ticket that is still pending (it will never be committed); whether it was."""
        with self._cond:
            if ticket.state != _PENDING:
                return False
            self._queue.remove(ticket)
            self._failing = f"a change waited {waited:g} s for the database"
            self._failed_at = (time.monotonic(), self._failing)
            self._resolve(
                ticket,
                CommitFailedError(
                    f"the database did not take the change within {waited:g} s; nothing was saved"
                ),
            )
            return True

    def outstanding(self, owner: Owner) -> int:
        """How many changes of ``owner`` are queued or being committed."""
        with self._cond:
            return self._open[id(owner)]

    def health(self) -> str | None:
        """``None`` when the writer can write, else why not (for ``/healthz``)."""
        if not self._thread.is_alive():
            return "the database writer stopped"
        busy = self._busy_since
        if busy is not None and time.monotonic() - busy > self.timeout:
            return f"a database write has been waiting for {time.monotonic() - busy:.0f} s"
        if self._failing is not None:
            return self._failing
        failed = self._failed_at
        if failed is not None and time.monotonic() - failed[0] < self.timeout:
            return f"{failed[1]} {time.monotonic() - failed[0]:.1f} s ago"
        return None

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=60)
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)

    # ------------------------------------------------------------------ resolution (under self._cond)
    def _resolve(self, ticket: Ticket, error: BaseException | None) -> None:
        """Resolve a ticket once; on failure, its owner and the owner's later pending changes fail too."""
        if ticket.state == _DONE:
            return
        ticket.state = _DONE
        owner = ticket.owner
        if owner is not None:
            self._open[id(owner)] -= 1
            if self._open[id(owner)] <= 0:
                del self._open[id(owner)]
        if error is None:
            ticket.future.set_result(None)
            return
        failure = error if isinstance(error, CommitFailedError) else CommitFailedError(_why(error))
        if failure is not error:
            failure.__cause__ = error
        ticket.future.set_exception(failure)
        if owner is not None:
            owner.stale = True
            later = [t for t in self._queue if t.owner is owner and t.seq > ticket.seq]
            self._queue = [t for t in self._queue if not (t.owner is owner and t.seq > ticket.seq)]
            for t in later:  # the owner is stale already: nothing further to propagate
                t.state = _DONE
                self._open[id(owner)] -= 1
                t.future.set_exception(
                    CommitFailedError("an earlier change of this operator failed; nothing was saved")
                )
            if self._open.get(id(owner), 0) <= 0:
                self._open.pop(id(owner), None)

    def _finish(self, tickets: list[Ticket], errors: dict[int, BaseException] | BaseException | None) -> None:
        with self._cond:
            for k, t in enumerate(tickets):
                err = errors.get(k) if isinstance(errors, dict) else errors
                self._resolve(t, err)

    # ------------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        while True:
            batch: list[Ticket] = []
            try:
                with self._cond:
                    while not self._queue and not self._closed:
                        if self._failing is not None:
                            self._cond.wait(1.0)
                            if not self._queue:
                                break  # probe below
                        else:
                            self._cond.wait()
                    if not self._queue and self._closed:
                        return
                    batch = list(self._queue)
                if batch:
                    self._commit(batch)
                else:
                    self._probe()
            except Exception as exc:  # the writer must survive anything
                log.exception("database writer step failed; carrying on")
                self._failing = f"the last database write failed ({type(exc).__name__})"
                self._failed_at = (time.monotonic(), f"a database write failed ({type(exc).__name__})")
                with self._cond:
                    for t in batch:
                        if t.state == _PENDING:
                            self._queue.remove(t)
                        self._resolve(t, exc)
                time.sleep(0.2)

    def _begin(self, session: Session) -> int | None:
        """Open the write transaction with bounded lock waits; the PostgreSQL transaction id."""
        if not self._is_pg:
            session.connection()  # SQLite: BEGIN IMMEDIATE, waiting at most busy_timeout
            return None
        ms = max(1, int(self.timeout * 1000))
        session.execute(text(f"SET LOCAL lock_timeout = {ms}"))
        session.execute(text(f"SET LOCAL statement_timeout = {ms}"))
        return int(session.execute(text("SELECT txid_current()")).scalar_one())

    def _claim(self, batch: list[Ticket]) -> list[Ticket]:
        """Take the batch's tickets not abandoned meanwhile; from now on only the writer resolves them."""
        with self._cond:
            claimed = [t for t in batch if t.state == _PENDING]
            for t in claimed:
                t.state = _CLAIMED
                self._queue.remove(t)
            return claimed

    def _commit(self, batch: list[Ticket]) -> None:
        from ondemand.api.persistence import flush_plans, flush_rides

        self._busy_since = time.monotonic()
        try:
            with self._sessions() as session:
                try:
                    xid = self._begin(session)
                except Exception as exc:  # nothing claimed: these changes are not saved
                    self._failed(exc)
                    with self._cond:  # pending <=> queued: remove and resolve in one step
                        for t in batch:
                            if t.state == _PENDING:
                                self._queue.remove(t)
                                self._resolve(t, exc)
                    return
                claimed = self._claim(batch)
                if not claimed:
                    session.rollback()
                    return
                try:
                    claimed = self._fenced(session, claimed)
                except OperationalError as exc:  # the leadership check lost the database: all fail
                    session.rollback()
                    self._failed(exc)
                    self._finish(claimed, exc)
                    return
                try:
                    for t in claimed:
                        t.work(session)
                    flush_rides(session)
                    flush_plans(session)
                    session.flush()  # a change the database refuses shows here, not at COMMIT
                except OperationalError as exc:  # locked, timed out, disconnected, full: all fail
                    session.rollback()
                    self._failed(exc)
                    self._finish(claimed, exc)
                    return
                except Exception:  # some change itself is bad: find it
                    session.rollback()
                    self._finish(claimed, self._one_by_one(claimed))
                    return
                error = self._commit_session(session, xid)
                if error is not None:
                    self._failed(error)
                else:
                    self._failing = None
                    self.batches += 1
                    self.changes += len(claimed)
                self._finish(claimed, error)
        finally:
            self._busy_since = None

    def _fenced(self, session: Session, claimed: list[Ticket]) -> list[Ticket]:
        """Fail the changes of operators this server does not lead (a standby took over)."""
        if self.fence is None:
            return claimed
        ops = {t.owner.operator_id for t in claimed if t.owner is not None}
        if not ops:
            return claimed
        lost = self.fence.fence(session, ops)
        if not lost:
            return claimed
        out = [t for t in claimed if t.owner is None or t.owner.operator_id not in lost]
        refused = [t for t in claimed if t.owner is not None and t.owner.operator_id in lost]
        log.error("this server no longer leads operators %s; %d changes refused", sorted(lost), len(refused))
        self._finish(
            refused, CommitFailedError("this server no longer leads this operator; nothing was saved")
        )
        return out

    def _commit_session(self, session: Session, xid: int | None) -> BaseException | None:
        """COMMIT; ``None`` when committed. A lost PostgreSQL connection is resolved with ``txid_status``."""
        try:
            session.commit()
            return None
        except DBAPIError as exc:
            if xid is None or not exc.connection_invalidated:
                return exc
            log.error("connection lost during COMMIT of transaction %d; asking the server", xid)
            committed = self._verify(xid)
            return None if committed else exc

    def _verify(self, xid: int) -> bool:
        """Whether PostgreSQL transaction ``xid`` committed; asks until the server answers."""
        delay = 0.2
        while True:
            try:
                with self._engine.connect() as conn:
                    status = conn.execute(text("SELECT txid_status(:x)"), {"x": xid}).scalar()
                    conn.rollback()
                if status == "committed":
                    return True
                if status == "aborted" or status is None:
                    return False
            except DBAPIError as exc:
                self._failing = f"cannot reach the database to confirm a commit ({type(exc).__name__})"
            if self._closed and delay > 5:
                log.error("gave up confirming transaction %d at shutdown", xid)
                return False
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _one_by_one(self, claimed: list[Ticket]) -> dict[int, BaseException]:
        """Commit the changes one at a time (SAVEPOINT each); the errors by position."""
        from ondemand.api.persistence import flush_plans, flush_rides

        errors: dict[int, BaseException] = {}
        failed_owners: set[int] = set()
        try:
            with self._sessions() as session:
                xid = self._begin(session)
                for k, t in enumerate(claimed):
                    if t.owner is not None and id(t.owner) in failed_owners:
                        errors[k] = CommitFailedError(
                            "an earlier change of this operator failed; nothing was saved"
                        )
                        continue
                    plans = dict(session.info.get("plans", {}))
                    try:
                        with session.begin_nested():
                            t.work(session)
                            flush_rides(session)
                    except OperationalError:
                        raise
                    except Exception as exc:  # this change only
                        errors[k] = exc
                        session.info["plans"] = plans
                        session.info.pop("rides", None)
                        if t.owner is not None:
                            failed_owners.add(id(t.owner))
                flush_plans(session)
                error = self._commit_session(session, xid)
                if error is not None:
                    raise error
        except Exception as exc:  # the database itself failed: nothing was committed
            log.error("commit of %d changes failed: %s", len(claimed), type(exc).__name__)
            self._failed(exc)
            return dict.fromkeys(range(len(claimed)), exc)
        self._failing = None
        self.batches += 1
        self.changes += len(claimed) - len(errors)
        return errors

    def _failed(self, exc: BaseException) -> None:
        self._failing = f"the last database write failed ({_why(exc)})"
        self._failed_at = (time.monotonic(), f"a database write failed ({_why(exc)})")
        log.error("database write failed: %s", _why(exc))

    def _probe(self) -> None:
        """A tiny real write, to learn when the database takes writes again."""
        self._busy_since = time.monotonic()
        try:
            with self._sessions() as session:
                self._begin(session)
                if self._is_pg:  # the locks an INSERT/UPDATE takes, on every table written
                    session.execute(text(f"LOCK TABLE {_WRITTEN_TABLES} IN ROW EXCLUSIVE MODE"))
                session.execute(text("UPDATE alembic_version SET version_num = version_num"))
                session.commit()
            self._failing = None
            log.info("the database takes writes again")
        except Exception as exc:  # still failing: report it, probe again in a second
            self._failing = f"the database does not take writes ({_why(exc)})"
        finally:
            self._busy_since = None

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


def _why(exc: BaseException) -> str:
    """A short reason for a failed write (the driver's first line, without SQL)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:160]}" if first else type(exc).__name__
