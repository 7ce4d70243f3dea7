"""The compiled arithmetic of :mod:`ondemand.routing.solver.schedule` for feasible routes.

:func:`plan_route` ports, statement for statement, the least schedule (``_least``), the planned
departure delays (``_delay``), the defensive check of the planned schedule (``_violation``) and
the profile rows (``_profile``) of a compiled route. Integer arithmetic throughout, in the same
order: the answers are the Python code's, bit for bit. It reports only *whether* a route is
feasible; for an infeasible route (or values too large for its 64-bit arithmetic) the caller runs
the Python code, which says why.

Imported at the first route evaluated (never by ``import ondemand.api``); without numba the
Python code runs alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests
    from numba import njit as _njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def _njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        def wrap(f: Any) -> Any:
            return f

        return wrap


njit = _njit
"""Numba's ``njit``, or a stand-in that leaves functions as Python without numba (the kernels' one)."""

__all__ = [
    "HAVE_NUMBA",
    "LIMIT",
    "least_schedule",
    "njit",
    "plan_after_first_stop",
    "plan_inserted",
    "plan_route",
]

_BIG = 1 << 60
LIMIT = 1 << 50
"""Inputs beyond ``±LIMIT`` are left to the Python code (no 64-bit overflow is possible below it)."""


@_njit(cache=True, nogil=True)
def least_schedule(  # type: ignore[no-untyped-def]
    travel, service, earliest, latest, pair, max_ride, end_travel, avail, shift_end, max_dur, arrival, start
):
    """The as-early-as-possible feasible schedule (``schedule._least``), compiled.

    Per stop: travel time to it, service time, window, ``pair`` (a drop-off's pickup, ``-1`` on board
    at the start, ``-2`` a pickup) and maximum ride. Fills ``arrival`` and ``start``; returns
    ``(feasible, d0, end)``, the departure from the start and the end of the schedule. The one port
    of the least schedule: :func:`plan_route` and the insertion search's exact check use it.
    """
    n = len(travel)
    # A ride (or the route) longer than its limit even without any waiting: no schedule.
    reach = np.empty(n, np.int64)
    t = 0
    for k in range(n):
        t += travel[k]
        reach[k] = t
        t += service[k]
    drops = 0
    for k in range(n):
        p = pair[k]
        if p < 0:
            continue
        drops += 1
        if reach[k] - reach[p] - service[p] > max_ride[k]:
            return False, 0, 0
    if max_dur >= 0:
        pure = end_travel
        for k in range(n):
            pure += travel[k] + service[k]
        if pure > max_dur:
            return False, 0, 0
    # Earliest starts, raised where a ride or the route would be too long, until nothing changes.
    lower = earliest.copy()
    d0 = avail
    for _ in range(drops + 3):
        t = d0
        for k in range(n):
            a = t + travel[k]
            b = a if a > lower[k] else lower[k]
            arrival[k] = a
            start[k] = b
            t = b + service[k]
        end = t + end_travel
        for k in range(n):
            if start[k] > latest[k]:
                return False, 0, 0
        if end > shift_end:
            return False, 0, 0
        changed = False
        for k in range(n):
            p = pair[k]
            if p < 0:
                continue
            need = start[k] - service[p] - max_ride[k]
            if need > lower[p]:
                lower[p] = need
                changed = True
        if max_dur >= 0 and end - d0 > max_dur:
            d0 = end - max_dur
            changed = True
        if not changed:
            return True, d0, end
    return False, 0, 0


@_njit(cache=True, nogil=True)
def _room(j, n, after, start, arrival, latest):  # type: ignore[no-untyped-def]
    hi = after[j + 1]
    if hi >= n:
        return 0
    best = latest[j] - start[j] if j >= 0 else _BIG
    waited = 0
    for k in range(j + 1, hi + 1):
        waited += start[k] - arrival[k]
        lim = waited if k == hi else waited + latest[k] - start[k]
        if lim < best:
            best = lim
        if best <= waited:
            break
    return best


@_njit(cache=True, nogil=True)
def _propagate(k0, t, n, travel, service, arrival, start):  # type: ignore[no-untyped-def]
    for k in range(k0, n):
        a = t + travel[k]
        arrival[k] = a
        if a <= start[k]:
            return
        start[k] = a
        t = a + service[k]


@_njit(cache=True, nogil=True)
def plan_route(data, n, end_travel, avail, shift_end, max_dur, v_start, seats0, chairs0, planned):  # type: ignore[no-untyped-def]
    """Least and planned schedule and profile rows of a compiled route.

    ``data`` holds ``n`` values each of: travel, service, earliest, latest, pair, max_ride, loc,
    load, wheel (the lists of ``_Compiled``, in that order). ``max_dur < 0``: no route-duration
    limit. ``planned``: also the planned schedule.

    Returns ``(status, d0, end, pd0, pend, violated, arrival, start, parr, pstart, rows)``:
    status 0 feasible, 1 infeasible, 2 left to the Python code (a value beyond :data:`LIMIT`).
    """
    empty = np.zeros(0, np.int64)
    rows = np.zeros((17, n + 1), np.int64)
    for i in range(data.shape[0]):
        if data[i] > LIMIT or data[i] < -LIMIT:
            return 2, 0, 0, 0, 0, False, empty, empty, empty, empty, rows
    for x in (end_travel, avail, shift_end, max_dur, seats0, chairs0):
        if x > LIMIT or x < -LIMIT:
            return 2, 0, 0, 0, 0, False, empty, empty, empty, empty, rows
    travel = data[0:n]
    service = data[n : 2 * n]
    earliest = data[2 * n : 3 * n]
    latest = data[3 * n : 4 * n]
    pair = data[4 * n : 5 * n]
    max_ride = data[5 * n : 6 * n]
    loc = data[6 * n : 7 * n]
    load = data[7 * n : 8 * n]
    wheel = data[8 * n : 9 * n]
    # -- _least ----------------------------------------------------------------------
    arrival = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    ok, d0, end = least_schedule(
        travel,
        service,
        earliest,
        latest,
        pair,
        max_ride,
        end_travel,
        avail,
        shift_end,
        max_dur,
        arrival,
        start,
    )
    if not ok:
        return 1, 0, 0, 0, 0, False, empty, empty, empty, empty, rows
    # -- _profile --------------------------------------------------------------------
    rows[0, 0] = v_start
    rows[1, 0] = d0
    rows[2, 0] = d0
    rows[5, 0] = seats0
    rows[6, 0] = chairs0
    rows[11, 0] = 0
    rows[12, 0] = _BIG
    rows[13, 0] = -1
    rows[16, 0] = _BIG
    w_sum = 0
    tr = 0
    s_prev = 0
    for k in range(n):
        b = start[k]
        s = service[k]
        rows[0, k + 1] = loc[k]
        rows[1, k + 1] = b
        rows[2, k + 1] = b + s
        wk = b - arrival[k]
        rows[15, k + 1] = wk
        w_sum += wk
        rows[3, k + 1] = w_sum
        rows[5, k + 1] = load[k]
        rows[6, k + 1] = wheel[k]
        sl = latest[k] - b
        p = pair[k]
        if p >= 0:
            bound = max_ride[k] + latest[p] + service[p] - b
            if bound < sl:
                sl = bound
            rows[13, k + 1] = p + 1
            rows[7, k + 1] = 1
        elif p == -1:
            rows[13, k + 1] = 0
            rows[7, k + 1] = 1
        else:
            rows[13, k + 1] = -1
        rows[16, k + 1] = sl
        tr += travel[k] + s_prev
        rows[8, k + 1] = tr
        s_prev = s
        rows[9, k + 1] = s
        rows[10, k] = travel[k]
        rows[11, k + 1] = earliest[k]
        rows[12, k + 1] = latest[k]
        rows[14, k + 1] = max_ride[k]
    rows[10, n] = end_travel
    low = rows[16, n] + rows[3, n]
    end_slack = rows[3, n] + shift_end - end
    if end_slack < low:
        low = end_slack
    rows[4, n] = low - rows[3, n]
    for k in range(n - 1, -1, -1):
        x = rows[16, k] + rows[3, k]
        if x < low:
            low = x
        rows[4, k] = low - rows[3, k]
    if not planned:
        return 0, d0, end, d0, end, False, arrival, start, arrival, start, rows
    # -- _delay ----------------------------------------------------------------------
    pd0 = d0
    parr = arrival.copy()
    pstart = start.copy()
    if n > 0:
        after = np.empty(n + 1, np.int64)
        nd = n
        for k in range(n - 1, -1, -1):
            after[k + 1] = nd
            if pair[k] != -2:
                nd = k
        after[0] = nd
        for j in range(n - 1, -1, -1):
            if pair[j] != -2:
                continue
            x = _room(j, n, after, pstart, parr, latest)
            if x > 0:
                pstart[j] += x
                _propagate(j + 1, pstart[j] + service[j], n, travel, service, parr, pstart)
        x = _room(-1, n, after, pstart, parr, latest)
        if x > 0:
            pd0 += x
            _propagate(0, pd0, n, travel, service, parr, pstart)
    pend = pstart[n - 1] + service[n - 1] + end_travel if n > 0 else pd0 + end_travel
    # -- _violation (defensive) ------------------------------------------------------
    violated = pd0 < avail
    t = pd0
    for k in range(n):
        if violated:
            break
        p = pair[k]
        ride_over = p >= 0 and pstart[k] - pstart[p] - service[p] > max_ride[k]
        window = pstart[k] < earliest[k] or pstart[k] > latest[k]
        if parr[k] != t + travel[k] or pstart[k] < parr[k] or window or ride_over:
            violated = True
        t = pstart[k] + service[k]
    if not violated:
        violated = pend != t + end_travel or pend > shift_end or (max_dur >= 0 and pend - pd0 > max_dur)
    return 0, d0, end, pd0, pend, violated, arrival, start, parr, pstart, rows


@_njit(cache=True, nogil=True)
def plan_inserted(  # type: ignore[no-untyped-def]
    rows, a, b, req, legs, end_travel, avail, shift_end, max_dur, v_start
):
    """:func:`plan_route` (planned) of a route with one request inserted, from the old route's profile
    ``rows`` (:data:`~ondemand.routing.solver.schedule.PROFILE_ROWS`; node 0 its start, then its
    stops), in one call: the request's pickup goes before old stop ``a`` and its drop-off before old
    stop ``b`` (``a <= b``). ``req`` holds the request's pickup and drop-off locations, earliest and
    latest starts and service times, its max ride, seats and wheelchair places (in that order);
    ``legs`` the travel times along the new stops from the start (``legs[k]`` into new stop ``k``).
    The scalars are the new route's (as :func:`plan_route`; the load on board at the start is the
    old route's).

    Returns what :func:`plan_after_first_stop` returns, for the new route.
    """
    m = rows.shape[1] - 1
    n = m + 2
    data = np.empty(9 * n, np.int64)
    q = req[9]
    w = req[10]
    for j in range(n):
        if j == a or j == b + 1:  # the new pickup, the new drop-off
            d = 0 if j == a else 1
            data[j] = legs[j]
            data[n + j] = req[6 + d]
            data[2 * n + j] = req[2 + 2 * d]
            data[3 * n + j] = req[3 + 2 * d]
            data[4 * n + j] = -2 if d == 0 else a
            data[5 * n + j] = 0 if d == 0 else req[8]
            data[6 * n + j] = req[d]
            # seats and wheelchair places after the stop: those before old stop ``a`` (``b``) plus
            # the new riders after the pickup, without them after the drop-off
            data[7 * n + j] = rows[5, a] + q if d == 0 else rows[5, b]
            data[8 * n + j] = rows[6, a] + w if d == 0 else rows[6, b]
            continue
        k = j + 1 if j < a else (j if j <= b else j - 1)  # the old stop's node
        inside = a < j <= b  # between the new pickup and drop-off: the new riders on board
        data[j] = legs[j]
        data[n + j] = rows[9, k]
        data[2 * n + j] = rows[11, k]
        data[3 * n + j] = rows[12, k]
        if rows[7, k] != 0:  # a drop-off: its pickup's stop index shifts past the new stops
            p = rows[13, k]
            if p == 0:
                data[4 * n + j] = -1
            else:
                data[4 * n + j] = p - 1 + (1 if p - 1 >= a else 0) + (1 if p - 1 >= b else 0)
        else:
            data[4 * n + j] = -2
        data[5 * n + j] = rows[14, k]
        data[6 * n + j] = rows[0, k]
        data[7 * n + j] = rows[5, k] + (q if inside else 0)
        data[8 * n + j] = rows[6, k] + (w if inside else 0)
    return _plan_planned(data, n, end_travel, avail, shift_end, max_dur, v_start, rows[5, 0], rows[6, 0])


@_njit(cache=True, nogil=True)
def plan_after_first_stop(old, n_old, limit, end_travel, avail, shift_end, max_dur, v_start, seats0, chairs0):  # type: ignore[no-untyped-def]
    """:func:`plan_route` (planned) of a compiled route once its first stop is served, from the
    route's packed data ``old`` (``n_old`` stops; ``n_old >= 1``), in one call.

    The data of the stops after the first are ``old``'s, but: a drop-off whose pickup was the
    first stop has that rider on board (pair ``-1``) and ``limit`` as its latest start; the other
    pickups' stop indices shift by one. The scalars are the new route's (as :func:`plan_route`).

    Returns ``(status, data, sched, rows, end, d0, end_time)``: ``status`` as :func:`plan_route`'s;
    ``data`` the new route's packed data; for a feasible route (status 0) ``sched`` holds per stop
    the rows arrival, service start, departure, least service start, load and wheel of the schedule
    ``schedule._schedule_compiled`` returns (the planned one, or the least one when the planned one
    breaks a constraint), ``rows`` the profile rows, ``end`` the least schedule's end, ``d0`` and
    ``end_time`` the schedule's departure from the start and end.
    """
    n = n_old - 1
    data = np.empty(9 * n, np.int64)
    for f in range(9):
        for k in range(n):
            data[f * n + k] = old[f * n_old + k + 1]
    for k in range(n):
        p = data[4 * n + k]
        if p == 0:  # picked up at the first stop: on board now, its ride counted from there
            data[4 * n + k] = -1
            data[3 * n + k] = limit
        elif p > 0:
            data[4 * n + k] = p - 1
    return _plan_planned(data, n, end_travel, avail, shift_end, max_dur, v_start, seats0, chairs0)


@_njit(cache=True, nogil=True)
def _plan_planned(data, n, end_travel, avail, shift_end, max_dur, v_start, seats0, chairs0):  # type: ignore[no-untyped-def]
    """:func:`plan_route` (planned) of packed ``data``, returned as :func:`plan_after_first_stop` says."""
    status, d0, end, pd0, pend, violated, arrival, start, parr, pstart, rows = plan_route(
        data, n, end_travel, avail, shift_end, max_dur, v_start, seats0, chairs0, True
    )
    sched = np.empty((6, n), np.int64)
    if status != 0:
        return status, data, sched, rows, 0, 0, 0
    if violated:  # the planned schedule breaks a constraint (defensive): the least one
        pd0, pend, parr, pstart = d0, end, arrival, start
    for k in range(n):
        sched[0, k] = parr[k]
        sched[1, k] = pstart[k]
        sched[2, k] = pstart[k] + data[n + k]
        sched[3, k] = start[k]
        sched[4, k] = data[7 * n + k]
        sched[5, k] = data[8 * n + k]
    return 0, data, sched, rows, end, pd0, pend
