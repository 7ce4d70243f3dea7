"""The dial-a-ride optimiser: OR-Tools routing plus large-neighbourhood search.

Design (measured on the Cordeau/Ropke a/b sets, see ``benchmarks/darp_bench.py``):

0. Benchmark dial-a-ride instances (:func:`solve_instance`, ``method="lns"``, the
   default): OR-Tools builds a first solution (10 % of the time), then the adaptive
   large-neighbourhood search of :mod:`ondemand.routing.solver._darp_lns` (Ropke and Pisinger
   2006: random, Shaw, worst and route removal; greedy and regret-2/3 re-insertion;
   simulated annealing, back to the best after 1,000 iterations without a new best, a
   relocate descent on each new best) runs until the last 25 % of the time, when OR-Tools' guided local
   search polishes the LNS's best (kept only if better). The LNS runs on the compiled
   kernels of :mod:`ondemand.routing.solver._darp_fast` (Numba): every re-insertion is the
   cheapest *exactly* feasible position, screened in constant time per position from
   per-route schedules (after Gschwind and Drexl 2019) and checked exactly in cost order;
   thousands of iterations per 10 s where the NumPy version did hundreds and the OR-Tools
   loop below a handful. Loading the kernels takes about a second (compiling them, the
   first time on a machine, much longer, counted in that run's time limit), so below
   ``_FAST_MIN_SECONDS`` they are used only once loaded. ``method="ortools"`` uses items
   1-3; live plans use item 6 (the NumPy LNS: riders on board and wheelchairs).

1. The model (:mod:`ondemand.routing.solver._darp_model`) has one OR-Tools node per stop, a
   time dimension whose cumul is the start of service, capacity dimensions, pickup and
   delivery pairs, and the maximum ride time as a *node precedence* of the time
   dimension, which OR-Tools' local-search filters take into account (a plain
   ``solver.Add`` on the cumuls is only checked after the fact and makes the search
   blind). Windows are tightened with the ride-time limit (Cordeau 2006) by the
   instance reader, which is what lets OR-Tools' first-solution heuristics succeed.
2. Every request is in a disjunction with a penalty far above any route cost, so the
   search may start from (and pass through) partial solutions; a result that leaves
   out a mandatory request is never accepted.
3. Guided local search from a first solution (or from the warm start), then an outer
   large-neighbourhood loop: remove related requests (Shaw), a random set, or a whole
   short route; let OR-Tools re-insert them and descend to a local optimum; accept by
   record-to-record travel. The best solution is kept.
4. Every result is verified by the independent checker (:mod:`ondemand.routing.solver.check`);
   the optimiser never returns something the checker rejects.
5. Instances without a ride-time limit (Li & Lim) go to PyVRP when it is installed
   (:mod:`ondemand.routing.solver._darp_pyvrp`; measured far stronger there), wrapped in a
   fleet-reduction loop (vehicles first, then distance), with OR-Tools as the fallback.
   Dial-a-ride instances and live plans never use PyVRP (it has no ride-time limit).
6. Live plans (:func:`reoptimise`) start from the current plan: the same LNS, then
   OR-Tools guided local search from its best (items 1-3 when requests are waiting to
   be inserted, or with ``method="ortools"``); the result must pass the checker and may
   not cost more than the plan it was given.

Public API: :func:`solve_instance` (benchmark files) and :func:`reoptimise` (live plans).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ondemand.routing.solver import _darp_fast, _darp_lns, _darp_pyvrp
from ondemand.routing.solver._darp_model import DarpModel
from ondemand.routing.solver.budget import check_budget
from ondemand.routing.solver.check import check_plan, check_solution
from ondemand.routing.solver.compact import compact_plan, is_dense
from ondemand.routing.solver.instances import DarpInstance, InstanceCore
from ondemand.routing.solver.model import Plan, Request, Route, Stop, StopKind, TravelTimes, Vehicle
from ondemand.routing.solver.relocate import relocate

__all__ = ["InstanceSolution", "SearchStats", "reoptimise", "solve_instance"]

_LNS_FIRST_SHARE = 0.1
"""Share of the time limit for OR-Tools' first solution before the LNS takes over."""

_LNS_POLISH_SHARE = 0.25
"""Share of the time limit for a final OR-Tools guided local search from the LNS's best."""

_FAST_MIN_SECONDS = 10.0
"""Below this time limit the compiled LNS is used only if its kernels are already loaded
(loading them from Numba's cache takes about a second, compiling them far longer)."""

_MUST = 10**10
"""Penalty for leaving out a request that must be served (above any route cost)."""

_DESCENT_SOLUTIONS = 10
"""Under an iteration budget: most solutions of each OR-Tools descent (the first one included)."""

_ORTOOLS_ITERATION_SHARE = 20
"""Under an iteration budget, the OR-Tools loop does one step per this many LNS iterations."""


@dataclass(frozen=True, slots=True)
class SearchStats:
    """What the search did: iterations of the outer loop, improvements, time to best."""

    iterations: int
    improvements: int
    seconds_to_best: float
    first_solution_seconds: float


