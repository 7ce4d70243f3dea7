"""Compiled kernels of the dial-a-ride LNS: exact route feasibility and best insertions (private).

Routes are arrays of *node* numbers: for request ``r`` (its index in the LNS's request
list) node ``r`` is its pickup and node ``n + r`` its drop-off. Per-node arrays
(location, window, service, load change, ride limit) and per-vehicle arrays (start,
end, seats, availability, shift end, route-duration limit) describe the instance; all
times and distances are the integer units of :class:`~ondemand.routing.solver.model.TravelTimes`.

:func:`route_feasible` is exact and decides what :func:`ondemand.routing.solver.schedule.evaluate_route`
decides (the least solution of the route's difference constraints, the same passes), for
vehicles with nobody on board and no wheelchair places in use.

:func:`best_insertions` gives, for each request and one route, the cheapest feasible
position (added distance) of its pickup and drop-off. Following Gschwind and Drexl (2019),
the route's least schedule is computed once per route, together with backward latest
start times, loads and pure travel times, so that each of the O(m^2) candidate
positions is screened in constant time (windows of the new stops, the push on the
following stops against their latest starts, the new rider's pure ride time, seats);
the candidates that pass are then checked exactly in increasing cost order until the
first feasible one. Gschwind and Drexl's test is exact in constant time; ours is
constant-time necessary conditions plus an exact O(m) check of the few survivors,
which keeps the answer exact.

Numba compiles the kernels on first use (cached on disk). Without Numba they run as
plain Python (same results, much slower).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

F = TypeVar("F", bound=Callable[..., Any])

try:  # pragma: no cover - exercised by whichever is installed
    from numba import njit as _njit

    def _jit(f: F) -> F:
        return _njit(cache=True, nogil=True)(f)  # type: ignore[return-value,no-any-return]

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover

    def _jit(f: F) -> F:
        return f

    HAVE_NUMBA = False

__all__ = [
    "HAVE_NUMBA",
    "best_insertions",
    "is_warm",
    "relocate_descent",
    "removal_gains",
    "repair",
    "route_feasible",
    "routes_distance",
    "strip_requests",
    "warm_up",
]

_BIG = 1 << 60


@_jit
def route_feasible(
    route: NDArray[np.int64],
    m: int,
    n: int,
    vstart: int,
    vend: int,
    seats: int,
    avail: int,
    shift_end: int,
    maxdur: int,
    loc: NDArray[np.int64],
    early: NDArray[np.int64],
    late: NDArray[np.int64],
    serv: NDArray[np.int64],
    dq: NDArray[np.int64],
    ride: NDArray[np.int64],
    dur: NDArray[np.int64],
) -> bool:
    """Whether the first ``m`` nodes of ``route`` form a feasible route (exact).

    ``vend < 0``: open route; ``maxdur < 0``: no route-duration limit. Each request's
    pickup must come before its drop-off and both must be in the route (not checked here:
    the LNS only builds such routes).
    """
    if m == 0:
        return True
    pos = np.empty(m, dtype=np.int64)  # position of each stop's pickup (drop-offs only)
    reach = np.empty(m, dtype=np.int64)
    lower = np.empty(m, dtype=np.int64)
    start = np.empty(m, dtype=np.int64)
    where = np.empty(n, dtype=np.int64)
    t = 0
    load = 0
    prev = vstart
    for k in range(m):
        x = route[k]
        lc = loc[x]
        t += dur[prev, lc]
        reach[k] = t
        t += serv[x]
        prev = lc
        load += dq[x]
        if load > seats:
            return False
        lower[k] = early[x]
        if x < n:
            where[x] = k
            pos[k] = -1
        else:
            p = where[x - n]
            pos[k] = p
            if reach[k] - reach[p] - serv[route[p]] > ride[x]:
                return False
    if vend >= 0:
        t += dur[prev, vend]
    if maxdur >= 0 and t > maxdur:
        return False
    ndrops = m // 2
    d0 = avail
    for _ in range(ndrops + 3):
        tt = d0
        prev = vstart
        for k in range(m):
            x = route[k]
            a = tt + dur[prev, loc[x]]
            b = a if a > lower[k] else lower[k]
            if b > late[x]:
                return False
            start[k] = b
            tt = b + serv[x]
            prev = loc[x]
        if vend >= 0:
            tt += dur[prev, vend]
        if tt > shift_end:
            return False
        changed = False
        for k in range(m):
            p = pos[k]
            if p < 0:
                continue
            x = route[k]
            need = start[k] - serv[route[p]] - ride[x]
            if need > lower[p]:
                lower[p] = need
                changed = True
        if maxdur >= 0 and tt - d0 > maxdur:
            d0 = tt - maxdur
            changed = True
        if not changed:
            return True
    return False


@_jit
def route_distance(route: NDArray[np.int64], m: int, vstart: int, vend: int,
                   loc: NDArray[np.int64], dist: NDArray[np.int64]) -> int:  # fmt: skip
    """Length of the route (0 for an empty one)."""
    if m == 0:
        return 0
    total = 0
    prev = vstart
    for k in range(m):
        total += dist[prev, loc[route[k]]]
        prev = loc[route[k]]
    if vend >= 0:
        total += dist[prev, vend]
    return total


@_jit
def routes_distance(routes: NDArray[np.int64], lens: NDArray[np.int64], vpar: NDArray[np.int64],
                    loc: NDArray[np.int64], dist: NDArray[np.int64]) -> int:  # fmt: skip
    """Total length of every vehicle's route (row ``v`` of ``routes``, ``lens[v]`` nodes)."""
    total = 0
    for v in range(len(lens)):
        total += route_distance(routes[v], lens[v], vpar[v, 0], vpar[v, 1], loc, dist)
    return total


