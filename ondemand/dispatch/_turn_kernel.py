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

FROM, TO, BASE, SINCE, DRIVE, START, RETIME, EARLY, LATE, SERVICE, REPORTED = range(11)
ROWS = 11
"""Rows of the leg array: the leg's origin ``A`` (``-1``: no leg to turn from), its stop's location
``B``, driving so far as ``BASE + max(0, now - SINCE)``, ``c(A, B)``, the planned service start at
``B``, whether ``B`` is a pickup whose rider's ride limit binds (``0``/``1``), ``B``'s window and
its service time, and whether the driving so far comes from a report (``0``/``1``: else from the
planned departure ``SINCE``)."""


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
    reported: bool,
) -> tuple[int, ...]:
    """One vehicle's column of the leg array (rows as :data:`ROWS` says), for one assignment."""
    return (origin, stop, base, since, drive, start, int(retime), early, late, service, int(reported))


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
    legs,
    idx,
    got,
    now,
    early_p,
    late_p,
    service_p,
    has_slack,
    start,
    fslack,
    lo,
    hi,
    usable,
    use_bound,
    bound,
):
    """The fleet indices among ``idx`` that pass ``_turn_candidates``' tests (``got``: the travel
    times of :func:`candidate_look_ups`; with ``has_slack`` the routes' least service starts and
    forward slacks node by node, ``lo`` and ``hi`` where each route's nodes begin and end, and
    ``usable`` whether it is feasible: an infeasible route has no slack to keep; ``use_bound``: time
    costs and a finite bound)."""
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
        if has_slack and usable[i] and at_b + legs[SERVICE, i] - start[lo[i]] > fslack[lo[i]]:
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


def turn_inputs(legs, idx, now):  # type: ignore[no-untyped-def]
    """What ``turn_point`` needs for each vehicle ``idx[k]`` with a leg to turn from (``FROM`` not
    ``-1``) that has not driven all of it by ``now``: the fleet indices, the legs' origins and
    stops, how long each has driven, and the time from which the wait for the turning point counts
    (``now`` after a report, else no earlier than the planned departure)."""
    n = len(idx)
    keep = np.empty(n, np.int64)
    origin = np.empty(n, np.int64)
    target = np.empty(n, np.int64)
    elapsed = np.empty(n, np.int64)
    base = np.empty(n, np.int64)
    c = 0
    for k in range(n):
        i = idx[k]
        if legs[FROM, i] < 0:
            continue
        since = legs[SINCE, i]
        driven = legs[BASE, i] + max(0, now - since)
        if driven >= legs[DRIVE, i]:
            continue
        keep[c], origin[c], target[c], elapsed[c] = i, legs[FROM, i], legs[TO, i], driven
        base[c] = now if legs[REPORTED, i] != 0 else max(now, since)
        c += 1
    return keep[:c], origin[:c], target[:c], elapsed[:c], base[:c]


def turn_look_ups(legs, idx, points, p, d, loc, lo, hi, usable, with_drop):  # type: ignore[no-untyped-def]
    """The ``(rows, cols)`` of ``c(P, p)``, ``c(p, B)``, ``c(P, B)`` and ``c(B, p)`` of each vehicle
    ``idx[k]`` turning at ``points[k]`` (four blocks, in that order), for :func:`turn_tests`; then,
    ``with_drop``, for those whose route is feasible (``usable``; ``loc``, ``lo`` and ``hi``: the
    routes' nodes' locations, where each route's nodes begin and end), ``c(x, d)`` for every node
    ``x`` of their routes, then ``c(d, x)``, then per vehicle ``c(p, d)``, then ``c(d, B)``."""
    n = len(idx)
    total = 0
    m = 0
    if with_drop:
        for k in range(n):
            i = idx[k]
            if usable[i]:
                total += hi[i] - lo[i]
                m += 1
    rows = np.empty(4 * n + 2 * total + 2 * m, np.int64)
    cols = np.empty(4 * n + 2 * total + 2 * m, np.int64)
    for k in range(n):
        b, point = legs[TO, idx[k]], points[k]
        rows[k], cols[k] = point, p
        rows[n + k], cols[n + k] = p, b
        rows[2 * n + k], cols[2 * n + k] = point, b
        rows[3 * n + k], cols[3 * n + k] = b, p
    if not with_drop:
        return rows, cols
    pos = 4 * n
    c = 4 * n + 2 * total
    for k in range(n):
        i = idx[k]
        if usable[i]:
            for x in range(lo[i], hi[i]):
                rows[pos], cols[pos] = loc[x], d
                rows[total + pos], cols[total + pos] = d, loc[x]
                pos += 1
            rows[c], cols[c] = p, d
            rows[m + c], cols[m + c] = d, legs[TO, i]
            c += 1
    return rows, cols


