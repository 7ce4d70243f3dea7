"""The registry of live dispatchers: one per operator and service day, with a lock, rebuilt from the database.

A service is created on first use (or at start-up for every day with open bookings,
:func:`restore_open_days`) and restored from the stored bookings, stop orders and
arrivals, so that a restarted server runs the routes that were running.

The same rebuild undoes a change the database did not take: the writer marks the
service *stale* (:mod:`ondemand.api.writer`), the service refuses further changes, and
the next :meth:`ServiceRegistry.get` after its last queued change is resolved builds a
fresh dispatcher from the database. Only operators this server leads are served
(:mod:`ondemand.api.leader`); for the others :meth:`ServiceRegistry.get` raises
:class:`~ondemand.errors.ServiceUnavailableError` (503 with ``Retry-After``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ondemand.api.booking import AreaLike, DispatcherFactory, ServiceConfig
from ondemand.api.clock import Clock, ServiceDay
from ondemand.api.db import RideRequestRow, VehicleEventRow, VehiclePlanRow, VehicleRow
from ondemand.api.leader import Leadership
from ondemand.api.persistence import TURNED, Database, GroupCommitter, request_from_row
from ondemand.dispatch.base import Dispatcher
from ondemand.errors import CommitFailedError, ServiceUnavailableError
from ondemand.routing.solver.model import Divertible, Plan, Request, StopKind, TravelTimes

__all__ = ["OperatorService", "ServiceRegistry", "restore_open_days", "vehicle_of_requests"]

_KIND = {"pickup": StopKind.PICKUP, "dropoff": StopKind.DROPOFF}

log = logging.getLogger("ondemand.api")


def vehicle_of_requests(plan: Plan) -> dict[str, str]:
    """Request id → vehicle id for every request in a route of ``plan``."""
    out: dict[str, str] = {}
    for route in plan.routes:
        for stop in route.stops:
            out[stop.request_id] = route.vehicle.id
        for rider in route.vehicle.onboard:
            out[rider.request.id] = route.vehicle.id
    return out


class OperatorService:
    """The dispatcher of one operator for one service day, with its lock and a change counter."""

    def __init__(
        self,
        operator_id: int,
        day: ServiceDay,
        dispatcher: Dispatcher,
        tt: TravelTimes,
    ) -> None:
        self.operator_id = operator_id
        self.day = day
        self.dispatcher = dispatcher
        self.lock = threading.Lock()
        self.version = 0
        self.restore_failures = 0
        self.tt = tt
        self.stale = False
        # mid-leg diversion (service.divert_mid_leg with travel times that name turning points):
        # the turn recorded last for each vehicle (point, time), see persistence.note_turn
        self.divert = False
        self.turns: dict[str, tuple[int, int]] = {}
        # where each vehicle last was (a stop, or a turning point): the start of the leg it drives,
        # from which a position report is turned into seconds driven (persistence.driven_on_leg)
        self.last_point: dict[str, int] = {}

    def check_live(self) -> None:
        """Raise :class:`ServiceUnavailableError` unless the dispatcher takes changes (call under the lock).

        A stale dispatcher holds a change the database did not take (or this server lost the
        lead of the operator); it is rebuilt from the database before it decides again.
        """
        if self.stale:
            raise ServiceUnavailableError(
                "the operator's dispatcher is being rebuilt from the database after a failed write; "
                "nothing was changed, retry shortly",
                retry_after=1,
            )


class ServiceRegistry:
    """The operators' dispatchers, created on first use and rebuilt from the database."""

    def __init__(
        self,
        db: Database,
        area: AreaLike,
        config: ServiceConfig,
        dispatcher_factory: DispatcherFactory,
        *,
        tz: ZoneInfo,
        clock: Clock,
        leadership: Leadership | None = None,
    ) -> None:
        self.db = db
        self.leadership = leadership or Leadership()
        self.committer: GroupCommitter | None = None  # set by the app: outstanding changes of a service
        self.area = area
        self.config = config
        self.dispatcher_factory = dispatcher_factory
        self.tz = tz
        self.clock = clock
        self._services: dict[tuple[int, _dt.date], OperatorService] = {}
        self._lock = threading.Lock()

    def now(self) -> _dt.datetime:
        """The current time in the service time zone."""
        return self.clock().astimezone(self.tz)

    def today(self) -> ServiceDay:
        """The service day of the current time."""
        return ServiceDay.of(self.now(), self.tz)

    def get(self, operator_id: int, date: _dt.date | None = None) -> OperatorService:
        """The operator's service for ``date`` (default today), restored from the database when new.

        Booked-ahead days get their own dispatcher; services of past days are dropped. A
        stale service is rebuilt from the database once none of its changes is queued.
        Never call this while holding a database write session (lock order).

        Raises
        ------
        ServiceUnavailableError
            When another server leads the operator, or a stale service still has changes queued.
        """
        today = self.today()
        day = today if date is None or date == today.date else ServiceDay(date, self.tz)
        key = (operator_id, day.date)
        with self._lock:
            for old in [k for k in self._services if k[1] < today.date]:
                del self._services[old]
            if not self.leadership.leads(operator_id) and not self.leadership.try_lead(operator_id):
                self._drop(operator_id)
                raise ServiceUnavailableError(
                    f"another server leads operator {operator_id} now; this one is its standby. "
                    "Nothing was changed: retry shortly (the standby takes over if the leader stops)",
                    retry_after=2,
                )
            svc = self._services.get(key)
            if svc is not None and svc.stale:
                if self.committer is not None and self.committer.outstanding(svc):
                    svc.check_live()
                log.warning(
                    "rebuilding the dispatcher of operator %d for %s from the database", operator_id, day.date
                )
                svc = None
            if svc is None:
                svc = self._create(operator_id, day)
                self._services[key] = svc
            return svc

    def peek(self, operator_id: int, date: _dt.date | None = None) -> OperatorService | None:
        """The operator's live service for ``date`` (default today), if any (no locking, no database)."""
        if date is None:
            date = self.today().date
        svc = self._services.get((operator_id, date))
        if svc is None or svc.stale or not self.leadership.leads(operator_id):
            return None
        return svc

    def services(self) -> list[OperatorService]:
        """The live services (not stale, of operators this server leads)."""
        with self._lock:
            return [
                s for s in self._services.values() if not s.stale and self.leadership.leads(s.operator_id)
            ]

    def _drop(self, operator_id: int) -> None:
        """Mark the operator's services stale (call under ``self._lock``).

        They stay registered, so that a new lead rebuilds them only once none of their
        changes is queued any more (else a change committed after the rebuild's read
        would be missing from the rebuilt dispatcher).
        """
        for k, svc in self._services.items():
            if k[0] == operator_id:
                svc.stale = True

    def drop_operators(self, operator_ids: set[int]) -> None:
        """This server no longer leads these operators: stop deciding for them at once."""
        with self._lock:
            for op in operator_ids:
                self._drop(op)

    def _create(self, operator_id: int, day: ServiceDay) -> OperatorService:
        dispatcher = self.dispatcher_factory(self.config.vehicles, self.area.matrix)
        svc = OperatorService(operator_id, day, dispatcher, self.area.matrix)
        svc.divert = (
            bool(self.config.policy.service.divert_mid_leg)
            and isinstance(self.area.matrix, Divertible)
            and hasattr(self.area, "network")
        )
        svc.last_point = {v.id: int(v.start) for v in self.config.vehicles}
        with self.db.read() as session:
            have = set(session.scalars(select(VehicleRow.id).where(VehicleRow.operator_id == operator_id)))
        missing = [v for v in self.config.vehicles if v.id not in have]
        if missing:  # the first day of an operator: store its fleet

            def fleet(session: Session) -> None:
                there = set(
                    session.scalars(select(VehicleRow.id).where(VehicleRow.operator_id == operator_id))
                )
                for v in missing:
                    if v.id not in there:  # PostgreSQL: another server may have stored it meanwhile
                        session.add(
                            VehicleRow(
                                operator_id=operator_id,
                                id=v.id,
                                seats=v.seats,
                                wheelchair_places=v.wheelchair_places,
                            )
                        )

            self._write(fleet)
        self._restore(svc)
        return svc

    def _restore(self, svc: OperatorService) -> None:
        """Rebuild the dispatcher from the open bookings, saved stop orders and arrivals of the day.

        Each vehicle gets back the stop order it was running (:meth:`_restore_vehicle`),
        with its riders on board; a booking whose pickup window ended while the server was
        down (and no pickup was reported) is marked lost, every other acknowledged booking
        is put back.
        """
        date = svc.day.date.isoformat()
        with self.db.read() as session:
            rows = list(
                session.scalars(
                    select(RideRequestRow)
                    .where(
                        RideRequestRow.operator_id == svc.operator_id,
                        RideRequestRow.service_date == date,
                        RideRequestRow.status.in_(("assigned", "onboard")),
                    )
                    .order_by(RideRequestRow.created_at, RideRequestRow.id)
                )
            )
            arrivals = list(
                session.scalars(
                    select(VehicleEventRow)
                    .where(
                        VehicleEventRow.operator_id == svc.operator_id,
                        VehicleEventRow.service_date == date,
                        VehicleEventRow.kind.in_(("arrived", TURNED)),
                    )
                    .order_by(VehicleEventRow.id)
                )
            )
            saved = {
                p.vehicle_id: [(str(a), str(b)) for a, b in json.loads(p.stops)]
                for p in session.scalars(
                    select(VehiclePlanRow).where(
                        VehiclePlanRow.operator_id == svc.operator_id, VehiclePlanRow.service_date == date
                    )
                )
            }
        d = svc.dispatcher
        # where each vehicle last was: its last arrival, or the turning point where a booking
        # turned it mid-leg (it is planned from there, free from when it gets there)
        last_arrival = {
            ev.vehicle_id: ev
            for ev in arrivals
            if ev.stop_id is not None or (ev.kind == TURNED and ev.lon is not None and ev.lat is not None)
        }
        for ev in last_arrival.values():
            try:
                if ev.kind == TURNED:
                    point = self._turning_point(float(ev.lon or 0.0), float(ev.lat or 0.0))
                    d.record_arrival(ev.vehicle_id, point, at=ev.at_s)
                    svc.turns[ev.vehicle_id] = (point, ev.at_s)
                else:
                    point = self.area.stop_index(str(ev.stop_id))
                    d.record_arrival(ev.vehicle_id, point, at=ev.at_s)
                svc.last_point[ev.vehicle_id] = point
            except (LookupError, ValueError, AttributeError) as exc:
                log.warning("could not replay the %s event of %s: %s", ev.kind, ev.vehicle_id, exc)
        by_vehicle: dict[str, list[RideRequestRow]] = {}
        for row in rows:
            if row.vehicle_id is not None:
                by_vehicle.setdefault(row.vehicle_id, []).append(row)
        restored = failed = 0
        now_s = svc.day.seconds(self.now())
        lost: dict[str, str] = {}
        if not self.config.policy.auto_complete:  # with auto-complete, past stops count as served
            for row in rows:
                end = (
                    row.promise_pickup_end_s if row.promise_pickup_end_s is not None else row.latest_pickup_s
                )
                if row.status == "assigned" and end < now_s:
                    ended, restarted = svc.day.at(end).strftime("%H:%M"), svc.day.at(now_s).strftime("%H:%M")
                    lost[row.id] = (
                        f"lost: the pickup window ended at {ended} with no pickup reported before the "
                        f"server restarted at {restarted}; the booking could not be restored - "
                        "contact the rider"
                    )
        for vid, vrows in by_vehicle.items():
            keep = [r for r in vrows if r.id not in lost]
            r_ok, r_failed = self._restore_vehicle(svc, vid, keep, saved.get(vid, []), lost)
            restored += r_ok
            failed += r_failed
        d.advance(max(0, now_s))  # a booked-ahead day has not started yet
        if lost:
            self._mark_lost(lost)
        if rows:
            log.info(
                "restored %d of %d open ride requests for operator %d", restored, len(rows), svc.operator_id
            )
        svc.restore_failures = failed

    def _turning_point(self, lon: float, lat: float) -> int:
        """The travel times' turning point at the road node stored for a turn (by its coordinates)."""
        nodes, _ = self.area.network.nearest_nodes(lon, lat)  # type: ignore[attr-defined]
        return int(self.area.matrix.point_of_node(int(nodes[0])))  # type: ignore[attr-defined]

    def _restore_vehicle(
        self,
        svc: OperatorService,
        vid: str,
        rows: Sequence[RideRequestRow],
        seq: Sequence[tuple[str, str]],
        lost: dict[str, str],
    ) -> tuple[int, int]:
        """Put one vehicle's open bookings back: the saved stop order as it ran, the rest by insertion.

        The saved order is imposed as it was, even when reality has already broken one of
        its windows (e.g. a rider picked up before the window opened): the server was
        running that plan and every booking in it was acknowledged, so none may be lost
        in a restart. A booking missing from the saved order is inserted where it keeps
        its windows, else put at the end of the route (and logged). Only a booking that
        cannot be read back (an unknown stop) is marked lost, in ``lost``.
        Returns (restored, failed).
        """
        d = svc.dispatcher
        requests: dict[str, Request] = {}
        failed = 0
        for row in rows:
            try:
                requests[row.id] = request_from_row(row, self.area.stop_index)
            except (LookupError, ValueError) as exc:
                failed += 1
                log.error("could not restore ride request %s on %s: %s", row.id, vid, exc)
                lost[row.id] = f"lost: the booking could not be restored after a restart ({exc})"[:500]
        riding = {
            r.id: r.picked_up_at_s for r in rows if r.status == "onboard" and r.picked_up_at_s is not None
        }
        need = {rid: (("dropoff",) if rid in riding else ("pickup", "dropoff")) for rid in requests}
        saved_kinds: dict[str, list[str]] = {}
        for rid, kind in seq:
            if rid in need:
                saved_kinds.setdefault(rid, []).append(kind)
        covered = {rid for rid, ks in saved_kinds.items() if tuple(ks) == need[rid]}
        order = [(requests[rid], _KIND[kind]) for rid, kind in seq if rid in covered]
        sched = d.restore_vehicle(vid, order, onboard={r: at for r, at in riding.items() if r in covered})
        if not sched.feasible:
            log.warning(
                "vehicle %s resumes its saved plan, which already breaks a promise (%s); "
                "re-optimisation and the driver's reports will settle it",
                vid,
                sched.reason,
            )
        rest = [rid for rid in requests if rid not in covered]
        rest.sort(key=lambda rid: rid not in riding)  # riders on board first
        for rid in rest:
            try:
                d.restore(requests[rid], vid, picked_up_at=riding.get(rid))
            except (LookupError, ValueError) as exc:
                current = [(requests[ps.request_id], ps.kind) for ps in d.itinerary(vid)]
                tail = [StopKind.DROPOFF] if rid in riding else [StopKind.PICKUP, StopKind.DROPOFF]
                onboard = {rid: riding[rid]} if rid in riding else None
                d.restore_vehicle(vid, [*current, *((requests[rid], k) for k in tail)], onboard=onboard)
                log.warning(
                    "ride request %s was not in the saved plan of %s and fits nowhere (%s); "
                    "put at the end of the route",
                    rid,
                    vid,
                    exc,
                )
        return len(requests), failed

    def _write(self, work: Callable[[Session], None]) -> None:
        """Commit ``work`` through the writer (bounded by its timeout), or directly before it exists."""
        if self.committer is not None:
            self.committer.run(work)
            return
        with self.db.write() as session:
            work(session)
            session.commit()

    def _mark_lost(self, lost: Mapping[str, str]) -> None:
        """Store ``status = "lost"`` with its reason for ride requests that could not be restored."""
        changed_at = _dt.datetime.now(_dt.UTC)

        def mark(session: Session) -> None:
            for rid, reason in lost.items():
                row = session.get(RideRequestRow, rid)
                if row is not None and row.status in ("assigned", "onboard"):
                    row.status, row.reason, row.updated_at = "lost", reason[:500], changed_at

        try:
            self._write(mark)
        except (
            SQLAlchemyError,
            CommitFailedError,
        ) as exc:  # out of the dispatcher; the next rebuild marks them
            log.error("could not mark %d ride requests lost: %s", len(lost), type(exc).__name__)
        for rid, reason in lost.items():
            log.error("ride request %s %s", rid, reason)

    def restore_all(self, services: Sequence[int | tuple[int, _dt.date]]) -> None:
        """Create (and restore) services now rather than on first use.

        Parameters
        ----------
        services
            Operator ids (today's service) or ``(operator_id, date)`` pairs; past dates are skipped.
        """
        today = self.today().date
        for item in services:
            op, date = item if isinstance(item, tuple) else (item, today)
            if date >= today:
                try:
                    self.get(op, date)
                except ServiceUnavailableError as exc:  # another server leads it
                    log.info("not restoring operator %d for %s: %s", op, date, exc)


def restore_open_days(registry: ServiceRegistry, operator_id: int | None = None) -> None:
    """Restore today's services and every day ahead with open bookings (at start-up, or of one operator
    when this server takes over its lead)."""
    today = ServiceDay.of(registry.now(), registry.tz).date.isoformat()
    query = select(RideRequestRow.operator_id, RideRequestRow.service_date).where(
        (RideRequestRow.service_date == today)
        | ((RideRequestRow.service_date > today) & RideRequestRow.status.in_(("assigned", "onboard")))
    )
    if operator_id is not None:
        query = query.where(RideRequestRow.operator_id == operator_id)
    with registry.db.read() as session:  # today's operators, and every day ahead with open bookings
        pairs = session.execute(query.distinct()).all()
    wanted = [(op, _dt.date.fromisoformat(date)) for op, date in pairs]
    if operator_id is not None and (operator_id, registry.today().date) not in wanted:
        wanted.append((operator_id, registry.today().date))
    registry.restore_all(wanted)
