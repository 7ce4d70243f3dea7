"""Leadership per operator on PostgreSQL: one leader, a standby that takes over, a fence on the old leader."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from ondemand.api.db import normalise_url
from ondemand.api.leader import AdvisoryLeadership
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
