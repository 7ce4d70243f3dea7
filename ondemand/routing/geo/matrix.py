"""Travel-time and distance matrices between road nodes, and the road path between two nodes.

Which path? The *fastest* one; among equally fast paths, the *shortest*. Both backends find exactly
that path by running one shortest-path search on the lexicographic weight
``time * M + length`` (``M`` larger than any path length that matters), so the time and the
distance of every matrix entry belong to the same path and the two backends agree to the second
and the metre:

- ``"scipy"`` (the reference): :func:`scipy.sparse.csgraph.dijkstra`, multi-source, on the
  network's CSR, with float64 weights (exact for integers below 2**53).
- ``"cch"``: customizable contraction hierarchies from RoutingKit (``routingkit_cch``), with
  32-bit integer weights. Used only when the bound below guarantees exactness; else scipy.

Exactness of the ``cch`` encoding: with ``r`` the largest ratio of an edge's length to its time
(at most ``1.5 * v_max``, since edge times are at least ``max(1, round(length / v))``), every path
of time ``T`` is at most ``r * T`` long. ``M`` is chosen above ``r * T_bound`` where ``T_bound`` bounds the
time between any two nodes (out- plus in-eccentricity of one root, by the triangle inequality), and
``T_bound * M + M`` must stay below RoutingKit's infinity (2**31 - 1).

:func:`road_path` uses a CCH point-to-point query too (about 0.1 ms instead of about 20 ms for a
scipy single-source search on 18k nodes); on exact ties of time and length the two backends may
return different (equally good) node sequences.

Matrices are cached on disk (``<cache>/matrices``) keyed by the network fingerprint (graph and
speed table) and the node list.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from ondemand.routing.geo.data import cache_dir
from ondemand.routing.geo.network import RoadNetwork

__all__ = ["Backend", "RoadPath", "TravelMatrix", "build_matrix", "road_path"]

Backend = Literal["auto", "scipy", "cch"]

_SCIPY_M = float(2**26)  # metres; any path shorter than 67,000 km decodes exactly
_RK_INF = 2**31 - 1
_CACHE_VERSION = 1
_CHUNK = 256  # sources per scipy call: bounds memory at CHUNK * n float64


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Travel times and distances between a list of road nodes (satisfies ``TravelTimes``).

    Attributes
    ----------
    durations
        ``int64`` ``(k, k)``: seconds along the fastest path from ``nodes[i]`` to ``nodes[j]``.
    distances
        ``int64`` ``(k, k)``: metres along that same path.
    nodes
        ``int64`` ``(k,)``: the network node (dense index) of each row/column.
    """

    durations: NDArray[np.int64]
    distances: NDArray[np.int64]
    nodes: NDArray[np.int64]

    def __post_init__(self) -> None:
        dur = np.ascontiguousarray(self.durations, dtype=np.int64)
        dist = np.ascontiguousarray(self.distances, dtype=np.int64)
        nodes = np.ascontiguousarray(self.nodes, dtype=np.int64)
        k = len(nodes)
        if dur.shape != (k, k) or dist.shape != (k, k):
            raise ValueError(f"durations {dur.shape} and distances {dist.shape} must both be ({k}, {k})")
        if (dur < 0).any() or (dist < 0).any():
            raise ValueError("travel times and distances must be non-negative")
        for name, arr in (("durations", dur), ("distances", dist), ("nodes", nodes)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass(frozen=True, eq=False)
class RoadPath:
    """The road path between two nodes, with its geometry and cumulative time and distance.

    Attributes
    ----------
    nodes
        Node indices from the start to the end (one node when start == end).
    node_seconds, node_metres
        Cumulative seconds and metres at each node (``int64``, starting at 0).
    lon, lat
        The path's coordinates including the edges' geometry points.
    seconds, metres
        Cumulative seconds and metres at each coordinate (``float64``: interpolated inside an
        edge in proportion to the geometry's length; exact integers at nodes).
    """

    nodes: NDArray[np.int64]
    node_seconds: NDArray[np.int64]
    node_metres: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    seconds: NDArray[np.float64]
    metres: NDArray[np.float64]

    @property
    def duration(self) -> int:
        """Total seconds."""
        return int(self.node_seconds[-1])

    @property
    def distance(self) -> int:
        """Total metres."""
        return int(self.node_metres[-1])

    def position_at(self, seconds: float) -> tuple[float, float]:
        """Lon/lat after driving ``seconds`` along the path (clamped to its ends)."""
        return (
            float(np.interp(seconds, self.seconds, self.lon)),
            float(np.interp(seconds, self.seconds, self.lat)),
        )


# --------------------------------------------------------------------------------------------------
# scipy reference


def _combined_csr(network: RoadNetwork, m: float) -> sp.csr_matrix:
    t = network.times
    w = t.data * m + network.lengths.data
    return sp.csr_matrix((w, t.indices, t.indptr), shape=t.shape)


def _scipy_weights(network: RoadNetwork) -> sp.csr_matrix:
    w = network._memo.get("scipy_w")
    if w is None:
        w = _combined_csr(network, _SCIPY_M)
        network._memo["scipy_w"] = w
    return w


def _decode(d: NDArray[np.float64], m: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if not np.isfinite(d).all():
        raise ValueError("some nodes cannot reach each other; the network is not strongly connected")
    secs = np.floor(d / m)
    metres = d - secs * m
    return secs.astype(np.int64), np.rint(metres).astype(np.int64)


def _matrix_scipy(
    network: RoadNetwork, nodes: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    w = _scipy_weights(network)
    k = len(nodes)
    dur = np.empty((k, k), dtype=np.int64)
    dist = np.empty((k, k), dtype=np.int64)
    for a in range(0, k, _CHUNK):
        d = dijkstra(w, directed=True, indices=nodes[a : a + _CHUNK])
        dur[a : a + _CHUNK], dist[a : a + _CHUNK] = _decode(d[:, nodes], _SCIPY_M)
    return dur, dist


# --------------------------------------------------------------------------------------------------
# CCH backend


def _cch_order(network: RoadNetwork, tail: NDArray[np.int64], head: NDArray[np.int64]) -> list[int]:
    """The CCH node order (inertial flow), cached on disk: it costs most of the preprocessing."""
    import routingkit_cch as rk

    path = cache_dir() / "cch" / f"{network.area}-{network.fingerprint}-order.npy"
    if path.is_file():
        try:
            order = np.load(path, allow_pickle=False)
            if len(order) == network.n_nodes and np.array_equal(np.sort(order), np.arange(network.n_nodes)):
                return [int(x) for x in order.tolist()]
        except (OSError, ValueError):
            pass  # rebuild below
    order_list: list[int] = rk.compute_order_inertial(
        network.n_nodes, tail.tolist(), head.tolist(), network.lat.tolist(), network.lon.tolist()
    )
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npy")
        np.save(tmp, np.asarray(order_list, dtype=np.int64))
        os.replace(tmp, path)
    return order_list


def _cch_metric(network: RoadNetwork) -> tuple[Any, int] | None:
    """The customised CCH metric and its ``M`` for a network, or ``None`` when inexact/unavailable."""
    if "cch" in network._memo:
        cached: tuple[Any, int] | None = network._memo["cch"]
        return cached
    try:
        import routingkit_cch as rk
    except ImportError:
        network._memo["cch"] = None
        return None
    t = network.times
    root = 0
    out_ecc = dijkstra(t, directed=True, indices=root).max()
    in_ecc = dijkstra(t.T.tocsr(), directed=True, indices=root).max()
    t_bound = float(out_ecc + in_ecc)
    # metres per second of the "fastest" edge: every path of time T is at most ratio * T long
    ratio = float((network.edge_length / network.edge_time).max()) if network.n_edges else 1.0
    m = 2 ** math.ceil(math.log2(ratio * t_bound + 2))
    if not math.isfinite(t_bound) or (t_bound + 1) * m >= _RK_INF:
        network._memo["cch"] = None
        return None
    tail = np.repeat(np.arange(network.n_nodes, dtype=np.int64), np.diff(t.indptr))
    head = t.indices.astype(np.int64)
    weights = (t.data.astype(np.int64) * m + network.lengths.data.astype(np.int64)).tolist()
    order = _cch_order(network, tail, head)
    cch = rk.CCH(order, tail.tolist(), head.tolist(), False)
    metric = rk.CCHMetric(cch, weights)
    network._memo["cch_graph"] = cch  # keep the hierarchy alive as long as its metric
    network._memo["cch"] = (metric, m)
    return metric, m


def _matrix_cch(
    network: RoadNetwork, nodes: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    got = _cch_metric(network)
    if got is None:
        return None
    import routingkit_cch as rk

    metric, m = got
    targets = nodes.tolist()
    query = rk.CCHOneToMany(metric, targets)
    rows = [query.distances_from(s) for s in targets]
    del query
    try:
        d = np.array(rows, dtype=np.int64).reshape(len(targets), len(targets))
    except TypeError as exc:  # None = unreachable
        raise ValueError("some nodes cannot reach each other; the network is not strongly connected") from exc
    return d // m, d % m


# --------------------------------------------------------------------------------------------------
# public API


def _check_nodes(network: RoadNetwork, nodes: Sequence[int] | NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    arr = np.asarray(nodes, dtype=np.int64).reshape(-1)
    if len(arr) and (arr.min() < 0 or arr.max() >= network.n_nodes):
        raise ValueError(f"node indices must be in 0..{network.n_nodes - 1}")
    return arr


def _matrix_cache_path(network: RoadNetwork, nodes: NDArray[np.int64], folder: Path | None) -> Path:
    h = hashlib.sha256(f"{_CACHE_VERSION}|{network.fingerprint}|".encode())
    h.update(nodes.tobytes())
    return (
        folder if folder is not None else cache_dir() / "matrices"
    ) / f"{network.area}-{h.hexdigest()[:24]}.npz"


def build_matrix(
    network: RoadNetwork,
    nodes: Sequence[int] | NDArray[np.integer[Any]],
    *,
    backend: Backend = "auto",
    use_cache: bool = False,
    cache_folder: Path | None = None,
) -> TravelMatrix:
    """Travel times (s) and distances (m) between every ordered pair of ``nodes``.

    Parameters
    ----------
    network
        The road network.
    nodes
        Node indices (rows and columns, in this order; repeats allowed).
    backend
        ``"scipy"`` (reference), ``"cch"`` (contraction hierarchies; raises if unavailable or
        inexact for this network) or ``"auto"`` (``cch`` when available and exact, else scipy).
    use_cache
        Read/write the matrix on disk, keyed by the network's fingerprint and ``nodes``.
    cache_folder
        Where to cache; defaults to ``<cache>/matrices``.
    """
    arr = _check_nodes(network, nodes)
    path = _matrix_cache_path(network, arr, cache_folder) if use_cache else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if np.array_equal(z["nodes"], arr):
                    return TravelMatrix(z["durations"], z["distances"], arr)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    result = None
    if backend in ("auto", "cch"):
        result = _matrix_cch(network, arr)
        if result is None and backend == "cch":
            raise ValueError(
                "the cch backend is unavailable (routingkit_cch missing) or inexact for this network"
            )
    if result is None:
        result = _matrix_scipy(network, arr)
    matrix = TravelMatrix(result[0], result[1], arr)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, durations=matrix.durations, distances=matrix.distances, nodes=arr)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs speed
    return matrix


def _path_cch(network: RoadNetwork, a: int, b: int) -> list[int] | None:
    """Node sequence of the fastest (then shortest) path by a CCH query, or ``None`` if unavailable."""
    got = _cch_metric(network)
    if got is None:
        return None
    import routingkit_cch as rk

    query = rk.CCHQuery(got[0])
    result = query.run(a, b)
    nodes = [int(x) for x in result.node_path]
    reachable = result.distance is not None
    del result  # the binding requires the result to go before its query
    del query
    if not reachable or not nodes or nodes[0] != a or nodes[-1] != b:
        return None
    return nodes


def _path_scipy(network: RoadNetwork, a: int, b: int) -> list[int]:
    _, pred = dijkstra(_scipy_weights(network), directed=True, indices=a, return_predecessors=True)
    nodes = [b]
    cur = b
    while cur != a:
        cur = int(pred[cur])
        if cur < 0:
            raise ValueError(f"node {b} cannot be reached from node {a}")
        nodes.append(cur)
    nodes.reverse()
    return nodes


def road_path(network: RoadNetwork, a_node: int, b_node: int, *, backend: Backend = "auto") -> RoadPath:
    """The fastest road path (shortest among the fastest) from ``a_node`` to ``b_node``.

    Its ``duration``/``distance`` equal the matrix entry of :func:`build_matrix` for the pair.
    Where several paths tie on both time and length, the backends may pick different ones.

    Parameters
    ----------
    network
        The road network.
    a_node, b_node
        Start and end node (dense indices).
    backend
        ``"scipy"`` (single-source Dijkstra, about 20 ms on 18k nodes), ``"cch"`` (a CCH query,
        about 0.1 ms) or ``"auto"`` (CCH when available and exact).
    """
    a, b = (int(x) for x in _check_nodes(network, [a_node, b_node]))
    nodes = [a]
    if a != b:
        found = _path_cch(network, a, b) if backend in ("auto", "cch") else None
        if found is None and backend == "cch":
            raise ValueError(
                "the cch backend is unavailable (routingkit_cch missing) or inexact for this network"
            )
        nodes = found if found is not None else _path_scipy(network, a, b)
    return _along(network, nodes)


def _along(network: RoadNetwork, nodes: list[int]) -> RoadPath:
    """The :class:`RoadPath` along ``nodes`` (consecutive nodes joined by their fastest arc).

    Every edge's geometry is handled at once: within an edge, time and distance are spread over
    its geometry in proportion to the projected segment lengths; nodes carry exact integers.
    """
    first = nodes[0]
    edges = network.arcs(np.array(nodes, dtype=np.int64))
    t_e = network.edge_time[edges].astype(np.int64)
    l_e = network.edge_length[edges].astype(np.int64)
    node_s = np.concatenate(([0], np.cumsum(t_e))).astype(np.int64)
    node_m = np.concatenate(([0], np.cumsum(l_e))).astype(np.int64)
    if len(edges) == 0:
        lon0, lat0 = float(network.lon[first]), float(network.lat[first])
        return RoadPath(
            nodes=np.array(nodes, dtype=np.int64),
            node_seconds=node_s,
            node_metres=node_m,
            lon=np.array([lon0]),
            lat=np.array([lat0]),
            seconds=np.zeros(1),
            metres=np.zeros(1),
        )
    p = network.geom_offsets[edges].astype(np.int64)
    n_pts = network.geom_offsets[edges + 1].astype(np.int64) - p  # >= 2: both end nodes
    starts = np.concatenate(([0], np.cumsum(n_pts)[:-1]))  # each edge's first point in `where`
    where = np.arange(int(n_pts.sum())) + np.repeat(p - starts, n_pts)
    xy = network.project(network.geom_lon[where], network.geom_lat[where])
    step = np.hypot(*np.diff(xy, axis=0).T)  # also across edge boundaries (dropped below)
    n_seg = n_pts - 1
    inside = np.ones(len(where), dtype=bool)
    inside[starts] = False  # a segment ends at every point but an edge's first
    seg = step[inside[1:]]
    run = np.cumsum(seg)
    last = np.cumsum(n_seg) - 1  # each edge's last segment in `seg`
    before = np.concatenate(([0.0], run[last[:-1]]))
    within = run - np.repeat(before, n_seg)
    total = within[last]
    frac = np.divide(
        within, np.repeat(total, n_seg), out=np.ones_like(within), where=np.repeat(total > 0, n_seg)
    )
    frac[last] = 1.0
    secs = np.repeat(node_s[:-1], n_seg) + frac * np.repeat(t_e, n_seg)
    mets = np.repeat(node_m[:-1], n_seg) + frac * np.repeat(l_e, n_seg)
    pts = where[inside]
    return RoadPath(
        nodes=np.array(nodes, dtype=np.int64),
        node_seconds=node_s,
        node_metres=node_m,
        lon=np.concatenate(([float(network.lon[first])], network.geom_lon[pts])),
        lat=np.concatenate(([float(network.lat[first])], network.geom_lat[pts])),
        seconds=np.concatenate(([0.0], secs)),
        metres=np.concatenate(([0.0], mets)),
    )
