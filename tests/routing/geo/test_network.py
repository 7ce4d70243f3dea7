"""Road networks: speeds, largest component, snapping, loading and caching, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ondemand.errors import DataNotFoundError, OutsideServiceAreaError, UnknownAreaError
from ondemand.routing.geo.network import AREAS, AreaSpec, NetworkParams, get_area, load_network
from tests.routing.geo._network_fixtures import BBOX, grid_graph, grid_network, isolated_cache, lonlat

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)


def test_default_speeds_are_travel_speeds_not_limits() -> None:
    """Default travel speeds: minor 22, tertiary 28, secondary 32, primary 35, trunk 40, motorway 60 km/h."""
    p = NetworkParams()
    assert [p.speed_for(c) for c in ("minor", "residential", "tertiary", "secondary", "primary")] == [
        22,
        22,
        28,
        32,
        35,
    ]
    assert p.speed_for("trunk") == 40
    assert p.speed_for("motorway") == 60
    assert (p.junction_delay(2), p.junction_delay(3), p.junction_delay(4), p.junction_delay(6)) == (
        0,
        4,
        8,
        8,
    )


def test_link_classes_take_the_base_speed_and_lists_the_fastest() -> None:
    """A *_link class takes its base class's speed; a merged edge's list takes the fastest class."""
    p = NetworkParams(speeds_kmh={"trunk": 70})
    assert p.speed_for("trunk_link") == 70
    assert p.speed_for("motorway_link") == 60
    assert p.speed_for(["minor", "secondary"]) == 32
    assert p.speed_for("footway_unknown") == p.default_kmh
    assert p.speed_for(None) == p.default_kmh


def test_hour_factor_is_the_mean_over_the_hours_and_overridable() -> None:
    """The day's speed factor is the mean hour factor over `hours`; scenario entries override defaults."""
    assert NetworkParams(hours=(10, 12)).speed_factor == 1.0
    assert NetworkParams(hours=(8, 10)).speed_factor == pytest.approx((0.8 + 1.0) / 2)
    p = NetworkParams(hours=(8, 10), hour_factors={"9": 0.5, 8: 1.0})
    assert p.speed_factor == pytest.approx(0.75)
    assert p.hour_factors[17] == 0.85  # a default kept
    with pytest.raises(ValueError, match="hour of day"):
        NetworkParams(hour_factors={"25": 1.0})
    with pytest.raises(ValueError, match="hours"):
        NetworkParams(hours=(18, 9))
    with pytest.raises(ValueError, match="junction_delay_s"):
        NetworkParams(junction_delay_s=-1)


def test_overrides_merge_with_defaults_and_params_are_hashable() -> None:
    """Overriding one class keeps the others; equal params hash equally (usable as cache keys)."""
    a = NetworkParams(speeds_kmh={"minor": 25})
    b = NetworkParams(speeds_kmh={"minor": 25.0})
    assert a.speed_for("minor") == 25
    assert a.speed_for("tertiary") == 28
    assert a == b
    assert hash(a) == hash(b)
    assert a.key() == b.key()


@pytest.mark.parametrize("bad", [0, -5, float("nan"), 500])
def test_invalid_speeds_are_refused(bad: float) -> None:
    """A speed outside 1..200 km/h is refused at creation."""
    with pytest.raises(ValueError, match="km/h"):
        NetworkParams(speeds_kmh={"minor": bad})


def test_largest_component_is_kept_and_drops_reported() -> None:
    """The island (2 nodes, 3 edges touching it) is dropped and counted."""
    g = grid_graph(4)
    net = grid_network(4)
    assert net.n_nodes == 16
    assert net.dropped_nodes == 2
    assert net.n_nodes + net.dropped_nodes == g.number_of_nodes()
    assert net.n_edges + net.dropped_edges == g.number_of_edges()
    assert net.dropped_edges == 3
    assert "dropped 2 nodes, 3 edges" in net.describe_component()


def test_edge_times_are_rounded_seconds_of_length_over_speed_plus_junction_delays() -> None:
    """Edge time = max(1, round(length / speed)) + half the junction delay of each end (streets met)."""
    net = grid_network(4, params=NetworkParams(hours=(10, 11)))  # factor 1.0
    g = grid_graph(4)
    streets = {n: len(set(g.predecessors(n)) | set(g.successors(n))) for n in g.nodes}
    p = net.params
    for e in range(net.n_edges):
        le, t, s = net.edge_length[e], net.edge_time[e], net.edge_speed[e]
        u, v = (int(net.node_ids[net.edge_u[e]]), int(net.node_ids[net.edge_v[e]]))
        delay = (
            p.junction_delay(streets[u]) // 2
            + p.junction_delay(streets[v])
            - p.junction_delay(streets[v]) // 2
        )
        assert t == max(1, round(le / (s / 3.6))) + delay
    # 0 -> 4 on the tertiary row: 100 m at 28 km/h = 13 s; node 0 is a corner, node 4 a T junction
    assert net.times[0, 4] == 13 + 2


