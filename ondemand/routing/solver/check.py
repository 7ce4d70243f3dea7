"""Independent feasibility and cost checker.

Two checkers, deliberately sharing no code with the scheduler, the insertion or the
optimiser (this module imports only the data model and the instance reader):

* :func:`check_solution` checks a solution of a benchmark instance in the instance's
  own float units and file numbering (the JSON contract of ``ondemand darp solve``):
  every request served exactly once, pairing and precedence, capacity, windows,
  travel times, ride times, route durations, fleet size, depots; cost = unrounded
  Euclidean length.
* :func:`check_plan` checks a core :class:`~ondemand.routing.solver.model.Plan` in integer
  units. Plans carry no times, so it decides whether a schedule *exists* by solving the
  route's simple temporal network exactly (Bellman–Ford on the difference
  constraints), or verifies the service-start times it is given.

Both return a :class:`CheckResult` listing every violation found.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ondemand.routing.solver.instances import DarpInstance
from ondemand.routing.solver.model import Plan, Request, StopKind, TravelTimes

__all__ = ["CheckResult", "check_plan", "check_solution", "check_solution_json"]

TOL = 1e-6
"""Tolerance for float comparisons in instance units."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of a check.

    Attributes
    ----------
    violations
        One message per broken constraint (empty when feasible).
    cost
        Total distance: unrounded Euclidean for instance solutions, the sum of
        ``tt.distances`` for plans.
    vehicles_used
        Number of non-empty routes.
    schedules
        For :func:`check_plan`: per vehicle id, a feasible service-start time per stop
        (the latest feasible schedule), when one exists.
    """

    violations: tuple[str, ...]
    cost: float
    vehicles_used: int
    schedules: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when no constraint is broken."""
        return not self.violations


def check_solution(
    inst: DarpInstance, routes: Sequence[Sequence[tuple[int, float]]], *, tol: float = TOL
) -> CheckResult:
    """Check a benchmark solution given as routes of ``(node id, service start)``.

    Parameters
    ----------
    inst
        The instance (its file data, windows not tightened).
    routes
        One sequence per used vehicle: ``(node id as in the file, start of service)``,
        starting at the start depot and ending at the end depot.
    tol
        Absolute tolerance of every time comparison.

    Returns
    -------
    CheckResult
    """
    v: list[str] = []
    index = {nid: k for k, nid in enumerate(inst.node_ids)}
    partner: dict[int, tuple[int, bool]] = {}
    for r, (p, d) in enumerate(inst.pairs):
        partner[p] = (r, True)
        partner[d] = (r, False)
    eu = inst.euclid()
    seen: dict[int, int] = {}
    cost = 0.0
    used = 0
    s0, s1 = inst.start_depot, inst.end_depot
    for ri, route in enumerate(routes):
        if len(route) == 0:
            continue
        used += 1
        nodes: list[int] = []
        times: list[float] = []
        for nid, t in route:
            if nid not in index:
                v.append(f"route {ri}: node {nid} is not in the instance")
                continue
            if not math.isfinite(float(t)):
                v.append(f"route {ri}: node {nid} has non-finite time {t}")
                continue
            nodes.append(index[nid])
            times.append(float(t))
        if len(nodes) < 2 or nodes[0] != s0 or nodes[-1] != s1:
            v.append(
                f"route {ri}: must start at depot {inst.node_ids[s0]} and end at depot {inst.node_ids[s1]}"
            )
            if len(nodes) < 2:
                continue
        for a, b in itertools.pairwise(nodes):
            cost += float(eu[a, b])
        load = 0
        pos: dict[int, int] = {}
        for k, node in enumerate(nodes):
            t = times[k]
            inner = 0 < k < len(nodes) - 1
            if inner and node in (s0, s1):
                v.append(f"route {ri}: depot visited in the middle of the route (stop {k})")
                continue
            if inner:
                seen[node] = seen.get(node, 0) + 1
                pos[node] = k
                load += int(inst.load[node])
                if load > inst.capacity:
                    v.append(
                        f"route {ri}: load {load} > capacity {inst.capacity} after node {inst.node_ids[node]}"
                    )
            if t < inst.earliest[node] - tol or t > inst.latest[node] + tol:
                v.append(
                    f"route {ri}: node {inst.node_ids[node]} served at {t:.6f}, outside its window "
                    f"[{inst.earliest[node]}, {inst.latest[node]}]"
                )
            if k > 0:
                prev = nodes[k - 1]
                ready = times[k - 1] + float(inst.service[prev]) + float(eu[prev, node])
                if t < ready - tol:
                    v.append(
                        f"route {ri}: node {inst.node_ids[node]} served at {t:.6f} but cannot be reached "
                        f"before {ready:.6f} from node {inst.node_ids[prev]}"
                    )
        for node, k in pos.items():
            if node not in partner:
                continue
            r, is_pick = partner[node]
            p, d = inst.pairs[r]
            if not is_pick:
                if p not in pos:
                    v.append(f"route {ri}: drop-off {inst.node_ids[d]} without its pickup {inst.node_ids[p]}")
                continue
            if d not in pos:
                v.append(f"route {ri}: pickup {inst.node_ids[p]} without its drop-off {inst.node_ids[d]}")
                continue
            if pos[d] < k:
                v.append(f"route {ri}: drop-off {inst.node_ids[d]} before pickup {inst.node_ids[p]}")
                continue
            if inst.max_ride is not None:
                ride = times[pos[d]] - (times[k] + float(inst.service[p]))
                if ride > inst.max_ride + tol:
                    v.append(
                        f"route {ri}: request {inst.node_ids[p]} rides {ride:.6f} > max ride {inst.max_ride}"
                    )
        if inst.max_route_duration is not None:
            dur = times[-1] - times[0]
            if dur > inst.max_route_duration + tol:
                v.append(f"route {ri}: duration {dur:.6f} > max {inst.max_route_duration}")
        if load != 0:
            v.append(f"route {ri}: ends with load {load}")
    if used > inst.num_vehicles:
        v.append(f"{used} routes used but only {inst.num_vehicles} vehicles exist")
    for p, d in inst.pairs:
        for node in (p, d):
            c = seen.get(node, 0)
            if c != 1:
                v.append(f"node {inst.node_ids[node]} visited {c} times (expected exactly once)")
    return CheckResult(tuple(v), cost, used)


