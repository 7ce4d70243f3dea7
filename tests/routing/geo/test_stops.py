"""Meeting points: file loading and its errors, automatic placement, coverage."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ondemand.errors import DataNotFoundError, OutsideServiceAreaError, StopFileError
from ondemand.routing.geo.network import AreaSpec, RoadNetwork, load_network
from ondemand.routing.geo.stops import (
    MeetingPoint,
    StopParams,
    StopSet,
    load_stops,
    make_stops,
    place_stops,
    stop_coverage,
)
from tests.routing.geo._network_fixtures import BBOX, grid_network, isolated_cache, lonlat

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)

SPEC = AreaSpec("synthetic", "synth", BBOX, default_stops=3)


def _points(path: Path, points: list[tuple[float, float, dict[str, Any]]]) -> None:
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": p}
        for x, y, p in points
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")


@pytest.fixture
def synth_data(tmp_path: Path) -> Path:
    """A data folder for the synthetic area: buildings at two grid corners, one station, one hospital."""
    d = tmp_path / "data"
    d.mkdir()
    corner_a = [lonlat(0, 0), lonlat(0, 1), lonlat(1, 0)]
    corner_b = [lonlat(6, 6), lonlat(6, 5), lonlat(5, 6), lonlat(5, 5)]
    _points(d / "synth_buildings.geojson", [(x, y, {}) for x, y in corner_a + corner_b])
    st_lon, st_lat = lonlat(3, 3)
    h_lon, h_lat = lonlat(3, 0)
    _points(
        d / "synth_pois.geojson",
        [
            (st_lon, st_lat, {"key_class": "rail_station", "name": "中央駅"}),
            (h_lon, h_lat, {"key_class": "hospital", "name": "病院"}),
            (h_lon, h_lat, {"key_class": "park", "name": "公園"}),
        ],
    )
    _points(d / "synth_places.geojson", [(*lonlat(1, 1), {"class": "neighbourhood", "name": "西町"})])
    return d


def test_stop_params_validate() -> None:
    """Nonsense stop parameters are refused at creation."""
    with pytest.raises(ValueError, match="target_count"):
        StopParams(target_count=0)
    with pytest.raises(ValueError, match="max_walk_m"):
        StopParams(max_walk_m=10)
    with pytest.raises(ValueError, match="merge_m"):
        StopParams(merge_m=500, max_walk_m=300)
    assert StopParams(file="a.csv").file == Path("a.csv")  # type: ignore[arg-type]


def test_load_csv(tmp_path: Path) -> None:
    """A CSV with id,name,lon,lat loads; each point snaps to its nearest node."""
    net = grid_network(4)
    f = tmp_path / "stops.csv"
    (x0, y0), (x1, y1) = lonlat(0, 0), lonlat(3, 3)
    f.write_text(f"id,name,lon,lat\nA,駅前,{x0},{y0}\nB,Hall,{x1 + 0.0001},{y1}\n", encoding="utf-8")
    s = load_stops(f, net)
    assert [m.id for m in s.stops] == ["A", "B"]
    assert s.stops[0].name == "駅前"
    assert (net.lon[s.stops[0].node], net.lat[s.stops[0].node]) == pytest.approx((x0, y0))
    assert s.stops[1].lon == pytest.approx(x1 + 0.0001)  # riders wait where the file says
    assert s.source == str(f)


def test_load_geojson_and_merge_same_node(tmp_path: Path) -> None:
    """GeoJSON loads; a second point on the same node is merged and kept as an alias."""
    net = grid_network(4)
    f = tmp_path / "stops.geojson"
    x, y = lonlat(1, 1)
    _points(f, [(x, y, {"id": "P1", "name": "one"}), (x + 0.00005, y, {"id": "P2", "name": "two"})])
    s = load_stops(f, net)
    assert [m.id for m in s.stops] == ["P1"]
    assert dict(s.aliases) == {"P2": "P1"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("name,lon,lat\nx,135.5,34.9\n", "missing column"),
        ("id,name,lon,lat\nA,x,abc,34.9\n", "line 2: lon/lat must be numbers"),
        ("id,name,lon,lat\nA,x,135.5,34.9\nA,y,135.5,34.9\n", "duplicate id 'A'"),
        ("id,name,lon,lat\n,x,135.5,34.9\n", "empty id"),
        ("id,name,lon,lat\n", "no meeting points"),
        ("id,name,lon,lat\nA,x,400,34.9\n", "out of range"),
    ],
)
def test_malformed_csv_is_a_clear_error(tmp_path: Path, content: str, match: str) -> None:
    """A malformed CSV raises StopFileError naming the file and the problem."""
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(StopFileError, match=match) as info:
        load_stops(f, grid_network(4))
    assert str(f) in str(info.value)


def test_malformed_geojson_and_unknown_type(tmp_path: Path) -> None:
    """Non-point GeoJSON, invalid JSON, unknown suffix and missing file raise StopFileError."""
    net = grid_network(4)
    f = tmp_path / "bad.geojson"
    f.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"geometry": {"type": "LineString", "coordinates": []}}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(StopFileError, match="feature 0: geometry must be a Point"):
        load_stops(f, net)
    f.write_text("{not json", encoding="utf-8")
    with pytest.raises(StopFileError, match="not valid JSON"):
        load_stops(f, net)
    (tmp_path / "x.txt").write_text("a", encoding="utf-8")
    with pytest.raises(StopFileError, match="unknown file type"):
        load_stops(tmp_path / "x.txt", net)
    with pytest.raises(StopFileError, match="no such"):
        load_stops(tmp_path / "missing.csv", net)


def test_point_outside_is_refused(tmp_path: Path) -> None:
    """A file point outside the area raises OutsideServiceAreaError naming the stop."""
    f = tmp_path / "stops.csv"
    f.write_text("id,name,lon,lat\nFAR,far,135.0,34.0\n", encoding="utf-8")
    with pytest.raises(OutsideServiceAreaError, match="'FAR'"):
        load_stops(f, grid_network(4))


def test_stop_set_refuses_shared_nodes() -> None:
    """Two meeting points on the same node are refused unless merged."""
    with pytest.raises(ValueError, match="share a road node"):
        StopSet((MeetingPoint("a", "a", 135.5, 34.9, 1), MeetingPoint("b", "b", 135.5, 34.9, 1)))


def _big_grid() -> RoadNetwork:
    return grid_network(7)


def test_placement_seeds_key_destinations_first(synth_data: Path) -> None:
    """The station and hospital become the first stops; the park is not a seed."""
    net = _big_grid()
    s = place_stops(
        net, StopParams(target_count=10, seed_share=0.5, merge_m=50), area=SPEC, data_dir=synth_data
    )
    assert s.stops[0].name == "01_中央駅"  # stations are numbered first
    assert s.stops[1].name == "02_病院"
    assert s.seeds == 2
    assert all("公園" not in m.name for m in s.stops)
    assert all("西町" in m.name for m in s.stops[2:])  # the others: their district and a number


def test_placement_covers_all_buildings_and_never_shares_nodes(synth_data: Path) -> None:
    """Greedy placement covers every building within the walk distance; nodes are unique."""
    net = _big_grid()
    s = place_stops(
        net, StopParams(target_count=10, max_walk_m=150, merge_m=50), area=SPEC, data_dir=synth_data
    )
    nodes = [m.node for m in s.stops]
    assert len(set(nodes)) == len(nodes)
    assert len(s.stops) <= 10
    assert s.coverage is not None
    assert s.coverage.buildings == 7
    # every building within 150 m straight line of some stop
    b = net.project(
        [lonlat(*ij)[0] for ij in [(0, 0), (0, 1), (1, 0), (6, 6), (6, 5), (5, 6), (5, 5)]],
        [lonlat(*ij)[1] for ij in [(0, 0), (0, 1), (1, 0), (6, 6), (6, 5), (5, 6), (5, 5)]],
    )
    sxy = net.project([m.lon for m in s.stops], [m.lat for m in s.stops])
    d = np.sqrt(((b[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.all(d <= 150 + 1e-6)
    assert [m.id for m in s.stops] == [f"S{k + 1:03d}" for k in range(len(s.stops))]


def test_placement_keeps_stops_apart(synth_data: Path) -> None:
    """Automatically placed stops are at least merge_m apart."""
    net = _big_grid()
    s = place_stops(
        net, StopParams(target_count=20, merge_m=150, max_walk_m=300), area=SPEC, data_dir=synth_data
    )
    xy = net.project([m.lon for m in s.stops], [m.lat for m in s.stops])
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert d.min() > 150


def test_placement_respects_a_smaller_service_box(synth_data: Path) -> None:
    """With a service box around one corner, stops and counted buildings stay inside it."""
    net = _big_grid()
    x0, y0 = lonlat(-1, -1)
    x1, y1 = lonlat(2, 2)
    small = AreaSpec("corner", "synth", (x0, y0, x1, y1))
    from ondemand.routing.geo.network import compile_network
    from tests.routing.geo._network_fixtures import grid_graph

    net = compile_network(grid_graph(7), area="corner", bbox=small.bbox, params=net.params)
    s = place_stops(net, StopParams(target_count=4, merge_m=50), area=small, data_dir=synth_data)
    assert s.coverage is not None
    assert s.coverage.buildings == 3
    assert all(x0 <= m.lon <= x1 and y0 <= m.lat <= y1 for m in s.stops)


def test_placement_goes_on_with_shorter_walks_once_all_is_covered(synth_data: Path) -> None:
    """One stop covers all at 1000 m; placement goes on at 500 m and 250 m, not stopping at one."""
    net = _big_grid()
    params = StopParams(target_count=6, max_walk_m=1000, merge_m=50, seed_share=0)
    s = place_stops(net, params, area=SPEC, data_dir=synth_data)
    assert 1 < len(s.stops) <= 6
    b = [(0, 0), (0, 1), (1, 0), (6, 6), (6, 5), (5, 6), (5, 5)]
    bxy = net.project([lonlat(*ij)[0] for ij in b], [lonlat(*ij)[1] for ij in b])
    sxy = net.project([m.lon for m in s.stops], [m.lat for m in s.stops])
    d = np.sqrt(((bxy[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)).min(1)
    assert np.all(d <= 250 + 1e-6)


def test_placement_without_buildings_is_a_clear_error(tmp_path: Path) -> None:
    """Automatic placement without a buildings file raises DataNotFoundError suggesting a stop file."""
    with pytest.raises(DataNotFoundError, match=r"synth_buildings\.geojson"):
        place_stops(_big_grid(), StopParams(target_count=3), area=SPEC, data_dir=tmp_path)


def test_coverage_matches_brute_force() -> None:
    """Coverage shares equal a brute-force count of buildings within 200 m / 300 m."""
    net = grid_network(4)
    rng = np.random.default_rng(3)
    b = rng.uniform(-400, 400, size=(200, 2))
    stops = [MeetingPoint("a", "a", *lonlat(0, 0), 0), MeetingPoint("b", "b", *lonlat(3, 3), 15)]
    cov = stop_coverage(net, stops, b)
    sxy = net.project([s.lon for s in stops], [s.lat for s in stops])
    d = np.sqrt(((b[:, None, :] - sxy[None, :, :]) ** 2).sum(-1)).min(1)
    assert cov.within_200m == pytest.approx(np.mean(d <= 200))
    assert cov.within_300m == pytest.approx(np.mean(d <= 300))
    assert cov.method == "straight line"


def test_make_stops_from_file_reports_coverage(synth_data: Path, tmp_path: Path) -> None:
    """With a file, make_stops loads it and still reports building coverage."""
    f = tmp_path / "s.csv"
    x, y = lonlat(0, 0)
    f.write_text(f"id,name,lon,lat\nA,a,{x},{y}\n", encoding="utf-8")
    s = make_stops(_big_grid(), StopParams(file=f), area=SPEC, data_dir=synth_data)
    assert len(s.stops) == 1
    assert s.coverage is not None
    assert s.coverage.within_200m == pytest.approx(3 / 7)


@pytest.mark.data
def test_real_toyono_placement(data_dir: Path) -> None:
    """Toyono: 115 stops (the pilot's count), unique nodes, >= 95 % of buildings within 300 m."""
    import time

    net = load_network("toyono", data_dir=data_dir)
    # CPU seconds of this process, not wall time: 0.6 s of CPU took 4-5 s of wall time at load 11
    # on 2 cores, so a wall-clock bound fails on a busy machine; the CPU bound does not
    t0 = time.process_time()
    s = place_stops(net, StopParams(), data_dir=data_dir)
    assert time.process_time() - t0 < 10
    assert len(s.stops) == 115
    assert len({m.node for m in s.stops}) == 115
    assert s.coverage is not None
    assert s.coverage.within_300m >= 0.95
    assert s.coverage.within_200m <= s.coverage.within_300m
    assert any(m.name.endswith("駅") for m in s.stops)
    assert all(net.in_bbox(m.lon, m.lat)[0] for m in s.stops)
    assert math.isclose(s.coverage.buildings, 15218)