def test_parallel_edges_use_the_fastest_in_the_csr() -> None:
    """The CSR keeps the fastest parallel edge; a merged edge with a class list takes the fastest class."""
    net = grid_network(4, params=NetworkParams(hours=(10, 11)))
    assert net.edge_length[net.arc(1, 2)] == 100
    e = net.arc(15, 14)
    assert net.edge_speed[e] == 32  # the ['minor', 'secondary'] edge
    assert net.times[15, 14] == 11 + 2  # round(100 / (32 / 3.6)) = 11; 14 is a T junction (4 s / 2)
    assert net.times.nnz <= net.n_edges


def test_csr_matrices_match_edges() -> None:
    """Every CSR entry equals the time/length of the edge it points to."""
    net = grid_network(4)
    coo = net.times.tocoo()
    for r, c, t in zip(coo.row, coo.col, coo.data, strict=True):
        e = net.arc(int(r), int(c))
        assert (net.edge_u[e], net.edge_v[e]) == (r, c)
        assert net.edge_time[e] == t
        assert net.lengths[r, c] == net.edge_length[e]


def test_snap_returns_nearest_node() -> None:
    """A point 10 m from grid node (2, 1) snaps to that node."""
    net = grid_network(4)
    lon, lat = lonlat(2, 1)
    node = net.snap(lon + 0.0001, lat, max_m=50)
    assert (net.lon[node], net.lat[node]) == pytest.approx((lon, lat))


def test_snap_refuses_points_outside_the_bbox() -> None:
    """A point outside the service bbox is refused with OutsideServiceAreaError."""
    net = grid_network(4)
    with pytest.raises(OutsideServiceAreaError, match="outside the synthetic service area"):
        net.snap(BBOX[0] - 0.01, 34.9, max_m=1e6)


def test_snap_refuses_points_far_from_roads() -> None:
    """A point inside the bbox but farther than max_m from every node is refused."""
    net = grid_network(4)
    with pytest.raises(OutsideServiceAreaError, match="from the nearest road"):
        net.snap(BBOX[2] - 0.001, BBOX[3] - 0.001, max_m=100)


def test_unknown_area_lists_known_names() -> None:
    """An unknown area name raises UnknownAreaError listing the built-in areas."""
    with pytest.raises(UnknownAreaError, match="higashiosaka, senboku, toyono"):
        get_area("osaka-bay")
    assert get_area(" Toyono ").prefix == "toyono_west"
    assert set(AREAS) == {"toyono", "senboku", "higashiosaka"}


def test_missing_data_names_variable_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data and no download: DataNotFoundError naming ONDEMAND_DATA_DIR and the graph file."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ONDEMAND_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as info:
        load_network("senboku", data_dir=tmp_path / "empty")
    msg = str(info.value)
    assert "ONDEMAND_DATA_DIR" in msg
    assert "senboku_drive.graphml" in msg


def test_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data and no network: DataNotFoundError saying the download failed and naming the variable."""
    import socket

    def no_network(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("network is unreachable")

    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ONDEMAND_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(DataNotFoundError, match=r"download failed .*unreachable.*ONDEMAND_DATA_DIR"):
        load_network("toyono", data_dir=tmp_path / "empty")


def test_graph_view_matches_arrays() -> None:
    """The networkx view has the same nodes/edges with integer travel times."""
    net = grid_network(4)
    g = net.graph
    assert g.number_of_nodes() == net.n_nodes
    assert g.number_of_edges() == net.n_edges
    assert all(isinstance(d["travel_time"], int) for *_, d in g.edges(data=True))
    assert net.graph is g


def test_load_from_graphml_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graphml in the data folder is compiled once; the second load comes from the cache, equal."""
    import osmnx as ox

    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    spec = AreaSpec("synthetic", "synth", BBOX)
    data = tmp_path / "data"
    data.mkdir()
    ox.save_graphml(grid_graph(4), data / spec.graph_file)
    first = load_network(spec, data_dir=data)
    assert list((tmp_path / "cache" / "networks").glob("synth-*.npz"))
    second = load_network(spec, data_dir=data)
    assert first.fingerprint == second.fingerprint
    assert np.array_equal(first.edge_time, second.edge_time)
    assert np.array_equal(first.geom_lon, second.geom_lon)
    assert second.dropped_nodes == 2
    other = load_network(spec, data_dir=data, params=NetworkParams(speeds_kmh={"minor": 20}))
    assert other.fingerprint != first.fingerprint


