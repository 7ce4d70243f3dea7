"""The one distance helper: great-circle metres and the local projection agree with each other."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ondemand.routing.geo.geodesy import EARTH_RADIUS_M, METRES_PER_DEGREE, haversine_m, project

lons = st.floats(135.0, 136.0)
lats = st.floats(34.0, 35.0)


def test_one_degree_of_latitude_is_metres_per_degree() -> None:
    """A degree of latitude is pi/180 of the mean earth radius (6,371,008.8 m)."""
    assert EARTH_RADIUS_M == 6_371_008.8
    assert math.isclose(haversine_m(135.0, 34.0, 135.0, 35.0), METRES_PER_DEGREE, rel_tol=1e-12)
    assert round(METRES_PER_DEGREE) == 111_195


@given(lons, lats, lons, lats)
def test_scalar_and_array_distances_agree(lon1: float, lat1: float, lon2: float, lat2: float) -> None:
    """Property: the scalar and the numpy haversine give the same metres, symmetric in the points."""
    one = haversine_m(lon1, lat1, lon2, lat2)
    arr = haversine_m(np.array([lon1]), np.array([lat1]), np.array([lon2]), np.array([lat2]))
    assert isinstance(one, float)
    assert math.isclose(one, float(arr[0]), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(one, haversine_m(lon2, lat2, lon1, lat1), rel_tol=1e-9, abs_tol=1e-6)


@given(st.floats(-0.02, 0.02), st.floats(-0.02, 0.02))
def test_projection_matches_great_circle_within_a_service_area(dlon: float, dlat: float) -> None:
    """Property: within ~2 km of the origin, projected metres equal great-circle metres to 0.1 %."""
    lon0, lat0 = 135.5, 34.5
    xy = project(lon0 + dlon, lat0 + dlat, lon0=lon0, lat0=lat0)
    assert xy.shape == (1, 2)
    flat = float(np.hypot(*xy[0]))
    sphere = haversine_m(lon0, lat0, lon0 + dlon, lat0 + dlat)
    assert abs(flat - sphere) <= 1e-3 * sphere + 1e-6
