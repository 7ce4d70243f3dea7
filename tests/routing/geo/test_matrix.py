"""Travel-time matrices: equal to networkx, exact CCH, triangle inequality, symmetry, paths, cache."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.geo.matrix import TravelMatrix, build_matrix, road_path
from ondemand.routing.geo.network import NetworkParams, RoadNetwork, compile_network, load_network
from ondemand.routing.solver.model import TravelTimes
from tests.routing.geo._network_fixtures import BBOX, grid_network, isolated_cache, lonlat

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)

_BIG = 10**9


def _lexicographic(u: int, v: int, d: dict[Any, dict[str, Any]]) -> int:
    """Edge weight time * 1e9 + length: the fastest parallel edge, shorter on ties."""
    return min(e["travel_time"] * _BIG + e["length"] for e in d.values())


def _reference(net: RoadNetwork, a: int, b: int) -> tuple[int, int]:
    """Time and length of the fastest path (shortest among fastest) by networkx on the MultiDiGraph."""
    w = nx.dijkstra_path_length(net.graph, a, b, weight=_lexicographic)
    return int(w // _BIG), int(w % _BIG)


def test_matrix_equals_networkx_on_the_grid() -> None:
    """Every entry of the grid matrix equals networkx's lexicographic (time, length) shortest path."""
    net = grid_network(4)
    nodes = list(range(net.n_nodes))
    m = build_matrix(net, nodes, backend="scipy")
    for a, b in itertools.product(nodes, nodes):
        assert (m.durations[a, b], m.distances[a, b]) == _reference(net, a, b)


def test_durations_equal_networkx_time_only_dijkstra() -> None:
    """Durations equal networkx's single-source Dijkstra on travel time alone."""
    net = grid_network(5)
    m = build_matrix(net, range(net.n_nodes), backend="scipy")
    for a in range(net.n_nodes):
        lengths = nx.single_source_dijkstra_path_length(net.graph, a, weight="travel_time")
        assert [lengths[b] for b in range(net.n_nodes)] == m.durations[a].tolist()


def test_matrix_is_a_travel_times() -> None:
    """TravelMatrix satisfies the TravelTimes protocol, with int64 arrays and a zero diagonal."""
    net = grid_network(4)
    m = build_matrix(net, [0, 5, 10])
    assert isinstance(m, TravelTimes)
    assert m.durations.dtype == np.int64
    assert m.distances.dtype == np.int64
    assert np.all(np.diag(m.durations) == 0)
    assert len(m) == 3
    with pytest.raises(ValueError, match="read-only"):
        m.durations[0, 1] = 5


def test_one_way_road_makes_the_matrix_asymmetric() -> None:
    """The one-way tertiary bottom row is faster eastbound than the detour westbound."""
    net = grid_network(4, params=NetworkParams(hours=(10, 11)))
    m = build_matrix(net, [0, 12])  # (0, 0) and (3, 0): both ends of the one-way row
    # 3 x 100 m at 28 km/h (13 s each) through two T junctions (4 s each); the ends are corners
    assert m.durations[0, 1] == 3 * 13 + 2 * 4
    assert m.durations[1, 0] > m.durations[0, 1]


def test_symmetric_where_all_roads_are_two_way() -> None:
    """With only two-way roads of one class, the matrix is symmetric."""
    net = grid_network(5, one_way=False, extras=False)
    m = build_matrix(net, range(net.n_nodes))
    assert np.array_equal(m.durations, m.durations.T)
    assert np.array_equal(m.distances, m.distances.T)


def test_known_path_time_is_class_speeds_plus_junction_delays_exactly() -> None:
    """0 -> 13 on the grid: 3 tertiary + 1 minor block at 36/18 km/h, T junctions 6 s, factor 0.5."""
    p = NetworkParams(
        speeds_kmh={"tertiary": 72.0, "minor": 36.0},
        junction_delay_s=6,
        crossing_delay_s=10,
        hour_factors={14: 0.5},
        hours=(14, 15),
    )
    net = grid_network(4, params=p)
    # running speeds 36 and 18 km/h: 10 s and 20 s a block. Junctions passed: 4 (T), 8 (T), 12 (corner,
    # 2 streets: no delay); the path ends at 13 (a T: half of 6 s); it starts at corner 0 (no delay)
    path = road_path(net, 0, 13, backend="scipy")
    assert path.nodes.tolist() == [0, 4, 8, 12, 13]
    assert path.duration == 3 * 10 + 20 + 6 + 6 + 3
    assert path.distance == 400
    m = build_matrix(net, [0, 13])
    assert (m.durations[0, 1], m.distances[0, 1]) == (path.duration, path.distance)


def test_triangle_inequality_on_the_grid() -> None:
    """d(a, c) <= d(a, b) + d(b, c) for every triple."""
    net = grid_network(5)
    d = build_matrix(net, range(net.n_nodes)).durations
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :])