def turn_tests(  # type: ignore[no-untyped-def]
    legs,
    idx,
    ats,
    got,
    cost,
    early_p,
    late_p,
    service_p,
    has_slack,
    start,
    fslack,
    lo,
    hi,
    usable,
    bound,
    with_drop,
    travel,
    has_end,
):
    """``_turns_may_pay``'s tests on each turning point: whether each vehicle may pay. ``got``: the
    travel times of :func:`turn_look_ups` (``c(P, p)``, ``c(p, B)``, ``c(P, B)``, ``c(B, p)``, then
    ``with_drop`` the drop-off's); ``cost``: the first three in the insertion's cost measure;
    ``start``, ``fslack``, ``lo``, ``hi`` and ``usable`` as :func:`keep_candidates` takes them (with
    ``has_slack``); ``travel`` (the travel time from each node of the routes to the next) and
    ``has_end`` (whether each vehicle returns to an end depot) for the drop-off's detour.

    Each turn first gets :data:`NO`, :data:`SURE` or :data:`FITS`; then, ``with_drop``,
    one that fits with a feasible route may pay only if the pickup's detour from the turning point
    (``c(P, p) + c(p, B) - c(P, B)``) plus the drop-off's least detour stays under ``bound``: right
    after the pickup (``p -> d -> B`` instead of ``p -> B``), or between two nodes ``x -> y`` of the
    route from ``B`` on, or after its last node (nothing with an end depot: that detour is not
    negative)."""
    n = len(idx)
    tested = np.empty(n, np.int8)
    for k in range(n):
        i = idx[k]
        if not (cost[k] + cost[n + k] - cost[2 * n + k] < bound):
            tested[k] = NO
            continue
        at = ats[k]
        p_b, point_b, b_p = got[n + k], got[2 * n + k], got[3 * n + k]
        start_b, service = legs[START, i], legs[SERVICE, i]
        if at + point_b < start_b:  # B may start earlier: plans that keep the leg may gain too
            tested[k] = SURE
            continue
        if legs[RETIME, i] != 0 and start_b + service + b_p <= late_p:
            tested[k] = SURE  # a pickup at B may move later: plans with the rider after B may gain
            continue
        at_p = at + got[k]
        left_p = max(at_p, early_p) + service_p
        at_b = max(left_p + p_b, legs[EARLY, i])
        fits = at_p <= late_p and at_b <= legs[LATE, i]
        if has_slack and usable[i] and at_b + service - start[lo[i]] > fslack[lo[i]]:
            fits = False
        tested[k] = FITS if fits else NO
    out = np.empty(n, np.bool_)
    total = 0
    m = 0
    if with_drop:
        for k in range(n):
            i = idx[k]
            if usable[i]:
                total += hi[i] - lo[i]
                m += 1
    pos = 4 * n  # c(x, d) of the next vehicle's first node; c(d, x) follows ``total`` later
    c = 4 * n + 2 * total  # its c(p, d); its c(d, B) follows ``m`` later
    for k in range(n):
        out[k] = tested[k] != NO
        i = idx[k]
        if not (with_drop and usable[i]):
            continue
        first, size = lo[i], hi[i] - lo[i]
        if tested[k] == FITS:
            # the last node: to the end depot costs nothing extra (>= 0); else going on to d
            best = 0 if has_end[i] else got[pos + size - 1]
            for x in range(size - 1):
                between = got[pos + x] + got[total + pos + x + 1] - travel[first + x]
                if between < best:
                    best = between
            p_b = got[n + k]
            detour = got[k] + p_b - got[2 * n + k]  # the pickup's detour from the turning point
            right_after = got[c] + got[m + c] - p_b
            out[k] = min(right_after, best) + detour < bound
        pos += size
        c += 1
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
            turn_inputs=jit(turn_inputs),
            turn_look_ups=jit(turn_look_ups),
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
    lo = hi = np.zeros(1, dtype=np.int64)
    usable = np.zeros(1, dtype=np.bool_)
    k.keep_candidates(legs, idx, rows, 0, 0, 0, 0, False, none, none, lo, hi, usable, False, 0.0)
    k.turn_inputs(legs, idx, 0)
    k.turn_look_ups(legs, idx, idx, 0, 0, none, lo, hi, usable, False)
    k.turn_tests(
        legs, idx, idx, none, none, 0, 0, 0, False, none, none, lo, hi, usable, 0.0, False, none, usable
    )
