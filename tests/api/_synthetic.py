"""A small synthetic service area for tests, the load benchmark and demos (no OSM data needed).

Stops lie on a jittered grid around a centre; travel times are straight-line distance
× a detour factor at a constant speed, so they satisfy the triangle inequality.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ondemand.api.booking import ServiceConfig
from ondemand.dispatch.policy import ServicePolicy, Walking
from ondemand.errors import UnknownStopError
from ondemand.routing.geo.geodesy import haversine_m as _metres
from ondemand.routing.solver.model import ArrayTravelTimes, Vehicle
from ondemand.scenario import ServiceParams

__all__ = ["SyntheticArea", "SyntheticStop", "synthetic_policy", "synthetic_service"]


@dataclass(frozen=True, slots=True)
class SyntheticStop:
    """A meeting point of a synthetic area."""

    id: str
    name: str
    lon: float
    lat: float
    node: int


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticArea:
    """A service area with the methods the API uses (``stops``, ``matrix``, ``stop_index``, ``snap``)."""

    stops: tuple[SyntheticStop, ...]
    matrix: ArrayTravelTimes

    def stop_index(self, stop_id: str) -> int:
        """Index of a stop by id."""
        for i, s in enumerate(self.stops):
            if s.id == stop_id:
                return i
        raise UnknownStopError(f"unknown stop {stop_id!r}; GET /v1/stops lists the meeting points")

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """Nearest stop and the great-circle metres to it."""
        best = min(
            range(len(self.stops)), key=lambda i: _metres(lon, lat, self.stops[i].lon, self.stops[i].lat)
        )
        return best, _metres(lon, lat, self.stops[best].lon, self.stops[best].lat)

    @classmethod
    def grid(
        cls,
        n_stops: int,
        *,
        centre: tuple[float, float] = (135.48, 34.51),
        spacing_m: float = 400.0,
        speed_mps: float = 8.0,
        detour: float = 1.3,
        seed: int = 0,
    ) -> SyntheticArea:
        """``n_stops`` stops on a jittered square grid; drive time = detour × distance / speed."""
        if n_stops < 2:
            raise ValueError(f"a service area needs at least 2 stops, got {n_stops}")
        rng = np.random.default_rng(seed)
        side = math.ceil(math.sqrt(n_stops))
        dlat = spacing_m / 111_000.0
        dlon = spacing_m / (111_000.0 * math.cos(math.radians(centre[1])))
        stops = []
        for k in range(n_stops):
            r, c = divmod(k, side)
            jx, jy = rng.uniform(-0.2, 0.2, size=2)
            lon = centre[0] + (c - side / 2 + jx) * dlon
            lat = centre[1] + (r - side / 2 + jy) * dlat
            stops.append(SyntheticStop(f"s{k:02d}", f"Stop {k}", round(lon, 6), round(lat, 6), k))
        dist = np.zeros((n_stops, n_stops), dtype=np.int64)
        for i in range(n_stops):
            for j in range(n_stops):
                if i != j:
                    dist[i, j] = round(
                        detour * _metres(stops[i].lon, stops[i].lat, stops[j].lon, stops[j].lat)
                    )
        dur = np.ceil(dist / speed_mps).astype(np.int64)
        return cls(tuple(stops), ArrayTravelTimes(dur, dist))


def synthetic_policy(
    *,
    fleet: int = 2,
    seats: int = 8,
    wheelchair_places: int = 1,
    start: int = 0,
    end: int = 86_399,
    auto_complete: bool = False,
    closed_dates: frozenset[dt.date] = frozenset(),
    **service: Any,
) -> ServicePolicy:
    """A service policy with the API tests' defaults (``service``: other ``ServiceParams`` fields)."""
    params: dict[str, Any] = {
        "start": start,
        "end": end,
        "calendar": "every_day",
        "holidays": True,
        "fleet": fleet,
        "vehicle_kind": "van",
        "seats": seats,
        "wheelchair_places": wheelchair_places,
        "boarding_s": 30,
        "alighting_s": 20,
        "wheelchair_boarding_s": 180,
        "pickup_window_s": 600,
        "max_wait_s": 1800,
        "max_detour": 2.0,
        "min_extra_ride_s": 300,
        "booking_channels": ("app",),
        "booking_horizon_days": 0,
        "reoptimise_every_s": 30,
        "reoptimise_time_limit_s": 2.0,
        "depot": "centre",
    }
    params.update(service)
    return ServicePolicy(
        name="synthetic",
        service=ServiceParams(**params),
        walking=Walking(max_walk_m=500, circuity=1.25, speed_mps=1.0),
        auto_complete=auto_complete,
        closed_dates=closed_dates,
    )


def synthetic_service(
    area: SyntheticArea,
    *,
    n_vehicles: int = 2,
    seats: int = 8,
    wheelchair_places: int = 1,
    start: int = 0,
    end: int = 86_399,
    **policy: Any,
) -> ServiceConfig:
    """A fleet of identical vans spread over the stops, with a shift ``[start, end]``, and its policy.

    ``policy``: further :func:`synthetic_policy` arguments (``auto_complete``, ``max_wait_s``, ...).
    """
    vehicles = tuple(
        Vehicle(
            id=f"v{k + 1}",
            seats=seats,
            start=(k * 7) % len(area.stops),
            available_from=start,
            shift_end=end,
            wheelchair_places=wheelchair_places,
        )
        for k in range(n_vehicles)
    )
    rules = synthetic_policy(
        fleet=n_vehicles, seats=seats, wheelchair_places=wheelchair_places, start=start, end=end, **policy
    )
    return ServiceConfig(rules, vehicles)
