"""The compiled hot loop of :func:`ondemand.routing.solver.insertion.best_insertion`.

One call checks every (vehicle, pickup position, drop-off position) of the vehicles that may
reach the pickup, with the same necessary tests and lower bounds as the numpy path of
:mod:`ondemand.routing.solver.insertion`, then checks candidates exactly in order of their
bound (a port of the least schedule of :mod:`ondemand.routing.solver.schedule`, run on the
stored route profiles with the two new stops spliced in) until the bound reaches the best
exact cost. Integer arithmetic throughout (the costs are formed from integers in the same
order as the Python code), the same candidate order and a stable sort: the answer is the
numpy path's, bit for bit, on every machine.

Numba compiles it on first use (``cache=True``: once per machine); this module is imported
only when an insertion is searched, never by ``import ondemand.api``. Without numba the same
functions run as plain Python (slow; the numpy path is used instead, see
:data:`ondemand.routing.solver.insertion.USE_COMPILED`).
"""

from __future__ import annotations

import numpy as np

from ondemand.routing.solver._schedule_kernel import HAVE_NUMBA, least_schedule
from ondemand.routing.solver._schedule_kernel import njit as _njit

__all__ = [
    "HAVE_NUMBA",
    "fleet_filter",
    "look_up_nodes",
    "look_up_search",
    "prepare_search",
    "search_kernel",
    "search_packed",
    "spread_times",
]

_BIG = 1 << 60
_FAR = 1 << 40  # a travel time no window can absorb (insertion._FAR)


@_njit(cache=True, nogil=True)
def look_up_nodes(lo, hi, include, loc, dep, endloc, pu, do, l_p, l_any):  # type: ignore[no-untyped-def]
    """The travel-time look-ups of one search, and each node's successor (vehicle ``v``'s nodes are
    ``lo[v]..hi[v]-1``; nodes outside every vehicle's run get none).

    Nodes of the included vehicles left by ``l_p`` (``selp``) get the times to and from the
    pickup, those left by ``l_any`` (``seld``) to and from the drop-off. Returns ``(rows, cols,
    selp, seld, succ, has_succ)``: look up ``durations[rows, cols]`` (pickup to drop-off last);
    ``succ[k]`` is the node after ``k`` (the end depot after a vehicle's last node, ``endloc[v]``
    when it is not negative; ``has_succ[k]`` false when there is none).
    """
    nv = lo.shape[0]
    total = loc.shape[0]
    succ = np.empty(total, np.int64)
    has_succ = np.ones(total, np.bool_)
    selp = np.empty(total, np.int64)
    seld = np.empty(total, np.int64)
    kp = 0
    kd = 0
    for v in range(nv):
        last = hi[v] - 1
        for k in range(lo[v], last):
            succ[k] = loc[k + 1]
        if endloc[v] >= 0:
            succ[last] = endloc[v]
        else:
            succ[last] = loc[last]
            has_succ[last] = False
        if not include[v]:
            continue
        for k in range(lo[v], last + 1):
            if dep[k] <= l_p:
                selp[kp] = k
                kp += 1
            if dep[k] <= l_any:
                seld[kd] = k
                kd += 1
    m = 2 * (kp + kd) + 1
    rows = np.empty(m, np.int64)
    cols = np.empty(m, np.int64)
    for i in range(kp):
        k = selp[i]
        rows[i] = loc[k]
        cols[i] = pu
        rows[kp + i] = pu
        cols[kp + i] = succ[k]
    base = 2 * kp
    for i in range(kd):
        k = seld[i]
        rows[base + i] = loc[k]
        cols[base + i] = do
        rows[base + kd + i] = do
        cols[base + kd + i] = succ[k]
    rows[m - 1] = pu
    cols[m - 1] = do
    return rows, cols, selp[:kp], seld[:kd], succ, has_succ


