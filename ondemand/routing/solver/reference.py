"""Slow, obviously-right references that the fast routing code is tested against.

Nothing here is used on a live path. Each function is written for clarity, shares no
code with :mod:`ondemand.routing.solver.schedule` or :mod:`ondemand.routing.solver.insertion`, and
is exponential or cubic where that keeps it simple.

* :func:`reference_schedule`: the least feasible schedule of a route, by Bellman–Ford
  longest paths on the explicit graph of difference constraints (a negative-free
  system has a least solution; a positive cycle means no schedule exists).
* :func:`brute_force_insertion`: every vehicle, every pickup/drop-off position pair,
  scored with the same cost definition as :func:`ondemand.routing.solver.insertion.best_insertion`.
* :func:`exhaustive_route` and :func:`exhaustive_plan`: all stop orders (and all
  assignments of requests to vehicles) for tiny instances.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ondemand.routing.solver.model import Plan, Request, Route, Stop, StopKind, TravelTimes, Vehicle

__all__ = [
    "ReferenceSchedule",
    "brute_force_insertion",
    "exhaustive_plan",
    "exhaustive_route",
    "reference_schedule",
]


@dataclass(frozen=True, slots=True)
class ReferenceSchedule:
    """The least schedule of a feasible route."""

    departure_from_start: int
    service_start: tuple[int, ...]
    end_time: int
    drive_time: int
    distance: int


def reference_schedule(
    route: Route, requests: Mapping[str, Request], tt: TravelTimes
) -> ReferenceSchedule | None:
    """The as-early-as-possible schedule of ``route``, or ``None`` if it is infeasible.

    Nodes: 0 is "time zero", 1 the departure from the start, 2..n+1 the stops, n+2
    the end. Each constraint ``x[v] >= x[u] + w`` is an edge ``u -> v`` of weight
    ``w``; an upper bound ``x[u] <= c`` is ``x[0] >= x[u] - c``. The least solution is
    the longest path from node 0, which must itself stay at 0.
    """
    v = route.vehicle
    stops = route.stops
    n = len(stops)
    dur = tt.durations
    dist = tt.distances
    onboard = {r.request.id: r for r in v.onboard}
    # Structure and capacity, checked plainly.
    seats = sum(r.request.passengers for r in v.onboard)
    chairs = sum(r.request.wheelchair for r in v.onboard)
    picked: dict[str, int] = {}
    dropped: dict[str, int] = {}
    reqs: list[Request] = []
    for k, s in enumerate(stops):
        if s.kind is StopKind.PICKUP:
            if s.request_id not in requests or s.request_id in onboard or s.request_id in picked:
                return None
            r = requests[s.request_id]
            if s.location != r.pickup:
                return None
            picked[s.request_id] = k
            seats += r.passengers
            chairs += r.wheelchair
        else:
            if s.request_id in dropped:
                return None
            if s.request_id in onboard:
                r = onboard[s.request_id].request
            elif s.request_id in picked:
                r = requests[s.request_id]
            else:
                return None
            if s.location != r.dropoff:
                return None
            dropped[s.request_id] = k
            seats -= r.passengers
            chairs -= r.wheelchair
        if seats > v.seats or chairs > v.wheelchair_places:
            return None
        reqs.append(r)
    if set(picked) - set(dropped) or set(onboard) - set(dropped):
        return None

    edges: list[tuple[int, int, int]] = []
    start_node, end_node = 1, n + 2
    edges.append((0, start_node, v.available_from))
    locs = [v.start, *(s.location for s in stops)]
    services = [0]
    for k, s in enumerate(stops):
        r = reqs[k]
        node = k + 2
        svc = r.pickup_service if s.kind is StopKind.PICKUP else r.dropoff_service
        services.append(svc)
        prev = node - 1
        edges.append((prev, node, services[k] + int(dur[locs[k], locs[k + 1]])))
        if s.kind is StopKind.PICKUP:
            edges.append((0, node, r.earliest_pickup))
            edges.append((node, 0, -r.latest_pickup))
        else:
            edges.append((0, node, r.earliest_dropoff))
            edges.append((node, 0, -r.latest_dropoff))
            if s.request_id in onboard:
                begin = onboard[s.request_id].picked_up_at + r.pickup_service
                edges.append((node, 0, -(begin + r.max_ride)))
            else:
                pnode = picked[s.request_id] + 2
                # x[drop] - x[pick] - s_pick <= L  <=>  x[pick] >= x[drop] - s_pick - L
                edges.append((node, pnode, -r.pickup_service - r.max_ride))
    last = n + 1
    back = 0 if v.end is None else int(dur[locs[-1], v.end])
    edges.append((last, end_node, services[-1] + back))
    edges.append((end_node, 0, -v.shift_end))
    if v.max_route_duration is not None:
        edges.append((end_node, start_node, -v.max_route_duration))

    size = n + 3
    neg = -(1 << 62)
    x = [neg] * size
    x[0] = 0
    for _ in range(size + 1):
        changed = False
        for a, b, w in edges:
            if x[a] != neg and x[a] + w > x[b]:
                x[b] = x[a] + w
                changed = True
        if not changed:
            break
    else:
        return None  # a positive cycle: no schedule
    if x[0] != 0:
        return None
    drive = sum(int(dur[a, b]) for a, b in itertools.pairwise(locs)) + back
    length = sum(int(dist[a, b]) for a, b in itertools.pairwise(locs))
    if v.end is not None:
        length += int(dist[locs[-1], v.end])
    return ReferenceSchedule(x[1], tuple(x[2 : n + 2]), x[end_node], drive, length)


def _insertions(stops: tuple[Stop, ...], request: Request) -> Iterator[tuple[Stop, ...]]:
    p = Stop(request.id, StopKind.PICKUP, request.pickup)
    d = Stop(request.id, StopKind.DROPOFF, request.dropoff)
    for i in range(len(stops) + 1):
        for j in range(i, len(stops) + 1):
            yield (*stops[:i], p, *stops[i:j], d, *stops[j:])


def brute_force_insertion(
    plan: Plan,
    request: Request,
    tt: TravelTimes,
    *,
    cost: str = "time",
    delay_weight: float = 1.0,
    wait_weight: float = 0.0,
    ride_weight: float = 0.0,
) -> tuple[float, str, tuple[Stop, ...]] | None:
    """The cheapest feasible insertion by trying everything, or ``None``.

    ``request`` is taken as given (already tightened); vehicles as given. The cost is
    the one documented in :mod:`ondemand.routing.solver.insertion`, computed on
    :func:`reference_schedule`. Ties go to the first vehicle, then the earliest pickup
    position, then the earliest drop-off position.
    """
    requests = dict(plan.requests)
    requests[request.id] = request
    best: tuple[float, str, tuple[Stop, ...]] | None = None
    for route in plan.routes:
        old = reference_schedule(route, plan.requests, tt)
        if old is None:
            continue
        old_drop = {
            s.request_id: t
            for s, t in zip(route.stops, old.service_start, strict=True)
            if s.kind is StopKind.DROPOFF
        }
        for stops in _insertions(route.stops, request):
            new = reference_schedule(Route(route.vehicle, stops), requests, tt)
            if new is None:
                continue
            veh = new.drive_time - old.drive_time if cost == "time" else new.distance - old.distance
            delay = pick = drop = 0
            for s, t in zip(stops, new.service_start, strict=True):
                if s.request_id == request.id:
                    if s.kind is StopKind.PICKUP:
                        pick = t
                    else:
                        drop = t
                elif s.kind is StopKind.DROPOFF:
                    delay += t - old_drop[s.request_id]
            total = (
                float(veh)
                + delay_weight * delay
                + wait_weight * (pick - request.earliest_pickup)
                + ride_weight * (drop - pick - request.pickup_service)
            )
            if best is None or total < best[0]:
                best = (total, route.vehicle.id, stops)
    return best


def _orders(
    requests: Sequence[Request], onboard: Sequence[str], dropoffs: Mapping[str, int]
) -> Iterator[tuple[Stop, ...]]:
    """Every stop order with each pickup before its drop-off."""
    items: list[Stop] = []
    for r in requests:
        items.append(Stop(r.id, StopKind.PICKUP, r.pickup))
        items.append(Stop(r.id, StopKind.DROPOFF, r.dropoff))
    for rid in onboard:
        items.append(Stop(rid, StopKind.DROPOFF, dropoffs[rid]))
    for perm in itertools.permutations(items):
        seen: set[str] = set()
        ok = True
        for s in perm:
            if s.kind is StopKind.PICKUP:
                seen.add(s.request_id)
            elif s.request_id not in seen and s.request_id not in onboard:
                ok = False
                break
        if ok:
            yield perm


def exhaustive_route(
    vehicle: Vehicle, requests: Sequence[Request], tt: TravelTimes
) -> tuple[int, tuple[Stop, ...]] | None:
    """The feasible stop order of least driving time serving all ``requests`` (and riders on board).

    Exponential: for at most three or four requests.
    """
    mapping = {r.id: r for r in requests}
    onboard = [r.request.id for r in vehicle.onboard]
    drops = {r.request.id: r.request.dropoff for r in vehicle.onboard}
    best: tuple[int, tuple[Stop, ...]] | None = None
    for order in _orders(requests, onboard, drops):
        sched = reference_schedule(Route(vehicle, order), mapping, tt)
        if sched is not None and (best is None or sched.drive_time < best[0]):
            best = (sched.drive_time, order)
    return best


def exhaustive_plan(
    vehicles: Sequence[Vehicle], requests: Sequence[Request], tt: TravelTimes
) -> tuple[int, tuple[tuple[Stop, ...], ...]] | None:
    """The plan of least total driving time serving every request, or ``None``.

    Tries every assignment of requests to vehicles and every stop order.
    """
    best: tuple[int, tuple[tuple[Stop, ...], ...]] | None = None
    for assignment in itertools.product(range(len(vehicles)), repeat=len(requests)):
        total = 0
        routes: list[tuple[Stop, ...]] = []
        for vi, v in enumerate(vehicles):
            mine = [r for r, a in zip(requests, assignment, strict=True) if a == vi]
            found = exhaustive_route(v, mine, tt)
            if found is None:
                break
            total += found[0]
            routes.append(found[1])
        else:
            if best is None or total < best[0]:
                best = (total, tuple(routes))
    return best
