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


def turn_look_ups(legs, idx, points, p):  # type: ignore[no-untyped-def]
    """The ``(rows, cols)`` of ``c(P, p)``, ``c(p, B)``, ``c(P, B)`` and ``c(B, p)`` of each vehicle
    ``idx[k]`` turning at ``points[k]`` (four blocks, in that order), for :func:`turn_tests`."""
    n = len(idx)
    rows = np.empty(4 * n, np.int64)
    cols = np.empty(4 * n, np.int64)
    for k in range(n):
        b, point = legs[TO, idx[k]], points[k]
        rows[k], cols[k] = point, p
        rows[n + k], cols[n + k] = p, b
        rows[2 * n + k], cols[2 * n + k] = point, b
        rows[3 * n + k], cols[3 * n + k] = b, p
    return rows, cols


def drop_off_look_ups(legs, idx, tested, loc, off, usable, p, d):  # type: ignore[no-untyped-def]
    """For the vehicles :func:`turn_tests` found :data:`FITS` whose route is in the search index
    (``usable``; ``loc`` and ``off``: its nodes' locations and each route's first node), the
    ``(rows, cols)`` of ``c(x, d)`` for every node ``x`` of their routes, then ``c(d, x)``, then per
    vehicle ``c(p, d)``, then ``c(d, B)``."""
    total = 0
    m = 0
    for k in range(len(idx)):
        i = idx[k]
        if tested[k] == FITS and usable[i]:
            total += off[i + 1] - off[i]
            m += 1
    rows = np.empty(2 * total + 2 * m, np.int64)
    cols = np.empty(2 * total + 2 * m, np.int64)
    pos = 0
    c = 0
    for k in range(len(idx)):
        i = idx[k]
        if tested[k] == FITS and usable[i]:
            for x in range(off[i], off[i + 1]):
                rows[pos], cols[pos] = loc[x], d
                rows[total + pos], cols[total + pos] = d, loc[x]
                pos += 1
            rows[2 * total + c], cols[2 * total + c] = p, d
            rows[2 * total + m + c], cols[2 * total + m + c] = d, legs[TO, i]
            c += 1
    return rows, cols


def drop_off_tests(idx, tested, got, off, usable, travel, has_end, drop, bound):  # type: ignore[no-untyped-def]
    """Whether each vehicle may pay (``tested`` not :data:`NO`), with the drop-off's least detour
    added for those :func:`drop_off_look_ups` looked up (``drop``: their travel times): right after
    the pickup (``p -> d -> B`` instead of ``p -> B``), or between two nodes ``x -> y`` of the route
    from ``B`` on, or after its last node (nothing with an end depot: that detour is not negative).
    ``got``: :func:`turn_tests`' travel times (``c(P, p)``, ``c(p, B)``, ``c(P, B)``, ...)."""
    n = len(idx)
    out = np.empty(n, np.bool_)
    total = 0
    m = 0
    for k in range(n):
        i = idx[k]
        if tested[k] == FITS and usable[i]:
            total += off[i + 1] - off[i]
            m += 1
    pos = 0
    c = 0
    for k in range(n):
        out[k] = tested[k] != NO
        i = idx[k]
        if not (tested[k] == FITS and usable[i]):
            continue
        lo, size = off[i], off[i + 1] - off[i]
        # the last node: to the end depot costs nothing extra (>= 0); else going on to d
        best = 0 if has_end[i] else drop[pos + size - 1]
        for x in range(size - 1):
            between = drop[pos + x] + drop[total + pos + x + 1] - travel[lo + x]
            if between < best:
                best = between
        pos += size
        p_b = got[n + k]
        detour = got[k] + p_b - got[2 * n + k]  # the pickup's detour from the turning point
        right_after = drop[2 * total + c] + drop[2 * total + m + c] - p_b
        c += 1
        out[k] = min(right_after, best) + detour < bound
    return out


_KERNELS: SimpleNamespace | None = None


def kernels() -> SimpleNamespace:
    """The kernels, compiled (loaded from numba's cache after the first time on a machine) at the
    first call, by their names here."""
    global _KERNELS
    if _KERNELS is None:
        from ondemand.routing.solver._schedule_kernel import njit

        jit = njit(cache=True, nogil=True)
        _KERNELS = SimpleNamespace(
            candidate_look_ups=jit(candidate_look_ups),
            keep_candidates=jit(keep_candidates),
            turn_tests=jit(turn_tests),
            turn_look_ups=jit(turn_look_ups),
            drop_off_look_ups=jit(drop_off_look_ups),
            drop_off_tests=jit(drop_off_tests),
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
    tested = k.turn_tests(legs, idx, idx, none, none, 0, 0, 0, False, none, none, 0.0)
    k.turn_look_ups(legs, idx, idx, 0)
    usable = np.zeros(1, dtype=np.bool_)
    k.drop_off_look_ups(legs, idx, tested, none, none, usable, 0, 0)
    k.drop_off_tests(idx, tested, none, none, usable, none, usable, none, 0.0)