@_njit(cache=True, nogil=True)
def fleet_filter(fleet, columns, usable, now, q, w, l_p, pu):  # type: ignore[no-untyped-def]
    """The vehicles that may take a booking before the reach test, in one pass over the fleet.

    ``fleet`` rows: seats, wheelchair places, available from, start; ``columns`` as
    :func:`ondemand.routing.solver.insertion._vehicle_columns`. A vehicle is kept when it is
    ``usable`` (its route is feasible), has the room, and is available (``max(available from,
    now)``) no later than its shift end and the latest pickup ``l_p``. Returns ``(avail, near,
    starts, pus)``: every vehicle's availability, the kept vehicles, and the look-ups of the reach
    test (``durations[starts, pus]``, from each kept vehicle's start to the pickup ``pu``).
    """
    nv = fleet.shape[0]
    avail = np.empty(nv, np.int64)
    near = np.empty(nv, np.int64)
    n = 0
    for v in range(nv):
        a = fleet[v, 2]
        if a < now:
            a = now
        avail[v] = a
        if usable[v] and q <= fleet[v, 0] and w <= fleet[v, 1] and a <= columns[v, 2] and a <= l_p:
            near[n] = v
            n += 1
    starts = np.empty(n, np.int64)
    for i in range(n):
        starts[i] = fleet[near[i], 3]
    return avail, near[:n], starts, np.full(n, pu, np.int64)


@_njit(cache=True, nogil=True)
def _patched_departures(packed, lo, avail):  # type: ignore[no-untyped-def]
    """The departure row of ``packed`` with each vehicle's start left no earlier than ``avail``."""
    dep = packed[2].copy()
    for v in range(lo.shape[0]):
        k = lo[v]
        if dep[k] < avail[v]:
            dep[k] = avail[v]
    return dep


@_njit(cache=True, nogil=True)
def look_up_search(packed, lo, hi, columns, avail, include, pu, do, l_p, l_any):  # type: ignore[no-untyped-def]
    """The departures of one search (:func:`_patched_departures`) and its :func:`look_up_nodes`:
    ``(dep, rows, cols, selp, seld, has_succ)``."""
    dep = _patched_departures(packed, lo, avail)
    endloc = np.ascontiguousarray(columns[:, 3])
    looked = look_up_nodes(lo, hi, include, packed[0], dep, endloc, pu, do, l_p, l_any)
    rows, cols, selp, seld, succ, has_succ = looked
    return dep, rows, cols, selp, seld, succ, has_succ


@_njit(cache=True, nogil=True)
def prepare_search(  # type: ignore[no-untyped-def]
    packed, lo, hi, columns, fleet, avail, near, to_pu, pu, do, l_p, l_any
):
    """The vehicles of one search after the reach test, and its look-ups.

    ``near`` and ``to_pu`` are :func:`fleet_filter`'s vehicles and their times from the start to the
    pickup: a vehicle is included when it reaches the pickup by ``l_p`` leaving at ``avail``.
    Returns ``(include, redo, dep, rows, cols, selp, seld, succ, has_succ)``: ``redo`` the included
    vehicles that leave later than their profile assumed by more than their first stop's least
    start absorbs (their route must be profiled again from ``avail``); the rest is
    :func:`look_up_search`, computed only when ``redo`` is empty and a vehicle is included (else
    empty arrays).
    """
    nv = lo.shape[0]
    include = np.zeros(nv, np.bool_)
    for i in range(near.shape[0]):
        v = near[i]
        if avail[v] + to_pu[i] <= l_p:
            include[v] = True
    redo = np.empty(nv, np.int64)
    nr = 0
    anyone = False
    for v in range(nv):
        if not include[v]:
            continue
        anyone = True
        k = lo[v]
        if avail[v] > fleet[v, 2] and hi[v] - k > 1 and avail[v] + packed[10, k] > packed[1, k + 1]:
            redo[nr] = v
            nr += 1
    if nr or not anyone:
        e = np.empty(0, np.int64)
        return include, redo[:nr], e, e, e, e, e, e, np.empty(0, np.bool_)
    dep, rows, cols, selp, seld, succ, has_succ = look_up_search(
        packed, lo, hi, columns, avail, include, pu, do, l_p, l_any
    )
    return include, redo[:0], dep, rows, cols, selp, seld, succ, has_succ


