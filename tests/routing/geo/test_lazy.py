"""On-demand travel times: equal to the dense scipy reference entry by entry, with a bounded cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.geo.lazy import (
    OnDemandTravelTimes,
    TravelTimesParams,
    travel_times,
)
from ondemand.routing.geo.matrix import TravelMatrix, build_matrix
from ondemand.routing.geo.network import RoadNetwork, load_network
from ondemand.routing.solver.model import TravelTimes
from tests.routing.geo._network_fixtures import grid_network, isolated_cache

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)

Backend = Literal["cch", "scipy"]


@pytest.fixture(scope="module")
def grid() -> RoadNetwork:
    """A 7 x 7 synthetic grid with one-way roads and mixed classes."""
    return grid_network(7)


def _dense(net: RoadNetwork, nodes: Any) -> TravelMatrix:
    return build_matrix(net, nodes, backend="scipy")


@pytest.mark.parametrize("backend", ["cch", "scipy"])
def test_every_entry_equals_the_dense_reference(grid: RoadNetwork, backend: Backend) -> None:
    """Scalar lookups of both views equal the dense scipy matrix everywhere, repeats of a node included."""
    nodes = [3, 0, 48, 17, 17, 30, 5, 44]
    ref = _dense(grid, nodes)
    tt = OnDemandTravelTimes(grid, nodes, backend=backend)
    assert tt.backend == backend
    for a in range(len(nodes)):
        for b in range(len(nodes)):
            assert int(tt.durations[a, b]) == ref.durations[a, b]
            assert int(tt.distances[a, b]) == ref.distances[a, b]
    assert int(tt.durations[-1, 0]) == ref.durations[-1, 0]


@pytest.mark.parametrize("backend", ["cch", "scipy"])
def test_shapes_of_row_column_block_and_broadcast_gathers(grid: RoadNetwork, backend: Backend) -> None:
    """Rows, columns, slices, np.ix_ blocks and broadcasts: numpy's shapes, the reference's values."""
    nodes = np.arange(0, 49, 2)
    ref = _dense(grid, nodes)
    tt = OnDemandTravelTimes(grid, nodes, backend=backend)
    d = tt.durations
    assert d.shape == (25, 25)
    assert np.array_equal(d[4], ref.durations[4])
    assert np.array_equal(d[:, 7], ref.durations[:, 7])
    cols = np.array([1, 9, 3])
    assert np.array_equal(d[:, cols], ref.durations[:, cols])
    rows = np.array([[0, 2], [24, 5]])
    assert np.array_equal(tt.distances[rows, 3], ref.distances[rows, 3])
    assert np.array_equal(d[np.ix_(cols, rows[0])], ref.durations[np.ix_(cols, rows[0])])
    assert np.array_equal(d[cols[:, None], cols], ref.durations[cols[:, None], cols])
    assert np.array_equal(d.submatrix([5, 1, 5]), ref.durations[np.ix_([5, 1, 5], [5, 1, 5])])
    assert np.array_equal(np.asarray(tt.distances), ref.distances)
    assert d[np.array([], dtype=np.int64), 0].shape == (0,)


def test_bad_indices_are_refused_with_a_clear_error(grid: RoadNetwork) -> None:
    """Out-of-range, float and boolean indices raise IndexError naming the problem."""
    tt = OnDemandTravelTimes(grid, [0, 1, 2])
    with pytest.raises(IndexError, match="out of range for 3 points"):
        tt.durations[3, 0]
    with pytest.raises(IndexError, match="out of range"):
        tt.durations[np.array([0, 7]), 0]
    with pytest.raises(IndexError, match="must be integers"):
        tt.durations[np.array([0.5]), 0]
    with pytest.raises(IndexError, match="boolean"):
        tt.durations[np.array([True, False, True]), 0]
    with pytest.raises(ValueError, match="node indices must be in"):
        OnDemandTravelTimes(grid, [0, 10_000])
    with pytest.raises(ValueError, match="cache_mb must be > 0"):
        OnDemandTravelTimes(grid, [0, 1], cache_mb=0)


def test_satisfies_the_travel_times_protocol(grid: RoadNetwork) -> None:
    """OnDemandTravelTimes is a TravelTimes with int64 (k, k) views and a zero diagonal."""
    tt = OnDemandTravelTimes(grid, [0, 8, 16, 24])
    assert isinstance(tt, TravelTimes)
    assert len(tt) == 4
    assert tt.durations.dtype == np.int64
    assert tt.durations[np.arange(4), np.arange(4)].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("backend", ["cch", "scipy"])
def test_cache_stays_under_its_cap(grid: RoadNetwork, backend: Backend) -> None:
    """With room for three rows, the cache never holds more than three lines and stays under its bytes."""
    nodes = list(range(49))
    ref = _dense(grid, nodes)
    cap_mb = 3 * 8 * 49 / 1e6  # three lines of 49 int64
    tt = OnDemandTravelTimes(grid, nodes, cache_mb=cap_mb, backend=backend)
    rng = np.random.default_rng(1)
    for _ in range(40):
        r = int(rng.integers(49))
        assert np.array_equal(tt.durations[r], ref.durations[r])
        c, t = rng.integers(49, size=30), int(rng.integers(49))
        assert np.array_equal(tt.distances[c, t], ref.distances[c, t])
        info = tt.cache_info()
        assert info.rows + info.columns <= 3
        assert info.bytes <= info.max_bytes
    assert tt.cache_info().computed_rows > 3  # lines were evicted and recomputed


def test_cache_eviction_keeps_answers_exact(grid: RoadNetwork) -> None:
    """A tiny cache (pairs only) answers random gathers exactly and holds at most its cap of entries."""
    nodes = list(range(49))
    ref = _dense(grid, nodes)
    tt = OnDemandTravelTimes(grid, nodes, cache_mb=120 * 3 / 1e6)  # three pairs; a line takes 392 bytes
    rng = np.random.default_rng(2)
    for _ in range(30):
        a = rng.integers(len(nodes), size=12)
        b = rng.integers(len(nodes), size=12)
        assert np.array_equal(tt.durations[a, b], ref.durations[a, b])
        info = tt.cache_info()
        assert info.rows == info.columns == 0
        assert info.pairs <= 3
    assert tt.cache_info().computed_pairs > 3


def test_crowded_sources_become_rows_scattered_pairs_stay_pairs(grid: RoadNetwork) -> None:
    """A gather with many pairs from one source computes that row; a few scattered pairs use queries."""
    nodes = list(range(49))
    tt = OnDemandTravelTimes(grid, nodes)
    tt.durations[5, np.arange(49)]
    info = tt.cache_info()
    assert (info.rows, info.columns, info.pairs) == (1, 0, 0)
    tt.durations[np.arange(49), 7]
    assert tt.cache_info().columns == 1
    tt.durations[np.array([1, 2]), np.array([3, 4])]
    assert tt.cache_info().pairs == 2
    before = tt.cache_info()
    tt.durations[5, 3]
    tt.durations[9, 7]
    tt.durations[1, 3]
    after = tt.cache_info()
    assert (after.computed_rows, after.computed_columns, after.computed_pairs) == (
        before.computed_rows,
        before.computed_columns,
        before.computed_pairs,
    )  # all three were cache hits


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    nodes=st.lists(st.integers(0, 48), min_size=1, max_size=20),
    pairs=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=60).map(
        lambda p: p + p[: len(p) // 3]  # repeated pairs within one gather
    ),
    cache_lines=st.integers(0, 4),
    backend=st.sampled_from(["cch", "scipy"]),
)
def test_random_point_sets_and_gathers_match_the_reference(
    grid: RoadNetwork, nodes: list[int], pairs: list[tuple[int, int]], cache_lines: int, backend: Backend
) -> None:
    """Random points, random gathers and cache sizes: every answer equals the dense scipy matrix."""
    k = len(nodes)
    ref = _dense(grid, nodes)
    cap = max(1, cache_lines * 8 * k + 3 * 120) / 1e6
    tt = OnDemandTravelTimes(grid, nodes, cache_mb=cap, backend=backend)
    a = np.array([p[0] % k for p in pairs])
    b = np.array([p[1] % k for p in pairs])
    assert np.array_equal(tt.durations[a, b], ref.durations[a, b])
    assert np.array_equal(tt.distances[a, b], ref.distances[a, b])
    assert int(tt.durations[int(a[0]), int(b[-1])]) == ref.durations[a[0], b[-1]]
    assert np.array_equal(tt.durations[a[:, None], b], ref.durations[a[:, None], b])
    info = tt.cache_info()
    assert info.bytes <= info.max_bytes
    assert info.bytes == (info.rows + info.columns) * 8 * k + info.pairs * 120  # counts what it holds


def test_dense_conversion_is_refused_beyond_the_cap(grid: RoadNetwork) -> None:
    """np.asarray of a view larger than the cache cap raises MemoryError saying what to do."""
    tt = OnDemandTravelTimes(grid, list(range(49)), cache_mb=0.001)
    with pytest.raises(MemoryError, match=r"index it instead"):
        np.asarray(tt.durations)


def test_auto_mode_picks_the_matrix_where_it_fits(grid: RoadNetwork) -> None:
    """auto: dense below dense_limit_mb, on demand above; matrix/on_demand force the choice."""
    nodes = list(range(49))
    assert isinstance(travel_times(grid, nodes), TravelMatrix)
    small = TravelTimesParams(dense_limit_mb=16 * 48 * 48 / 1e6)
    assert isinstance(travel_times(grid, nodes, params=small), OnDemandTravelTimes)
    assert isinstance(travel_times(grid, nodes[:48], params=small), TravelMatrix)
    assert isinstance(
        travel_times(grid, nodes, params=TravelTimesParams(mode="on_demand")), OnDemandTravelTimes
    )
    forced = TravelTimesParams(mode="matrix", dense_limit_mb=0)
    assert isinstance(travel_times(grid, nodes, params=forced), TravelMatrix)
    with pytest.raises(ValueError, match="mode must be"):
        TravelTimesParams(mode="sparse")  # type: ignore[arg-type]


@pytest.mark.slow
def test_pilot_graph_random_points_equal_the_scipy_reference(data_dir: Path) -> None:
    """Higashiosaka graph, 300 random points: rows, columns and scattered pairs equal scipy's matrix."""
    net = load_network("higashiosaka", data_dir=data_dir)
    rng = np.random.default_rng(7)
    nodes = rng.choice(net.n_nodes, 300, replace=False)
    ref = build_matrix(net, nodes, backend="scipy")
    tt = OnDemandTravelTimes(net, nodes, cache_mb=1.0)
    assert tt.backend == "cch"
    for r in rng.integers(300, size=5):
        assert np.array_equal(tt.durations[int(r)], ref.durations[r])
        assert np.array_equal(tt.distances[:, int(r)], ref.distances[:, r])
    a, b = rng.integers(300, size=2000), rng.integers(300, size=2000)
    assert np.array_equal(tt.durations[a, b], ref.durations[a, b])
    assert np.array_equal(tt.distances[a, b], ref.distances[a, b])
    assert tt.cache_info().bytes <= 1_000_000


