"""The OR-Tools routing model behind :mod:`ondemand.routing.solver.darp` (private).

One OR-Tools node per *stop* (not per location, since several requests may share a
location): a start and an end node per vehicle, one drop-off node per rider already on
board (allowed only on their vehicle), and a pickup and a drop-off node per request.
The time dimension's cumul is the start of service; transit ``i -> j`` is
``service(i) + duration(loc i, loc j)``; slack lets the vehicle wait. The maximum ride
time is a node precedence on the time dimension (``cumul(p) >= cumul(d) - L - s_p``),
which OR-Tools' local-search filters understand; capacity (seats, wheelchair places)
are cumulative dimensions starting at the on-board load.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp

from ondemand.routing.solver.model import Request, StopKind, TravelTimes, Vehicle

__all__ = ["DarpModel", "NodeInfo"]

_MATRIX_LIMIT = 2500
"""Above this many nodes, transits come from a callback instead of a dense matrix."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What one OR-Tools node stands for (``request`` is ``None`` for depots)."""

    location: int
    service: int
    request: str | None
    kind: StopKind | None


class DarpModel:
    """OR-Tools model of vehicles serving requests; see the module docstring.

    Parameters
    ----------
    vehicles
        The fleet (riders on board included).
    requests
        Requests to route (not the on-board riders).
    tt
        Travel times (durations for the schedule, distances for the cost).
    penalties
        Cost of leaving a request out (distance units), per request id; requests not
        in it must be served.
    vehicle_fixed_cost
        Cost of using a vehicle (for vehicles-then-distance objectives).
    """

    def __init__(
        self,
        vehicles: Sequence[Vehicle],
        requests: Sequence[Request],
        tt: TravelTimes,
        *,
        penalties: Mapping[str, int] | None = None,
        vehicle_fixed_cost: int = 0,
    ) -> None:
        self.vehicles = tuple(vehicles)
        self.requests = tuple(requests)
        self.penalties: dict[str, int] = dict(penalties or {})
        dur = np.asarray(tt.durations, dtype=np.int64)
        dist = np.asarray(tt.distances, dtype=np.int64)
        k = len(self.vehicles)
        nodes: list[NodeInfo] = []
        for v in self.vehicles:
            nodes.append(NodeInfo(v.start, 0, None, None))
        for v in self.vehicles:
            nodes.append(NodeInfo(v.start if v.end is None else v.end, 0, None, None))
        self.onboard_node: dict[str, int] = {}
        onboard_vehicle: dict[int, int] = {}
        for vi, v in enumerate(self.vehicles):
            for rider in v.onboard:
                r = rider.request
                self.onboard_node[r.id] = len(nodes)
                onboard_vehicle[len(nodes)] = vi
                nodes.append(NodeInfo(r.dropoff, r.dropoff_service, r.id, StopKind.DROPOFF))
        self.pair_nodes: dict[str, tuple[int, int]] = {}
        for r in self.requests:
            p = len(nodes)
            nodes.append(NodeInfo(r.pickup, r.pickup_service, r.id, StopKind.PICKUP))
            nodes.append(NodeInfo(r.dropoff, r.dropoff_service, r.id, StopKind.DROPOFF))
            self.pair_nodes[r.id] = (p, p + 1)
        self.nodes = tuple(nodes)
        n = len(nodes)
        self.manager = pywrapcp.RoutingIndexManager(n, k, list(range(k)), list(range(k, 2 * k)))
        man = self.manager
        rm = pywrapcp.RoutingModel(man)
        self.routing = rm
        loc = np.array([x.location for x in nodes], dtype=np.int64)
        svc = np.array([x.service for x in nodes], dtype=np.int64)
        open_end = np.zeros(n, dtype=bool)
        for vi, v in enumerate(self.vehicles):
            if v.end is None:
                open_end[k + vi] = True
        self._loc, self._svc, self._open_end = loc, svc, open_end
        self._dur, self._dist = dur, dist
        if n <= _MATRIX_LIMIT:
            tmat = dur[np.ix_(loc, loc)] + svc[:, None]
            tmat[:, open_end] = svc[:, None]
            cmat = dist[np.ix_(loc, loc)].copy()
            cmat[:, open_end] = 0
            self.time_cb = rm.RegisterTransitMatrix(tmat.tolist())
            self.cost_cb = rm.RegisterTransitMatrix(cmat.tolist())
        else:  # pragma: no cover - large live plans only
            self.time_cb = rm.RegisterTransitCallback(self._time_transit)
            self.cost_cb = rm.RegisterTransitCallback(self._cost_transit)
        rm.SetArcCostEvaluatorOfAllVehicles(self.cost_cb)
        if vehicle_fixed_cost:
            rm.SetFixedCostOfAllVehicles(int(vehicle_fixed_cost))
        horizon = max([v.shift_end for v in self.vehicles] + [0]) + 1
        rm.AddDimension(self.time_cb, horizon, horizon, False, "time")
        time = rm.GetDimensionOrDie("time")
        self.time = time
        for vi, v in enumerate(self.vehicles):
            time.CumulVar(rm.Start(vi)).SetRange(v.available_from, v.shift_end)
            time.CumulVar(rm.End(vi)).SetRange(v.available_from, v.shift_end)
            if v.max_route_duration is not None:
                time.SetSpanUpperBoundForVehicle(int(v.max_route_duration), vi)
            rm.AddVariableMaximizedByFinalizer(time.CumulVar(rm.Start(vi)))
            rm.AddVariableMinimizedByFinalizer(time.CumulVar(rm.End(vi)))
        seats_dem = [0] * n
        chair_dem = [0] * n
        for vi, v in enumerate(self.vehicles):
            for rider in v.onboard:
                node = self.onboard_node[rider.request.id]
                r = rider.request
                idx = man.NodeToIndex(node)
                rm.VehicleVar(idx).SetValue(vi)
                hi = min(r.latest_dropoff, rider.picked_up_at + r.pickup_service + r.max_ride)
                lo = r.earliest_dropoff
                if hi < lo:
                    hi = lo  # infeasible on arrival; the checker will report it
                time.CumulVar(idx).SetRange(lo, hi)
                seats_dem[node] = -r.passengers
                chair_dem[node] = -r.wheelchair
        for r in self.requests:
            p, d = self.pair_nodes[r.id]
            pi, di = man.NodeToIndex(p), man.NodeToIndex(d)
            rm.AddPickupAndDelivery(pi, di)
            solver = rm.solver()
            solver.Add(rm.VehicleVar(pi) == rm.VehicleVar(di))
            solver.Add(time.CumulVar(pi) <= time.CumulVar(di))
            time.CumulVar(pi).SetRange(r.earliest_pickup, r.latest_pickup)
            time.CumulVar(di).SetRange(r.earliest_dropoff, r.latest_dropoff)
            time.AddNodePrecedence(di, pi, -(r.max_ride + r.pickup_service))
            seats_dem[p], seats_dem[d] = r.passengers, -r.passengers
            chair_dem[p], chair_dem[d] = r.wheelchair, -r.wheelchair
            if r.id in self.penalties:
                rm.AddDisjunction([pi, di], int(self.penalties[r.id]), 2)
        self._add_capacity(
            "seats",
            seats_dem,
            [v.seats for v in self.vehicles],
            [sum(x.request.passengers for x in v.onboard) for v in self.vehicles],
        )
        if any(chair_dem) or any(v.wheelchair_places for v in self.vehicles):
            self._add_capacity(
                "chairs",
                chair_dem,
                [v.wheelchair_places for v in self.vehicles],
                [sum(x.request.wheelchair for x in v.onboard) for v in self.vehicles],
            )
        self.vehicle_fixed_cost = int(vehicle_fixed_cost)
        self._closed = False

    def close(self, params: Any) -> None:
        """Close the OR-Tools model with these search parameters (operators are fixed then)."""
        if not self._closed:
            self.routing.CloseModelWithParameters(params)
            self._closed = True

    def _add_capacity(self, name: str, demand: list[int], caps: list[int], start: list[int]) -> None:
        rm = self.routing
        cb = rm.RegisterUnaryTransitVector(demand)
        rm.AddDimensionWithVehicleCapacity(cb, 0, caps, False, name)
        dim = rm.GetDimensionOrDie(name)
        for vi, s in enumerate(start):
            dim.CumulVar(rm.Start(vi)).SetValue(s)

    def _time_transit(self, i: int, j: int) -> int:  # pragma: no cover - large plans only
        a = self.manager.IndexToNode(i)
        b = self.manager.IndexToNode(j)
        if self._open_end[b]:
            return int(self._svc[a])
        return int(self._svc[a] + self._dur[self._loc[a], self._loc[b]])

    def _cost_transit(self, i: int, j: int) -> int:  # pragma: no cover - large plans only
        a = self.manager.IndexToNode(i)
        b = self.manager.IndexToNode(j)
        if self._open_end[b]:
            return 0
        return int(self._dist[self._loc[a], self._loc[b]])

    # ---- conversions -------------------------------------------------------------

    def routes_cost(self, routes: Sequence[Sequence[int]]) -> int:
        """Objective of node routes (excluding depots): distance + fixed costs + penalties."""
        k = len(self.vehicles)
        total = 0
        served: set[str] = set()
        for vi, route in enumerate(routes):
            path = [vi, *route, k + vi]
            for a, b in itertools.pairwise(path):
                if not self._open_end[b]:
                    total += int(self._dist[self._loc[a], self._loc[b]])
            if route:
                total += self.vehicle_fixed_cost
            served.update(self.nodes[x].request or "" for x in route)
        total += sum(self.penalties.get(r.id, 0) for r in self.requests if r.id not in served)
        return total

    def assignment(self, routes: Sequence[Sequence[int]]) -> pywrapcp.Assignment | None:
        """An OR-Tools assignment from node routes, or ``None`` if OR-Tools rejects them."""
        if not self._closed:
            raise RuntimeError("close the model (DarpModel.close) before building assignments")
        # RoutesToAssignment only records the successors; the search restores (and
        # propagates) the assignment under its own limits. ReadAssignmentFromRoutes would
        # propagate under the previous search's (possibly expired) time limit.
        idx = [[self.manager.NodeToIndex(x) for x in r] for r in routes]
        a = self.routing.solver().Assignment()
        if not self.routing.RoutesToAssignment(idx, True, True, a):
            return None
        return a

    def read(self, sol: pywrapcp.Assignment) -> tuple[list[list[int]], list[list[int]]]:
        """Node routes (depots excluded) and service-start times (depots included)."""
        rm, man = self.routing, self.manager
        routes: list[list[int]] = []
        times: list[list[int]] = []
        for vi in range(len(self.vehicles)):
            idx = rm.Start(vi)
            r: list[int] = []
            t: list[int] = []
            while True:
                t.append(int(sol.Value(self.time.CumulVar(idx))))
                if rm.IsEnd(idx):
                    break
                idx = sol.Value(rm.NextVar(idx))
                if not rm.IsEnd(idx):
                    r.append(man.IndexToNode(idx))
            routes.append(r)
            times.append(t)
        return routes, times

    def request_positions(self, routes: Sequence[Sequence[int]]) -> dict[str, int]:
        """Vehicle index of every routed request."""
        out: dict[str, int] = {}
        for vi, r in enumerate(routes):
            for x in r:
                rid = self.nodes[x].request
                if rid is not None:
                    out[rid] = vi
        return out

    def locations(self) -> NDArray[np.int64]:
        """Location of every node."""
        return self._loc