@_njit(cache=True, nogil=True)
def spread_times(got, selp, seld, total, has_succ, far):  # type: ignore[no-untyped-def]
    """The looked-up times of :func:`look_up_nodes` as node arrays ``(to_pu, pu_next, to_do,
    do_next)``: ``far`` to the pickup (drop-off) from a node not looked up, 0 from it and after
    a node without successor."""
    kp = selp.shape[0]
    kd = seld.shape[0]
    to_pu = np.full(total, far, np.int64)
    pu_next = np.zeros(total, np.int64)
    to_do = np.full(total, far, np.int64)
    do_next = np.zeros(total, np.int64)
    for i in range(kp):
        k = selp[i]
        to_pu[k] = got[i]
        if has_succ[k]:
            pu_next[k] = got[kp + i]
    base = 2 * kp
    for i in range(kd):
        k = seld[i]
        to_do[k] = got[base + i]
        if has_succ[k]:
            do_next[k] = got[base + kd + i]
    return to_pu, pu_next, to_do, do_next


@_njit(cache=True, nogil=True)
def _delay_sum(lo, hi, base, push, cum, is_drop):  # type: ignore[no-untyped-def]
    """Sum over drop-off nodes ``k`` in ``(lo, hi]`` of ``max(0, push - (cum[k] - cum[base]))``."""
    if push <= 0:
        return 0
    total = 0
    for k in range(lo + 1, hi + 1):
        x = push - (cum[k] - cum[base])
        if x <= 0:
            break  # cumulative waiting never decreases along a route
        if is_drop[k]:
            total += x
    return total


@_njit(cache=True, nogil=True)
def _exact(  # type: ignore[no-untyped-def]
    o,
    n,
    a,
    b,
    start,
    load,
    wheel,
    is_drop,
    svc,
    travel_next,
    earliest,
    latest,
    pair,
    max_ride,
    to_pu,
    pu_next,
    to_do,
    do_next,
    pu_do,
    avail,
    shift_end,
    has_end,
    max_dur,
    seats,
    chairs,
    q,
    w,
    e_p,
    l_p,
    s_p,
    e_d,
    l_d,
    s_d,
    ride_p,
    out,
):
    """Least schedule of the route with the pickup after node ``a`` and the drop-off after node ``b``.

    ``o``: global index of the vehicle's node 0; ``n``: its number of stops. Returns whether it is
    feasible; ``out[0..3]`` gets the new rider's pickup and drop-off times and the summed delay
    of the other drop-offs (least schedule).
    """
    m = n + 2
    trav = np.empty(m, np.int64)
    ear = np.empty(m, np.int64)
    lat = np.empty(m, np.int64)
    sv = np.empty(m, np.int64)
    pr = np.empty(m, np.int64)
    mr = np.empty(m, np.int64)
    old = np.full(m, -1, np.int64)  # old node of each new stop (-1: a new stop)
    pos_new = np.empty(n + 1, np.int64)  # new index of each old node (1..n)
    ip = a
    idp = b + 1
    for k in range(n):  # old stop k is node k + 1
        j = k + (1 if k >= a else 0) + (1 if k >= b else 0)
        pos_new[k + 1] = j
    for k in range(n):
        node = o + k + 1
        j = pos_new[k + 1]
        old[j] = k + 1
        if k == b:
            trav[j] = do_next[o + b]
        elif k == a:
            trav[j] = pu_next[o + a]
        else:
            trav[j] = travel_next[node - 1]
        ear[j] = earliest[node]
        lat[j] = latest[node]
        sv[j] = svc[node]
        mr[j] = max_ride[node]
        mid = (k >= a) and (k < b)
        if load[node] + (q if mid else 0) > seats or wheel[node] + (w if mid else 0) > chairs:
            return False
        p = pair[node]
        pr[j] = -2 if p < 0 else (-1 if p == 0 else pos_new[p])
    trav[ip] = to_pu[o + a]
    ear[ip] = e_p
    lat[ip] = l_p
    sv[ip] = s_p
    pr[ip] = -2
    mr[ip] = 0
    if load[o + a] + q > seats or wheel[o + a] + w > chairs:
        return False
    trav[idp] = pu_do if a == b else to_do[o + b]
    ear[idp] = e_d
    lat[idp] = l_d
    sv[idp] = s_d
    pr[idp] = ip
    mr[idp] = ride_p
    end_travel = (do_next[o + b] if b == n else travel_next[o + n]) if has_end else 0
    arr = np.empty(m, np.int64)
    st = np.empty(m, np.int64)
    ok, _, _ = least_schedule(trav, sv, ear, lat, pr, mr, end_travel, avail, shift_end, max_dur, arr, st)
    if not ok:
        return False
    delay = 0
    for j in range(m):
        k = old[j]
        if k > 0 and is_drop[o + k]:
            delay += st[j] - start[o + k]
    out[0] = st[ip]
    out[1] = st[idp]
    out[2] = delay
    return True


