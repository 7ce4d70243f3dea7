"""A small synthetic service area for tests, the load benchmark and demos (no OSM data needed).

Stops lie on a jittered grid around a centre; travel times are straight-line distance
× a detour factor at a constant speed, so they satisfy the triangle inequality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ondemand.api.booking import ServiceConfig, ServiceRules
from ondemand.errors import OutsideServiceAreaError, UnknownStopError
from ondemand.routing.solver.model import ArrayTravelTimes, Vehicle

__all__ = ["SyntheticArea", "SyntheticStop", "synthetic_service"]

_EARTH_M = 6_371_000.0


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(a))


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

    def snap(self, lon: float, lat: float, *, max_walk_m: int) -> tuple[int, int]:
        """Nearest stop within ``max_walk_m`` (straight line) and the walking metres to it."""
        best = min(
            range(len(self.stops)), key=lambda i: _metres(lon, lat, self.stops[i].lon, self.stops[i].lat)
        )
        walk = round(_metres(lon, lat, self.stops[best].lon, self.stops[best].lat))
        if walk > max_walk_m:
            raise OutsideServiceAreaError(
                f"point ({lon:.6f}, {lat:.6f}) is {walk} m from the nearest meeting point, more than the "
                f"{max_walk_m} m walking limit; choose a point inside the service area"
            )
        return best, walk

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


def synthetic_service(
    area: SyntheticArea,
    *,
    n_vehicles: int = 2,
    seats: int = 8,
    wheelchair_places: int = 1,
    start: int = 0,
    end: int = 86_399,
    rules: ServiceRules | None = None,
) -> ServiceConfig:
    """A fleet of identical vans starting at the first stop, with a shift ``[start, end]``."""
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
    return ServiceConfig(name="synthetic", vehicles=vehicles, rules=rules or ServiceRules())
