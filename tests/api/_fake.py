"""A minimal stand-in dispatcher for API tests (used only when ondemand.dispatch has no InsertionDispatcher).

Each vehicle takes riders until its seats are used up for the day (a seat is never reused),
so the load of every vehicle is trivially within its seats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ondemand.routing.model import Plan, Request, Route, Stop, StopKind, TravelTimes, Vehicle


@dataclass(frozen=True)
class FakeAssignment:
    """What the real dispatcher answers when it accepts a request."""

    request_id: str
    vehicle_id: str
    pickup_window: tuple[int, int]
    dropoff_eta: int
    latest_dropoff: int


@dataclass(frozen=True)
class FakeRefusal:
    """What the real dispatcher answers when it refuses a request."""

    request_id: str
    reason: str


@dataclass(frozen=True)
class FakePlannedStop:
    """One planned stop."""

    request_id: str
    kind: StopKind
    location: int
    eta: int
    window: tuple[int, int] | None


class FakeDispatcher:
    """Seat-counting dispatcher with the methods the API calls."""

    def __init__(self, vehicles: Sequence[Vehicle], tt: TravelTimes) -> None:
        self.vehicles = list(vehicles)
        self.tt = tt
        self.requests: dict[str, Request] = {}
        self.vehicle_of: dict[str, str] = {}
        self.onboard: set[str] = set()
        self.reoptimised = 0

    def _load(self, vid: str) -> int:
        return sum(self.requests[r].passengers for r, v in self.vehicle_of.items() if v == vid)

    def submit(self, request: Request, *, now: int) -> FakeAssignment | FakeRefusal:
        for v in self.vehicles:
            if self._load(v.id) + request.passengers <= v.seats and request.wheelchair <= v.wheelchair_places:
                start = max(request.earliest_pickup, now)
                end = min(request.latest_pickup, start + 600)
                if end < start:
                    return FakeRefusal(request.id, "pickup window already over")
                direct = int(self.tt.durations[request.pickup, request.dropoff])
                eta = start + request.pickup_service + direct
                self.restore(request.with_promise(start, end, request.latest_dropoff), v.id)
                return FakeAssignment(request.id, v.id, (start, end), eta, request.latest_dropoff)
        return FakeRefusal(request.id, "no vehicle has a free seat")

    def restore(self, request: Request, vehicle_id: str) -> None:
        self.requests[request.id] = request
        self.vehicle_of[request.id] = vehicle_id

    def cancel(self, request_id: str, *, now: int) -> bool:
        if request_id in self.onboard or request_id not in self.vehicle_of:
            return False
        del self.vehicle_of[request_id]
        return True

    def record_arrival(self, vehicle_id: str, stop_location: int, *, at: int) -> None:
        pass

    def record_pickup(self, request_id: str, *, at: int) -> None:
        if request_id not in self.vehicle_of:
            raise KeyError(f"unknown request {request_id!r}")
        self.onboard.add(request_id)

    def record_dropoff(self, request_id: str, *, at: int) -> None:
        if request_id not in self.onboard:
            raise ValueError(f"request {request_id!r} is not on board")
        self.onboard.discard(request_id)

    def record_no_show(self, request_id: str, *, at: int) -> None:
        self.vehicle_of.pop(request_id, None)

    def advance(self, now: int) -> None:
        pass

    def reoptimise(self, *, now: int, time_limit: float) -> bool:
        self.reoptimised += 1
        return True

    @property
    def plan(self) -> Plan:
        routes = []
        for v in self.vehicles:
            stops: list[Stop] = []
            for rid, vid in self.vehicle_of.items():
                if vid == v.id:
                    r = self.requests[rid]
                    stops += [Stop(rid, StopKind.PICKUP, r.pickup), Stop(rid, StopKind.DROPOFF, r.dropoff)]
            routes.append(Route(v, tuple(stops)))
        return Plan(tuple(routes), {rid: self.requests[rid] for rid in self.vehicle_of})

    def itinerary(self, vehicle_id: str) -> list[FakePlannedStop]:
        out = []
        for stop in self.plan.route_of(vehicle_id).stops:
            r = self.requests[stop.request_id]
            if stop.kind is StopKind.PICKUP:
                out.append(
                    FakePlannedStop(
                        r.id,
                        stop.kind,
                        stop.location,
                        r.earliest_pickup,
                        (r.earliest_pickup, r.latest_pickup),
                    )
                )
            else:
                out.append(FakePlannedStop(r.id, stop.kind, stop.location, r.latest_dropoff, None))
        return out