@_njit(cache=True, nogil=True)
def search_kernel(  # type: ignore[no-untyped-def]
    lo,
    hi,
    start,
    dep,
    cum,
    fs,
    load,
    wheel,
    is_drop,
    reach,
    svc,
    travel_next,
    earliest,
    latest,
    pair,
    max_ride,
    v_seats,
    v_chairs,
    v_shift_end,
    v_has_end,
    v_avail,
    v_max_dur,
    to_pu,
    pu_next,
    to_do,
    do_next,
    m_to_pu,
    m_pu_next,
    m_to_do,
    m_do_next,
    m_leg,
    pu_do,
    m_pu_do,
    q,
    w,
    e_p,
    l_p,
    s_p,
    e_d,
    l_d,
    s_d,
    ride_p,
    dw,
    ww,
    rw,
    max_checks,
    include,
):
    """Cheapest feasible insertion over the vehicles of ``lo`` and ``hi`` (see the module docstring).

    Node arrays hold every vehicle's profile nodes, each vehicle's in one run (vehicle ``v``'s nodes
    are ``lo[v]..hi[v]-1``, node ``lo[v]`` its start, departure already no earlier than now; nodes
    outside every run are never read);
    ``to_pu[k]`` is the time from node ``k`` to the pickup, ``pu_next[k]`` from the pickup to
    the node after ``k`` (the end depot after the last node, 0 without one), likewise for the
    drop-off; ``m_*`` the same in the cost metric, ``m_leg[k]`` from node ``k`` to its
    successor. Only vehicles with ``include[v]`` are tried. Returns ``(found, cost, vehicle, a,
    b)``: the pickup goes after node ``a`` and the drop-off after node ``b`` of vehicle
    ``vehicle`` (local node numbers).
    """
    nv = lo.shape[0]
    total_nodes = start.shape[0]
    # candidates: first every same-position one (node order), then every pair (node order)
    cap = 16
    ca = np.empty(cap, np.int64)
    cb = np.empty(cap, np.int64)
    cl = np.empty(cap, np.float64)
    nc = 0
    b_p = np.empty(total_nodes, np.int64)
    d_p = np.empty(total_nodes, np.int64)
    ok_a = np.zeros(total_nodes, np.bool_)
    for v in range(nv):
        if not include[v]:
            continue
        last = hi[v] - 1
        for k in range(lo[v], last + 1):
            arr = dep[k] + to_pu[k]
            bp = arr if arr > e_p else e_p
            b_p[k] = bp
            d_p[k] = bp + s_p
            ok_a[k] = bp <= l_p and load[k] + q <= v_seats[v] and wheel[k] + w <= v_chairs[v]
    for v in range(nv):
        if not include[v]:
            continue
        last = hi[v] - 1
        for k in range(lo[v], last + 1):
            if not ok_a[k]:
                continue
            bd = d_p[k] + pu_do
            if bd < e_d:
                bd = e_d
            if bd > l_d:
                continue
            leave = bd + s_d
            has_next = k < last
            push = 0
            if has_next:
                push = leave + do_next[k] - start[k + 1]
                if push < 0:
                    push = 0
                if push > fs[k + 1]:
                    continue
            elif leave + (do_next[k] if v_has_end[v] else 0) > v_shift_end[v]:
                continue
            if bd - l_p - s_p > ride_p:
                continue
            delay = _delay_sum(k, last, k + 1, push, cum, is_drop) if has_next else 0
            has_succ = has_next or v_has_end[v]
            veh = m_to_pu[k] + m_pu_do + (m_do_next[k] - m_leg[k] if has_succ else 0)
            ride = bd - l_p - s_p
            if ride < pu_do:
                ride = pu_do
            lb = veh + dw * delay + ww * (b_p[k] - e_p) + rw * ride
            if nc == cap:
                cap *= 2
                ca = np.concatenate((ca, np.empty(cap - nc, np.int64)))
                cb = np.concatenate((cb, np.empty(cap - nc, np.int64)))
                cl = np.concatenate((cl, np.empty(cap - nc, np.float64)))
            ca[nc] = k
            cb[nc] = k
            cl[nc] = lb
            nc += 1
    for v in range(nv):
        if not include[v]:
            continue
        last = hi[v] - 1
        for pa in range(lo[v], last):
            if not ok_a[pa]:
                continue
            a1 = pa + 1
            push1 = d_p[pa] + pu_next[pa] - start[a1]
            if push1 < 0:
                push1 = 0
            if push1 > fs[a1]:
                continue
            for pb in range(a1, last + 1):
                if load[pb] + q > v_seats[v] or wheel[pb] + w > v_chairs[v]:
                    break
                push_b = push1 - (cum[pb] - cum[a1])
                if push_b < 0:
                    push_b = 0
                bd = dep[pb] + push_b + to_do[pb]
                if bd < e_d:
                    bd = e_d
                pure = pu_next[pa] + reach[pb] - reach[a1] + svc[pb] + to_do[pb]
                if bd > l_d or pure > ride_p or bd - l_p - s_p > ride_p:
                    continue
                leave = bd + s_d
                has_next = pb < last
                push2 = 0
                if has_next:
                    push2 = leave + do_next[pb] - start[pb + 1]
                    if push2 < 0:
                        push2 = 0
                    if push2 > fs[pb + 1]:
                        continue
                elif leave + (do_next[pb] if v_has_end[v] else 0) > v_shift_end[v]:
                    continue
                delay = _delay_sum(pa, pb, a1, push1, cum, is_drop)
                if has_next:
                    delay += _delay_sum(pb, last, pb + 1, push2, cum, is_drop)
                succ_b = has_next or v_has_end[v]
                veh = (m_to_pu[pa] + m_pu_next[pa] - m_leg[pa]) + (
                    m_to_do[pb] + (m_do_next[pb] - m_leg[pb] if succ_b else 0)
                )
                ride = bd - l_p - s_p
                if ride < pure:
                    ride = pure
                lb = veh + dw * delay + ww * (b_p[pa] - e_p) + rw * ride
                if nc == cap:
                    cap *= 2
                    ca = np.concatenate((ca, np.empty(cap - nc, np.int64)))
                    cb = np.concatenate((cb, np.empty(cap - nc, np.int64)))
                    cl = np.concatenate((cl, np.empty(cap - nc, np.float64)))
                ca[nc] = pa
                cb[nc] = pb
                cl[nc] = lb
                nc += 1
    order = np.argsort(cl[:nc], kind="mergesort")
    veh_of = np.empty(total_nodes, np.int64)
    for v in range(nv):
        for k in range(lo[v], hi[v]):
            veh_of[k] = v
    out = np.zeros(3, np.int64)
    found = False
    best = 0.0
    best_v = -1
    best_a = -1
    best_b = -1
    checks = 0
    for r in range(nc):
        c = order[r]
        bound = cl[c]
        if found and bound >= best - 1e-9:
            break
        if checks >= max_checks:
            break
        checks += 1
        ga = ca[c]
        gb = cb[c]
        v = veh_of[ga]
        o = lo[v]
        n = hi[v] - o - 1
        a = ga - o
        b = gb - o
        if not _exact(
            o,
            n,
            a,
            b,
            start,
            load,
            wheel,
            is_drop,
            svc,
            travel_next,
            earliest,
            latest,
            pair,
            max_ride,
            to_pu,
            pu_next,
            to_do,
            do_next,
            pu_do,
            v_avail[v],
            v_shift_end[v],
            v_has_end[v],
            v_max_dur[v],
            v_seats[v],
            v_chairs[v],
            q,
            w,
            e_p,
            l_p,
            s_p,
            e_d,
            l_d,
            s_d,
            ride_p,
            out,
        ):
            continue
        succ_b = (gb < hi[v] - 1) or v_has_end[v]
        if ga == gb:
            veh = m_to_pu[ga] + m_pu_do + (m_do_next[ga] - m_leg[ga] if succ_b else 0)
        else:
            veh = (m_to_pu[ga] + m_pu_next[ga] - m_leg[ga]) + (
                m_to_do[gb] + (m_do_next[gb] - m_leg[gb] if succ_b else 0)
            )
        pick = out[0]
        drop = out[1]
        cost = float(veh) + dw * out[2] + ww * (pick - e_p) + rw * (drop - pick - s_p)
        if not found or cost < best:
            found = True
            best = cost
            best_v = v
            best_a = a
            best_b = b
    return found, best, best_v, best_a, best_b