def test_edge_geometry_runs_from_tail_to_head() -> None:
    """Each edge's geometry starts at its tail node and ends at its head node."""
    net = grid_network(4)
    for e in range(net.n_edges):
        lon, lat = net.edge_coords(e)
        u, v = net.edge_u[e], net.edge_v[e]
        assert (lon[0], lat[0]) == (net.lon[u], net.lat[u])
        assert (lon[-1], lat[-1]) == (net.lon[v], net.lat[v])


@pytest.mark.data
def test_real_toyono_graph(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Toyono: 2,926 of 2,958 nodes in the largest SCC (PROVENANCE.md); minor roads at 22 km/h x factor."""
    net = load_network("toyono", data_dir=data_dir)
    assert net.n_nodes == 2926
    assert net.n_nodes + net.dropped_nodes == 2958
    assert net.n_edges + net.dropped_edges == 8576
    minor = net.edge_class == "minor"
    assert minor.any()
    assert np.allclose(net.edge_speed[minor], 22 * net.params.speed_factor)
    # the station area (ときわ台) snaps within 100 m; Osaka city centre is refused
    node = net.snap(135.4380, 34.9061, max_m=300)
    assert math.dist(net.project(net.lon[node], net.lat[node])[0], net.project(135.4380, 34.9061)[0]) < 300
    with pytest.raises(OutsideServiceAreaError):
        net.snap(135.50, 34.69, max_m=300)


def test_cli_refuses_unknown_area(capsys: pytest.CaptureFixture[str]) -> None:
    """`ondemand network nowhere` exits 2 with a one-line error listing known areas, no traceback."""
    from ondemand.cli import main

    with pytest.raises(SystemExit) as info:
        main(["network", "nowhere"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown area 'nowhere'" in err
    assert "Traceback" not in err


def test_cli_missing_data_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing data: exit 2 and a message naming the variable, no traceback."""
    from ondemand.cli import main

    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ONDEMAND_OFFLINE", "1")
    monkeypatch.setenv("ONDEMAND_DATA_DIR", str(tmp_path / "none"))
    with pytest.raises(SystemExit) as info:
        main(["network", "toyono"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "ONDEMAND_DATA_DIR" in err
    assert "toyono_west_drive.graphml" in err


@pytest.mark.data
def test_cli_on_toyono_prints_each_figure(data_dir: Path, tmp_path: Path) -> None:
    """`ondemand network toyono --stops 40 --map` prints nodes, edges, component, stops, coverage, matrix."""
    from typer.testing import CliRunner

    from ondemand.cli import app

    out_map = tmp_path / "map.html"
    result = CliRunner().invoke(
        app, ["network", "toyono", "--stops", "40", "--map", str(out_map), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2926 nodes"
    assert lines[1].endswith(" edges")
    assert lines[2].startswith("largest component: 2926 of 2958 nodes")
    assert lines[3].startswith("40 stops")
    assert lines[4].startswith("coverage 200 m: ")
    assert "straight line" in lines[4]
    assert lines[5].startswith("coverage 300 m: ")
    assert lines[6].startswith("matrix: 40 x 40 in ")
    html = out_map.read_text(encoding="utf-8")
    assert "\\u00a9 OpenStreetMap contributors" in html  # folium writes the © escaped


def test_status_callback_spans_the_compilation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_network reports its long step to the status callback; a cache hit reports nothing."""
    import contextlib

    import osmnx as ox

    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    spec = AreaSpec("synthetic", "synth", BBOX)
    data = tmp_path / "data"
    data.mkdir()
    ox.save_graphml(grid_graph(4), data / spec.graph_file)
    said: list[str] = []

    def status(message: str) -> contextlib.AbstractContextManager[object]:
        said.append(message)
        return contextlib.nullcontext()

    load_network(spec, data_dir=data, status=status)
    assert said == [f"loading {spec.graph_file}"]
    load_network(spec, data_dir=data, status=status)
    assert said == [f"loading {spec.graph_file}"]