@_jit
def strip_requests(
    routes: NDArray[np.int64], lens: NDArray[np.int64], removed: NDArray[np.bool_], n: int
) -> None:
    """Remove both nodes of every request ``r`` with ``removed[r]`` from the routes (in place)."""
    for v in range(len(lens)):
        w = 0
        for k in range(lens[v]):
            x = routes[v, k]
            if not removed[x if x < n else x - n]:
                routes[v, w] = x
                w += 1
        lens[v] = w


@_jit
def removal_gains(
    routes: NDArray[np.int64],
    lens: NDArray[np.int64],
    n: int,
    vpar: NDArray[np.int64],
    loc: NDArray[np.int64],
    dist: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Distance saved by taking each routed request out of its route (``routed[r]`` says which are).

    The route without the request is compared with the route as it is, as :func:`route_distance`
    measures them (an emptied route costs nothing); O(1) per request from its neighbours.
    """
    gains = np.zeros(n, dtype=np.int64)
    routed = np.zeros(n, dtype=np.bool_)
    where = np.empty(2 * n, dtype=np.int64)
    for v in range(len(lens)):
        m = lens[v]
        if m == 0:
            continue
        r = routes[v]
        vstart = vpar[v, 0]
        vend = vpar[v, 1]
        base = route_distance(r, m, vstart, vend, loc, dist)
        for k in range(m):
            where[r[k]] = k
        for k in range(m):
            x = r[k]
            if x >= n:
                continue
            routed[x] = True
            if m == 2:
                gains[x] = base
                continue
            i = k
            j = where[x + n]
            li = loc[x]
            lj = loc[x + n]
            before = vstart if i == 0 else loc[r[i - 1]]
            if j + 1 < m:
                after = loc[r[j + 1]]
                has_after = True
            elif vend >= 0:
                after = vend
                has_after = True
            else:
                after = -1
                has_after = False
            if j == i + 1:
                g = dist[before, li] + dist[li, lj]
                if has_after:
                    g += dist[lj, after] - dist[before, after]
            else:
                ni = loc[r[i + 1]]
                pj = loc[r[j - 1]]
                g = dist[before, li] + dist[li, ni] - dist[before, ni] + dist[pj, lj]
                if has_after:
                    g += dist[lj, after] - dist[pj, after]
            gains[x] = g
    return gains, routed


@_jit
def best_insertions(
    route: NDArray[np.int64],
    m: int,
    reqs: NDArray[np.int64],
    n: int,
    vstart: int,
    vend: int,
    seats: int,
    avail: int,
    shift_end: int,
    maxdur: int,
    loc: NDArray[np.int64],
    early: NDArray[np.int64],
    late: NDArray[np.int64],
    serv: NDArray[np.int64],
    dq: NDArray[np.int64],
    ride: NDArray[np.int64],
    dur: NDArray[np.int64],
    dist: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Cheapest feasible insertion of each request of ``reqs`` into ``route[:m]``.

    Returns ``(cost, a, b)``: added distance (``-1`` when no position is feasible), and
    the new route is ``route[:a] + [pickup] + route[a:b] + [drop-off] + route[b:]``.
    """
    q = len(reqs)
    out_c = np.full(q, -1, dtype=np.int64)
    out_a = np.zeros(q, dtype=np.int64)
    out_b = np.zeros(q, dtype=np.int64)
    # Least schedule of the route as it is (bst: start of service, dep: departure), the
    # latest start of each stop that keeps every later window and the shift end, the
    # load after each stop and the pure (no waiting) time from leaving the start.
    bst = np.empty(m + 1, dtype=np.int64)
    dep = np.empty(m + 1, dtype=np.int64)
    lst = np.empty(m + 1, dtype=np.int64)
    load = np.zeros(m + 1, dtype=np.int64)
    reach = np.zeros(m + 1, dtype=np.int64)
    locs = np.empty(m + 2, dtype=np.int64)  # locs[0] = start, locs[k + 1] = stop k, locs[m + 1] = end
    locs[0] = vstart
    for k in range(m):
        locs[k + 1] = loc[route[k]]
    locs[m + 1] = vend if vend >= 0 else -1
    if m > 0 and not route_feasible(route, m, n, vstart, vend, seats, avail, shift_end, maxdur,
                                    loc, early, late, serv, dq, ride, dur):  # fmt: skip
        return out_c, out_a, out_b
    # Forward pass of the least schedule (ride-time pushes only make it later, so the
    # plain forward pass is a valid lower bound; that is all the screens need).
    t = avail
    pt = 0
    ld = 0
    for k in range(m):
        x = route[k]
        a = t + dur[locs[k], locs[k + 1]]
        b = a if a > early[x] else early[x]
        bst[k] = b
        dep[k] = b + serv[x]
        t = dep[k]
        pt += dur[locs[k], locs[k + 1]]
        reach[k] = pt
        pt += serv[x]
        ld += dq[x]
        load[k] = ld
    # Latest starts, backwards.
    nxt = shift_end - (dur[locs[m], vend] if vend >= 0 else 0)  # latest departure from the last node
    for k in range(m - 1, -1, -1):
        x = route[k]
        lk = nxt - serv[x]
        if late[x] < lk:
            lk = late[x]
        lst[k] = lk
        nxt = lk - dur[locs[k], locs[k + 1]]
    nc = (m + 1) * (m + 2) // 2
    cand_c = np.empty(nc, dtype=np.int64)
    cand_a = np.empty(nc, dtype=np.int64)
    cand_b = np.empty(nc, dtype=np.int64)
    work = np.empty(m + 2, dtype=np.int64)
    for i in range(q):
        r = reqs[i]
        pu = r
        do = n + r
        lp, ldo = loc[pu], loc[do]
        qty = dq[pu]
        if qty > seats:
            continue
        cnt = 0
        for a in range(m + 1):
            load_before = load[a - 1] if a > 0 else 0
            if load_before + qty > seats:
                continue
            dep_prev = dep[a - 1] if a > 0 else avail
            prv = locs[a]
            bp = dep_prev + dur[prv, lp]
            if bp < early[pu]:
                bp = early[pu]
            if bp > late[pu]:
                continue
            dp = bp + serv[pu]
            # pickup followed directly by the drop-off (b == a)
            bd = dp + dur[lp, ldo]
            if bd < early[do]:
                bd = early[do]
            if bd <= late[do] and dur[lp, ldo] <= ride[do]:
                dd = bd + serv[do]
                ok = True
                if a < m:
                    arr = dd + dur[ldo, locs[a + 1]]
                    if arr > lst[a]:
                        ok = False
                elif vend >= 0:
                    if dd + dur[ldo, vend] > shift_end:
                        ok = False
                elif dd > shift_end:
                    ok = False
                if ok:
                    c = dist[prv, lp] + dist[lp, ldo]
                    if a < m:
                        c += dist[ldo, locs[a + 1]] - dist[prv, locs[a + 1]]
                    elif vend >= 0:
                        c += dist[ldo, vend] - (dist[prv, vend] if m > 0 else 0)
                    cand_c[cnt] = c
                    cand_a[cnt] = a
                    cand_b[cnt] = a
                    cnt += 1
            if a >= m:
                continue
            # pickup before stop a, drop-off later (before stop b, a < b <= m)
            arr_a = dp + dur[lp, locs[a + 1]]
            if arr_a > lst[a]:
                continue
            c_pick = dist[prv, lp] + dist[lp, locs[a + 1]] - dist[prv, locs[a + 1]]
            maxload = 0
            for b in range(a + 1, m + 1):
                lb = load[b - 1]
                if lb > maxload:
                    maxload = lb
                if maxload + qty > seats:
                    break
                # pure ride of the new rider: pickup, stops a .. b-1, drop-off
                pure = dur[lp, locs[a + 1]] + reach[b - 1] - reach[a] + serv[route[b - 1]] + dur[locs[b], ldo]
                if pure > ride[do]:
                    break
                depb = dep[b - 1]  # lower bound on leaving stop b-1
                lo = dp + dur[lp, locs[a + 1]] + reach[b - 1] - reach[a] + serv[route[b - 1]]
                if lo > depb:
                    depb = lo
                if depb - serv[route[b - 1]] > lst[b - 1]:
                    break
                bd = depb + dur[locs[b], ldo]
                if bd < early[do]:
                    bd = early[do]
                if bd > late[do]:
                    continue
                dd = bd + serv[do]
                if b < m:
                    if dd + dur[ldo, locs[b + 1]] > lst[b]:
                        continue
                    nx = locs[b + 1]
                    c = c_pick + dist[locs[b], ldo] + dist[ldo, nx] - dist[locs[b], nx]
                elif vend >= 0:
                    if dd + dur[ldo, vend] > shift_end:
                        continue
                    c = c_pick + dist[locs[b], ldo] + dist[ldo, vend] - dist[locs[b], vend]
                else:
                    if dd > shift_end:
                        continue
                    c = c_pick + dist[locs[b], ldo]
                cand_c[cnt] = c
                cand_a[cnt] = a
                cand_b[cnt] = b
                cnt += 1
        if cnt == 0:
            continue
        order = np.argsort(cand_c[:cnt], kind="mergesort")
        for j in range(cnt):
            o = order[j]
            a = cand_a[o]
            b = cand_b[o]
            # build the candidate route
            w = 0
            for k in range(a):
                work[w] = route[k]
                w += 1
            work[w] = pu
            w += 1
            for k in range(a, b):
                work[w] = route[k]
                w += 1
            work[w] = do
            w += 1
            for k in range(b, m):
                work[w] = route[k]
                w += 1
            if route_feasible(work, m + 2, n, vstart, vend, seats, avail, shift_end, maxdur,
                              loc, early, late, serv, dq, ride, dur):  # fmt: skip
                out_c[i] = cand_c[o]
                out_a[i] = a
                out_b[i] = b
                break
    return out_c, out_a, out_b


@_jit
def relocate_descent(
    routes: NDArray[np.int64],
    lens: NDArray[np.int64],
    n: int,
    vpar: NDArray[np.int64],
    loc: NDArray[np.int64],
    early: NDArray[np.int64],
    late: NDArray[np.int64],
    serv: NDArray[np.int64],
    dq: NDArray[np.int64],
    ride: NDArray[np.int64],
    dur: NDArray[np.int64],
    dist: NDArray[np.int64],
    max_passes: int,
) -> int:
    """Move single requests to their cheapest feasible place while that shortens the routes (in place).

    A request is taken out of its route and put back at the cheapest exactly feasible
    position over every non-empty route (:func:`best_insertions`), its own included; the
    move is made when it saves distance. Passes over all requests repeat until one
    changes nothing or ``max_passes`` are done. Returns the distance saved.
    """
    nveh = len(lens)
    width = routes.shape[1]
    tmp = np.empty(width, dtype=np.int64)
    one = np.empty(1, dtype=np.int64)
    saved = 0
    for _ in range(max_passes):
        moved = False
        for x in range(n):
            v = -1
            for u in range(nveh):
                for k in range(lens[u]):
                    if routes[u, k] == x:
                        v = u
                        break
                if v >= 0:
                    break
            if v < 0:
                continue
            m = lens[v]
            w = 0
            for k in range(m):
                y = routes[v, k]
                if y != x and y != x + n:
                    tmp[w] = y
                    w += 1
            old = route_distance(routes[v], m, vpar[v, 0], vpar[v, 1], loc, dist)
            gain = old - route_distance(tmp, w, vpar[v, 0], vpar[v, 1], loc, dist)
            one[0] = x
            best = 0
            bu = -1
            ba = 0
            bb = 0
            for u in range(nveh):
                if u == v:
                    c, pa, pb = best_insertions(tmp, w, one, n, vpar[u, 0], vpar[u, 1], vpar[u, 2],
                                                vpar[u, 3], vpar[u, 4], vpar[u, 5], loc, early, late,
                                                serv, dq, ride, dur, dist)  # fmt: skip
                elif lens[u] > 0:
                    c, pa, pb = best_insertions(routes[u], lens[u], one, n, vpar[u, 0], vpar[u, 1],
                                                vpar[u, 2], vpar[u, 3], vpar[u, 4], vpar[u, 5], loc,
                                                early, late, serv, dq, ride, dur, dist)  # fmt: skip
                else:
                    continue
                if c[0] >= 0 and c[0] - gain < best:
                    best = c[0] - gain
                    bu = u
                    ba = pa[0]
                    bb = pb[0]
            if bu < 0:
                continue
            for k in range(w):
                routes[v, k] = tmp[k]
            lens[v] = w
            r = routes[bu]
            mu = lens[bu]
            for t in range(mu - 1, bb - 1, -1):
                r[t + 2] = r[t]
            r[bb + 1] = n + x
            for t in range(bb - 1, ba - 1, -1):
                r[t + 1] = r[t]
            r[ba] = x
            lens[bu] = mu + 2
            saved -= best
            moved = True
        if not moved:
            break
    return saved


@_jit
def _refresh(
    v: int,
    routes: NDArray[np.int64],
    lens: NDArray[np.int64],
    pending: NDArray[np.int64],
    active: NDArray[np.bool_],
    mins: NDArray[np.float64],
    pos_a: NDArray[np.int64],
    pos_b: NDArray[np.int64],
    noise_amp: float,
    n: int,
    vpar: NDArray[np.int64],
    loc: NDArray[np.int64],
    early: NDArray[np.int64],
    late: NDArray[np.int64],
    serv: NDArray[np.int64],
    dq: NDArray[np.int64],
    ride: NDArray[np.int64],
    dur: NDArray[np.int64],
    dist: NDArray[np.int64],
) -> None:
    """Recompute column ``v`` of ``mins`` (and the positions) for every active request."""
    cnt = 0
    for i in range(len(pending)):
        mins[i, v] = np.inf
        if active[i]:
            cnt += 1
    if cnt == 0:
        return
    rows = np.empty(cnt, dtype=np.int64)
    reqs = np.empty(cnt, dtype=np.int64)
    j = 0
    for i in range(len(pending)):
        if active[i]:
            rows[j] = i
            reqs[j] = pending[i]
            j += 1
    c, pa, pb = best_insertions(routes[v], lens[v], reqs, n, vpar[v, 0], vpar[v, 1], vpar[v, 2],
                                vpar[v, 3], vpar[v, 4], vpar[v, 5], loc, early, late, serv, dq, ride,
                                dur, dist)  # fmt: skip
    for j in range(cnt):
        i = rows[j]
        if c[j] >= 0:
            val = float(c[j])
            if noise_amp > 0.0:
                val += noise_amp * (2.0 * np.random.random() - 1.0)
            mins[i, v] = val
            pos_a[i, v] = pa[j]
            pos_b[i, v] = pb[j]


@_jit
def _empty_reps(lens: NDArray[np.int64], vpar: NDArray[np.int64]) -> NDArray[np.bool_]:
    """One empty vehicle per distinct (start, end, seats, availability, shift end, duration)."""
    nveh = len(lens)
    reps = np.zeros(nveh, dtype=np.bool_)
    for v in range(nveh):
        if lens[v] > 0:
            continue
        dup = False
        for u in range(v):
            if reps[u]:
                same = True
                for t in range(vpar.shape[1]):
                    if vpar[u, t] != vpar[v, t]:
                        same = False
                        break
                if same:
                    dup = True
                    break
        if not dup:
            reps[v] = True
    return reps


@_jit
def repair(
    routes: NDArray[np.int64],
    lens: NDArray[np.int64],
    pending: NDArray[np.int64],
    k: int,
    noise_amp: float,
    seed: int,
    n: int,
    vpar: NDArray[np.int64],
    loc: NDArray[np.int64],
    early: NDArray[np.int64],
    late: NDArray[np.int64],
    serv: NDArray[np.int64],
    dq: NDArray[np.int64],
    ride: NDArray[np.int64],
    dur: NDArray[np.int64],
    dist: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Insert ``pending`` into ``routes`` (in place; ``lens`` updated): greedy (``k <= 1``) or regret-k.

    Every insertion is the cheapest exactly feasible one of its request in its vehicle
    (:func:`best_insertions`); with ``noise_amp > 0`` the choice between requests and
    vehicles sees each cost plus uniform noise in ``[-noise_amp, noise_amp]``. Returns the
    requests that fit nowhere.
    """
    np.random.seed(seed)
    p = len(pending)
    nveh = len(lens)
    mins = np.full((p, nveh), np.inf)
    pos_a = np.zeros((p, nveh), dtype=np.int64)
    pos_b = np.zeros((p, nveh), dtype=np.int64)
    active = np.ones(p, dtype=np.bool_)
    reps = _empty_reps(lens, vpar)
    for v in range(nveh):
        if lens[v] > 0 or reps[v]:
            _refresh(v, routes, lens, pending, active, mins, pos_a, pos_b, noise_amp, n, vpar,
                     loc, early, late, serv, dq, ride, dur, dist)  # fmt: skip
    left = np.empty(p, dtype=np.int64)
    nleft = 0
    remaining = p
    srt = np.empty(nveh, dtype=np.float64)
    while remaining > 0:
        pick = -1
        best_key = -np.inf
        any_finite = False
        for i in range(p):
            if not active[i]:
                continue
            srt[:] = np.sort(mins[i])
            finite = srt[0] < np.inf
            if finite:
                any_finite = True
            if k <= 1:
                key = -srt[0] if finite else -np.inf
            else:
                kk = k if k < nveh else nveh
                s0 = srt[0] if finite else 0.0
                missing = 0
                regret = 0.0
                for j in range(kk):
                    if srt[j] < np.inf:
                        if j > 0:
                            regret += srt[j] - s0
                    else:
                        missing += 1
                key = missing * 1e12 + regret - 1e-6 * s0 if finite else -np.inf
            if finite and (pick < 0 or key > best_key):
                pick = i
                best_key = key
        if not any_finite:
            for i in range(p):
                if active[i]:
                    left[nleft] = pending[i]
                    nleft += 1
            break
        row = pick
        x = pending[row]
        v = 0
        for u in range(1, nveh):
            if mins[row, u] < mins[row, v]:
                v = u
        a = pos_a[row, v]
        b = pos_b[row, v]
        m = lens[v]
        was_empty = m == 0
        r = routes[v]
        # shift: [..a) p [a..b) d [b..m)
        for t in range(m - 1, b - 1, -1):
            r[t + 2] = r[t]
        r[b + 1] = n + x
        for t in range(b - 1, a - 1, -1):
            r[t + 1] = r[t]
        r[a] = x
        lens[v] = m + 2
        active[row] = False
        remaining -= 1
        for u in range(nveh):
            mins[row, u] = np.inf
        _refresh(v, routes, lens, pending, active, mins, pos_a, pos_b, noise_amp, n, vpar,
                 loc, early, late, serv, dq, ride, dur, dist)  # fmt: skip
        if was_empty:
            new_reps = _empty_reps(lens, vpar)
            for u in range(nveh):
                if new_reps[u] and not reps[u]:
                    _refresh(u, routes, lens, pending, active, mins, pos_a, pos_b, noise_amp, n, vpar,
                             loc, early, late, serv, dq, ride, dur, dist)  # fmt: skip
            reps = new_reps
    return left[:nleft]


_WARM = False


def is_warm() -> bool:
    """Whether the kernels are loaded in this process (compiled or read from Numba's cache)."""
    return _WARM


def warm_up() -> float:
    """Load (or, the first time on a machine, compile) the kernels; returns the seconds it took.

    Loading from Numba's on-disk cache takes about a second; compiling takes tens of
    seconds on a loaded machine. :func:`ondemand.routing.solver.darp.solve_instance` uses
    the kernels only once they are warm or when its time limit is long enough to pay for this.
    """
    global _WARM
    import time

    t0 = time.monotonic()
    n = 2
    loc = np.array([1, 2, 3, 4], dtype=np.int64)
    zeros = np.zeros(2 * n, dtype=np.int64)
    late = np.full(2 * n, 1000, dtype=np.int64)
    dq = np.array([1, 1, -1, -1], dtype=np.int64)
    ride = np.array([0, 0, 100, 100], dtype=np.int64)
    pts = np.arange(5, dtype=np.int64)
    dur = np.abs(pts[:, None] - pts[None, :]).astype(np.int64)
    dur.setflags(write=False)  # as the instances' travel times: a read-only array is its own signature
    vpar = np.array([[0, 0, 3, 0, 1000, -1], [0, -1, 3, 0, 1000, 500]], dtype=np.int64)
    routes = np.zeros((2, 2 * n + 2), dtype=np.int64)
    lens = np.zeros(2, dtype=np.int64)
    repair(routes, lens, np.arange(n, dtype=np.int64), 2, 0.5, 1, n, vpar, loc, zeros, late, zeros,
           dq, ride, dur, dur)  # fmt: skip
    route_feasible(routes[0], int(lens[0]), n, 0, 0, 3, 0, 1000, -1, loc, zeros, late, zeros, dq, ride, dur)
    routes_distance(routes, lens, vpar, loc, dur)
    removal_gains(routes, lens, n, vpar, loc, dur)
    strip_requests(routes, lens, np.array([True, False]), n)
    relocate_descent(routes, lens, n, vpar, loc, zeros, late, zeros, dq, ride, dur, dur, 1)
    _WARM = True
    return time.monotonic() - t0
