"""Background re-optimisation of the live plans, and the solver worker process.

Every ``service.reoptimise_every_s`` of the scenario (:class:`Cadence`; ``ONDEMAND_REOPT_INTERVAL_S``
or ``ondemand serve --reopt-every`` override it) a thread re-optimises each operator's plan
(:func:`reoptimise_service`): the plan is copied under the operator's lock, solved
*outside* the lock (in a worker process, :func:`_solve_elsewhere`, because OR-Tools keeps
the GIL while it solves), and swapped in only if nothing changed meanwhile (a version
counter); the dispatcher itself never breaks a promise because promises are hard
windows of the requests (:meth:`ondemand.routing.solver.model.Request.with_promise`).

The solver (OR-Tools) is imported only inside the functions that run it, so that
``import ondemand.api`` stays light.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import datetime as _dt
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from ondemand.api.db import RideRequestRow
from ondemand.api.persistence import GroupCommitter, flush_rides, plan_sequences, write_plans
from ondemand.api.registry import OperatorService, ServiceRegistry, vehicle_of_requests
from ondemand.api.settings import ApiSettings
from ondemand.dispatch.base import Reoptimiser as PlanReoptimiser
from ondemand.dispatch.policy import ServicePolicy
from ondemand.routing.solver.compact import compact_plan, is_dense
from ondemand.routing.solver.model import Plan, Request, Route

__all__ = ["Cadence", "Reoptimiser", "reoptimise_service"]

log = logging.getLogger("ondemand.api")


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often the live plans are re-optimised and for how long (wall clock).

    Parameters
    ----------
    every_s
        Seconds between re-optimisations (0: never).
    time_limit_s
        Wall-clock seconds of one re-optimisation.
    overrides
        What overrides the scenario's values (e.g. ``"ONDEMAND_REOPT_INTERVAL_S"``), for the start-up line.
    """

    every_s: float
    time_limit_s: float
    overrides: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, policy: ServicePolicy, settings: ApiSettings, *, names: tuple[str, str] | None = None
    ) -> Cadence:
        """The scenario's cadence (``policy``) with the settings' overrides (``names``: what to call them)."""
        every_name, limit_name = names or ("ONDEMAND_REOPT_INTERVAL_S", "ONDEMAND_REOPT_TIME_LIMIT_S")
        every: float = policy.reoptimise_every_s if policy.reoptimises else 0
        limit: float = policy.reoptimise_time_limit_s if policy.reoptimises else 1.0
        overrides: list[str] = []
        if settings.reopt_interval_s is not None:
            every = settings.reopt_interval_s
            overrides.append(every_name)
        if settings.reopt_time_limit_s is not None:
            limit = settings.reopt_time_limit_s
            overrides.append(limit_name)
        return cls(float(every), float(limit), tuple(overrides))

    def describe(self, policy: ServicePolicy) -> str:
        """One line for the start-up log: the cadence and where it comes from."""
        what = (
            "off"
            if self.every_s <= 0
            else f"every {self.every_s:g} s, {self.time_limit_s:g} s of wall clock each"
        )
        scenario = (
            f"every {policy.reoptimise_every_s} s, {policy.reoptimise_time_limit_s:g} s each"
            if policy.reoptimises
            else "off"
        )
        if not self.overrides:
            return f"re-optimisation: {what} (the scenario's)"
        return f"re-optimisation: {what} ({', '.join(self.overrides)} overrides the scenario's {scenario})"


class Reoptimiser:
    """The background re-optimisation loop of an app: a thread that re-optimises every plan now and then.

    Parameters
    ----------
    registry
        The live services to re-optimise.
    committer
        Writes adopted plans and moved ride requests.
    cadence
        How often (0: no background loop) and for how long each re-optimisation runs.
    """

    def __init__(self, registry: ServiceRegistry, committer: GroupCommitter, cadence: Cadence) -> None:
        self.registry = registry
        self.committer = committer
        self.cadence = cadence
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread (nothing when the cadence is 0)."""
        if self.cadence.every_s > 0:
            self._thread = threading.Thread(target=self._loop, name="ondemand-reopt", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, waiting for a running round to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.cadence.time_limit_s + 5)

    def _loop(self) -> None:
        import multiprocessing

        # OR-Tools keeps the GIL while it solves, so the solver gets its own process,
        # at a lower CPU priority than the bookings
        def new_pool() -> concurrent.futures.ProcessPoolExecutor:
            ctx = multiprocessing.get_context("spawn")
            return concurrent.futures.ProcessPoolExecutor(
                1, mp_context=ctx, initializer=_init_solver_process, initargs=(os.getpid(),)
            )

        pool = new_pool()  # its process starts at the first round (starting it with the server
        # measurably slowed the first seconds of bookings after a start: loading OR-Tools competes)
        try:
            while not self._stop.wait(self.cadence.every_s):
                self.round(pool)
                if getattr(pool, "_broken", False):
                    log.warning("the solver process died; starting a new one")
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def round(self, pool: concurrent.futures.Executor | None) -> int:
        """Re-optimise every operator's plan once; the number of plans adopted."""
        adopted = 0
        for svc in self.registry.services():
            try:
                now_s = max(0, svc.day.seconds(self.registry.now()))  # booked-ahead days: not started
                limit = self.cadence.time_limit_s
                adopted += reoptimise_service(svc, self.committer, now=now_s, time_limit=limit, pool=pool)
            except Exception:  # the background loop must survive any solver failure
                log.exception(
                    "re-optimisation of operator %d failed; the current plan stays", svc.operator_id
                )
        return adopted


