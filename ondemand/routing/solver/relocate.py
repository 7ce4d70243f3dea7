"""Relocation descent for live plans: move single requests to their cheapest place in the fleet.

A cheap, whole-fleet improvement step for re-optimisation. The insertion that accepted each
request weighed the rider's wait and ride against the vehicle's driving
(:mod:`ondemand.routing.solver.insertion`), on the plan as it was then; re-optimisation
minimises distance on the plan as it is now. Many requests then sit where removing them
saves far more distance than inserting them elsewhere costs (on the Higashiosaka stress day,
single requests whose removal saves kilometres). The descent:

1. Computes, for every request with both stops in a route (riders on board stay where
   they are), the distance its removal saves (its *gain*), in O(1) per request from the
   route's legs.
2. Takes them in order of gain, largest first (ties: route, then position), and for each
   searches its cheapest feasible insertion into the whole fleet with the route it leaves
   already without it (:func:`ondemand.routing.solver.insertion.cheapest_insertion`:
   the fleet-wide insertion search, promised windows taken as they are, added distance as
   the cost). The move is made when that insertion adds less distance than the removal
   saves. A request whose route changed since its gain was computed is re-queued with its
   new gain (that costs no search).
3. Stops after ``moves`` searches: a work budget, so the same plan, budget and ``now``
   give the same plan on any machine and under any load.

Every route it changes passes :func:`ondemand.routing.solver.schedule.evaluate_route` with the
promised requests (the route a request leaves, and the route it joins), so promises to
riders hold; each move strictly lowers the plan's distance. Routes the search leaves
untouched keep their objects, so the insertion search's profile cache stays warm across
moves and rounds.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace

import numpy as np

from ondemand.routing.solver.insertion import InsertionOptions, cheapest_insertion
from ondemand.routing.solver.model import Plan, Route, StopKind, TravelTimes
from ondemand.routing.solver.schedule import evaluate_route

__all__ = ["RelocationResult", "relocate"]

_DISTANCE = InsertionOptions(cost="distance", delay_weight=0.0, wait_weight=0.0, ride_weight=0.0)
"""Insertion cost for a move: the added distance alone (what re-optimisation minimises)."""


@dataclass(frozen=True, slots=True)
class RelocationResult:
    """What :func:`relocate` did.

    Attributes
    ----------
    plan
        The improved plan (``plan`` itself when no move was made).
    searches
        Fleet-wide insertion searches made (at most the budget).
    moves
        Requests moved (to another vehicle or another place in their own route).
    saved
        Distance saved (the plan's distance unit).
    """

    plan: Plan
    searches: int
    moves: int
    saved: int


def _gains(route: Route, tt: TravelTimes) -> list[tuple[int, int, str]]:
    """``(gain, pickup position, request id)`` of each request with both stops in ``route``.

    The gain is the distance the route saves without the request: its two detours, or
    one combined detour when its drop-off directly follows its pickup.
    """
    stops = route.stops
    if not stops:
        return []
    v = route.vehicle
    loc = [v.start, *(s.location for s in stops)]
    has_end = v.end is not None
    if has_end:
        loc.append(int(v.end))  # type: ignore[arg-type]
    locs = np.asarray(loc, dtype=np.int64)
    dist = tt.distances
    leg = np.asarray(dist[locs[:-1], locs[1:]], dtype=np.int64).tolist()  # leg[k]: node k -> k + 1
    skip1 = np.asarray(dist[locs[:-2], locs[2:]], dtype=np.int64).tolist() if len(locs) > 2 else []
    skip2 = np.asarray(dist[locs[:-3], locs[3:]], dtype=np.int64).tolist() if len(locs) > 3 else []
    last = len(locs) - 1  # index of the last node (the end, or the last stop)

    def detour(k: int) -> int:
        """Distance saved by leaving out node ``k`` (a stop: 1..n) alone."""
        if k == last:  # the last stop and no end: only the leg into it
            return int(leg[k - 1])
        return int(leg[k - 1] + leg[k] - skip1[k - 1])

    pick: dict[str, int] = {}
    out: list[tuple[int, int, str]] = []
    for k, s in enumerate(stops, start=1):
        if s.kind is StopKind.PICKUP:
            pick[s.request_id] = k
            continue
        i = pick.get(s.request_id)
        if i is None:  # a rider on board: stays with this vehicle
            continue
        if k == i + 1:  # drop-off right after pickup: one combined detour
            tail = 0 if k == last else int(leg[k] - skip2[i - 1])
            gain = int(leg[i - 1] + leg[i]) + tail
        else:
            gain = detour(i) + detour(k)
        out.append((gain, i - 1, s.request_id))
    return out


def _from(route: Route, now: int) -> Route:
    """The route with its vehicle leaving no earlier than ``now`` (the same object when it already does)."""
    v = route.vehicle
    start = max(v.available_from, min(now, v.shift_end))
    return route if start == v.available_from else Route(replace(v, available_from=start), route.stops)


def relocate(plan: Plan, tt: TravelTimes, *, now: int, moves: int) -> RelocationResult:
    """Improve ``plan`` by moving single requests to their cheapest feasible place (module docstring).

    Parameters
    ----------
    plan
        A live plan (vehicles possibly mid-route, riders on board); ``plan.unassigned`` is
        kept as it is.
    tt
        Travel times over the plan's locations (dense or answered on demand).
    now
        Current time: no vehicle is scheduled to leave before it.
    moves
        Work budget: most fleet-wide insertion searches (``0``: none).

    Returns
    -------
    RelocationResult
        The plan keeps the caller's vehicles; every changed route is feasible with the
        promised requests, and the plan's distance is lower by ``saved``.
    """
    if isinstance(moves, bool) or not isinstance(moves, int) or moves < 0:
        raise ValueError(f"moves must be a whole number >= 0, got {moves!r}")
    requests = plan.requests
    routes = [_from(r, now) for r in plan.routes]
    version = [0] * len(routes)
    heap: list[tuple[int, int, int, str, int]] = []
    for k, route in enumerate(routes):
        for gain, pos, rid in _gains(route, tt):
            if gain > 0:
                heap.append((-gain, k, pos, rid, 0))
    heapq.heapify(heap)
    searches = made = saved = 0
    moved: set[str] = set()
    while heap and searches < moves:
        neg, k, pos, rid, ver = heapq.heappop(heap)
        if rid in moved:
            continue
        if ver != version[k]:  # the route changed since: re-queue with the current gain
            for gain, p, r in _gains(routes[k], tt):
                if r == rid and gain > 0:
                    heapq.heappush(heap, (-gain, k, p, r, version[k]))
            continue
        gain = -neg
        route = routes[k]
        req = requests[rid]
        reduced = Route(route.vehicle, tuple(s for s in route.stops if s.request_id != rid))
        trial = [*routes]
        trial[k] = reduced
        searches += 1
        # The whole fleet, route objects unchanged but one: the insertion search's packed
        # fleet arrays are then updated for that route only.
        found = cheapest_insertion(Plan(tuple(trial), requests), req, tt, now=now, options=_DISTANCE)
        if found is None:
            continue
        vi, cand, _sched, added = found
        if not added < gain:
            continue
        if vi != k and not evaluate_route(reduced, requests, tt).feasible:
            continue  # leaving the request out breaks the route (travel times without triangle inequality)
        routes = trial
        routes[vi] = Route(routes[vi].vehicle, cand.stops)
        version[k] += 1
        version[vi] += 1
        moved.add(rid)
        made += 1
        saved += gain - int(added)
    if not made:
        return RelocationResult(plan, searches, 0, 0)
    out = Plan(
        tuple(Route(orig.vehicle, r.stops) for orig, r in zip(plan.routes, routes, strict=True)),
        requests,
        plan.unassigned,
    )
    return RelocationResult(out, searches, made, saved)
