"""The database writer: 503 means not saved, a failure fails its owner's later changes, the writer lives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ondemand.api.db import Operator
from ondemand.api.persistence import Database
from ondemand.api.writer import GroupCommitter
from ondemand.errors import CommitFailedError
from tests.api._pg import PgServer

RECOVERY_S = 30.0
"""How long a test waits for ``health`` to clear once the database takes writes again.

The probe runs every second and health clears one commit timeout (0.5 s here) after the last
failure: about 2 s on a quiet machine; the wait ends as soon as it clears.
"""


@dataclass(eq=False)
class Owner:
    """A stand-in for an operator's service."""

    operator_id: int
    stale: bool = False


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A migrated SQLite file."""
    p = tmp_path / "w.db"
    Database(f"sqlite:///{p}").dispose()
    return p


@pytest.fixture
def committer(path: Path) -> Iterator[GroupCommitter]:
    """A writer on ``path`` with a 0.5 s commit timeout."""
    db = Database(f"sqlite:///{path}")
    c = GroupCommitter(db, timeout=0.5)
    try:
        yield c
    finally:
        c.close()
        db.dispose()


def add(name: str) -> object:
    """A change that inserts operator ``name``."""

    def work(session: Session) -> None:
        session.add(Operator(name=name))

    return work


def names(path: Path) -> set[str]:
    """The operators stored in the file."""
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM operators")}


@pytest.fixture
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the file's write lock (``BEGIN IMMEDIATE``) until released."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def test_a_change_refused_while_the_file_is_locked_is_never_saved(
    committer: GroupCommitter, path: Path, locked: sqlite3.Connection
) -> None:
    """A change that timed out is not committed when the lock goes; later changes are, the writer lives."""
    ticket = committer.enqueue(add("lost"))  # type: ignore[arg-type]
    with pytest.raises(CommitFailedError, match=r"nothing was saved|refused|locked"):
        ticket.wait()
    locked.execute("ROLLBACK")
    committer.run(add("kept"))  # type: ignore[arg-type]
    time.sleep(0.3)
    assert names(path) == {"kept"}
    deadline = time.monotonic() + RECOVERY_S  # health stays failing a commit timeout after the failure
    while committer.health() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert committer.health() is None


def test_a_timeout_in_a_coroutine_does_not_kill_the_writer(
    committer: GroupCommitter, path: Path, locked: sqlite3.Connection
) -> None:
    """``wait_async`` timing out leaves the writer alive and the change unsaved (was InvalidStateError)."""

    async def book() -> None:
        await committer.enqueue(add("lost")).wait_async()  # type: ignore[arg-type]

    with pytest.raises(CommitFailedError):
        asyncio.run(book())
    locked.execute("ROLLBACK")
    asyncio.run(_then(committer))
    assert names(path) == {"kept"}
    assert committer._thread.is_alive()


async def _then(committer: GroupCommitter) -> None:
    await committer.enqueue(add("kept")).wait_async()  # type: ignore[arg-type]


def test_a_change_being_committed_is_waited_for_not_refused(committer: GroupCommitter, path: Path) -> None:
    """A change the writer has taken gets its outcome, even past the timeout (no 503 for a saved change)."""

    def slow(session: Session) -> None:
        time.sleep(1.2)  # > 2x the 0.5 s timeout, inside the write transaction
        session.add(Operator(name="slow"))

    committer.enqueue(slow).wait()
    assert names(path) == {"slow"}


def test_a_failed_change_fails_its_owners_later_changes_only(
    committer: GroupCommitter, path: Path, locked: sqlite3.Connection
) -> None:
    """After a change of A fails, A is stale and A's later queued changes fail; B's changes commit."""
    a, b = Owner(1), Owner(2)
    first = committer.enqueue(add("a1"), owner=a)  # type: ignore[arg-type]
    second = committer.enqueue(add("a2"), owner=a)  # type: ignore[arg-type]
    third = committer.enqueue(add("a3"), owner=a)  # type: ignore[arg-type]
    other = committer.enqueue(add("b1"), owner=b)  # type: ignore[arg-type]
    with pytest.raises(CommitFailedError):
        first.wait(timeout=0.1)  # abandoned while the writer still waits for the lock
    assert a.stale
    for later in (second, third):
        with pytest.raises(CommitFailedError, match="earlier change"):
            later.wait(timeout=0.01)
    locked.execute("ROLLBACK")
    with contextlib.suppress(CommitFailedError):  # failed while the file was locked: then not saved either
        other.wait(timeout=5)
    time.sleep(0.3)
    stored = names(path)
    assert "a1" not in stored
    assert "a2" not in stored
    assert "a3" not in stored
    assert ("b1" in stored) == (not b.stale)
    assert committer.outstanding(a) == 0


def test_one_bad_change_fails_alone(committer: GroupCommitter, path: Path) -> None:
    """A change the database refuses (duplicate name) fails and marks its owner; its batch's others commit."""
    committer.run(add("dup"))  # type: ignore[arg-type]
    a, b = Owner(1), Owner(2)
    gate = threading.Event()

    def blocker(session: Session) -> None:
        gate.wait(5)

    first = committer.enqueue(blocker)
    bad = committer.enqueue(add("dup"), owner=a)  # type: ignore[arg-type]
    good = committer.enqueue(add("fine"), owner=b)  # type: ignore[arg-type]
    gate.set()
    first.wait(timeout=5)
    with pytest.raises(CommitFailedError, match="IntegrityError"):
        bad.wait(timeout=5)
    good.wait(timeout=5)
    assert a.stale
    assert not b.stale
    assert names(path) == {"dup", "fine"}


