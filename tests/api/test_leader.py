"""Leadership per operator on PostgreSQL: one leader, a standby that takes over, a fence on the old leader."""

from __future__ import annotations

import threading
import time

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ondemand.api.db import normalise_url
from ondemand.api.leader import FENCE_KEY, AdvisoryLeadership
from ondemand.api.persistence import Database


def test_one_leader_per_operator_and_a_fence_on_the_old_one(pg_url: str) -> None:
    """B cannot lead while A does; when A's connection dies B leads, and A's transactions are fenced off."""
    Database(pg_url).dispose()  # migrate
    a, b = AdvisoryLeadership(normalise_url(pg_url)), AdvisoryLeadership(normalise_url(pg_url))
    engine = create_engine(normalise_url(pg_url))
    try:
        assert a.try_lead(1)
        assert not b.try_lead(1)
        assert b.try_lead(2)
        assert not a.try_lead(2)
        with Session(engine) as session, session.begin():
            assert a.fence(session, {1}) == set()
            assert a.fence(session, {1, 2}) == {2}
        with engine.connect() as conn:  # cut A's connection, as a network fault or pg_terminate_backend would
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": a.pid})
            conn.commit()
        deadline = (
            time.monotonic() + 30
        )  # the backend ends (and its locks go) once scheduled after the signal
        while not b.try_lead(1):
            assert time.monotonic() < deadline, "B never took over operator 1"
            b._tried.clear()
            time.sleep(0.05)
        with Session(engine) as session, session.begin():
            assert a.fence(session, {1}) == {1}  # A still believes it leads, but may not write
            assert b.fence(session, {1, 2}) == set()
    finally:
        a.close()
        b.close()
        engine.dispose()


def test_a_request_waits_for_a_takeover_in_progress_instead_of_refusing(pg_url: str) -> None:
    """While the watcher is taking the lead of an operator, a request's try_lead waits for it and
    gets the lead, instead of answering 'not led' because the watcher tried a moment ago (a
    booking got 503 on a server that was just taking over, found 2026-12-01)."""
    Database(pg_url).dispose()  # migrate
    leader = AdvisoryLeadership(normalise_url(pg_url))
    blocker = create_engine(normalise_url(pg_url), poolclass=NullPool)  # closing releases its locks
    conn = blocker.connect()
    answer: list[bool] = []
    try:  # an old leader's fenced transaction is still open: the takeover waits on the fence
        conn.execute(text("SELECT pg_advisory_lock_shared(:k, 1)"), {"k": FENCE_KEY})
        watcher = threading.Thread(target=leader.try_lead, args=(1,))
        watcher.start()
        deadline = time.monotonic() + 30
        while 1 not in leader._tried:
            assert time.monotonic() < deadline, "the watcher never tried"
            time.sleep(0.01)
        time.sleep(0.1)
        request = threading.Thread(target=lambda: answer.append(leader.try_lead(1)))
        request.start()
        time.sleep(0.3)
        assert answer == []  # waiting for the takeover, not answered 'not led'
    finally:
        conn.close()  # the old leader's transaction ends
        blocker.dispose()
    watcher.join(timeout=30)
    request.join(timeout=30)
    try:
        assert answer == [True]
        assert leader.leads(1)
    finally:
        leader.close()