def check_solution_json(inst: DarpInstance, data: Mapping[str, Any], *, tol: float = TOL) -> CheckResult:
    """Check a solution in the JSON contract of ``ondemand darp solve``.

    Also verifies that the reported ``cost`` matches the routes (to ``1e-6``
    relative) and that ``instance`` names this instance.
    """
    v: list[str] = []
    try:
        routes = [[(int(s["node"]), float(s["time"])) for s in r["stops"]] for r in data["routes"]]
    except (KeyError, TypeError, ValueError) as exc:
        return CheckResult((f"malformed solution JSON: {exc!r}",), math.nan, 0)
    vehicles = [r.get("vehicle") for r in data["routes"]]
    if len(set(vehicles)) != len(vehicles):
        v.append("a vehicle appears in more than one route")
    if data.get("instance") != inst.name:
        v.append(f"solution names instance {data.get('instance')!r}, expected {inst.name!r}")
    res = check_solution(inst, routes, tol=tol)
    reported = data.get("cost")
    if not isinstance(reported, int | float) or abs(float(reported) - res.cost) > 1e-6 * max(1.0, res.cost):
        v.append(f"reported cost {reported!r} differs from the routes' cost {res.cost:.6f}")
    return CheckResult((*res.violations, *v), res.cost, res.vehicles_used)


def _bellman_ford(n: int, src: list[int], dst: list[int], w: list[int]) -> np.ndarray | None:
    """Shortest distances from node 0 over edges ``src -> dst``; ``None`` on a negative cycle."""
    s = np.asarray(src, dtype=np.int64)
    d = np.asarray(dst, dtype=np.int64)
    ww = np.asarray(w, dtype=np.int64)
    big = np.iinfo(np.int64).max // 4
    dist = np.full(n, big, dtype=np.int64)
    dist[0] = 0
    for _ in range(n + 1):
        cand = np.where(dist[s] >= big, big, dist[s] + ww)
        new = dist.copy()
        np.minimum.at(new, d, cand)
        if np.array_equal(new, dist):
            return dist
        dist = new
    return None


