"""Service areas: stop lookup, snapping riders to meeting points, paths, building with caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ondemand.errors import OutsideServiceAreaError, UnknownAreaError, UnknownStopError
from ondemand.routing.geo.area import ServiceArea, build_service_area
from ondemand.routing.geo.matrix import build_matrix
from ondemand.routing.geo.stops import MeetingPoint, StopParams
from ondemand.routing.solver.model import TravelTimes
from tests.routing.geo._network_fixtures import BBOX, grid_network, isolated_cache, lonlat

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)


def _area() -> ServiceArea:
    net = grid_network(5)
    stops = (
        MeetingPoint("A", "west", *lonlat(0, 0), node=0),
        MeetingPoint("B", "centre", *lonlat(2, 2), node=12),
        MeetingPoint("C", "east", *lonlat(4, 4), node=24),
    )
    assert all((net.lon[s.node], net.lat[s.node]) == (s.lon, s.lat) for s in stops)
    matrix = build_matrix(net, [s.node for s in stops])
    return ServiceArea(network=net, stops=stops, matrix=matrix, aliases={"A2": "A"})


def test_stop_index_and_aliases() -> None:
    """stop_index maps ids (and merged aliases) to matrix indices; unknown ids raise UnknownStopError."""
    area = _area()
    assert [area.stop_index(s) for s in ("A", "B", "C", "A2")] == [0, 1, 2, 0]
    with pytest.raises(UnknownStopError, match="'Z'"):
        area.stop_index("Z")


def test_area_is_travel_times_over_stops() -> None:
    """Matrix index i is stops[i]; the area itself satisfies TravelTimes."""
    area = _area()
    assert isinstance(area, TravelTimes)
    assert isinstance(area.matrix, TravelTimes)
    assert area.matrix.nodes.tolist() == [s.node for s in area.stops]
    assert area.durations[0, 2] > 0


def test_snap_to_nearest_stop_with_walk() -> None:
    """A rider 50 m from the centre stop snaps to it with a walk of about 50 m."""
    area = _area()
    x, y = lonlat(2, 2.5)
    i, walk = area.snap(x, y, max_walk_m=300)
    assert area.stops[i].id == "B"
    assert walk == pytest.approx(50, abs=1)


def test_snap_refuses_far_and_outside() -> None:
    """No stop within the walk, or a place outside the bbox: OutsideServiceAreaError."""
    area = _area()
    x, y = lonlat(4, 0)
    with pytest.raises(OutsideServiceAreaError, match="no meeting point within 100 m"):
        area.snap(x, y, max_walk_m=100)
    with pytest.raises(OutsideServiceAreaError, match="outside"):
        area.snap(BBOX[2] + 0.1, 34.9, max_walk_m=10_000)


def test_path_between_stops_matches_matrix() -> None:
    """path(i, j) runs from stop i's node to stop j's with the matrix's time and distance."""
    area = _area()
    for i in range(3):
        for j in range(3):
            p = area.path(i, j)
            assert p.nodes[0] == area.stops[i].node
            assert p.nodes[-1] == area.stops[j].node
            assert (p.duration, p.distance) == (area.durations[i, j], area.distances[i, j])
    assert area.path(0, 2) is area.path(0, 2)
    k, n = len(area.stops), area.network.n_nodes
    turn = area.path(k + 5, 1)  # a turning point: the network node past the stops
    assert (turn.nodes[0], turn.nodes[-1]) == (5, area.stops[1].node)
    for bad in (k + n, -1):
        with pytest.raises(IndexError, match="out of range"):
            area.path(0, bad)


def test_service_area_pickles() -> None:
    """A service area survives pickling (for worker processes) with equal matrices and lookups."""
    import pickle

    area = _area()
    area.path(0, 1)
    clone = pickle.loads(pickle.dumps(area))
    assert np.array_equal(clone.durations, area.durations)
    assert clone.stop_index("A2") == 0
    assert clone.path(0, 2).duration == area.durations[0, 2]


def test_mismatched_matrix_is_refused() -> None:
    """A matrix whose nodes are not the stops' nodes is refused."""
    area = _area()
    wrong = build_matrix(area.network, [0, 12, 23])
    with pytest.raises(ValueError, match="matrix row 2"):
        ServiceArea(network=area.network, stops=area.stops, matrix=wrong)


def test_unknown_area_is_refused() -> None:
    """build_service_area of an unknown name raises UnknownAreaError."""
    with pytest.raises(UnknownAreaError):
        build_service_area("atlantis")


@pytest.mark.data
def test_build_toyono_service_area(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Toyono: stops, matrix and network agree; the second build comes from the caches (computes nothing)."""
    area = build_service_area("toyono", stops=StopParams(target_count=60), data_dir=data_dir)
    assert len(area.stops) == 60
    assert area.matrix.durations.shape == (60, 60)
    assert np.array_equal(area.matrix.nodes, [s.node for s in area.stops])
    assert area.coverage is not None

    def computed(*_a: object, **_k: object) -> None:
        raise AssertionError("the second build computed instead of reading its caches")

    # no timed assertion (a loaded machine makes any bound flaky; benchmarks/ measure speed):
    # the second build must not compile the network, place stops or route the matrix again
    monkeypatch.setattr("ondemand.routing.geo.network.compile_network", computed)
    monkeypatch.setattr("ondemand.routing.geo.area.make_stops", computed)
    monkeypatch.setattr("ondemand.routing.geo.matrix._matrix_cch", computed)
    monkeypatch.setattr("ondemand.routing.geo.matrix._matrix_scipy", computed)
    again = build_service_area("toyono", stops=StopParams(target_count=60), data_dir=data_dir)
    assert [s.id for s in again.stops] == [s.id for s in area.stops]
    assert np.array_equal(again.durations, area.durations)
    i, walk = area.snap(area.stops[5].lon, area.stops[5].lat, max_walk_m=300)
    assert (i, walk) == (5, 0)
    p = area.path(0, 1)
    assert p.duration == area.durations[0, 1]


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize(("area", "nodes", "stops"), [("senboku", 12234, 81), ("higashiosaka", 18354, 100)])
def test_build_big_service_areas(data_dir: Path, area: str, nodes: int, stops: int) -> None:
    """Senboku and Higashiosaka: SCC sizes as in PROVENANCE.md, the default stop count, a full matrix."""
    sa = build_service_area(area, data_dir=data_dir)
    assert sa.network.n_nodes == nodes
    assert len(sa.stops) == stops
    assert len({s.node for s in sa.stops}) == stops
    d = sa.durations
    assert np.all(d[np.eye(len(d), dtype=bool)] == 0)
    assert np.all(d[~np.eye(len(d), dtype=bool)] > 0)
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :])
    assert sa.coverage is not None
    assert sa.coverage.within_300m > 0.5