def test_the_column_of_point_zero_survives_eviction(grid: RoadNetwork) -> None:
    """A cached column of point 0 is not mistaken for a free slot when rows evict each other."""
    nodes = list(range(49))
    ref = _dense(grid, nodes)
    tt = OnDemandTravelTimes(grid, nodes, cache_mb=2 * 8 * 49 / 1e6)  # two lines
    for r in (5, 6, 7):
        assert np.array_equal(tt.durations[:, 0], ref.durations[:, 0])
        assert np.array_equal(tt.durations[r], ref.durations[r])
    assert np.array_equal(tt.durations[:, 0], ref.durations[:, 0])
    assert tt.cache_info().columns == 1


def test_turning_points_are_the_next_node_of_the_road_path(grid: RoadNetwork) -> None:
    """A vehicle turns at the next node of its fastest path, reached on that path's clock; lookups from
    and to the turning point equal the dense reference, and the rest of the leg takes what is left."""
    from ondemand.routing.geo.matrix import road_path
    from ondemand.routing.solver.model import Divertible

    n = grid.n_nodes
    stops = [0, n - 1, n // 2, 3]
    tt = OnDemandTravelTimes(grid, stops, backend="cch")
    assert isinstance(tt, Divertible)
    path = road_path(grid, stops[0], stops[1], backend="cch")
    drive = int(tt.durations[0, 1])
    assert drive == path.duration
    seen = set()
    for elapsed in range(drive + 2):
        got = tt.turn_point(0, 1, elapsed)
        later = path.node_seconds[path.node_seconds >= elapsed]
        if len(later) <= 1:  # only the target is left
            assert got is None
            continue
        assert got is not None
        point, wait = got
        i = int(np.flatnonzero(path.node_seconds >= elapsed)[0])
        assert tt.node_of(point) == int(path.nodes[i])
        assert point >= len(stops)  # numbered after the given points
        assert wait == int(path.node_seconds[i]) - elapsed
        assert int(tt.durations[point, 1]) == drive - int(path.node_seconds[i])
        seen.add(point)
    assert len(seen) == len(path.nodes) - 1
    pts = sorted(seen)
    ref = _dense(grid, [*stops, *(tt.node_of(p) for p in pts)])
    every = np.arange(len(stops) + len(pts))
    assert tt.durations.shape == (len(every), len(every))
    assert np.array_equal(tt.durations[every[:, None], every[None, :]], ref.durations)
    assert np.array_equal(tt.distances[np.ix_(every, every)], ref.distances)
    assert int(tt.durations[pts[-1], 2]) == int(ref.durations[len(stops) + len(pts) - 1, 2])


def test_without_cch_no_turning_point_is_named(grid: RoadNetwork) -> None:
    """The scipy backend answers no turning point, so the dispatcher keeps the leg committed."""
    tt = OnDemandTravelTimes(grid, [0, grid.n_nodes - 1], backend="scipy")
    assert tt.turn_point(0, 1, 0) is None
    assert tt.durations.shape == (2, 2)


def test_answers_from_several_threads(grid: RoadNetwork) -> None:
    """Pair, row and column queries answer from a thread other than the one that first asked
    (CCH query objects cannot change threads; the live API answers from several)."""
    import threading

    n = grid.n_nodes
    stops = [0, n - 1, n // 2, 3]
    tt = OnDemandTravelTimes(grid, stops, backend="cch", cache_mb=1e-4)  # too small to cache a line
    ref = _dense(grid, stops)
    assert int(tt.durations[0, 1]) == int(ref.durations[0, 1])
    point, _ = tt.turn_point(0, 1, 10) or (None, 0)
    assert point is not None
    got: list[Any] = []

    def ask() -> None:
        every = np.arange(len(stops))
        got.append((tt.durations[np.ix_(every, every)], int(tt.durations[point, 2]), tt.turn_point(1, 0, 5)))

    worker = threading.Thread(target=ask)
    worker.start()
    worker.join()
    assert np.array_equal(got[0][0], ref.durations)
    assert got[0][1] == int(tt.durations[point, 2])
    assert got[0][2] is not None


def test_a_worker_thread_s_queries_are_dropped_on_that_thread(grid: RoadNetwork) -> None:
    """Travel times collected on the main thread while a live worker thread holds their CCH queries:
    the queries are parked and dropped on the worker at its next query, and nothing is raised."""
    pytest.importorskip("routingkit_cch", reason="the CCH backend (routingkit-cch) is not installed")
    import gc
    import sys
    import threading

    from ondemand.routing.geo import lazy

    stops = np.arange(0, grid.n_nodes, 3)
    box = [OnDemandTravelTimes(grid, stops, backend="cch")]
    other = OnDemandTravelTimes(grid, stops, backend="cch")
    asked, go = threading.Event(), threading.Event()
    k = len(stops)

    def worker() -> None:
        box[0].durations[np.arange(k)[:, None], np.arange(k)[None, :]]  # whole rows: a one-to-many query
        box[0].turn_point(0, k - 1, 1)  # a point-to-point query
        asked.set()
        go.wait(30)
        int(other.durations[1, 2])  # its next query drops the parked ones, here

    raised: list[Any] = []
    hook, sys.unraisablehook = sys.unraisablehook, raised.append
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        assert asked.wait(30)
        box.clear()  # the last reference, on the main thread
        gc.collect()
        assert len(lazy._PARKED.get(thread, [])) >= 2  # parked, not dropped on this thread
        go.set()
        thread.join(30)
        assert thread not in lazy._PARKED
    finally:
        sys.unraisablehook = hook
    assert raised == []
