"""Adaptive large-neighbourhood search for dial-a-ride instances (private).

Ropke and Pisinger (2006) style: a solution is one stop sequence per vehicle plus a
*request bank* of requests left out (each costs a penalty above any route set, so a
partial solution never beats a complete one). Every iteration removes q requests
(random, Shaw-related, worst-placed, or a whole route) and re-inserts them greedily or
by regret-2/3, with exact feasibility from the vectorised insertion search of
:mod:`ondemand.routing.solver.insertion` (cost = added distance, no promise, no tightening).
Simulated annealing decides acceptance, its temperature falling with the share of the
budget used (time or iterations); operator weights adapt to their success. Every route of a
new best solution is re-checked with :func:`ondemand.routing.solver.schedule.evaluate_route`.

One driver (:class:`_LnsBase`) runs the search over two route representations: stop tuples
with NumPy insertion batches (:class:`_Lns`: live plans, riders on board, wheelchairs) and
node arrays with the compiled kernels of :mod:`ondemand.routing.solver._darp_fast`
(:class:`_FastLns`: benchmark instances), which also returns to its best solution after
1,000 iterations without a new one and runs a relocate descent on every candidate that
beats the best.

Budgets. With a ``deadline`` the search stops at a wall-clock time (live plans,
benchmarks); with ``iterations`` it does exactly that many iterations and nothing in it
depends on the clock, so the same input and seed give the same result on any machine and
under any load (the simulator). Sets of request ids are sorted before they are used, so
the result does not depend on string hashing either.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from ondemand.routing.solver import _darp_fast
from ondemand.routing.solver.model import Request, Route, Stop, StopKind, TravelTimes, Vehicle
from ondemand.routing.solver.schedule import RouteProfile, evaluate_route, route_profile

__all__ = ["LnsResult", "lns"]

_SIGMA_BEST, _SIGMA_BETTER, _SIGMA_ACCEPT = 33.0, 9.0, 13.0
_SEGMENT = 50
_Q_MAX = 30
"""Most requests removed per iteration (also at most 30 % of them)."""
_T_START = 0.03
"""Start temperature: a solution this much (relative) worse is accepted with probability 1/2."""
_REACTION = 0.15

S = TypeVar("S")
"""A solution: stop tuples per vehicle (:class:`_Lns`) or node arrays (:class:`_FastLns`)."""
K = TypeVar("K", str, int)
"""A request's key in that representation: its id or its index."""


@dataclass(frozen=True, slots=True)
class LnsResult:
    """Best complete solution found (stop tuples per vehicle) and search statistics."""

    stops: tuple[tuple[Stop, ...], ...]
    cost: int
    complete: bool
    iterations: int
    improvements: int
    seconds_to_best: float


