"""Tiny synthetic road networks for the routing tests (no OSM data needed)."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from ondemand.routing.geo.geodesy import METRES_PER_DEGREE
from ondemand.routing.geo.network import NetworkParams, RoadNetwork, compile_network

LON0, LAT0 = 135.50, 34.90
STEP_M = 100.0
BBOX = (135.495, 34.895, 135.515, 34.915)


def lonlat(i: int, j: int) -> tuple[float, float]:
    """Lon/lat of grid point (column i, row j), STEP_M apart."""
    dlat = STEP_M / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(LAT0))
    return LON0 + i * dlon, LAT0 + j * dlat


def grid_graph(size: int = 4, *, one_way: bool = True, extras: bool = True) -> Any:
    """A ``size`` x ``size`` grid of two-way ``minor`` roads, 100 m apart.

    With ``one_way``: the bottom row is a one-way ``tertiary`` road going east (faster).
    With ``extras``: a slow parallel edge, a merged edge with a list ``highway``, and a
    two-node island with a one-way link into the grid (not strongly connected: dropped).
    """
    g = nx.MultiDiGraph(crs="epsg:4326")
    for i in range(size):
        for j in range(size):
            x, y = lonlat(i, j)
            g.add_node(i * size + j, x=x, y=y)

    def road(a: int, b: int, hw: Any, two_way: bool = True, length: float = STEP_M) -> None:
        g.add_edge(a, b, length=length, highway=hw)
        if two_way:
            g.add_edge(b, a, length=length, highway=hw)

    for i in range(size):
        for j in range(size):
            a = i * size + j
            if i + 1 < size:
                if one_way and j == 0:
                    road(a, (i + 1) * size + j, "tertiary", two_way=False)
                else:
                    road(a, (i + 1) * size + j, "minor")
            if j + 1 < size:
                road(a, a + 1, "minor")
    if extras:
        # a longer, slower parallel edge next to 1 -> 2 (must not be used)
        g.add_edge(1, 2, length=1.5 * STEP_M, highway="living_street")
        # a merged edge: list of classes, takes the fastest
        g.add_edge(size * size - 1, size * size - 2, length=STEP_M, highway=["minor", "secondary"])
        # an island reachable from the grid but with no way back
        x, y = lonlat(size + 3, size + 3)
        g.add_node(900, x=x, y=y)
        x, y = lonlat(size + 4, size + 3)
        g.add_node(901, x=x, y=y)
        road(900, 901, "minor")
        g.add_edge(size - 1, 900, length=500.0, highway="minor")
    return g


def grid_network(size: int = 4, *, params: NetworkParams | None = None, **kwargs: Any) -> RoadNetwork:
    """The compiled :func:`grid_graph`."""
    return compile_network(
        grid_graph(size, **kwargs),
        area="synthetic",
        bbox=BBOX,
        params=params or NetworkParams(),
        source="test",
    )


def isolated_cache(tmp_path_factory: Any) -> Any:
    """Point ``ONDEMAND_CACHE_DIR`` at the test session's temporary folder for a test module."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        # one folder per test session, shared by the modules (the session's base temp dir)
        mp.setenv("ONDEMAND_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ondemand-cache"))
        yield
