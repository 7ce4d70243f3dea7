"""Dependencies of the API routes: the caller (API key -> :class:`Principal`) and the app's live context.

Every ``/v1`` call needs ``Authorization: Bearer KEY`` (keys from ``ondemand keys create``).
An operator key sees only its operator's data; a vehicle key may read the stops, its own
itinerary and report events for its own vehicle only.

The app's long-lived parts (settings, database, registry of live dispatchers, group
committer, booking desk, clock) are one :class:`ApiContext` in ``app.state.context``;
routes get it with the :data:`Context` dependency.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ondemand.api.booking import AreaLike, BookingDesk, ServiceConfig
from ondemand.api.db import ApiKey, Operator, hash_key
from ondemand.api.persistence import Database, GroupCommitter
from ondemand.api.registry import ServiceRegistry
from ondemand.api.schemas import ApiError
from ondemand.api.settings import ApiSettings

__all__ = ["AUTH_ERRORS", "ApiContext", "Context", "KeyLocks", "OperatorWho", "Principal", "Who"]

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ApiError, "description": "Missing or invalid API key"},
    403: {"model": ApiError, "description": "The key may not do this"},
    413: {"model": ApiError, "description": "Body too large"},
}
"""The error answers every ``/v1`` endpoint documents."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the operator and the role of the key (never the key itself)."""

    operator_id: int
    operator_name: str
    role: Literal["operator", "vehicle"]
    vehicle_id: str | None
    key_prefix: str


class KeyLocks:
    """One lock per idempotency key in use, for routes that run in the thread pool.

    Two requests with the same key (a tablet resending while its first try is still
    being committed) are decided one after the other, so the second sees the first's
    stored answer. Locks of keys no longer in use are forgotten.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[Any, ...], tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, slot: tuple[Any, ...]) -> Iterator[None]:
        """Hold the lock of ``slot`` for the ``with`` block."""
        with self._guard:
            lock, users = self._locks.setdefault(slot, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[slot]


@dataclass(frozen=True, slots=True, eq=False)
class ApiContext:
    """The long-lived parts of one app, shared by its routes.

    ``inflight`` holds the ``Idempotency-Key`` bookings being decided (only touched on
    the event loop); ``event_keys`` serialises vehicle events with the same key.
    """

    settings: ApiSettings
    area: AreaLike
    config: ServiceConfig
    db: Database
    registry: ServiceRegistry
    committer: GroupCommitter
    desk: BookingDesk
    inflight: dict[tuple[int, str], asyncio.Event] = field(default_factory=dict)
    event_keys: KeyLocks = field(default_factory=KeyLocks)
    _vehicle_ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_vehicle_ids", frozenset(v.id for v in self.config.vehicles))

    @property
    def tz(self) -> ZoneInfo:
        """The service time zone."""
        return self.settings.tz

    @property
    def stops(self) -> Sequence[Any]:
        """The meeting points of the service area."""
        return self.desk.stops

    @property
    def vehicle_ids(self) -> frozenset[str]:
        """The ids of the fleet's vehicles."""
        return self._vehicle_ids

    def now(self) -> _dt.datetime:
        """The current time (the app's clock) in the service time zone."""
        return self.registry.now()


async def _context(request: Request) -> ApiContext:
    """The app's :class:`ApiContext` (async: no thread-pool hop)."""
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(_context)]


_bearer = HTTPBearer(auto_error=False, description="API key from `ondemand keys create`")


_KEY_CACHE_S = 30.0


async def _principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a /v1 endpoint, from its bearer key (401 when missing or unknown).

    Known keys are remembered (by hash) for 30 s, so a revoked key stops working within 30 s.
    """
    if creds is None or not creds.credentials:
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer KEY'", headers={"WWW-Authenticate": "Bearer"}
        )
    digest = hash_key(creds.credentials)
    cache: dict[str, tuple[float, Principal]] = request.app.state.key_cache
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and now - hit[0] < _KEY_CACHE_S:
        return hit[1]
    who = await run_in_threadpool(_lookup_key, request.app.state.db, digest)
    if who is None:
        cache.pop(digest, None)
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    if len(cache) > 10_000:
        cache.clear()
    cache[digest] = (now, who)
    return who


def _lookup_key(db: Database, digest: str) -> Principal | None:
    """The principal of a key hash, or ``None`` for an unknown or revoked key."""
    with db.read() as session:
        found = session.execute(
            select(ApiKey, Operator.name)
            .join(Operator, Operator.id == ApiKey.operator_id)
            .where(ApiKey.key_hash == digest, ApiKey.revoked.is_(False))
        ).first()
    if found is None:
        return None
    key, op_name = found
    role: Literal["operator", "vehicle"] = "vehicle" if key.role == "vehicle" else "operator"
    return Principal(key.operator_id, op_name, role, key.vehicle_id, key.prefix)


async def _operator_only(who: Annotated[Principal, Depends(_principal)]) -> Principal:
    """The caller, who must hold an operator key (403 for vehicle keys)."""
    if who.role != "operator":
        raise HTTPException(403, "this needs an operator key; vehicle keys may only report events")
    return who


Who = Annotated[Principal, Depends(_principal)]
"""The caller (any valid key)."""
OperatorWho = Annotated[Principal, Depends(_operator_only)]
"""The caller, who must hold an operator key."""
