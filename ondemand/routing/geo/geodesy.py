"""Distances and local projections on the earth: the one place for the earth radius.

Every straight-line distance in the package (walks to meeting points, special-fare
radii, the depot rule) is the great-circle distance of :func:`haversine_m`; every
KD-tree over places uses the local equirectangular projection of :func:`project`, whose
error is below 0.1 % over a service area (tens of kilometres).
"""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

__all__ = ["EARTH_RADIUS_M", "METRES_PER_DEGREE", "haversine_m", "project"]

EARTH_RADIUS_M = 6_371_008.8
"""Mean earth radius (IUGG), metres."""

METRES_PER_DEGREE = math.pi / 180.0 * EARTH_RADIUS_M
"""Metres per degree of latitude (and of longitude at the equator), about 111,195 m."""


@overload
def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float: ...


@overload
def haversine_m(
    lon1: NDArray[np.float64] | float,
    lat1: NDArray[np.float64] | float,
    lon2: NDArray[np.float64] | float,
    lat2: NDArray[np.float64] | float,
) -> NDArray[np.float64] | float: ...


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres between points given in degrees.

    Scalars give a ``float``; numpy arrays (broadcast against each other) give an array.
    """
    if all(isinstance(x, int | float) for x in (lon1, lat1, lon2, lat2)):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        dp, dl = p2 - p1, math.radians(lon2 - lon1)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
    q1 = np.radians(np.asarray(lat1, dtype=np.float64))
    q2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dlon = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin((q2 - q1) / 2) ** 2 + np.cos(q1) * np.cos(q2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def project(lon: Any, lat: Any, *, lon0: float, lat0: float) -> NDArray[np.float64]:
    """Local equirectangular projection around ``(lon0, lat0)``: ``(k, 2)`` metres east and north."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    x = (lon_a - lon0) * METRES_PER_DEGREE * math.cos(math.radians(lat0))
    y = (lat_a - lat0) * METRES_PER_DEGREE
    return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])