class _LnsBase(Generic[S, K]):
    """The adaptive LNS of the module docstring, over either route representation.

    Subclasses give a solution type ``S`` (copied, never shared, by :meth:`_copy`) and its
    request keys ``K``; the destroy operators (:attr:`destroy`), repair, costs and checks;
    :meth:`run` is the one driver: operator weights, annealing, budget, acceptance. Its
    random draws per iteration, in order: q, destroy operator, repair operator, then
    whatever the destroy and repair operators draw, then the acceptance draw (only when a
    worse candidate is considered).
    """

    destroy: list[Callable[[S, int], set[K]]]

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        requests: Sequence[Request],
        tt: TravelTimes,
        seed: int,
    ) -> None:
        self.vehicles = list(vehicles)
        self.reqs = {r.id: r for r in requests}
        self.order = [r.id for r in requests]
        self.index = {rid: i for i, rid in enumerate(self.order)}
        self.tt = tt
        self.dist: list[list[int]] = np.asarray(tt.distances).tolist()
        self.rng = np.random.default_rng(seed)
        self.penalty = 4 * max(1, int(np.asarray(tt.distances).max(initial=1))) + 1
        # Shaw relatedness of requests i and j (Ropke and Pisinger 2006): travel time between
        # their pickups and between their drop-offs, difference of earliest pickups and of
        # latest drop-offs, difference of loads; each term divided by its mean over all pairs.
        # Rows are computed when needed (an n x n matrix would cost seconds and gigabytes at
        # thousands of live requests); the means come from exact closed forms.
        self._rel_p = np.array([r.pickup for r in requests], dtype=np.int64)
        self._rel_d = np.array([r.dropoff for r in requests], dtype=np.int64)
        self._rel_tp = np.array([r.earliest_pickup for r in requests], dtype=np.float64)
        self._rel_td = np.array([r.latest_dropoff for r in requests], dtype=np.float64)
        self._rel_ld = np.array([r.passengers for r in requests], dtype=np.float64)
        self._rel_dur = np.asarray(tt.durations)
        self._rel_scale = self._relatedness_scales()
        self.failures = 0
        self.dur = np.asarray(tt.durations)
        self.dista = np.asarray(tt.distances)
        self.mean_dist = float(self.dista.mean())
        rq = list(requests)
        self.a_pu = np.array([r.pickup for r in rq], dtype=np.int64)
        self.a_do = np.array([r.dropoff for r in rq], dtype=np.int64)
        self.a_ep = np.array([r.earliest_pickup for r in rq], dtype=np.int64)
        self.a_lp = np.array([r.latest_pickup for r in rq], dtype=np.int64)
        self.a_sp = np.array([r.pickup_service for r in rq], dtype=np.int64)
        self.a_ed = np.array([r.earliest_dropoff for r in rq], dtype=np.int64)
        self.a_ld = np.array([r.latest_dropoff for r in rq], dtype=np.int64)
        self.a_sd = np.array([r.dropoff_service for r in rq], dtype=np.int64)
        self.a_L = np.array([r.max_ride for r in rq], dtype=np.int64)
        self.a_q = np.array([r.passengers for r in rq], dtype=np.int64)
        self.repair_k = [1, 2, 3]
        self.q_max = _Q_MAX
        self.w_destroy = np.ones(4)
        self.w_repair = np.ones(len(self.repair_k) * 2)

    # ---- relatedness -----------------------------------------------------------------

    def _relatedness_terms(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.float64], ...]:
        """Space, time and load terms of ``rows`` against every request (unscaled)."""
        p, d, dur = self._rel_p, self._rel_d, self._rel_dur
        space = (dur[p[rows][:, None], p[None, :]] + dur[d[rows][:, None], d[None, :]]).astype(np.float64)
        tim = np.abs(self._rel_tp[rows][:, None] - self._rel_tp[None, :]) + np.abs(
            self._rel_td[rows][:, None] - self._rel_td[None, :]
        )
        load = np.abs(self._rel_ld[rows][:, None] - self._rel_ld[None, :])
        return space, tim, load

    def _relatedness_scales(self) -> tuple[float, float, float]:
        """Weights of the three terms: 9, 3 and 2 divided by each term's mean over all pairs.

        The means are exact and need no n x n matrix: the travel-time sum is ``c' D c`` with
        ``c`` the number of requests per location, and the sum of ``|x_i - x_j|`` over all
        ordered pairs is ``2 sum_k x_(k) (2k - n + 1)`` over the sorted values.
        """
        n = len(self._rel_p)
        if n == 0:
            return (9.0, 3.0, 2.0)
        dur = np.asarray(self._rel_dur, dtype=np.int64)
        size = dur.shape[0]
        space = 0
        for loc in (self._rel_p, self._rel_d):
            c = np.bincount(loc, minlength=size).astype(np.int64)
            space += int(c @ (dur @ c))
        k = 2.0 * np.arange(n, dtype=np.float64) - n + 1

        def spread(x: NDArray[np.float64]) -> float:
            return 2.0 * float(np.sort(x) @ k)

        tim = spread(self._rel_tp) + spread(self._rel_td)
        load = spread(self._rel_ld)
        pairs = float(n) * n
        return (9.0 / max(1.0, space / pairs), 3.0 / max(1.0, tim / pairs), 2.0 / max(1.0, load / pairs))

    def _related_row(self, i: int) -> NDArray[np.float64]:
        """Relatedness of request ``i`` to every request (lower is more related)."""
        space, tim, load = self._relatedness_terms(np.array([i]))
        a, b, c = self._rel_scale
        row: NDArray[np.float64] = (a * space + b * tim + c * load)[0]
        return row

    # ---- what each representation provides -----------------------------------------

    def _start(self, initial: Sequence[tuple[Stop, ...]]) -> tuple[S, list[K]]:
        """The initial solution in this representation and the requests it leaves out (in order)."""
        raise NotImplementedError

    def _copy(self, sol: S) -> S:
        raise NotImplementedError

    def _any_routed(self, sol: S) -> bool:
        raise NotImplementedError

    def _strip(self, sol: S, removed: set[K]) -> S:
        """``sol`` without the requests ``removed`` (may change ``sol`` itself)."""
        raise NotImplementedError

    def repair(self, sol: S, bank: list[K], k: int, noise: bool) -> list[K]:
        """Insert the bank into ``sol`` (in place); returns what could not be inserted."""
        raise NotImplementedError

    def total(self, sol: S, bank: Sequence[K]) -> int:
        raise NotImplementedError

    def feasible(self, sol: S) -> bool:
        raise NotImplementedError

    t_start_rel = _T_START
    """Start temperature: a solution this much (relative) worse is accepted with probability 1/2."""

    restart = 0
    """Back to the best solution after this many iterations without a new best (0: never)."""

    ls_best = False
    """Local search (:meth:`_improve`) on the best solution at each restart."""

    ls_band = -1.0
    """Local search on candidates cheaper than the best times ``1 + ls_band`` (negative: never)."""

    def _improve(self, sol: S) -> bool:
        """Local search on a complete candidate (in place); whether it changed anything."""
        return False

    def _shape(self, sol: S) -> tuple[int, ...]:
        """Number of stops per route (with the cost, the key of a solution already seen)."""
        raise NotImplementedError

    def _result(
        self, best: S, cost: int, complete: bool, iters: int, improvements: int, best_at: float
    ) -> LnsResult:
        raise NotImplementedError

    # ---- the driver ----------------------------------------------------------------

    def run(
        self, initial: Sequence[tuple[Stop, ...]], deadline: float | None, iterations: int | None
    ) -> LnsResult:
        """Search from ``initial`` until ``deadline`` or for ``iterations`` iterations (one is given)."""
        t0 = _time.monotonic()
        cur, bank0 = self._start(initial)
        bank: list[K] = bank0
        if bank:
            bank = self.repair(cur, bank, 2, False)
        cur_cost = self.total(cur, bank)
        ok0 = not bank and self.feasible(cur)
        best, best_cost, best_bank = self._copy(cur), cur_cost, list(bank)
        best_ok = ok0
        best_at = _time.monotonic() - t0
        n = len(self.order)
        if n < 1:
            return self._result(best, best_cost, best_ok and not best_bank, 0, 0, best_at)
        # One request can still move (to another vehicle or position): q is then 1.
        lo = min(n, max(2, n // 20))
        hi = max(lo, min(self.q_max, (3 * n) // 10))
        routing_cost = max(1, cur_cost - self.penalty * len(bank))
        t_start = self.t_start_rel * routing_cost / math.log(2.0)
        t_end = t_start * 0.002
        total_time = max(1e-3, deadline - t0) if deadline is not None else 1.0
        iters = improvements = 0
        sc_d = np.zeros(len(self.w_destroy))
        cnt_d = np.zeros(len(self.w_destroy))
        sc_r = np.zeros(len(self.w_repair))
        cnt_r = np.zeros(len(self.w_repair))
        seen: set[int] = set()
        best_iter = 0
        while True:
            if iterations is not None:
                if iters >= iterations:
                    break
                frac = iters / iterations
            else:
                assert deadline is not None
                now = _time.monotonic()
                if now >= deadline:
                    break
                frac = (now - t0) / total_time
            iters += 1
            if self.restart and iters - best_iter > self.restart:
                cur, cur_cost, bank, best_iter = self._copy(best), best_cost, list(best_bank), iters
                if self.ls_best and not bank and self._improve(cur):
                    cur_cost = self.total(cur, bank)
                    if self.feasible(cur):
                        best, best_cost = self._copy(cur), cur_cost
                        best_at = _time.monotonic() - t0
                        improvements += 1
            temp = t_start * (t_end / t_start) ** frac
            q = int(self.rng.integers(lo, hi + 1))
            di = int(self.rng.choice(len(self.w_destroy), p=self.w_destroy / self.w_destroy.sum()))
            ri = int(self.rng.choice(len(self.w_repair), p=self.w_repair / self.w_repair.sum()))
            cand = self._copy(cur)
            removed: set[K] = self.destroy[di](cand, q) if self._any_routed(cand) else set()
            if removed:
                cand = self._strip(cand, removed)
            pending = list(bank)
            pending.extend(sorted(removed))
            new_bank = self.repair(cand, pending, self.repair_k[ri % 3], ri >= 3)
            cost = self.total(cand, new_bank)
            if (
                self.ls_band >= 0
                and not new_bank
                and cost < best_cost * (1.0 + self.ls_band)
                and self._improve(cand)
            ):
                cost = self.total(cand, new_bank)
            key = hash((cost, self._shape(cand)))
            score = 0.0
            if cost < best_cost and not new_bank and self.feasible(cand):
                best, best_cost, best_bank, best_ok = self._copy(cand), cost, [], True
                best_at = _time.monotonic() - t0
                best_iter = iters
                improvements += 1
                score = _SIGMA_BEST
                cur, cur_cost, bank = cand, cost, new_bank
            elif cost < cur_cost:
                score = _SIGMA_BETTER if key not in seen else 0.0
                cur, cur_cost, bank = cand, cost, new_bank
            elif cost == cur_cost:
                cur, cur_cost, bank = cand, cost, new_bank
            elif self.rng.random() < math.exp(-(cost - cur_cost) / max(1e-9, temp)):
                score = _SIGMA_ACCEPT if key not in seen else 0.0
                cur, cur_cost, bank = cand, cost, new_bank
            seen.add(key)
            sc_d[di] += score
            cnt_d[di] += 1
            sc_r[ri] += score
            cnt_r[ri] += 1
            if iters % _SEGMENT == 0:
                for w, sc, cnt in ((self.w_destroy, sc_d, cnt_d), (self.w_repair, sc_r, cnt_r)):
                    upd = np.where(cnt > 0, sc / np.maximum(cnt, 1), w)
                    w[:] = np.maximum(0.05, (1 - _REACTION) * w + _REACTION * upd)
                    sc[:] = 0
                    cnt[:] = 0
        return self._result(best, best_cost, best_ok and not best_bank, iters, improvements, best_at)


_Stops = list[tuple[Stop, ...]]


class _Lns(_LnsBase[_Stops, str]):
    """The search on stop tuples with NumPy insertion batches (riders on board, wheelchairs)."""

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        requests: Sequence[Request],
        tt: TravelTimes,
        seed: int,
    ) -> None:
        super().__init__(vehicles, requests, tt, seed)
        self.destroy = [self._random, self._shaw, self._worst, self._route]
        self._profiles: dict[tuple[int, int], tuple[tuple[Stop, ...], RouteProfile | None]] = {}

    # ---- costs ---------------------------------------------------------------------

    def route_cost(self, v: Vehicle, stops: Sequence[Stop]) -> int:
        if not stops:
            return 0
        dist = self.dist
        prev = v.start
        total = 0
        for s in stops:
            total += dist[prev][s.location]
            prev = s.location
        if v.end is not None:
            total += dist[prev][v.end]
        return total

    # ---- destroy -------------------------------------------------------------------

    @staticmethod
    def _routed(sol: list[tuple[Stop, ...]]) -> list[str]:
        return [s.request_id for st in sol for s in st if s.kind.value == "pickup"]

    def _random(self, sol: list[tuple[Stop, ...]], q: int) -> set[str]:
        routed = self._routed(sol)
        return set(self.rng.choice(routed, size=min(q, len(routed)), replace=False).tolist())

    def _shaw(self, sol: list[tuple[Stop, ...]], q: int) -> set[str]:
        routed = self._routed(sol)
        seed_id = routed[int(self.rng.integers(len(routed)))]
        idx = np.array([self.index[r] for r in routed])
        rel = self._related_row(self.index[seed_id])[idx]
        ranked = [routed[i] for i in np.argsort(rel) if routed[i] != seed_id]
        out = {seed_id}
        while len(out) < q and ranked:
            out.add(ranked.pop(int(len(ranked) * self.rng.random() ** 6)))
        return out

    def _worst(self, sol: list[tuple[Stop, ...]], q: int) -> set[str]:
        gains: list[tuple[int, str]] = []
        for v, st in zip(self.vehicles, sol, strict=True):
            if not st:
                continue
            base = self.route_cost(v, st)
            for rid in {s.request_id for s in st}:
                if rid not in self.reqs:
                    continue
                gains.append((base - self.route_cost(v, [s for s in st if s.request_id != rid]), rid))
        gains.sort(reverse=True)
        ranked = [rid for _, rid in gains]
        out: set[str] = set()
        while len(out) < q and ranked:
            out.add(ranked.pop(int(len(ranked) * self.rng.random() ** 3)))
        return out

    def _route(self, sol: list[tuple[Stop, ...]], q: int) -> set[str]:
        used = [k for k, st in enumerate(sol) if st]
        sizes = np.array([len(sol[k]) for k in used], dtype=np.float64)
        w = 1.0 / sizes
        k = int(self.rng.choice(used, p=w / w.sum()))
        out = {s.request_id for s in sol[k] if s.request_id in self.reqs}
        if len(out) < q:
            # Top up with requests related to the removed route.
            out |= self._shaw(sol, q - len(out))
        return out

    # ---- repair --------------------------------------------------------------------

    def _profile(self, vi: int, stops: tuple[Stop, ...]) -> RouteProfile | None:
        key = (vi, id(stops))
        hit = self._profiles.get(key)
        if hit is None or hit[0] is not stops:
            if len(self._profiles) > 4096:
                self._profiles.clear()
            hit = self._profiles[key] = (
                stops,
                route_profile(Route(self.vehicles[vi], stops), self.reqs, self.tt),
            )
        return hit[1]

    def _batch(self, vi: int, stops: tuple[Stop, ...], rids: Sequence[str]) -> NDArray[np.float64] | None:
        """Added distance of every (pickup after node a, drop-off after node b) for each request.

        Shape ``(len(rids), m, m)`` for a route of ``m - 1`` stops; ``inf`` where a
        necessary condition fails. Exact feasibility is checked when an insertion is applied.
        """
        prof = self._profile(vi, stops)
        if prof is None:
            return None
        v = self.vehicles[vi]
        dur, dist = self.dur, self.dista
        ix = np.fromiter((self.index[r] for r in rids), dtype=np.int64, count=len(rids))
        pu, do = self.a_pu[ix], self.a_do[ix]
        e_p, l_p, s_p = self.a_ep[ix, None], self.a_lp[ix, None], self.a_sp[ix, None]
        e_d, l_d, s_d = self.a_ed[ix, None], self.a_ld[ix, None], self.a_sd[ix, None]
        ride, qty = self.a_L[ix, None], self.a_q[ix, None]
        loc, dep, start, fs, cum = prof.loc, prof.departure, prof.start, prof.fslack, prof.cum_wait
        m = len(loc)
        ar = np.arange(m)
        has_next = ar < m - 1
        nxt = np.minimum(ar + 1, m - 1)
        has_end = v.end is not None
        end = v.end if v.end is not None else 0
        succ = np.where(has_next, loc[nxt], end)
        has_succ = has_next | has_end
        big = np.iinfo(np.int64).max // 4
        # pickup after node a
        b_p = np.maximum(dep[None, :] + dur[pu[:, None], loc[None, :]], e_p)
        d_p = b_p + s_p
        ok_a = (b_p <= l_p) & (prof.load[None, :] + qty <= v.seats)
        back = dur[do, end] if has_end else np.zeros(len(do), dtype=np.int64)
        end_limit = v.shift_end - np.asarray(back, dtype=np.int64)[:, None]

        def end_ok(leave: NDArray[np.int64]) -> NDArray[np.bool_]:
            return np.asarray(leave <= (end_limit if leave.ndim == 2 else end_limit[:, :, None]))

        def detour(x: NDArray[np.int64]) -> NDArray[np.int64]:
            return np.asarray(
                dist[x[:, None], loc[None, :]]
                + np.where(has_succ[None, :], dist[x[:, None], succ[None, :]] - dist[loc, succ][None, :], 0)
            )

        dt_pu, dt_do = detour(pu), detour(do)
        # drop-off right after the pickup
        d_pd = dur[pu, do][:, None]
        bd = np.maximum(d_p + d_pd, e_d)
        leave = bd + s_d
        push = leave + dur[do[:, None], loc[nxt][None, :]] - start[nxt][None, :]
        ok_s = ok_a & (bd <= l_d) & (bd - l_p - s_p <= ride)
        ok_s &= np.where(has_next[None, :], push <= fs[nxt][None, :], end_ok(leave))
        c_same = (
            dist[pu[:, None], loc[None, :]]
            + dist[pu, do][:, None]
            + np.where(has_succ[None, :], dist[do[:, None], succ[None, :]] - dist[loc, succ][None, :], 0)
        )
        out = np.full((len(rids), m, m), np.inf)
        if m > 1:
            first = np.maximum(0, d_p + dur[pu[:, None], loc[nxt][None, :]] - start[nxt][None, :])
            ok_pair = ok_a & has_next[None, :] & (first <= fs[nxt][None, :])
            # max load over nodes (a, b]
            loadm = np.where(ar[None, :] > ar[:, None], prof.load[None, :], -big)
            loadm = np.maximum.accumulate(loadm, axis=1)
            cap_ok = loadm[None, :, :] + qty[:, :, None] <= v.seats
            push_b = np.maximum(0, first[:, :, None] - (cum[None, None, :] - cum[nxt][None, :, None]))
            d_bd = dur[loc[:, None], do[None, :]].T  # (q, m): from node b to the drop-off
            bd3 = np.maximum(dep[None, None, :] + push_b + d_bd[:, None, :], e_d[:, :, None])
            pure = (
                dur[pu[:, None], loc[nxt][None, :]][:, :, None]
                + (prof.reach[None, :] - prof.reach[nxt][:, None] + prof.service[None, :])[None, :, :]
                + d_bd[:, None, :]
            )
            lim = ride[:, :, None]
            ok3 = (
                ok_pair[:, :, None]
                & (ar[None, :] > ar[:, None])[None, :, :]
                & cap_ok
                & (bd3 <= l_d[:, :, None])
                & (pure <= lim)
                & (bd3 - (l_p + s_p)[:, :, None] <= lim)
            )
            leave3 = bd3 + s_d[:, :, None]
            push2 = leave3 + (dur[do[:, None], loc[nxt][None, :]] - start[nxt][None, :])[:, None, :]
            ok3 &= np.where(has_next[None, None, :], push2 <= fs[nxt][None, None, :], end_ok(leave3))
            out = np.where(ok3, (dt_pu[:, :, None] + dt_do[:, None, :]).astype(np.float64), np.inf)
        out[:, ar, ar] = np.where(ok_s, c_same, np.inf)
        return out

    def repair(self, sol: list[tuple[Stop, ...]], bank: list[str], k: int, noise: bool) -> list[str]:
        """Insert the bank into ``sol`` (in place); returns what could not be inserted."""
        pending = list(bank)
        nveh = len(sol)
        noise_amp = 0.05 * self.mean_dist if noise else 0.0
        # costs[vi]: (len(pending0), m, m) estimates; row of a request by its position in bank.
        row_of = {rid: i for i, rid in enumerate(pending)}
        mins = np.full((len(pending), nveh), np.inf)
        cand: dict[int, NDArray[np.float64]] = {}

        def empty_reps() -> set[int]:
            seen: set[tuple[int, int | None, int, int, int]] = set()
            reps: set[int] = set()
            for vi in range(nveh):
                if sol[vi]:
                    continue
                v = self.vehicles[vi]
                key = (v.start, v.end, v.seats, v.available_from, v.shift_end)
                if key not in seen and not v.onboard:
                    seen.add(key)
                    reps.add(vi)
            return reps

        def refresh(vi: int) -> None:
            rows = [row_of[r] for r in pending]
            mins[:, vi] = np.inf
            got = self._batch(vi, sol[vi], pending) if pending else None
            if got is None:
                cand.pop(vi, None)
                return
            full = np.full((len(row_of), *got.shape[1:]), np.inf)
            full[rows] = got
            cand[vi] = full
            mins[rows, vi] = got.reshape(len(rows), -1).min(axis=1)
            if noise_amp:
                mins[rows, vi] += noise_amp * (2.0 * self.rng.random(len(rows)) - 1.0)

        reps = empty_reps()
        for vi in range(nveh):
            if sol[vi] or vi in reps:
                refresh(vi)
        left: list[str] = []
        failures = 0
        while pending:
            rows = np.array([row_of[r] for r in pending])
            sub = mins[rows]
            srt = np.sort(sub, axis=1)
            finite = np.isfinite(srt[:, 0])
            if not finite.any():
                left.extend(pending)
                break
            if k <= 1:
                pick = int(np.argmin(srt[:, 0]))
            else:
                kk = min(k, srt.shape[1])
                fin = np.isfinite(srt[:, :kk])
                missing = kk - fin.sum(axis=1)
                s0 = np.where(finite, srt[:, 0], 0.0)[:, None]
                regret = (np.where(fin[:, 1:], srt[:, 1:kk], s0) - s0).sum(axis=1)
                key = np.where(finite, missing * 1e12 + regret - 1e-6 * s0[:, 0], -np.inf)
                pick = int(np.argmax(key))
            rid = pending[pick]
            r = row_of[rid]
            vi = int(np.argmin(mins[r]))
            flat = cand[vi][r].reshape(-1)
            m = cand[vi].shape[1]
            idx = int(np.argmin(flat))
            a, b = divmod(idx, m)
            req = self.reqs[rid]
            pstop = Stop(rid, StopKind.PICKUP, req.pickup)
            dstop = Stop(rid, StopKind.DROPOFF, req.dropoff)
            st = sol[vi]
            new = (*st[:a], pstop, *st[a:b], dstop, *st[b:])
            if not evaluate_route(Route(self.vehicles[vi], new), self.reqs, self.tt).feasible:
                failures += 1
                flat[idx] = np.inf
                mins[r, vi] = float(flat.min())
                continue
            was_empty = not st
            sol[vi] = new
            pending.remove(rid)
            mins[r, :] = np.inf
            changed = [vi]
            if was_empty:
                new_reps = empty_reps()
                changed += [j for j in new_reps if j not in reps]
                reps = new_reps
            for j in changed:
                refresh(j)
        self.failures += failures
        return left

    # ---- driver hooks --------------------------------------------------------------

    def _start(self, initial: Sequence[tuple[Stop, ...]]) -> tuple[_Stops, list[str]]:
        cur = list(initial)
        routed = set(self._routed(cur))
        return cur, [rid for rid in self.order if rid not in routed]

    def _copy(self, sol: _Stops) -> _Stops:
        return list(sol)

    def _any_routed(self, sol: _Stops) -> bool:
        return bool(self._routed(sol))

    def _strip(self, sol: _Stops, removed: set[str]) -> _Stops:
        return [
            st
            if not any(s.request_id in removed for s in st)
            else tuple(s for s in st if s.request_id not in removed)
            for st in sol
        ]

    def total(self, sol: Sequence[tuple[Stop, ...]], bank: Sequence[str]) -> int:
        return sum(
            self.route_cost(v, st) for v, st in zip(self.vehicles, sol, strict=True)
        ) + self.penalty * len(bank)

    def feasible(self, sol: Sequence[tuple[Stop, ...]]) -> bool:
        for v, st in zip(self.vehicles, sol, strict=True):
            if st and not evaluate_route(Route(v, st), self.reqs, self.tt).feasible:
                return False
        return True

    def _shape(self, sol: _Stops) -> tuple[int, ...]:
        return tuple(len(st) for st in sol)

    def _result(
        self, best: _Stops, cost: int, complete: bool, iters: int, improvements: int, best_at: float
    ) -> LnsResult:
        return LnsResult(tuple(best), cost, complete, iters, improvements, best_at)


def lns(
    vehicles: Sequence[Vehicle],
    requests: Sequence[Request],
    tt: TravelTimes,
    initial: Sequence[tuple[Stop, ...]],
    *,
    deadline: float | None = None,
    iterations: int | None = None,
    seed: int = 0,
    fast: bool = False,
) -> LnsResult:
    """Improve ``initial`` (one stop tuple per vehicle) until ``deadline`` or for ``iterations``.

    Give exactly one budget: ``deadline`` (a ``time.monotonic`` time) or ``iterations``
    (a work budget: the result depends only on the input and ``seed``). Every request
    of ``requests`` must be served; requests missing from ``initial`` are inserted first
    (the bank). ``complete`` is False when some request could never be placed; then
    ``stops`` is the best partial solution and must not be used as a complete answer.
    """
    if (deadline is None) == (iterations is None):
        raise ValueError("give the LNS exactly one budget: deadline= (wall clock) or iterations=")
    if iterations is not None and iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    cls = _FastLns if fast and _fast_ok(vehicles, requests) else _Lns
    return cls(vehicles, requests, tt, seed).run(initial, deadline, iterations)


_Nodes = tuple[NDArray[np.int64], NDArray[np.int64]]
"""Node routes: row ``v`` of the first array holds vehicle ``v``'s nodes, the second their number."""


class _FastLns(_LnsBase[_Nodes, int]):
    """The same search on integer node routes, with the compiled kernels of :mod:`._darp_fast`.

    Node ``r`` is request ``r``'s pickup, ``n + r`` its drop-off; a solution is a
    ``(vehicles, 2n + 2)`` array of routes and their lengths, changed in place by the
    kernels (removal, repair, costs, removal gains). Insertions are exact (the cheapest
    *feasible* position per request and vehicle), so no applied insertion ever fails.
    Only for vehicles with nobody on board and requests without wheelchairs (:func:`_fast_ok`).

    Measured with fixed iteration budgets from an empty start (load-independent): returning
    to the best solution after 1,000 iterations without a new best took 6 Ropke instances
    of 60-96 requests x 3 seeds at 5,000 iterations from 1.72 % to 1.43 % mean gap. A
    candidate that beats the best is first improved by the compiled relocate descent
    (:func:`._darp_fast.relocate_descent`): 1.44 % vs 1.55 % with it on that sample
    (restarts after 600), 1.28 % vs 1.36 % on 15 runs of 12 larger instances x 2 seeds at
    8,000 iterations; it costs little, as few candidates beat the best. A cooler start
    (1 % instead of 3 %) with the restarts looked better there (1.33 % vs 1.45 % for
    neither) and on 6 x 3 at 5,000 iterations (1.34 % vs 1.43 % for restarts alone), but worse on
    Cordeau's a3-24, a4-32, a4-48 at 30,000 iterations (0.24 % vs 0.05 %), so the start
    temperature is the NumPy search's.
    """

    restart = 1000
    ls_band = 0.0
    ls_passes = 3

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        requests: Sequence[Request],
        tt: TravelTimes,
        seed: int,
    ) -> None:
        super().__init__(vehicles, requests, tt, seed)
        rq = list(requests)
        n = self.n = len(rq)
        self.k_loc = np.concatenate([self.a_pu, self.a_do]).astype(np.int64)
        self.k_early = np.concatenate([self.a_ep, self.a_ed]).astype(np.int64)
        self.k_late = np.concatenate([self.a_lp, self.a_ld]).astype(np.int64)
        self.k_serv = np.concatenate([self.a_sp, self.a_sd]).astype(np.int64)
        self.k_dq = np.concatenate([self.a_q, -self.a_q]).astype(np.int64)
        self.k_ride = np.concatenate([np.zeros(n, dtype=np.int64), self.a_L]).astype(np.int64)
        self.k_dur = np.ascontiguousarray(self.dur, dtype=np.int64)
        self.k_dist = np.ascontiguousarray(self.dista, dtype=np.int64)
        self.vpar = [
            (
                v.start,
                -1 if v.end is None else v.end,
                v.seats,
                v.available_from,
                v.shift_end,
                -1 if v.max_route_duration is None else v.max_route_duration,
            )
            for v in self.vehicles
        ]
        self.k_vpar = np.array(self.vpar, dtype=np.int64).reshape(len(self.vpar), 6)
        self._cols = np.arange(2 * n + 2)
        self.destroy = [self._irandom, self._ishaw, self._iworst, self._iroute]

    # ---- conversions ---------------------------------------------------------------

    # ---- conversions ---------------------------------------------------------------

    def to_nodes(self, sol: Sequence[Sequence[Stop]]) -> list[list[int]]:
        n = self.n
        return [
            [self.index[s.request_id] + (0 if s.kind is StopKind.PICKUP else n) for s in st] for st in sol
        ]

    def to_stops(self, routes: Sequence[Sequence[int]]) -> tuple[tuple[Stop, ...], ...]:
        n, order = self.n, self.order
        out = []
        for r in routes:
            stops = []
            for x in r:
                if x < n:
                    stops.append(Stop(order[x], StopKind.PICKUP, int(self.a_pu[x])))
                else:
                    stops.append(Stop(order[x - n], StopKind.DROPOFF, int(self.a_do[x - n])))
            out.append(tuple(stops))
        return tuple(out)

    def _lists(self, sol: _Nodes) -> list[list[int]]:
        routes, lens = sol
        return [routes[v, : lens[v]].tolist() for v in range(len(lens))]

    # ---- costs and checks ----------------------------------------------------------

    def icost(self, vi: int, r: Sequence[int]) -> int:
        if not r:
            return 0
        dist, loc = self.dist, self.k_loc
        v = self.vehicles[vi]
        prev = v.start
        total = 0
        for x in r:
            lx = int(loc[x])
            total += dist[prev][lx]
            prev = lx
        if v.end is not None:
            total += dist[prev][v.end]
        return total

    def ifeasible_route(self, vi: int, r: Sequence[int]) -> bool:
        s, e, q, a, se, md = self.vpar[vi]
        arr = np.asarray(r, dtype=np.int64)
        ok = _darp_fast.route_feasible(arr, len(r), self.n, s, e, q, a, se, md, self.k_loc,
                                       self.k_early, self.k_late, self.k_serv, self.k_dq, self.k_ride,
                                       self.k_dur)  # fmt: skip
        return bool(ok)

    # ---- destroy -------------------------------------------------------------------

    def _irouted(self, sol: _Nodes) -> list[int]:
        """Routed requests (pickup nodes) in route order."""
        routes, lens = sol
        flat = routes[self._cols[None, :] < lens[:, None]]
        out: list[int] = flat[flat < self.n].tolist()
        return out

    def _irandom(self, sol: _Nodes, q: int) -> set[int]:
        routed = self._irouted(sol)
        return set(self.rng.choice(routed, size=min(q, len(routed)), replace=False).tolist())

    def _ishaw(self, sol: _Nodes, q: int) -> set[int]:
        routed = self._irouted(sol)
        seed_id = routed[int(self.rng.integers(len(routed)))]
        rel = self._related_row(seed_id)[np.asarray(routed)]
        ranked = [routed[i] for i in np.argsort(rel, kind="stable") if routed[i] != seed_id]
        out = {seed_id}
        while len(out) < q and ranked:
            out.add(ranked.pop(int(len(ranked) * self.rng.random() ** 6)))
        return out

    def _iworst(self, sol: _Nodes, q: int) -> set[int]:
        routes, lens = sol
        gains, routed = _darp_fast.removal_gains(routes, lens, self.n, self.k_vpar, self.k_loc, self.k_dist)
        xs = np.flatnonzero(routed)
        # Largest saving first, ties by larger index (as sorting (gain, index) pairs descending).
        ranked: list[int] = xs[np.lexsort((-xs, -gains[xs]))].tolist()
        out: set[int] = set()
        while len(out) < q and ranked:
            out.add(ranked.pop(int(len(ranked) * self.rng.random() ** 3)))
        return out

    def _iroute(self, sol: _Nodes, q: int) -> set[int]:
        routes, lens = sol
        used = np.flatnonzero(lens).tolist()
        sizes = lens[used].astype(np.float64)
        w = 1.0 / sizes
        k = int(self.rng.choice(used, p=w / w.sum()))
        r = routes[k, : lens[k]]
        out = set(r[r < self.n].tolist())
        if len(out) < q:
            out |= self._ishaw(sol, q - len(out))
        return out

    # ---- driver hooks --------------------------------------------------------------

    def _start(self, initial: Sequence[tuple[Stop, ...]]) -> tuple[_Nodes, list[int]]:
        nodes = self.to_nodes(initial)
        routes = np.zeros((len(nodes), 2 * self.n + 2), dtype=np.int64)
        lens = np.zeros(len(nodes), dtype=np.int64)
        for vi, r in enumerate(nodes):
            routes[vi, : len(r)] = r
            lens[vi] = len(r)
        sol = (routes, lens)
        routed = set(self._irouted(sol))
        return sol, [x for x in range(self.n) if x not in routed]

    def _copy(self, sol: _Nodes) -> _Nodes:
        return sol[0].copy(), sol[1].copy()

    def _any_routed(self, sol: _Nodes) -> bool:
        return bool(sol[1].any())

    def _strip(self, sol: _Nodes, removed: set[int]) -> _Nodes:
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[list(removed)] = True
        _darp_fast.strip_requests(sol[0], sol[1], mask, self.n)
        return sol

    def repair(self, sol: _Nodes, bank: list[int], k: int, noise: bool) -> list[int]:
        """Insert the bank into ``sol`` (in place, exact, compiled); returns what could not be inserted."""
        if not bank:
            return []
        routes, lens = sol
        noise_amp = 0.05 * self.mean_dist if noise else 0.0
        left = _darp_fast.repair(
            routes, lens, np.asarray(bank, dtype=np.int64), k, noise_amp, int(self.rng.integers(2**31)),
            self.n, self.k_vpar, self.k_loc, self.k_early, self.k_late, self.k_serv, self.k_dq,
            self.k_ride, self.k_dur, self.k_dist,
        )  # fmt: skip
        return [int(x) for x in left]

    def _improve(self, sol: _Nodes) -> bool:
        saved = _darp_fast.relocate_descent(
            sol[0], sol[1], self.n, self.k_vpar, self.k_loc, self.k_early, self.k_late, self.k_serv,
            self.k_dq, self.k_ride, self.k_dur, self.k_dist, self.ls_passes,
        )  # fmt: skip
        return bool(saved > 0)

    def total(self, sol: _Nodes, bank: Sequence[int]) -> int:
        cost = _darp_fast.routes_distance(sol[0], sol[1], self.k_vpar, self.k_loc, self.k_dist)
        return int(cost) + self.penalty * len(bank)

    def feasible(self, sol: _Nodes) -> bool:
        return all(self.ifeasible_route(vi, r) for vi, r in enumerate(self._lists(sol)) if r)

    def _shape(self, sol: _Nodes) -> tuple[int, ...]:
        return tuple(sol[1].tolist())

    def _result(
        self, best: _Nodes, cost: int, complete: bool, iters: int, improvements: int, best_at: float
    ) -> LnsResult:
        stops = self.to_stops(self._lists(best))
        if complete:
            # The reference check, once, on the answer.
            complete = all(
                evaluate_route(Route(v, st), self.reqs, self.tt).feasible
                for v, st in zip(self.vehicles, stops, strict=True)
                if st
            )
        return LnsResult(stops, cost, complete, iters, improvements, best_at)


def _fast_ok(vehicles: Sequence[Vehicle], requests: Sequence[Request]) -> bool:
    """Whether the compiled search applies: nobody on board, no wheelchairs, Numba installed."""
    return (
        _darp_fast.HAVE_NUMBA
        and all(not v.onboard for v in vehicles)
        and all(r.wheelchair == 0 for r in requests)
    )