def check_plan(
    plan: Plan,
    tt: TravelTimes,
    *,
    service_start: Mapping[str, Sequence[int]] | None = None,
    require_all: bool = False,
) -> CheckResult:
    """Check a core plan (integer units).

    Parameters
    ----------
    plan
        The plan; vehicles may start mid-route with riders on board.
    tt
        Travel times between locations.
    service_start
        Optional service-start time of every stop, per vehicle id. When given, these
        times are verified; otherwise the checker decides whether any feasible schedule
        exists (exactly, by Bellman–Ford on the route's difference constraints).
    require_all
        Also report every request of ``plan.requests`` that is neither routed nor on board
        (i.e. listed in ``plan.unassigned``).

    Returns
    -------
    CheckResult
        ``schedules`` holds the times checked, or the latest feasible schedule found.

    Notes
    -----
    Semantics: the vehicle leaves ``start`` at or after ``available_from``; service at a
    stop starts within the request's window (pickup ``[earliest_pickup, latest_pickup]``,
    drop-off ``[earliest_dropoff, latest_dropoff]``) and lasts the service time; the ride
    (end of pickup service to start of drop-off service, waiting included) is at most
    ``max_ride``; the route ends on arrival at ``end`` (or at the end of the last stop's
    service when ``end`` is ``None``), no later than ``shift_end`` and within
    ``max_route_duration`` of leaving ``start``.
    """
    v: list[str] = []
    dur = np.asarray(tt.durations)
    dist_m = np.asarray(tt.distances)
    nloc = dur.shape[0]
    reqs = plan.requests
    where: dict[str, str] = {}
    cost = 0.0
    used = 0
    schedules: dict[str, tuple[int, ...]] = {}
    vids = [r.vehicle.id for r in plan.routes]
    if len(set(vids)) != len(vids):
        v.append("a vehicle has more than one route")
    onboard_all: dict[str, str] = {}
    for route in plan.routes:
        for rider in route.vehicle.onboard:
            if rider.request.id in onboard_all:
                v.append(f"request {rider.request.id!r} is on board two vehicles")
            onboard_all[rider.request.id] = route.vehicle.id
    for route in plan.routes:
        veh = route.vehicle
        vid = veh.id
        stops = route.stops
        if stops or veh.onboard:
            used += 1
        locs = [veh.start, *(s.location for s in stops)]
        if veh.end is not None:
            locs.append(veh.end)
        if any(not 0 <= x < nloc for x in locs):
            v.append(f"vehicle {vid!r}: a location is outside the travel-time matrix")
            continue
        cost += float(sum(int(dist_m[a, b]) for a, b in itertools.pairwise(locs)))
        onboard = {r.request.id: r for r in veh.onboard}
        load = sum(r.request.passengers for r in veh.onboard)
        chair = sum(r.request.wheelchair for r in veh.onboard)
        ok_struct = True
        pick_pos: dict[str, int] = {}
        drop_pos: dict[str, int] = {}
        req_of: list[Request | None] = []
        for k, s in enumerate(stops):
            req = reqs.get(s.request_id)
            if req is None and s.request_id in onboard:
                req = onboard[s.request_id].request
            req_of.append(req)
            if req is None:
                v.append(f"vehicle {vid!r}: stop {k} names unknown request {s.request_id!r}")
                ok_struct = False
                continue
            prev = where.get(req.id)
            if prev is not None and prev != vid:
                v.append(f"request {req.id!r} appears in the routes of {prev!r} and {vid!r}")
            where[req.id] = vid
            if s.kind is StopKind.PICKUP:
                if req.id in onboard or req.id in onboard_all:
                    v.append(f"vehicle {vid!r}: pickup of request {req.id!r}, who is already on board")
                if req.id in pick_pos:
                    v.append(f"vehicle {vid!r}: request {req.id!r} picked up twice")
                pick_pos[req.id] = k
                if s.location != req.pickup:
                    v.append(f"vehicle {vid!r}: pickup of {req.id!r} at {s.location}, expected {req.pickup}")
                load += req.passengers
                chair += req.wheelchair
            else:
                if req.id in drop_pos:
                    v.append(f"vehicle {vid!r}: request {req.id!r} dropped off twice")
                drop_pos[req.id] = k
                if s.location != req.dropoff:
                    v.append(
                        f"vehicle {vid!r}: drop-off of {req.id!r} at {s.location}, expected {req.dropoff}"
                    )
                if req.id not in pick_pos and req.id not in onboard:
                    v.append(f"vehicle {vid!r}: request {req.id!r} dropped off before (or without) pickup")
                    ok_struct = False
                load -= req.passengers
                chair -= req.wheelchair
            if load > veh.seats:
                v.append(f"vehicle {vid!r}: {load} passengers > {veh.seats} seats after stop {k}")
            if chair > veh.wheelchair_places:
                v.append(
                    f"vehicle {vid!r}: {chair} wheelchairs > {veh.wheelchair_places} places after stop {k}"
                )
        for rid in pick_pos:
            if rid not in drop_pos:
                v.append(f"vehicle {vid!r}: request {rid!r} picked up but never dropped off")
                ok_struct = False
        for rid in onboard:
            if rid not in drop_pos:
                v.append(f"vehicle {vid!r}: rider {rid!r} on board is never dropped off")
        if not ok_struct:
            continue
        # Difference constraints x_b - x_a <= w. Variables: 0 = zero time, 1 = departure
        # from start, 2..m+1 = service starts, m+2 = route end.
        m = len(stops)
        zero, dep, end = 0, 1, m + 2
        edges: list[tuple[int, int, int]] = []
        edge = _edge_adder(edges)
        edge(dep, zero, -veh.available_from)
        edge(zero, dep, veh.shift_end)
        edge(zero, end, veh.shift_end)
        edge(end, zero, -veh.available_from)
        prev_var, prev_loc, prev_svc = dep, veh.start, 0
        for k, s in enumerate(stops):
            req = req_of[k]
            assert req is not None
            x = k + 2
            t = int(dur[prev_loc, s.location])
            edge(x, prev_var, -(prev_svc + t))
            if s.kind is StopKind.PICKUP:
                lo, hi, svc = req.earliest_pickup, req.latest_pickup, req.pickup_service
            else:
                lo, hi, svc = req.earliest_dropoff, req.latest_dropoff, req.dropoff_service
                if req.id in pick_pos:
                    edge(pick_pos[req.id] + 2, x, req.max_ride + req.pickup_service)
                else:
                    rider = onboard[req.id]
                    hi = min(hi, rider.picked_up_at + req.pickup_service + req.max_ride)
            edge(zero, x, hi)
            edge(x, zero, -lo)
            prev_var, prev_loc, prev_svc = x, s.location, svc
        t_end = 0 if veh.end is None else int(dur[prev_loc, veh.end])
        edge(end, prev_var, -(prev_svc + t_end))
        if veh.max_route_duration is not None:
            edge(dep, end, veh.max_route_duration)
        src = [e[0] for e in edges]
        dst = [e[1] for e in edges]
        wts = [e[2] for e in edges]
        times = None if service_start is None else service_start.get(vid)
        if times is not None:
            if len(times) != m:
                v.append(f"vehicle {vid!r}: {len(times)} times given for {m} stops")
                continue
            # With fixed stop times, pick the best departure/end and check every edge.
            val = np.zeros(m + 3, dtype=np.int64)
            val[2 : m + 2] = np.asarray(times, dtype=np.int64)
            first_t = int(dur[veh.start, stops[0].location]) if m else 0
            val[dep] = max(veh.available_from, (val[2] - first_t) if m else veh.available_from)
            val[end] = (val[m + 1] if m else val[dep]) + prev_svc + t_end
            bad = [(a, b, w) for a, b, w in zip(src, dst, wts, strict=True) if int(val[b]) - int(val[a]) > w]
            for a, b, w in bad:
                v.append(f"vehicle {vid!r}: {_describe(a, b, w, m, stops)} broken by the given times")
            schedules[vid] = tuple(int(x) for x in times)
            continue
        dist_v = _bellman_ford(m + 3, src, dst, wts)
        if dist_v is None:
            v.append(f"vehicle {vid!r}: no schedule meets the windows, ride times and shift of this route")
            continue
        schedules[vid] = tuple(int(dist_v[k + 2]) for k in range(m))
    for rid in plan.unassigned:
        if rid in where:
            v.append(f"request {rid!r} is listed as unassigned but appears in a route")
        if rid in onboard_all:
            v.append(f"request {rid!r} is listed as unassigned but is on board {onboard_all[rid]!r}")
    if require_all:
        una = set(plan.unassigned)
        for rid in reqs:
            if rid not in where and rid not in onboard_all and rid not in una:
                v.append(f"request {rid!r} is in the plan but in no route and not unassigned")
    return CheckResult(tuple(v), cost, used, schedules)


def _edge_adder(edges: list[tuple[int, int, int]]) -> Callable[[int, int, int], None]:
    def edge(a: int, b: int, w: int) -> None:
        edges.append((a, b, int(w)))

    return edge


def _describe(a: int, b: int, w: int, m: int, stops: Sequence[Any]) -> str:
    def name(x: int) -> str:
        if x == 0:
            return "time 0"
        if x == 1:
            return "departure"
        if x == m + 2:
            return "route end"
        s = stops[x - 2]
        return f"{s.kind.value} of {s.request_id!r}"

    return f"constraint {name(b)} - {name(a)} <= {w}"