@dataclass(frozen=True, slots=True)
class InstanceSolution:
    """A solution of a benchmark instance in the instance's own units and numbering.

    Attributes
    ----------
    instance
        Instance name.
    routes
        Per used vehicle: ``(vehicle index, ((node id, service start), ...))`` from the
        start depot to the end depot.
    cost
        Total unrounded Euclidean distance.
    vehicles
        Number of routes used.
    feasible
        True when the checker accepts the solution and every request is served.
    violations
        The checker's findings (empty when feasible).
    solve_seconds
        Wall-clock time of the solve.
    stats
        Search statistics.
    """

    instance: str
    routes: tuple[tuple[int, tuple[tuple[int, float], ...]], ...]
    cost: float
    vehicles: int
    feasible: bool
    violations: tuple[str, ...]
    solve_seconds: float
    stats: SearchStats

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``ondemand darp solve`` (see ``DESIGN.md``)."""
        return {
            "instance": self.instance,
            "cost": self.cost,
            "solve_seconds": round(self.solve_seconds, 3),
            "routes": [
                {"vehicle": v, "stops": [{"node": n, "time": t} for n, t in stops]}
                for v, stops in self.routes
            ],
        }


# ------------------------------------------------------------------------------------
# Search


def _params(
    time_limit: float | None, *, first: bool, gls: bool, solutions: int | None = None
) -> Any:  # RoutingSearchParameters (protobuf, untyped)
    """Search parameters with a wall-clock limit, or (``time_limit=None``) a solution limit.

    OR-Tools' routing search is single-threaded and, without a time limit, does the same
    work for the same model on any machine: a solution limit is a deterministic budget.
    """
    p = pywrapcp.DefaultRoutingSearchParameters()
    if first:
        p.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    p.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        if gls
        else routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    )
    if time_limit is not None:
        p.time_limit.FromMilliseconds(max(1, int(time_limit * 1000)))
    if solutions is not None:
        p.solution_limit = max(1, solutions)
    return p


class _Search:
    """Guided local search, then ruin-and-recreate around OR-Tools local search."""

    def __init__(
        self, model: DarpModel, *, seed: int, mandatory: frozenset[str], iteration_limit: float = 1.5
    ) -> None:
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.mandatory = mandatory
        self.iteration_limit = iteration_limit
        self.sub_limit = 0.3
        """Seconds of guided local search per sub-problem (scaled up by its size)."""
        self.ruin_share = 0.3
        """Share of decomposition iterations that are whole-model ruin-and-recreate steps."""
        reqs = model.requests
        self.req_index = {r.id: i for i, r in enumerate(reqs)}
        # Shaw relatedness: distance of pickups + drop-offs, and time-window distance.
        if reqs:
            dur = np.asarray(model._dur, dtype=np.float64)
            p = np.array([r.pickup for r in reqs])
            d = np.array([r.dropoff for r in reqs])
            tp = np.array([r.earliest_pickup for r in reqs], dtype=np.float64)
            td = np.array([r.latest_dropoff for r in reqs], dtype=np.float64)
            space = dur[np.ix_(p, p)] + dur[np.ix_(d, d)]
            tim = np.abs(tp[:, None] - tp[None, :]) + np.abs(td[:, None] - td[None, :])
            self.related: NDArray[np.float64] = space / max(1.0, float(space.mean())) + tim / max(
                1.0, float(tim.mean())
            )
        else:
            self.related = np.zeros((0, 0))

    def _complete(self, routes: Sequence[Sequence[int]]) -> bool:
        served = self.model.request_positions(routes)
        return all(rid in served for rid in self.mandatory)

    def _solve_from(
        self, routes: Sequence[Sequence[int]], limit: float | None, *, gls: bool, solutions: int | None = None
    ) -> tuple[list[list[int]], list[list[int]], int] | None:
        """Local search from ``routes`` for ``limit`` seconds or (``limit=None``) ``solutions`` solutions."""
        self.model.close(_params(limit, first=True, gls=True, solutions=solutions))
        a = self.model.assignment(routes)
        if a is None:
            return None
        sol = self.model.routing.SolveFromAssignmentWithParameters(
            a, _params(limit, first=False, gls=gls, solutions=solutions)
        )
        if sol is None:
            return None
        r, t = self.model.read(sol)
        return r, t, int(sol.ObjectiveValue())

    def first(
        self, limit: float | None, *, gls: bool = True, solutions: int | None = None
    ) -> tuple[list[list[int]], list[list[int]], int] | None:
        params = _params(limit, first=True, gls=gls, solutions=solutions)
        self.model.close(params)
        sol = self.model.routing.SolveWithParameters(params)
        if sol is None:
            return None
        r, t = self.model.read(sol)
        return r, t, int(sol.ObjectiveValue())

    def ruin(self, routes: list[list[int]]) -> list[list[int]]:
        model = self.model
        pos = model.request_positions(routes)
        routed = [rid for rid in pos if rid in model.pair_nodes]
        if not routed:
            return routes
        n = len(routed)
        lo = min(n, max(2, n // 10))
        hi = min(n, max(lo, min(30, (2 * n) // 5)))
        q = int(self.rng.integers(lo, hi + 1))
        u = self.rng.random()
        remove: set[str]
        used = [
            vi for vi, r in enumerate(routes) if any(model.nodes[x].request in model.pair_nodes for x in r)
        ]
        if u < 0.15 and len(used) > 1:
            # Remove a whole short route (helps to save vehicles).
            sizes = np.array([len(routes[vi]) for vi in used], dtype=np.float64)
            w = 1.0 / sizes**2
            vi = int(self.rng.choice(used, p=w / w.sum()))
            remove = {
                model.nodes[x].request or "" for x in routes[vi] if model.nodes[x].request in model.pair_nodes
            }
        elif u < 0.35:
            remove = set(self.rng.choice(routed, size=q, replace=False).tolist())
        else:
            seed_id = routed[int(self.rng.integers(n))]
            idx = np.array([self.req_index[r] for r in routed])
            rel = self.related[self.req_index[seed_id], idx]
            order = np.argsort(rel)
            # Ropke-Pisinger randomised choice: favour the most related.
            remove = {seed_id}
            ranked = [routed[i] for i in order if routed[i] != seed_id]
            while len(remove) < q and ranked:
                j = int(len(ranked) * self.rng.random() ** 6)
                remove.add(ranked.pop(j))
        return [[x for x in r if model.nodes[x].request not in remove] for r in routes]

    def run(
        self,
        initial: list[list[int]] | None,
        deadline: float | None,
        *,
        gls_fraction: float = 0.3,
        decompose: bool = False,
        iterations: int | None = None,
    ) -> tuple[list[list[int]], list[list[int]] | None, int, SearchStats] | None:
        """Search until ``deadline``; best complete solution (routes, times or None, objective).

        With ``deadline=None`` the budget is ``iterations`` instead (deterministic): a
        descent instead of the guided local search (whose work per solution varies too
        much to be a budget: 50 solutions took up to a minute on a 124-request plan),
        then ``iterations`` ruin-and-recreate steps; each descent stops after
        :data:`_DESCENT_SOLUTIONS` solutions.
        """
        t0 = _time.monotonic()
        if deadline is None:
            if iterations is None:
                raise ValueError("give the search a deadline or an iteration budget")
            total = 1.0
            first_limit: float | None = None
            first_solutions: int | None = _DESCENT_SOLUTIONS
        else:
            total = max(0.01, deadline - t0)
            first_limit = max(0.05, total * gls_fraction)
            first_solutions = None
        gls = deadline is not None
        res = None
        if initial is not None:
            res = self._solve_from(initial, first_limit, gls=gls, solutions=first_solutions)
        if res is None:
            res = self.first(first_limit, gls=gls, solutions=first_solutions)
        first_seconds = _time.monotonic() - t0
        if res is None:
            return None
        if decompose and self._complete(res[0]):
            if deadline is None:
                raise ValueError("the decomposition search needs a deadline")
            return self._decompose(res, t0, deadline, first_seconds)
        best = cur = res
        best_ok = self._complete(best[0])
        best_at = _time.monotonic() - t0
        iters = improvements = 0
        while True:
            if deadline is None:
                assert iterations is not None
                if iters >= iterations:
                    break
                frac = iters / iterations
                step_limit: float | None = None
            else:
                now = _time.monotonic()
                left = deadline - now
                if left < 0.05:
                    break
                frac = (now - t0) / total
                step_limit = min(left, self.iteration_limit)
            iters += 1
            ruined = self.ruin([list(r) for r in cur[0]])
            cand = self._solve_from(
                ruined, step_limit, gls=False, solutions=None if deadline is not None else _DESCENT_SOLUTIONS
            )
            if cand is None:
                continue
            thr = 0.01 * max(0.0, 1.0 - frac)
            ok = self._complete(cand[0])
            if ok and (not best_ok or cand[2] < best[2]):
                best, best_ok, best_at = cand, True, _time.monotonic() - t0
                improvements += 1
            if cand[2] < cur[2] or (ok and cand[2] <= best[2] * (1.0 + thr)):
                cur = cand
            elif self.rng.random() < 0.01:
                cur = best
        stats = SearchStats(iters, improvements, best_at, first_seconds)
        return best[0], best[1], best[2], stats

    # ---- decomposition: re-optimise a few neighbouring routes at a time -----------

    def _stops(self, route: Sequence[int]) -> list[tuple[str, StopKind]]:
        out = []
        for x in route:
            info = self.model.nodes[x]
            assert info.request is not None
            assert info.kind is not None
            out.append((info.request, info.kind))
        return out

    @staticmethod
    def _to_nodes(model: DarpModel, stops: Sequence[tuple[str, StopKind]]) -> list[int]:
        out = []
        for rid, kind in stops:
            if kind is StopKind.PICKUP:
                out.append(model.pair_nodes[rid][0])
            elif rid in model.pair_nodes:
                out.append(model.pair_nodes[rid][1])
            else:
                out.append(model.onboard_node[rid])
        return out

    def _pick_routes(self, routes: list[list[int]]) -> list[int]:
        used = [vi for vi, r in enumerate(routes) if r]
        if len(used) <= 2:
            return used
        size = 2 if self.rng.random() < 0.6 else 3
        seed_v = int(self.rng.choice(used))
        reqs = {vi: [self.req_index[rid] for rid, k in self._stops(routes[vi]) if k is StopKind.PICKUP
                     and rid in self.req_index] for vi in used}  # fmt: skip
        scores = []
        for vi in used:
            if vi == seed_v or not reqs[vi] or not reqs[seed_v]:
                continue
            rel = self.related[np.ix_(reqs[seed_v], reqs[vi])]
            scores.append((float(rel.min(axis=1).mean()) * (0.7 + 0.6 * self.rng.random()), vi))
        scores.sort()
        chosen = [seed_v] + [vi for _, vi in scores[: size - 1]]
        if self.rng.random() < 0.2:
            # Occasionally add an empty vehicle (or a random route) to widen the choice.
            spare = [vi for vi in range(len(routes)) if vi not in chosen]
            if spare:
                chosen.append(int(self.rng.choice(spare)))
        return chosen

    def _decompose(
        self,
        res: tuple[list[list[int]], list[list[int]], int],
        t0: float,
        deadline: float,
        first_seconds: float,
    ) -> tuple[list[list[int]], list[list[int]] | None, int, SearchStats]:
        model = self.model
        routes = [list(r) for r in res[0]]
        times: list[list[int]] | None = res[1]
        obj = res[2]
        best_at = _time.monotonic() - t0
        iters = improvements = 0
        req_by_id = {r.id: r for r in model.requests}
        while True:
            left = deadline - _time.monotonic()
            if left < 0.1:
                break
            iters += 1
            if self.rng.random() < self.ruin_share:
                # A ruin-and-recreate step on the whole model, for moves across many routes.
                cand = self._solve_from(
                    self.ruin([list(r) for r in routes]), min(left, self.iteration_limit), gls=True
                )
                if cand is not None and self._complete(cand[0]) and cand[2] < obj:
                    routes, times, obj = cand[0], cand[1], cand[2]
                    improvements += 1
                    best_at = _time.monotonic() - t0
                continue
            chosen = self._pick_routes(routes)
            if len(chosen) < 2:
                break
            stops = [self._stops(routes[vi]) for vi in chosen]
            sub_reqs = [req_by_id[rid] for st in stops for rid, k in st if k is StopKind.PICKUP]
            if not sub_reqs:
                continue
            sub = DarpModel(
                [model.vehicles[vi] for vi in chosen],
                sub_reqs,
                _Tt(model._dur, model._dist),
                penalties={r.id: _MUST for r in sub_reqs},
                vehicle_fixed_cost=model.vehicle_fixed_cost,
            )
            sub_init = [self._to_nodes(sub, st) for st in stops]
            before = sub.routes_cost(sub_init)
            sub_search = _Search(sub, seed=int(self.rng.integers(1 << 30)), mandatory=frozenset(req_by_id))
            sub_search.mandatory = frozenset(r.id for r in sub_reqs)
            limit = min(left, self.sub_limit * (1.0 + 0.01 * len(sub_reqs)))
            out = sub_search._solve_from(sub_init, limit, gls=True)
            if out is None or not sub_search._complete(out[0]) or out[2] >= before:
                continue
            for vi, r in zip(chosen, out[0], strict=True):
                routes[vi] = self._to_nodes(model, sub_search._stops(r))
            obj = model.routes_cost(routes)
            times = None
            improvements += 1
            best_at = _time.monotonic() - t0
        return routes, times, obj, SearchStats(iters, improvements, best_at, first_seconds)


@dataclass(frozen=True, slots=True)
class _Tt:
    """Travel times from the full model's matrices (no copy)."""

    durations: NDArray[np.int64]
    distances: NDArray[np.int64]


