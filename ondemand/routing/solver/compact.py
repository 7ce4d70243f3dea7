"""A plan over few locations of a large travel-time table, renumbered onto a dense block.

Solvers that want dense matrices (the OR-Tools model, the LNS) see only the locations a plan
mentions. When the travel times are answered on demand (thousands of points, no dense matrix),
:func:`compact_plan` renumbers the plan onto those locations and takes the dense block between
them (one vectorised lookup); :meth:`CompactPlan.restore` maps a plan on the block back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    OnboardRider,
    Plan,
    Request,
    Route,
    Stop,
    TravelTimes,
    Vehicle,
)

__all__ = ["CompactPlan", "compact_plan", "is_dense"]


def is_dense(tt: TravelTimes) -> bool:
    """Whether ``tt`` holds its matrices as numpy arrays (so ``np.asarray`` of them is free)."""
    return isinstance(tt.durations, np.ndarray) and isinstance(tt.distances, np.ndarray)


def _locations(plan: Plan) -> list[int]:
    locs: set[int] = set()
    for route in plan.routes:
        v = route.vehicle
        locs.add(v.start)
        if v.end is not None:
            locs.add(v.end)
        locs.update(r.request.pickup for r in v.onboard)
        locs.update(r.request.dropoff for r in v.onboard)
        locs.update(s.location for s in route.stops)
    for r in plan.requests.values():
        locs.add(r.pickup)
        locs.add(r.dropoff)
    return sorted(locs)


def _relocate(plan: Plan, f: Callable[[int], int]) -> Plan:
    def req(r: Request) -> Request:
        return replace(r, pickup=f(r.pickup), dropoff=f(r.dropoff))

    def veh(v: Vehicle) -> Vehicle:
        return replace(
            v,
            start=f(v.start),
            end=None if v.end is None else f(v.end),
            onboard=tuple(OnboardRider(req(o.request), o.picked_up_at) for o in v.onboard),
        )

    routes = tuple(
        Route(veh(r.vehicle), tuple(Stop(s.request_id, s.kind, f(s.location)) for s in r.stops))
        for r in plan.routes
    )
    requests = {rid: req(r) for rid, r in plan.requests.items()}
    return Plan(routes, requests, plan.unassigned)


@dataclass(frozen=True, eq=False)
class CompactPlan:
    """A plan renumbered onto the dense block of its locations.

    Attributes
    ----------
    plan
        The plan, location ``i`` standing for ``locations[i]`` of the original table.
    tt
        Dense travel times between ``locations``.
    locations
        Original location of each new index, increasing.
    original
        The plan it came from (its vehicles and requests are given back by :meth:`restore`).
    """

    plan: Plan
    tt: ArrayTravelTimes
    locations: NDArray[np.int64]
    original: Plan

    def restore(self, plan: Plan) -> Plan:
        """A plan on the block mapped back onto the original locations.

        Vehicles and requests equal to the original plan's are the original objects.
        """
        locs = self.locations.tolist()
        back = _relocate(plan, locs.__getitem__)
        vehicles = {r.vehicle.id: r.vehicle for r in self.original.routes}
        routes = tuple(
            Route(vehicles[r.vehicle.id], r.stops)
            if r.vehicle.id in vehicles and vehicles[r.vehicle.id] == r.vehicle
            else r
            for r in back.routes
        )
        orig = self.original.requests
        requests = {rid: orig[rid] if orig.get(rid) == r else r for rid, r in back.requests.items()}
        return Plan(routes, requests, back.unassigned)


def compact_plan(plan: Plan, tt: TravelTimes) -> CompactPlan:
    """The plan renumbered onto the locations it mentions, with the dense block between them."""
    locations = np.array(_locations(plan), dtype=np.int64)
    index = {loc: i for i, loc in enumerate(locations.tolist())}
    block = np.ix_(locations, locations)
    small = ArrayTravelTimes(tt.durations[block], tt.distances[block])
    return CompactPlan(_relocate(plan, index.__getitem__), small, locations, plan)