def _init_solver_process(server_pid: int) -> None:
    """Initializer of the solver process: end with the server, and yield the CPU to it."""
    _end_with_parent(server_pid)
    _lower_priority()


def _end_with_parent(server_pid: int) -> None:
    """Make this process end when the server process ``server_pid`` ends, even by ``kill -9``.

    On Linux the kernel sends SIGKILL when the parent goes (``prctl(PR_SET_PDEATHSIG)``;
    strictly, when the parent's thread that started this process ends: the
    re-optimisation thread, which lives as long as the pool). Everywhere, a daemon
    thread checks every second that the parent is still ours (``getppid``), as a fallback.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: the watchdog below still ends the process
    if os.getppid() != server_pid:  # the server died before prctl took effect
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != server_pid:
                os._exit(0)

    threading.Thread(target=watch, name="ondemand-parent-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _lower_priority() -> None:
    """Initializer of the solver process: yield the CPU to request handling.

    On Linux the process runs under ``SCHED_IDLE`` (it gets a core only when nothing
    else wants it); elsewhere, or when that is refused, at nice 19.
    """
    idle = getattr(os, "SCHED_IDLE", None)
    try:
        if idle is None:
            raise OSError("no SCHED_IDLE")
        os.sched_setscheduler(0, idle, os.sched_param(0))
    except OSError:
        if hasattr(os, "nice"):
            os.nice(19)


def reoptimise_service(
    svc: OperatorService,
    committer: GroupCommitter,
    *,
    now: int,
    time_limit: float,
    pool: concurrent.futures.Executor | None = None,
) -> bool:
    """Re-optimise the plan of ``svc`` once without holding the lock while the solver runs.

    The plan is copied under the lock (``reoptimisation_snapshot``), solved outside it by
    the dispatcher's re-optimiser, and applied under the lock (``apply_reoptimised``); the dispatcher refuses
    it if anything changed meanwhile or if it would break a promise. Requests moved
    to another vehicle are written to the database in the same step.

    With ``pool`` (a process pool), the solver runs in another process, so that
    request handling keeps the interpreter while OR-Tools searches.

    Returns
    -------
    bool
        Whether a new plan was adopted.
    """
    d = svc.dispatcher
    with svc.lock:
        plan, version = d.reoptimisation_snapshot(now=now)
    if not any(r.stops for r in plan.routes):
        return False
    if pool is None:
        candidate = d.reoptimiser(plan, svc.tt, now=now, time_limit=time_limit, seed=0)
    else:  # OR-Tools holds the GIL while it solves: solve in another process
        # travel times on demand: ship the dense block of the plan's locations only
        small = None if is_dense(svc.tt) else compact_plan(plan, svc.tt)
        sent, tt = (plan, svc.tt) if small is None else (small.plan, small.tt)
        job = pool.submit(
            _solve_elsewhere,
            d.reoptimiser,
            sent.routes,
            dict(sent.requests),
            sent.unassigned,
            np.asarray(tt.durations),
            np.asarray(tt.distances),
            now,
            time_limit,
            0,
        )
        routes, requests, unassigned = job.result(timeout=time_limit + 120)
        candidate = Plan(routes, requests, unassigned)
        if small is not None:
            candidate = small.restore(candidate)
    with svc.lock:
        if svc.stale:  # rebuilt from the database meanwhile: this plan is of the old dispatcher
            return False
        before = vehicle_of_requests(d.plan)
        if not d.apply_reoptimised(candidate, version=version):
            return False
        after = vehicle_of_requests(d.plan)
        seqs = plan_sequences(d, [r.vehicle.id for r in d.plan.routes])
        svc.version += 1
        moved = {rid: vid for rid, vid in after.items() if before.get(rid) not in (None, vid)}

        def work(session: Session) -> None:
            flush_rides(session)
            write_plans(session, svc, seqs)
            for rid, vid in moved.items():
                row = session.get(RideRequestRow, rid)
                if row is not None:
                    row.vehicle_id = vid
                    row.updated_at = _dt.datetime.now(_dt.UTC)

        ticket = committer.enqueue(work, owner=svc)
    ticket.wait()
    log.info("re-optimisation adopted; %d ride requests moved to another vehicle", len(moved))
    return True


def _solve_elsewhere(
    reoptimiser: PlanReoptimiser,
    routes: tuple[Route, ...],
    requests: dict[str, Request],
    unassigned: tuple[str, ...],
    durations: NDArray[np.int64],
    distances: NDArray[np.int64],
    now: int,
    time_limit: float,
    seed: int,
) -> tuple[tuple[Route, ...], dict[str, Request], tuple[str, ...]]:
    """Run the dispatcher's re-optimiser in a worker process (picklable in and out)."""
    from ondemand.routing.solver.model import ArrayTravelTimes

    tt = ArrayTravelTimes(durations, distances)
    result = reoptimiser(Plan(routes, requests, unassigned), tt, now=now, time_limit=time_limit, seed=seed)
    return result.routes, dict(result.requests), result.unassigned