# ------------------------------------------------------------------------------------
# Benchmark instances


def solve_instance(
    inst: DarpInstance,
    *,
    time_limit: float,
    seed: int = 0,
    scale: int | None = None,
    decompose: bool = False,
    pdptw_backend: str = "pyvrp",
    method: str = "lns",
) -> InstanceSolution:
    """Solve a benchmark instance (Cordeau a/b, pr, or Li & Lim).

    Parameters
    ----------
    inst
        The instance, from :func:`ondemand.routing.solver.instances.read_instance`.
    time_limit
        Wall-clock budget in seconds (model building included).
    seed
        Seed of the outer loop's random choices.
    scale
        Integer units per instance time unit (default: the reader's default).
    decompose
        Experimental: after the guided local search, re-solve 2-3 neighbouring routes at a
        time (mixed with whole-model ruin-and-recreate) instead of the plain
        ruin-and-recreate loop. Measured worse at 10 s; kept for longer runs.
    pdptw_backend
        For instances without a ride-time limit (Li & Lim): ``"pyvrp"`` (default; used
        when PyVRP >= 0.14 is installed, else OR-Tools) or ``"ortools"``.
    method
        For dial-a-ride instances (with a ride-time limit): ``"lns"`` (default; an OR-Tools
        first solution, then the adaptive large-neighbourhood search of
        :mod:`ondemand.routing.solver._darp_lns`) or ``"ortools"`` (guided local search and an
        OR-Tools ruin-and-recreate loop, the previous default).

    Returns
    -------
    InstanceSolution
        Checked by :func:`ondemand.routing.solver.check.check_solution`; ``feasible`` is False
        (with the reasons) only when no complete feasible solution was found in time.
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if method not in ("lns", "ortools"):
        raise ValueError(f"method must be 'lns' or 'ortools', got {method!r}")
    t0 = _time.monotonic()
    core = inst.to_core() if scale is None else inst.to_core(scale)
    if inst.max_ride is None and pdptw_backend == "pyvrp" and _darp_pyvrp.available():
        # Pickup and delivery without ride-time limits (Li & Lim): PyVRP is much stronger
        # there; its result is checked like ours, and OR-Tools takes over if it fails.
        pv = _darp_pyvrp.solve_pdptw(inst, time_limit=0.97 * time_limit, seed=seed, scale=core.scale)
        if pv is not None:
            pv_res = check_solution(inst, [s for _, s in pv])
            if pv_res.feasible:
                elapsed = _time.monotonic() - t0
                stats = SearchStats(0, 0, elapsed, elapsed)
                return InstanceSolution(
                    inst.name, tuple(pv), pv_res.cost, pv_res.vehicles_used, True, (), elapsed, stats
                )
        # Give OR-Tools what is left, but at least 15 % of the budget.
        used = _time.monotonic() - t0
        time_limit = used + max(0.15 * time_limit, time_limit - used)
    fixed = 0
    if inst.format == "lilim":
        # Lexicographic: vehicles first, then distance (a vehicle costs more than any route set).
        fixed = int(core.tt.distances.max()) * (2 * len(core.requests) + 2)
    model = DarpModel(
        core.vehicles,
        core.requests,
        core.tt,
        penalties={r.id: _MUST for r in core.requests},
        vehicle_fixed_cost=fixed,
    )
    search = _Search(model, seed=seed, mandatory=frozenset(r.id for r in core.requests))
    if method == "lns" and inst.max_ride is not None and not decompose:
        lns_sol = _solve_lns(inst, core, model, search, t0, time_limit, seed)
        if lns_sol is not None:
            return lns_sol
    # The route-subset decomposition (``decompose=True``) was measured worse at 10 s on the
    # a/b sets (mean gap 2.35 % without it, about 4 % with it), so it is off by default.
    out = search.run(None, t0 + time_limit, gls_fraction=0.3, decompose=decompose)
    elapsed = _time.monotonic() - t0
    if out is None:
        stats0 = SearchStats(0, 0, 0.0, elapsed)
        return InstanceSolution(inst.name, (), math.nan, 0, False, ("no solution found",), elapsed, stats0)
    routes, times, _obj, stats = out
    res = None
    if times is not None:
        sol_routes = _instance_routes(inst, model, routes, times, core.scale)
        res = check_solution(inst, [s for _, s in sol_routes])
    if res is None or not res.feasible:
        # Recompute the times from the sequences with the exact temporal-network schedule.
        sol_routes = _reschedule(inst, model, routes, core.scale)
        res = check_solution(inst, [s for _, s in sol_routes])
    elapsed = _time.monotonic() - t0
    return InstanceSolution(
        inst.name,
        tuple(sol_routes),
        res.cost,
        res.vehicles_used,
        res.feasible,
        res.violations,
        elapsed,
        stats,
    )


def _solve_lns(
    inst: DarpInstance,
    core: InstanceCore,
    model: DarpModel,
    search: _Search,
    t0: float,
    time_limit: float,
    seed: int,
) -> InstanceSolution | None:
    """OR-Tools first solution (short guided local search), then the LNS; ``None`` if it fails."""
    fast = _darp_fast.is_warm()
    if not fast and _darp_fast.HAVE_NUMBA and time_limit >= _FAST_MIN_SECONDS:
        _darp_fast.warm_up()  # counted in the time limit
        fast = True
    first = search.first(max(0.05, _LNS_FIRST_SHARE * time_limit))
    first_seconds = _time.monotonic() - t0
    empty: tuple[tuple[Stop, ...], ...] = tuple(() for _ in model.vehicles)
    init = empty if first is None else tuple(r.stops for r in _plan_from_nodes(model, first[0], {}).routes)
    # Leave a little time to schedule and check the answer.
    end = t0 + time_limit - min(0.5, 0.03 * time_limit)
    deadline = end - _LNS_POLISH_SHARE * time_limit
    out = _darp_lns.lns(
        model.vehicles, model.requests, core.tt, init, deadline=deadline, seed=seed, fast=fast
    )
    if not out.complete:
        return None
    plan = Plan(tuple(Route(v, st) for v, st in zip(model.vehicles, out.stops, strict=True)), {})
    routes = _nodes_from_plan(model, plan)
    if routes is None:  # pragma: no cover - every stop comes from the model's requests
        return None
    candidates = [routes]
    left = end - _time.monotonic()
    if _LNS_POLISH_SHARE > 0 and left > 0.05:
        # Polish: OR-Tools guided local search from the LNS's best (kept only if better).
        polished = search._solve_from(routes, left, gls=True)
        if (
            polished is not None
            and search._complete(polished[0])
            and model.routes_cost(polished[0]) < model.routes_cost(routes)
        ):
            candidates.insert(0, polished[0])
    for cand in candidates:
        sol_routes = _reschedule(inst, model, cand, core.scale)
        res = check_solution(inst, [s for _, s in sol_routes])
        if res.feasible:
            elapsed = _time.monotonic() - t0
            stats = SearchStats(
                out.iterations, out.improvements, first_seconds + out.seconds_to_best, first_seconds
            )
            return InstanceSolution(
                inst.name, tuple(sol_routes), res.cost, res.vehicles_used, True, (), elapsed, stats
            )
    return None


def _instance_routes(
    inst: DarpInstance, model: DarpModel, routes: list[list[int]], times: list[list[int]], scale: int
) -> list[tuple[int, tuple[tuple[int, float], ...]]]:
    out = []
    ids = inst.node_ids
    for vi, (r, t) in enumerate(zip(routes, times, strict=True)):
        if not r:
            continue
        nodes = [inst.start_depot, *(model.nodes[x].location for x in r), inst.end_depot]
        out.append((vi, tuple((ids[n], tt / scale) for n, tt in zip(nodes, t, strict=True))))
    return out


def _reschedule(
    inst: DarpInstance, model: DarpModel, routes: list[list[int]], scale: int
) -> list[tuple[int, tuple[tuple[int, float], ...]]]:
    plan = _plan_from_nodes(model, routes, {})
    res = check_plan(plan, inst.to_core(scale).tt)
    out = []
    ids = inst.node_ids
    for vi, r in enumerate(routes):
        if not r:
            continue
        veh = model.vehicles[vi]
        sched = res.schedules.get(veh.id)
        if sched is None:
            continue
        first = model.nodes[r[0]]
        start_t = sched[0] - int(model._dur[veh.start, first.location])
        last = model.nodes[r[-1]]
        end_t = sched[-1] + last.service + int(model._dur[last.location, inst.end_depot])
        times = [start_t, *sched, end_t]
        nodes = [inst.start_depot, *(model.nodes[x].location for x in r), inst.end_depot]
        out.append((vi, tuple((ids[n], t / scale) for n, t in zip(nodes, times, strict=True))))
    return out


# ------------------------------------------------------------------------------------
# Live plans


def _plan_from_nodes(model: DarpModel, routes: Sequence[Sequence[int]], extra: Mapping[str, Request]) -> Plan:
    req_by_id: dict[str, Request] = {r.id: r for r in model.requests}
    for v in model.vehicles:
        for rider in v.onboard:
            req_by_id[rider.request.id] = rider.request
    req_by_id.update(extra)
    out_routes = []
    served: set[str] = set()
    for vi, r in enumerate(routes):
        stops = []
        for x in r:
            info = model.nodes[x]
            assert info.request is not None
            assert info.kind is not None
            stops.append(Stop(info.request, info.kind, info.location))
            served.add(info.request)
        out_routes.append(Route(model.vehicles[vi], tuple(stops)))
    unassigned = tuple(r.id for r in model.requests if r.id not in served)
    return Plan(tuple(out_routes), req_by_id, unassigned)


def _nodes_from_plan(model: DarpModel, plan: Plan) -> list[list[int]] | None:
    out: list[list[int]] = []
    for route in plan.routes:
        nodes = []
        for s in route.stops:
            if s.kind is StopKind.PICKUP:
                if s.request_id not in model.pair_nodes:
                    return None
                nodes.append(model.pair_nodes[s.request_id][0])
            elif s.request_id in model.onboard_node:
                nodes.append(model.onboard_node[s.request_id])
            elif s.request_id in model.pair_nodes:
                nodes.append(model.pair_nodes[s.request_id][1])
            else:
                return None
        out.append(nodes)
    return out


def reoptimise(
    plan: Plan,
    tt: TravelTimes,
    *,
    now: int,
    time_limit: float | None = None,
    iterations: int | None = None,
    seed: int = 0,
    refusal_penalty: int | None = None,
    method: str = "lns",
    neighbourhood: int | None = None,
    moves: int = 0,
) -> Plan:
    """Re-optimise a live plan, warm-starting from it.

    Parameters
    ----------
    plan
        Current plan: vehicles (possibly mid-route, with riders on board) and their
        uncommitted stops; ``plan.unassigned`` requests may be added.
    tt
        Travel times over the plan's locations.
    now
        Current time (vehicles are never scheduled to leave before
        ``max(now, available_from)``).
    time_limit
        Wall-clock budget in seconds (the live API). The result depends on how much
        the machine gets done in that time.
    iterations
        Work budget instead of a time limit (the simulator): LNS iterations, without
        the OR-Tools polish (with ``plan.unassigned`` requests or ``method="ortools"``:
        an OR-Tools descent, then one ruin-and-recreate step per 20 iterations, at least
        one, each descent to a solution limit). Nothing then depends
        on the clock: the same plan, budget and seed give the same result on any
        machine and under any load. Give exactly one of ``time_limit`` and
        ``iterations``.
    seed
        Seed of the random choices.
    refusal_penalty
        Cost of leaving an unassigned request out (distance units); default: ten
        times the largest distance in ``tt`` (for travel times answered on demand: between
        the plan's locations, on whose dense block the search then runs).
    method
        ``"lns"`` (default): the adaptive large-neighbourhood search of
        :mod:`ondemand.routing.solver._darp_lns` from the current plan, then OR-Tools guided
        local search from its best for the last quarter of the time (not under
        ``iterations``), as for benchmark
        instances. Used when every request is already routed (the live case); with
        ``plan.unassigned`` requests the OR-Tools search runs instead (and with the time
        left if the LNS finds no complete plan). ``"ortools"``: always the OR-Tools search (guided local
        search, then ruin and recreate).
    neighbourhood
        Re-plan at most this many routes with the search (``None``: all): a route with
        stops drawn from ``seed`` and ``now`` and the routes nearest to it.
    moves
        First a relocation descent over the whole plan, to this work budget
        (:func:`ondemand.routing.solver.relocate.relocate`: single requests moved to their
        cheapest feasible place in the fleet, at most ``moves`` fleet-wide insertion
        searches; ``0``: none, and never with ``plan.unassigned`` requests); the search
        then starts from its result.

    Returns
    -------
    Plan
        A plan that serves every routed request of ``plan`` (on-board riders by their
        own vehicle), never costs more (distance + refusal penalties) than ``plan``,
        and passes :func:`ondemand.routing.solver.check.check_plan`. When ``plan`` itself is
        infeasible and nothing feasible is found, ``plan`` is returned unchanged.
    """
    t0 = _time.monotonic()
    check_budget(time_limit, iterations)
    if method not in ("lns", "ortools"):
        raise ValueError(f"method must be 'lns' or 'ortools', got {method!r}")
    if isinstance(moves, bool) or not isinstance(moves, int) or moves < 0:
        raise ValueError(f"moves must be a whole number >= 0, got {moves!r}")
    if moves and not plan.unassigned:
        moved = relocate(plan, tt, now=now, moves=moves).plan
        if moved is not plan:
            if time_limit is not None:
                time_limit = max(1e-3, time_limit - (_time.monotonic() - t0))
            again = reoptimise(
                moved,
                tt,
                now=now,
                time_limit=time_limit,
                iterations=iterations,
                seed=seed,
                refusal_penalty=refusal_penalty,
                method=method,
                neighbourhood=neighbourhood,
            )
            return again
    if neighbourhood is not None:
        if isinstance(neighbourhood, bool) or neighbourhood < 1:
            raise ValueError(f"neighbourhood must be a whole number of vehicles >= 1, got {neighbourhood}")
        chosen = _neighbourhood(plan, tt, neighbourhood, seed=seed, now=now)
        if chosen is not None:
            sub = _sub_plan(plan, chosen)
            solved = reoptimise(
                sub,
                tt,
                now=now,
                time_limit=time_limit,
                iterations=iterations,
                seed=seed,
                refusal_penalty=refusal_penalty,
                method=method,
            )
            if solved is sub:
                return plan
            new = dict(zip(chosen, solved.routes, strict=True))
            return Plan(
                tuple(new.get(k, r) for k, r in enumerate(plan.routes)), plan.requests, plan.unassigned
            )
    if not is_dense(tt):  # travel times on demand: solve on the dense block of the plan's locations
        small = compact_plan(plan, tt)
        left = None if time_limit is None else max(1e-3, time_limit - (_time.monotonic() - t0))
        solved = reoptimise(
            small.plan,
            small.tt,
            now=now,
            time_limit=left,
            iterations=iterations,
            seed=seed,
            refusal_penalty=refusal_penalty,
            method=method,
        )
        return small.restore(solved)
    base = check_plan(plan, tt)
    # Internally no vehicle may leave before `now`; the returned plan keeps the
    # caller's vehicles (a looser constraint), so it passes the checker as well.
    vehicles = [_not_before(r.vehicle, now) for r in plan.routes]
    routed: list[Request] = []
    seen: set[str] = set()
    onboard = {r.request.id for v in vehicles for r in v.onboard}
    for route in plan.routes:
        for s in route.stops:
            if s.request_id in seen or s.request_id in onboard:
                continue
            seen.add(s.request_id)
            if s.request_id not in plan.requests:
                return plan
            routed.append(plan.requests[s.request_id])
    extra = [plan.requests[rid] for rid in plan.unassigned if rid in plan.requests and rid not in seen]
    if not extra and not routed:
        return plan
    dist = np.asarray(tt.distances)
    penalty = int(refusal_penalty) if refusal_penalty is not None else 10 * max(1, int(dist.max(initial=1)))
    penalties = {r.id: _MUST for r in routed} | {r.id: penalty for r in extra}
    model = DarpModel(vehicles, [*routed, *extra], tt, penalties=penalties)
    initial = _nodes_from_plan(model, plan)
    base_cost = model.routes_cost(initial) if initial is not None and base.feasible else None
    search = _Search(model, seed=seed, mandatory=frozenset(r.id for r in routed), iteration_limit=0.5)
    routes = None
    if method == "lns" and not extra and routed:
        if time_limit is not None:
            # Leave a little time to map, check and compare the answer.
            end = t0 + time_limit - min(0.5, 0.05 * time_limit)
            routes = _reoptimise_lns(model, search, vehicles, plan, tt, seed, deadline=end)
        else:
            routes = _reoptimise_lns(model, search, vehicles, plan, tt, seed, iterations=iterations)
    if routes is None:
        if time_limit is not None:
            out = search.run(initial, t0 + time_limit, gls_fraction=0.6)
        else:
            assert iterations is not None
            steps = max(1, iterations // _ORTOOLS_ITERATION_SHARE)
            out = search.run(initial, None, iterations=steps)
        if out is None:
            return plan
        routes = out[0]
    if not search._complete(routes):
        return plan
    cand = _plan_from_nodes(model, routes, {})
    cand = Plan(
        tuple(Route(orig.vehicle, r.stops) for orig, r in zip(plan.routes, cand.routes, strict=True)),
        {**plan.requests, **dict(cand.requests)},
        tuple(rid for rid in plan.unassigned if rid in cand.unassigned),
    )
    if not check_plan(cand, tt).feasible or not check_plan(_with_vehicles(cand, vehicles), tt).feasible:
        return plan
    if base_cost is not None and model.routes_cost(routes) >= base_cost:
        return plan
    return cand


def _reoptimise_lns(
    model: DarpModel,
    search: _Search,
    vehicles: Sequence[Vehicle],
    plan: Plan,
    tt: TravelTimes,
    seed: int,
    *,
    deadline: float | None = None,
    iterations: int | None = None,
) -> list[list[int]] | None:
    """LNS from the plan's own stops, then OR-Tools GLS from its best; ``None`` if incomplete.

    With ``deadline`` the LNS gets the first three quarters of the time and the GLS the
    rest. With ``iterations`` the LNS does that many and there is no GLS: a solution
    limit would make it deterministic, but the work per GLS solution varies by orders of
    magnitude once the LNS has converged (20 solutions took ten times as long as 25 LNS
    iterations on the pilot-day plans), and LNS iterations bought more per second there.
    """
    t0 = _time.monotonic()
    initial = tuple(r.stops for r in plan.routes)
    if deadline is not None:
        total = max(0.01, deadline - t0)
        lns_end = t0 + (1.0 - _LNS_POLISH_SHARE) * total
        out = _darp_lns.lns(vehicles, model.requests, tt, initial, deadline=lns_end, seed=seed)
    else:
        out = _darp_lns.lns(vehicles, model.requests, tt, initial, iterations=iterations, seed=seed)
    if not out.complete:
        return None
    best = Plan(tuple(Route(v, st) for v, st in zip(vehicles, out.stops, strict=True)), {})
    routes = _nodes_from_plan(model, best)
    if routes is None:  # pragma: no cover - every stop comes from the plan's requests
        return None
    if deadline is None:
        return routes
    left = deadline - _time.monotonic()
    polished = search._solve_from(routes, left, gls=True) if left > 0.05 else None
    if (
        polished is not None
        and search._complete(polished[0])
        and model.routes_cost(polished[0]) < model.routes_cost(routes)
    ):
        return polished[0]
    return routes


def _neighbourhood(plan: Plan, tt: TravelTimes, size: int, *, seed: int, now: int) -> list[int] | None:
    """Indices of the routes to re-plan (in plan order), or ``None`` to re-plan them all.

    ``None`` when at most ``size`` routes have stops. Otherwise a route with stops is drawn
    (``numpy`` generator seeded with ``seed`` and ``now``) and joined by the ``size - 1``
    routes nearest to it: the shortest drive, either way, between a location of one
    (start or stop) and one of the other; ties go to the earlier route.
    """
    busy = [k for k, r in enumerate(plan.routes) if r.stops]
    if len(busy) <= size or plan.unassigned:
        return None
    rng = np.random.default_rng([seed, max(0, now)])
    centre = busy[int(rng.integers(len(busy)))]
    dur = tt.durations  # indexed only (dense or on demand)

    def locations(r: Route) -> NDArray[np.int64]:
        return np.array([r.vehicle.start, *(s.location for s in r.stops)], dtype=np.int64)

    mine = locations(plan.routes[centre])
    gaps = []
    for k, r in enumerate(plan.routes):
        if k == centre:
            continue
        theirs = locations(r)
        near = min(int(dur[np.ix_(mine, theirs)].min()), int(dur[np.ix_(theirs, mine)].min()))
        gaps.append((near, k))
    gaps.sort()
    return sorted([centre, *(k for _, k in gaps[: size - 1])])


def _sub_plan(plan: Plan, chosen: Sequence[int]) -> Plan:
    """The plan of the ``chosen`` routes only, with the requests they serve or carry."""
    routes = tuple(plan.routes[k] for k in chosen)
    ids = {s.request_id for r in routes for s in r.stops}
    ids.update(o.request.id for r in routes for o in r.vehicle.onboard)
    return Plan(routes, {rid: req for rid, req in plan.requests.items() if rid in ids})


def _not_before(v: Vehicle, now: int) -> Vehicle:
    start = max(v.available_from, min(now, v.shift_end))
    if start == v.available_from:
        return v
    return replace(v, available_from=start)


def _with_vehicles(plan: Plan, vehicles: Sequence[Vehicle]) -> Plan:
    return Plan(
        tuple(Route(v, r.stops) for v, r in zip(vehicles, plan.routes, strict=True)),
        plan.requests,
        plan.unassigned,
    )