def test_cch_equals_scipy_on_the_grid() -> None:
    """The CCH backend gives exactly the scipy reference's seconds and metres."""
    pytest.importorskip("routingkit_cch")
    net = grid_network(5)
    nodes = list(range(net.n_nodes))
    a = build_matrix(net, nodes, backend="scipy")
    b = build_matrix(net, nodes, backend="cch")
    assert np.array_equal(a.durations, b.durations)
    assert np.array_equal(a.distances, b.distances)


@st.composite
def _random_graphs(draw: st.DrawFn) -> Any:
    """A random strongly connected road graph: a ring plus random chords, one-way or two-way."""
    n = draw(st.integers(3, 12))
    g = nx.MultiDiGraph()
    for i in range(n):
        x, y = lonlat(i % 4, i // 4)
        g.add_node(i, x=x, y=y)
    classes = st.sampled_from(["minor", "tertiary", "secondary", "trunk", "motorway_link"])
    lengths = st.floats(1.0, 2000.0)
    for i in range(n):
        g.add_edge(i, (i + 1) % n, length=draw(lengths), highway=draw(classes))
    for _ in range(draw(st.integers(0, 2 * n))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if a == b:
            continue
        le, hw = draw(lengths), draw(classes)
        g.add_edge(a, b, length=le, highway=hw)
        if draw(st.booleans()):
            g.add_edge(b, a, length=le, highway=hw)
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_random_graphs())
def test_random_graphs_match_networkx_and_cch(g: Any) -> None:
    """On random graphs: scipy matrix == networkx reference, CCH == scipy, triangle inequality holds."""
    net = compile_network(g, area="random", bbox=BBOX, params=NetworkParams())
    nodes = list(range(net.n_nodes))
    m = build_matrix(net, nodes, backend="scipy")
    for a, b in itertools.product(nodes, nodes):
        assert (m.durations[a, b], m.distances[a, b]) == _reference(net, a, b)
    d = m.durations
    assert np.all(d[:, None, :] <= d[:, :, None] + d[None, :, :])
    c = build_matrix(net, nodes, backend="auto")
    assert np.array_equal(c.durations, m.durations)
    assert np.array_equal(c.distances, m.distances)
    for a, b in [(0, net.n_nodes - 1), (net.n_nodes - 1, 0)]:
        p = road_path(net, a, b, backend="cch")
        assert (p.duration, p.distance) == (m.durations[a, b], m.distances[a, b])


def test_road_path_agrees_with_the_matrix() -> None:
    """The path's nodes are joined by edges; its total seconds/metres equal the matrix entry."""
    net = grid_network(5)
    m = build_matrix(net, range(net.n_nodes))
    for (a, b), backend in itertools.product([(0, 24), (24, 0), (3, 17), (7, 7)], ["scipy", "cch"]):
        p = road_path(net, a, b, backend=backend)  # type: ignore[arg-type]
        assert p.nodes[0] == a
        assert p.nodes[-1] == b
        assert (p.duration, p.distance) == (m.durations[a, b], m.distances[a, b])
        for u, v in itertools.pairwise(p.nodes.tolist()):
            net.arc(u, v)  # raises if there is no edge
        assert (p.lon[0], p.lat[0]) == (net.lon[a], net.lat[a])
        assert (p.lon[-1], p.lat[-1]) == (net.lon[b], net.lat[b])
        assert np.all(np.diff(p.seconds) >= 0)
        assert np.all(np.diff(p.metres) >= 0)
        assert p.seconds[-1] == p.duration
        assert p.position_at(1e9) == (p.lon[-1], p.lat[-1])


def test_matrix_disk_cache_round_trip(tmp_path: Path) -> None:
    """A cached matrix is written once and read back equal; other nodes get another entry."""
    net = grid_network(4)
    a = build_matrix(net, [0, 3, 9], use_cache=True, cache_folder=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    b = build_matrix(net, [0, 3, 9], use_cache=True, cache_folder=tmp_path)
    assert np.array_equal(a.durations, b.durations)
    build_matrix(net, [0, 3], use_cache=True, cache_folder=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_network_pickles_after_building_a_matrix() -> None:
    """A network whose memo holds the CCH engine still pickles (for worker processes) and works after."""
    import pickle

    net = grid_network(4)
    before = build_matrix(net, range(net.n_nodes))
    clone = pickle.loads(pickle.dumps(net))
    after = build_matrix(clone, range(clone.n_nodes))
    assert np.array_equal(before.durations, after.durations)
    assert clone.fingerprint == net.fingerprint
    assert clone.params == net.params


def test_invalid_nodes_are_refused() -> None:
    """Node indices outside the network raise ValueError."""
    net = grid_network(4)
    with pytest.raises(ValueError, match="node indices"):
        build_matrix(net, [0, 99])
    with pytest.raises(ValueError, match="must both be"):
        TravelMatrix(np.zeros((2, 2)), np.zeros((3, 3)), np.array([0, 1]))


@pytest.fixture(scope="module")
def toyono(data_dir: Path) -> RoadNetwork:
    """The real Toyono network (loaded once for the module)."""
    return load_network("toyono", data_dir=data_dir)


@pytest.mark.data
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.integers(0, 2925), min_size=2, max_size=5, unique=True))
def test_real_toyono_matches_networkx(toyono: RoadNetwork, nodes: list[int]) -> None:
    """On the Toyono graph, random node sets: matrix == networkx (time, then length) on every pair."""
    net = toyono
    m = build_matrix(net, nodes)
    for i, a in enumerate(nodes):
        ref = nx.single_source_dijkstra_path_length(net.graph, a, weight=_lexicographic)
        for j, b in enumerate(nodes):
            assert (m.durations[i, j], m.distances[i, j]) == (ref[b] // _BIG, ref[b] % _BIG)
    for backend in ("scipy", "cch"):
        p = road_path(net, nodes[0], nodes[1], backend=backend)  # type: ignore[arg-type]
        assert (p.duration, p.distance) == (m.durations[0, 1], m.distances[0, 1])


@pytest.mark.data
@pytest.mark.slow
def test_real_higashiosaka_cch_equals_scipy(data_dir: Path) -> None:
    """On the Higashiosaka graph (18k nodes), CCH and scipy agree on a 300 x 300 matrix."""
    pytest.importorskip("routingkit_cch")
    net = load_network("higashiosaka", data_dir=data_dir)
    nodes = np.random.default_rng(1).choice(net.n_nodes, 300, replace=False)
    a = build_matrix(net, nodes, backend="scipy")
    b = build_matrix(net, nodes, backend="cch")
    assert np.array_equal(a.durations, b.durations)
    assert np.array_equal(a.distances, b.distances)
    d = a.durations
    assert np.all(d[:60, None, :60] <= d[:60, :60, None] + d[None, :60, :60])


def _reference_geometry(net: RoadNetwork, nodes: list[int]) -> tuple[list[float], ...]:
    """Lon, lat, seconds and metres along ``nodes``, one edge at a time (the plain loop)."""
    lons, lats, secs, mets = [float(net.lon[nodes[0]])], [float(net.lat[nodes[0]])], [0.0], [0.0]
    node_s = node_m = 0
    for u, v in itertools.pairwise(nodes):
        e = net.arc(u, v)
        p, q = int(net.geom_offsets[e]), int(net.geom_offsets[e + 1])
        xy = net.project(net.geom_lon[p:q], net.geom_lat[p:q])
        seg = np.hypot(*np.diff(xy, axis=0).T)
        total = float(seg.sum())
        frac = np.cumsum(seg) / total if total > 0 else np.ones(len(seg))
        frac[-1] = 1.0
        t_e, l_e = int(net.edge_time[e]), int(net.edge_length[e])
        lons += net.geom_lon[p + 1 : q].tolist()
        lats += net.geom_lat[p + 1 : q].tolist()
        secs += (node_s + frac * t_e).tolist()
        mets += (node_m + frac * l_e).tolist()
        node_s, node_m = node_s + t_e, node_m + l_e
    return lons, lats, secs, mets


@pytest.mark.data
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.integers(0, 2925), st.integers(0, 2925))
def test_road_path_geometry_equals_the_edge_by_edge_reference(toyono: RoadNetwork, a: int, b: int) -> None:
    """road_path's vectorised geometry equals the edge-by-edge loop: points exactly, times and
    metres to rounding, nodes at exact integers, seconds and metres increasing."""
    p = road_path(toyono, a, b, backend="scipy")
    lons, lats, secs, mets = _reference_geometry(toyono, p.nodes.tolist())
    assert p.lon.tolist() == lons
    assert p.lat.tolist() == lats
    np.testing.assert_allclose(p.seconds, secs, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(p.metres, mets, rtol=1e-12, atol=1e-9)
    assert np.all(np.diff(p.seconds) >= 0)
    assert np.all(np.diff(p.metres) >= 0)
    assert (p.seconds[-1], p.metres[-1]) == (p.duration, p.distance)


def test_arcs_equal_arc_one_by_one() -> None:
    """network.arcs over a node path gives each consecutive pair's arc() edge; a missing edge raises."""
    net = grid_network(5)
    m_path = road_path(net, 0, 24, backend="scipy").nodes
    assert net.arcs(m_path).tolist() == [net.arc(u, v) for u, v in itertools.pairwise(m_path.tolist())]
    everywhere = [
        (u, int(v))
        for u in range(net.n_nodes)
        for v in net.times.indices[net.times.indptr[u] : net.times.indptr[u + 1]]
    ]
    for u, v in everywhere:
        assert net.arcs(np.array([u, v])).tolist() == [net.arc(u, v)]
    with pytest.raises(ValueError, match="no edge from node 0 to node 24"):
        net.arcs(np.array([0, 24]))
    assert net.arcs(np.array([7])).tolist() == []
