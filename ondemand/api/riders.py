"""The rider registry of the phone desk, handled as personal data (Japan's APPI).

A rider is a name, a phone number and what they need of the service (a wheelchair
place, help to board): only what a clerk needs to book for a caller and call them back.
Names and phone numbers are never logged and never put in a URL (riders are found with a
POST body). One rider's data can be exported (:func:`export_rows`) and erased
(:func:`erase`): the rider row goes, their ride requests stay for statistics but lose the
link. Riders without a booking or a change for ``rider_retention_days`` are erased by
:func:`purge_expired`, which the app runs at start-up and every ``rider_purge_interval_s``
(:class:`RiderJanitor`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ondemand.api.db import RideRequestRow, RiderRow
from ondemand.api.persistence import Database, GroupCommitter
from ondemand.api.schemas import Need, RiderOut
from ondemand.errors import InvalidRequestError, OndemandError
from ondemand.routing.geo.area import fold_name

__all__ = [
    "MAX_FOUND",
    "RiderJanitor",
    "erase",
    "export_rows",
    "find",
    "join_needs",
    "name_key",
    "new_rider_id",
    "own_rider",
    "purge_expired",
    "rider_out",
    "split_needs",
]

log = logging.getLogger("ondemand.api")

MAX_FOUND = 20
"""At most this many riders are returned by a search (refine the query for more)."""

_NEEDS: tuple[Need, ...] = ("wheelchair", "boarding_help")


def new_rider_id() -> str:
    """A fresh rider id (random: it says nothing about the rider)."""
    return "ri_" + uuid.uuid4().hex[:20]


def join_needs(needs: Sequence[str]) -> str:
    """The stored form of a rider's needs: known needs, each once, in a fixed order."""
    return ",".join(n for n in _NEEDS if n in needs)


def split_needs(text: str) -> list[Need]:
    """A rider's needs from their stored form."""
    return [n for n in _NEEDS if n in text.split(",")]


def _utc(when: _dt.datetime) -> _dt.datetime:
    """``when`` in UTC (SQLite returns naive datetimes; they were stored as UTC)."""
    return when.replace(tzinfo=_dt.UTC) if when.tzinfo is None else when.astimezone(_dt.UTC)


def name_key(name: str) -> str:
    """A name folded for searching (full- and half-width forms, case)."""
    return fold_name(name)[:100]


def rider_out(row: RiderRow, tz: Any) -> RiderOut:
    """A rider as the API shows it (times in the service time zone)."""
    return RiderOut(
        id=row.id,
        name=row.name,
        phone=row.phone,
        needs=split_needs(row.needs),
        created_at=_utc(row.created_at).astimezone(tz),
        updated_at=_utc(row.updated_at).astimezone(tz),
    )


def own_rider(session: Session, operator_id: int, rider_id: str) -> RiderRow | None:
    """The operator's rider ``rider_id``, or ``None``."""
    row = session.get(RiderRow, rider_id)
    if row is None or row.operator_id != operator_id:
        return None
    return row


def find(session: Session, operator_id: int, q: str) -> list[RiderRow]:
    """The operator's riders whose phone holds the digits of ``q`` (3 or more), or whose name holds ``q``.

    Raises
    ------
    InvalidRequestError
        When ``q`` is blank or a phone-number query with fewer than 3 digits.
    """
    text = q.strip()
    digits = "".join(c for c in fold_name(text) if c not in " -.()+")
    stmt = select(RiderRow).where(RiderRow.operator_id == operator_id)
    if digits.isascii() and digits.isdigit():
        if len(digits) < 3:
            raise InvalidRequestError("give at least 3 digits of the phone number, or part of the name")
        stmt = stmt.where(RiderRow.phone.contains(digits, autoescape=True))
    else:
        key = name_key(text)
        if not key.strip():
            raise InvalidRequestError(
                "give part of the rider's name or at least 3 digits of the phone number"
            )
        stmt = stmt.where(RiderRow.name_key.contains(key, autoescape=True))
    return list(session.scalars(stmt.order_by(RiderRow.name_key, RiderRow.id).limit(MAX_FOUND)))


def export_rows(session: Session, operator_id: int, rider_id: str) -> list[RideRequestRow]:
    """Every ride request linked to the rider, oldest first."""
    return list(
        session.scalars(
            select(RideRequestRow)
            .where(RideRequestRow.operator_id == operator_id, RideRequestRow.rider_id == rider_id)
            .order_by(RideRequestRow.created_at, RideRequestRow.id)
        )
    )


def erase(session: Session, operator_id: int, rider_id: str) -> int | None:
    """Delete the rider and unlink their ride requests; the number unlinked, ``None`` if unknown."""
    if own_rider(session, operator_id, rider_id) is None:
        return None
    unlinked = session.execute(
        update(RideRequestRow)
        .where(RideRequestRow.operator_id == operator_id, RideRequestRow.rider_id == rider_id)
        .values(rider_id=None)
    )
    session.execute(delete(RiderRow).where(RiderRow.id == rider_id))
    return int(getattr(unlinked, "rowcount", 0) or 0)


def purge_expired(session: Session, now: _dt.datetime, retention_days: int) -> int:
    """Erase every rider unchanged and without a booking made in the last ``retention_days``.

    Parameters
    ----------
    session
        An open write session; the caller commits.
    now
        The current time (aware).
    retention_days
        The retention period of the settings (``rider_retention_days``).

    Returns
    -------
    int
        How many riders were erased (their ride requests stay, unlinked).
    """
    cutoff = _utc(now) - _dt.timedelta(days=retention_days)
    recent = exists().where(RideRequestRow.rider_id == RiderRow.id, RideRequestRow.created_at >= cutoff)
    expired = list(
        session.execute(
            select(RiderRow.id, RiderRow.operator_id).where(RiderRow.updated_at < cutoff, ~recent)
        )
    )
    for rider_id, operator_id in expired:
        erase(session, int(operator_id), str(rider_id))
    return len(expired)


class RiderJanitor:
    """Runs :func:`purge_expired` at start-up and then every ``interval_s`` seconds (an asyncio task).

    Parameters
    ----------
    db, committer
        The database and the app's writer (the erasure is one committed change).
    clock
        The app's clock.
    retention_days, interval_s
        From the settings.
    """

    def __init__(
        self,
        db: Database,
        committer: GroupCommitter,
        clock: Callable[[], _dt.datetime],
        *,
        retention_days: int,
        interval_s: float,
    ) -> None:
        self.db = db
        self.committer = committer
        self.clock = clock
        self.retention_days = retention_days
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> int:
        """Erase the expired riders now; how many (0, with a warning, when the database failed)."""
        erased: list[int] = []

        def work(session: Session) -> None:
            erased.append(purge_expired(session, self.clock(), self.retention_days))

        try:
            self.committer.run(work)
        except (OndemandError, SQLAlchemyError) as exc:
            log.warning(
                "rider retention: could not erase expired riders now (%s); retrying later", type(exc).__name__
            )
            return 0
        if erased and erased[0]:
            log.info(
                "rider retention: erased %d riders without a booking for %d days",
                erased[0],
                self.retention_days,
            )
        return erased[0] if erased else 0

    def start(self) -> None:
        """Run once now, then every ``interval_s`` seconds in the background (on the running loop)."""
        self.run_once()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await asyncio.to_thread(self.run_once)

    def stop(self) -> None:
        """Stop the background runs."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