def test_health_fails_while_the_writer_cannot_write_and_recovers_alone(
    committer: GroupCommitter, path: Path, locked: sqlite3.Connection
) -> None:
    """A failed write makes ``health`` say why; once the lock goes, the writer's probe clears it unaided."""
    with pytest.raises(CommitFailedError):
        committer.enqueue(add("x")).wait()  # type: ignore[arg-type]
    deadline = time.monotonic() + 3
    while committer.health() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert committer.health() is not None
    locked.execute("ROLLBACK")
    deadline = time.monotonic() + RECOVERY_S
    while committer.health() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert committer.health() is None
    with Session(committer._engine) as session:
        assert session.scalars(select(Operator.name)).all() == []


@pytest.mark.slow
def test_health_stays_failing_while_one_postgresql_table_is_locked(pg_server: PgServer) -> None:
    """A lock on one table keeps ``health`` failing past the probes (they lock every table), then clears.

    The probe used to write ``alembic_version`` only: it succeeded under a lock on ``operators``
    and ``/healthz`` said ok while no change to that table could be written.
    """
    url = pg_server.new_database()
    dbname = url.split("@/", 1)[1].split("?", 1)[0]
    db = Database(url)
    committer = GroupCommitter(db, timeout=0.5)
    try:
        with pg_server.connect(dbname) as holder:
            holder.autocommit = False
            holder.execute("LOCK TABLE operators IN EXCLUSIVE MODE")
            with pytest.raises(CommitFailedError):
                committer.enqueue(add("x")).wait()  # type: ignore[arg-type]
            seen = []
            end = time.monotonic() + 3.0  # six commit timeouts, three probes
            while time.monotonic() < end:
                seen.append(committer.health())
                time.sleep(0.1)
            assert None not in seen, f"health said ok while operators was locked: {seen}"
            holder.rollback()
        deadline = time.monotonic() + RECOVERY_S
        while committer.health() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert committer.health() is None
        committer.run(add("kept"))  # type: ignore[arg-type]
        with Session(committer._engine) as session:
            assert session.scalars(select(Operator.name)).all() == ["kept"]
    finally:
        committer.close()
        db.dispose()


class _LostFence:
    """A leadership check whose connection the database server has just killed."""

    def fence(self, session: Session, operator_ids: object) -> set[int]:
        """Raise as psycopg does when the server terminated the connection."""
        raise OperationalError("SELECT 1 FROM pg_locks", {}, Exception("terminating connection"))


def test_a_leadership_check_that_loses_the_database_fails_its_changes_quietly(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The fence's lost connection fails the batch (nothing saved, health says why) without a traceback."""
    db = Database(f"sqlite:///{path}")
    committer = GroupCommitter(db, timeout=0.5, fence=_LostFence())
    owner = Owner(1)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="ondemand.api"),
            pytest.raises(CommitFailedError, match="terminating connection"),
        ):
            committer.enqueue(add("x"), owner=owner).wait()  # type: ignore[arg-type]
        assert owner.stale
        assert committer.health() is not None
        assert committer._thread.is_alive()
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
        assert any("database write failed" in r.getMessage() for r in caplog.records)
    finally:
        committer.close()
        db.dispose()
    assert names(path) == set()
