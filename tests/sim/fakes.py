"""Small stand-ins for the simulator's tests: a grid service area and a one-at-a-time dispatcher."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ondemand.dispatch import Assignment, PlannedStop, Refusal
from ondemand.dispatch.base import Reoptimiser
from ondemand.routing.solver.model import (
    ArrayTravelTimes,
    Plan,
    Request,
    Route,
    StopKind,
    TravelTimes,
    Vehicle,
)
from ondemand.routing.solver.schedule import RouteSchedule


@dataclass(frozen=True)
class FakeStop:
    id: str
    name: str
    lon: float
    lat: float
    node: int = 0


@dataclass(frozen=True)
class StraightPath:
    """A straight segment between two stops, driven at constant speed."""

    a: FakeStop
    b: FakeStop
    duration: int

    def position_at(self, seconds: float) -> tuple[float, float]:
        f = 0.0 if self.duration <= 0 else min(1.0, max(0.0, seconds / self.duration))
        return (self.a.lon + f * (self.b.lon - self.a.lon), self.a.lat + f * (self.b.lat - self.a.lat))


@dataclass(frozen=True)
class GridArea:
    """``n x n`` stops 200 m apart; 60 s per block (Manhattan), 200 m per block."""

    n: int = 4
    stops: tuple[FakeStop, ...] = field(init=False)
    matrix: TravelTimes = field(init=False)

    def __post_init__(self) -> None:
        stops = []
        xy = []
        for i in range(self.n):
            for j in range(self.n):
                k = i * self.n + j
                stops.append(FakeStop(f"s{k}", f"stop {k}", 135.48 + 0.0022 * j, 34.47 + 0.0018 * i, k))
                xy.append((i, j))
        a = np.array(xy)
        blocks = np.abs(a[:, None, :] - a[None, :, :]).sum(axis=2)
        object.__setattr__(self, "stops", tuple(stops))
        object.__setattr__(self, "matrix", ArrayTravelTimes(blocks * 60, blocks * 200))

    def path(self, i: int, j: int) -> StraightPath:
        return StraightPath(self.stops[i], self.stops[j], int(self.matrix.durations[i, j]))


class OneAtATimeDispatcher:
    """Serves each vehicle's requests one after the other (no sharing), first come first served."""

    def __init__(self, vehicles: Sequence[Vehicle], tt: TravelTimes, window: int = 600) -> None:
        self.dur = np.asarray(tt.durations)
        self.veh = {v.id: v for v in vehicles}
        self.loc = {v.id: v.start for v in vehicles}
        self.free = {v.id: v.available_from for v in vehicles}
        self.queue: dict[str, list[tuple[str, StopKind]]] = {v.id: [] for v in vehicles}
        self.req: dict[str, Request] = {}
        self.promise: dict[str, tuple[int, int]] = {}
        self.now = 0
        self.window = window
        self.calls: list[str] = []

    def _plan(self, vid: str) -> list[PlannedStop]:
        t, loc = max(self.free[vid], self.now), self.loc[vid]
        out = []
        for rid, kind in self.queue[vid]:
            r = self.req[rid]
            at = r.pickup if kind is StopKind.PICKUP else r.dropoff
            t += int(self.dur[loc, at])
            if kind is StopKind.PICKUP:
                w = self.promise[rid]
                t = max(t, w[0])
                out.append(PlannedStop(rid, kind, at, t, w))
                t += r.pickup_service
            else:
                out.append(PlannedStop(rid, kind, at, t, (0, r.latest_dropoff)))
                t += r.dropoff_service
            loc = at
        return out

    def submit(self, request: Request, *, now: int) -> Assignment | Refusal:
        self.now = max(self.now, now)
        self.calls.append(f"submit {request.id}")
        best: tuple[int, str] | None = None
        for vid, v in self.veh.items():
            if request.passengers > v.seats or request.wheelchair > v.wheelchair_places:
                continue
            plan = self._plan(vid)
            t = max(self.free[vid], self.now) if not plan else plan[-1].eta
            loc = self.loc[vid] if not plan else plan[-1].location
            if plan:
                t += self.req[plan[-1].request_id].dropoff_service
            start = max(t + int(self.dur[loc, request.pickup]), request.earliest_pickup)
            drop = start + request.pickup_service + int(self.dur[request.pickup, request.dropoff])
            if start > request.latest_pickup or drop > request.latest_dropoff:
                continue
            if drop + request.dropoff_service > v.shift_end:
                continue
            if best is None or start < best[0]:
                best = (start, vid)
        if best is None:
            return Refusal(request.id, "no vehicle can serve it in time")
        start, vid = best
        self.req[request.id] = request
        self.promise[request.id] = (start, start + self.window)
        self.queue[vid] += [(request.id, StopKind.PICKUP), (request.id, StopKind.DROPOFF)]
        drop = start + request.pickup_service + int(self.dur[request.pickup, request.dropoff])
        return Assignment(request.id, vid, (start, start + self.window), drop, request.latest_dropoff)

    def cancel(self, request_id: str, *, now: int) -> bool:
        self.calls.append(f"cancel {request_id}")
        for q in self.queue.values():
            if (request_id, StopKind.PICKUP) in q:
                q[:] = [x for x in q if x[0] != request_id]
                return True
        return False

    def _pop(self, request_id: str, kind: StopKind) -> str:
        for vid, q in self.queue.items():
            if (request_id, kind) in q:
                q.remove((request_id, kind))
                return vid
        raise KeyError(request_id)

    def record_arrival(self, vehicle_id: str, stop_location: int, *, at: int) -> None:
        self.calls.append(f"arrive {vehicle_id} {stop_location}")
        self.loc[vehicle_id] = stop_location
        self.free[vehicle_id] = at

    def record_pickup(self, request_id: str, *, at: int) -> None:
        self.calls.append(f"pickup {request_id}")
        vid = self._pop(request_id, StopKind.PICKUP)
        self.free[vid] = at + self.req[request_id].pickup_service

    def record_dropoff(self, request_id: str, *, at: int) -> None:
        self.calls.append(f"dropoff {request_id}")
        vid = self._pop(request_id, StopKind.DROPOFF)
        self.free[vid] = at + self.req[request_id].dropoff_service

    def record_no_show(self, request_id: str, *, at: int) -> None:
        self.calls.append(f"no_show {request_id}")
        vid = self._pop(request_id, StopKind.PICKUP)
        self._pop(request_id, StopKind.DROPOFF)
        self.free[vid] = at

    def record_progress(self, vehicle_id: str, driven_s: int, *, at: int) -> None:
        self.calls.append(f"progress {vehicle_id} {driven_s}")

    def advance(self, now: int) -> None:
        self.now = max(self.now, now)

    def reoptimise(self, *, now: int, time_limit: float | None = None, iterations: int | None = None) -> bool:
        self.calls.append(f"reoptimise {now} iterations={iterations} time_limit={time_limit}")
        return False

    @property
    def reoptimiser(self) -> Reoptimiser:
        return _keep_plan

    def reoptimisation_snapshot(self, *, now: int) -> tuple[Plan, int]:
        return self.plan, 0

    def apply_reoptimised(self, plan: Plan, *, version: int, require_improvement: bool | None = None) -> bool:
        return False

    def vehicle_of(self, request_id: str) -> str | None:
        return next((vid for vid, q in self.queue.items() if any(r == request_id for r, _ in q)), None)

    @property
    def plan(self) -> Plan:
        """Each vehicle where it is, without its stops (this stand-in never re-plans)."""
        routes = tuple(
            Route(Vehicle(v.id, v.seats, self.loc[vid], self.free[vid], max(v.shift_end, self.free[vid])), ())
            for vid, v in self.veh.items()
        )
        return Plan(routes, {})

    def restore(
        self, request: Request, vehicle_id: str, *, now: int | None = None, picked_up_at: int | None = None
    ) -> Assignment:
        raise NotImplementedError("the simulator never restores requests")

    def restore_vehicle(
        self,
        vehicle_id: str,
        stops: Sequence[tuple[Request, StopKind]],
        *,
        onboard: Mapping[str, int] | None = None,
    ) -> RouteSchedule:
        raise NotImplementedError("the simulator never restores requests")

    def itinerary(self, vehicle_id: str) -> list[PlannedStop]:
        return list(self._plan(vehicle_id))

    def next_stop(self, vehicle_id: str) -> PlannedStop | None:
        return next(iter(self._plan(vehicle_id)), None)


def _keep_plan(
    plan: Plan,
    tt: TravelTimes,
    *,
    now: int,
    time_limit: float | None = None,
    iterations: int | None = None,
    seed: int = 0,
) -> Plan:
    return plan


def fake_factory(vehicles: Sequence[Vehicle], tt: TravelTimes, policy: Any) -> OneAtATimeDispatcher:
    """Dispatcher factory for :func:`ondemand.sim.engine.run_day`."""
    return OneAtATimeDispatcher(vehicles, tt, window=policy.service.pickup_window_s)
