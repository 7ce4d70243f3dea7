"""The compiled arithmetic of the dispatcher's mid-leg diversion pre-filter.

The dispatcher keeps one row per fact of every vehicle's committed leg (:data:`ROWS`, by fleet
index) in one ``int64`` array; these kernels run its vectorised tests over the fleet in one call
each, around the one travel-time look-up per step that only the caller can make
(:class:`~ondemand.routing.solver.model.TravelTimes` is Python). Integer arithmetic, the same tests
in the same order as the docstrings of ``InsertionDispatcher._turn_candidates`` and
``_turns_may_pay`` state them. Compiled at the first diversion search (:func:`kernels`; never by
``import ondemand.api``); without numba they run as the Python they are written in.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

__all__ = ["FITS", "NO", "ROWS", "SURE", "column", "kernels", "warm_up"]

FROM, TO, BASE, SINCE, DRIVE, START, RETIME, EARLY, LATE, SERVICE = range(10)
ROWS = 10
"""Rows of the leg array: the leg's origin ``A`` (``-1``: no leg to turn from), its stop's location
``B``, driving so far as ``BASE + max(0, now - SINCE)``, ``c(A, B)``, the planned service start at
``B``, whether ``B`` is a pickup whose rider's ride limit binds (``0``/``1``), ``B``'s window and
its service time."""


def column(
    *,
    origin: int,
    stop: int,
    base: int,
    since: int,
    drive: int,
    start: int,
    retime: bool,
    early: int,
    late: int,
    service: int,
) -> tuple[int, ...]:
    """One vehicle's column of the leg array (rows as :data:`ROWS` says), for one assignment."""
    return (origin, stop, base, since, drive, start, int(retime), early, late, service)


NO, SURE, FITS = 0, 1, 2
""":func:`turn_tests`' answers: cannot pay; may pay whatever the drop-off costs; may pay if the
drop-off's least detour keeps it under the bound."""


def candidate_look_ups(legs, p):  # type: ignore[no-untyped-def]
    """The fleet indices of the vehicles with a leg to turn from, and the ``(rows, cols)`` of
    ``c(A, p)``, ``c(p, B)`` and ``c(B, p)`` of each (three blocks, in that order)."""
    n = legs.shape[1]
    m = 0
    for i in range(n):
        if legs[FROM, i] >= 0:
            m += 1
    idx = np.empty(m, np.int64)
    rows = np.empty(3 * m, np.int64)
    cols = np.empty(3 * m, np.int64)
    k = 0
    for i in range(n):
        if legs[FROM, i] >= 0:
            b = legs[TO, i]
            idx[k] = i
            rows[k], cols[k] = legs[FROM, i], p
            rows[m + k], cols[m + k] = p, b
            rows[2 * m + k], cols[2 * m + k] = b, p
            k += 1
    return idx, rows, cols


def keep_candidates(  # type: ignore[no-untyped-def]
    legs, idx, got, now, early_p, late_p, service_p, has_slack, slack_start, slack_room, use_bound, bound
):
    """The fleet indices among ``idx`` that pass ``_turn_candidates``' tests (``got``: the travel
    times of :func:`candidate_look_ups`; ``slack_*`` by fleet index; ``use_bound``: time costs and
    a finite bound)."""
    m = len(idx)
    out = np.empty(m, np.int64)
    c = 0
    for k in range(m):
        i = idx[k]
        a_p, p_b, b_p = got[k], got[m + k], got[2 * m + k]
        elapsed = legs[BASE, i] + max(0, now - legs[SINCE, i])
        at_p = now + a_p - elapsed - 1  # the earliest it could be at the pickup
        left_p = max(at_p, early_p) + service_p
        at_b = max(left_p + p_b, legs[EARLY, i])  # the earliest service start at B
        keep = at_p <= late_p and at_b <= legs[LATE, i]
        if has_slack and at_b + legs[SERVICE, i] - slack_start[i] > slack_room[i]:
            keep = False
        early = now + legs[DRIVE, i] - elapsed < legs[START, i]
        after = legs[START, i] + legs[SERVICE, i] + b_p <= late_p
        keep = keep or early or (legs[RETIME, i] != 0 and after)
        if use_bound and not (a_p + p_b - legs[DRIVE, i] - 2 < bound):
            keep = False
        if keep:
            out[c] = i
            c += 1
    return out[:c]


def turn_tests(  # type: ignore[no-untyped-def]
    legs, idx, ats, got, cost, early_p, late_p, service_p, has_slack, slack_start, slack_room, bound
):
    """``_turns_may_pay``'s tests on each turning point, but the drop-off's: :data:`NO`,
    :data:`SURE` or :data:`FITS` per vehicle. ``got``: ``c(P, p)``, ``c(p, B)``, ``c(P, B)`` and
    ``c(B, p)`` in travel time (four blocks); ``cost``: the first three in the insertion's cost
    measure."""
    n = len(idx)
    out = np.empty(n, np.int8)
    for k in range(n):
        i = idx[k]
        if not (cost[k] + cost[n + k] - cost[2 * n + k] < bound):
            out[k] = NO
            continue
        at = ats[k]
        p_b, point_b, b_p = got[n + k], got[2 * n + k], got[3 * n + k]
        start, service = legs[START, i], legs[SERVICE, i]
        if at + point_b < start:  # B may start earlier: plans that keep the leg may gain too
            out[k] = SURE
            continue
        if legs[RETIME, i] != 0 and start + service + b_p <= late_p:
            out[k] = SURE  # a pickup at B may move later: plans with the rider after B may gain
            continue
        at_p = at + got[k]
        left_p = max(at_p, early_p) + service_p
        at_b = max(left_p + p_b, legs[EARLY, i])
        fits = at_p <= late_p and at_b <= legs[LATE, i]
        if has_slack and at_b + service - slack_start[i] > slack_room[i]:
            fits = False
        out[k] = FITS if fits else NO
    return out


_KERNELS: SimpleNamespace | None = None


def kernels() -> SimpleNamespace:
    """The kernels, compiled (loaded from numba's cache after the first time on a machine) at the
    first call: ``candidate_look_ups``, ``keep_candidates`` and ``turn_tests``."""
    global _KERNELS
    if _KERNELS is None:
        from ondemand.routing.solver._schedule_kernel import njit

        jit = njit(cache=True, nogil=True)
        _KERNELS = SimpleNamespace(
            candidate_look_ups=jit(candidate_look_ups),
            keep_candidates=jit(keep_candidates),
            turn_tests=jit(turn_tests),
        )
    return _KERNELS


def warm_up() -> None:
    """Load (or compile) the kernels now, not at the first diversion search."""
    k = kernels()
    legs = np.zeros((ROWS, 1), dtype=np.int64)
    legs[FROM, 0] = -1
    idx, rows, _ = k.candidate_look_ups(legs, 0)
    none = np.zeros(0, dtype=np.int64)
    k.keep_candidates(legs, idx, rows, 0, 0, 0, 0, False, none, none, False, 0.0)
    k.turn_tests(legs, idx, idx, none, none, 0, 0, 0, False, none, none, 0.0)