@_njit(cache=True, nogil=True)
def search_packed(  # type: ignore[no-untyped-def]
    packed,
    dep,
    lo,
    hi,
    columns,
    avail,
    include,
    got,
    by_time,
    gm,
    m_leg,
    selp,
    seld,
    has_succ,
    q,
    w,
    e_p,
    l_p,
    s_p,
    e_d,
    l_d,
    s_d,
    ride_p,
    dw,
    ww,
    rw,
    max_checks,
):
    """:func:`search_kernel` on the packed profile rows (rows as
    :data:`ondemand.routing.solver.schedule.PROFILE_ROWS`, departures ``dep`` from
    :func:`look_up_search`) and the looked-up times ``got`` (``durations[rows, cols]``) of
    :func:`look_up_nodes`; ``m_leg`` each node's leg to its successor in the cost metric and, unless
    ``by_time`` (the cost is time: ``got`` is), ``gm`` the look-ups in it. Returns ``(found, cost,
    vehicle, a, b)``."""
    total = packed.shape[1]
    to_pu, pu_next, to_do, do_next = spread_times(got, selp, seld, total, has_succ, _FAR)
    k = 2 * (selp.shape[0] + seld.shape[0])
    pu_do = got[k]
    if by_time:
        m_to_pu, m_pu_next, m_to_do, m_do_next = to_pu, pu_next, to_do, do_next
        m_pu_do = pu_do
    else:
        m_to_pu, m_pu_next, m_to_do, m_do_next = spread_times(gm, selp, seld, total, has_succ, 0)
        m_pu_do = gm[k]
    has_end = np.empty(columns.shape[0], np.bool_)
    for v in range(columns.shape[0]):
        has_end[v] = columns[v, 3] >= 0
    return search_kernel(
        lo,
        hi,
        packed[1],
        dep,
        packed[3],
        packed[4],
        packed[5],
        packed[6],
        packed[7],
        packed[8],
        packed[9],
        packed[10],
        packed[11],
        packed[12],
        packed[13],
        packed[14],
        np.ascontiguousarray(columns[:, 0]),
        np.ascontiguousarray(columns[:, 1]),
        np.ascontiguousarray(columns[:, 2]),
        has_end,
        avail,
        np.ascontiguousarray(columns[:, 4]),
        to_pu,
        pu_next,
        to_do,
        do_next,
        m_to_pu,
        m_pu_next,
        m_to_do,
        m_do_next,
        m_leg,
        pu_do,
        m_pu_do,
        q,
        w,
        e_p,
        l_p,
        s_p,
        e_d,
        l_d,
        s_d,
        ride_p,
        dw,
        ww,
        rw,
        max_checks,
        include,
    )
