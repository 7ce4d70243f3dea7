"""Travel times without a dense matrix: exact answers on demand, with a bounded cache.

A dense ``TravelMatrix`` between ``k`` points costs ``16 k**2`` bytes (two ``int64`` matrices):
6.4 GB at 20,000 points. :class:`OnDemandTravelTimes` answers the same entries — the same
fastest-then-shortest path, to the second and the metre — from the road network when they are
asked for, and keeps recent answers in a cache whose size is capped in bytes:

- whole *rows* (one point to every point) and *columns* (every point to one point), one sweep of
  the contraction hierarchy each (``routingkit_cch`` one-to-many / many-to-one, pinned to the
  points), or one scipy Dijkstra on the network (reversed for columns) when CCH is unavailable;
- single *pairs*, by a CCH point-to-point query (about 0.1 ms), for scattered lookups.

A vectorised lookup (``tt.durations[rows, cols]`` with numpy broadcasting) first reads what the
cache holds, then computes the misses in one batch: a whole row (column) for a source (target)
that many of the misses share, point-to-point queries for the rest. Both views (``durations``
and ``distances``) share one cache of the combined weight ``time * M + length`` (see
:mod:`ondemand.routing.geo.matrix`), so a row costs ``8 k`` bytes and answers both.

Turning points. A vehicle driving from one point to another can turn at the next node of its
road path: :meth:`OnDemandTravelTimes.turn_point` (the
:class:`~ondemand.routing.solver.model.Divertible` protocol the dispatcher uses for mid-leg
diversion) names that node as a further point, numbered from ``k`` on, and lookups from and to
it are answered like any other (point-to-point queries, kept in a small cache of their own).
Only with the CCH backend; with scipy it answers ``None`` (the leg stays committed).

:func:`travel_times` picks the dense matrix where it fits (``mode="auto"``: when both matrices
take at most ``TravelTimesParams.dense_limit_mb``) and this class otherwise.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from ondemand.routing.geo.matrix import (
    _SCIPY_M,
    TravelMatrix,
    _cch_metric,
    _check_nodes,
    _scipy_weights,
    build_matrix,
)
from ondemand.routing.geo.network import RoadNetwork

__all__ = [
    "CacheInfo",
    "LazyMatrix",
    "OnDemandTravelTimes",
    "TravelTimesMode",
    "TravelTimesParams",
    "travel_times",
]

TravelTimesMode = Literal["auto", "matrix", "on_demand"]

_PAIR_BYTES = 120  # a dict entry with its int key and value, roughly
_UNREACHABLE = "some points cannot reach each other; the network is not strongly connected"

# Query objects whose last reference went on another thread than the one that made them, parked
# for their own thread to drop (see _ThreadBound), by that thread (held, so never confused with a
# later thread of the same ident). A thread that has ended keeps its parked objects.
_PARKED: dict[threading.Thread, list[Any]] = {}
_PARKED_LOCK = threading.Lock()


class _ThreadBound:
    """A routingkit_cch query object, dropped only on the thread that made it.

    The binding's objects may only be used and dropped by the thread that made them (dropping one
    elsewhere raises in its finaliser: ``... is unsendable, but is being dropped on another
    thread``). The last reference to the travel times can go on another thread than a query's (a
    server's worker thread made it, the main thread collects the old service area after a restart,
    or drops a thread's slot of the ``threading.local``): the object is then parked, and its own
    thread drops it at its next query.
    """

    __slots__ = ("native", "obj", "owner")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.owner = threading.current_thread()
        # the OS thread: still right while a thread that ends clears its own thread-local slots
        # (``current_thread()`` is then a stand-in)
        self.native = threading.get_native_id()

    def __del__(self) -> None:
        try:
            if threading.get_native_id() != self.native:
                with _PARKED_LOCK:
                    _PARKED.setdefault(self.owner, []).append(self.obj)
        except Exception:  # at interpreter exit the module's globals may be gone: nothing to keep
            pass


def _drop_parked() -> None:
    """Drop, on this thread, the query objects of this thread parked by other threads."""
    if not _PARKED:
        return
    with _PARKED_LOCK:
        mine = _PARKED.pop(threading.current_thread(), None)
    del mine  # dropped here, on their own thread


@dataclass(frozen=True, slots=True)
class TravelTimesParams:
    """How travel times between the points of a service are answered (scenario ``[travel_times]``).

    Parameters
    ----------
    mode
        ``"matrix"``: dense matrices (fastest lookups, ``16 k**2`` bytes for ``k`` points);
        ``"on_demand"``: :class:`OnDemandTravelTimes`; ``"auto"``: the matrix when it takes at most
        ``dense_limit_mb``, else on demand.
    dense_limit_mb
        Largest dense matrix pair ``"auto"`` builds, in MB (default 512: about 5,600 points).
    cache_mb
        Memory cap of the on-demand cache in MB (rows, columns and pairs together).
    """

    mode: TravelTimesMode = "auto"
    dense_limit_mb: float = 512.0
    cache_mb: float = 256.0

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "matrix", "on_demand"):
            raise ValueError(f"travel_times mode must be 'auto', 'matrix' or 'on_demand', got {self.mode!r}")
        if not self.dense_limit_mb >= 0:
            raise ValueError(f"travel_times dense_limit_mb must be >= 0, got {self.dense_limit_mb!r}")
        if not self.cache_mb > 0:
            raise ValueError(f"travel_times cache_mb must be > 0, got {self.cache_mb!r}")

    def dense(self, k: int) -> bool:
        """Whether ``k`` points get a dense matrix under these settings."""
        if self.mode == "matrix":
            return True
        if self.mode == "on_demand":
            return False
        return 16.0 * k * k <= self.dense_limit_mb * 1e6


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What an :class:`OnDemandTravelTimes` holds: cached rows, columns, pairs and their bytes."""

    rows: int
    columns: int
    pairs: int
    bytes: int
    max_bytes: int
    computed_rows: int
    computed_columns: int
    computed_pairs: int


def _groups(keys: NDArray[np.int64]) -> list[tuple[int, NDArray[np.int64]]]:
    """``(key, positions)`` for every distinct key, positions in increasing order."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    cut = np.flatnonzero(np.diff(sk)) + 1
    starts = np.concatenate(([0], cut))
    return [(int(sk[s]), part) for s, part in zip(starts, np.split(order, cut), strict=True)]


class OnDemandTravelTimes:
    """Exact travel times (s) and distances (m) between points, computed when asked (a ``TravelTimes``).

    Parameters
    ----------
    network
        The road network.
    nodes
        The network node of each point (index ``i`` is ``nodes[i]``; repeats allowed).
    cache_mb
        Memory cap of the cache (rows, columns and pairs together), in MB.
    backend
        ``"auto"`` (CCH when available and exact for the network, else scipy), ``"cch"`` or
        ``"scipy"`` (rows and columns only, one Dijkstra each).

    Notes
    -----
    ``durations`` and ``distances`` are :class:`LazyMatrix` views: index them like the dense
    matrices (``d[i, j]``, ``d[rows, cols]`` with broadcasting, ``d[i]``, ``d[:, j]``,
    ``d[np.ix_(a, b)]``). ``np.asarray`` of a view builds the dense matrix, so it is refused when
    that would exceed the cache cap. Thread-safe: one lock around the cache and the queries.
    """

    def __init__(
        self,
        network: RoadNetwork,
        nodes: Sequence[int] | NDArray[np.integer[Any]],
        *,
        cache_mb: float = 256.0,
        backend: Literal["auto", "cch", "scipy"] = "auto",
    ) -> None:
        if not cache_mb > 0:
            raise ValueError(f"cache_mb must be > 0, got {cache_mb!r}")
        if backend not in ("auto", "cch", "scipy"):
            raise ValueError(f"backend must be 'auto', 'cch' or 'scipy', got {backend!r}")
        arr = _check_nodes(network, nodes)
        arr.setflags(write=False)
        self.network = network
        self.nodes: NDArray[np.int64] = arr
        self.max_bytes = int(cache_mb * 1e6)
        k = len(arr)
        self._k = k
        self._line_bytes = 8 * max(k, 1)
        self._cch: Any = None
        if backend in ("auto", "cch"):
            got = _cch_metric(network)
            if got is None and backend == "cch":
                raise ValueError(
                    "the cch backend is unavailable (routingkit_cch missing) or inexact for this network"
                )
            self._cch = got
        if self._cch is not None:
            self._m = int(self._cch[1])
            self.backend = "cch"
        else:
            self._m = int(_SCIPY_M)
            self.backend = "scipy"
        # a row costs about as much as k / 150 point-to-point queries (measured: 15 ms vs 0.1 ms at
        # 20,000 points); a source (target) with at least this many misses gets its whole row (column)
        self._line_threshold = 1 if self._cch is None else max(4, k // 150)
        self._lock = threading.RLock()
        # Rows and columns live in the slots of one store (allocated lazily by the OS: untouched
        # slots cost no memory); row_slot[i] / col_slot[j] = slot of row i / column j or -1.
        self._n_slots = int(min(self.max_bytes // self._line_bytes, 2 * k))
        self._store = np.empty((self._n_slots, k), dtype=np.int64)
        self._row_slot = np.full(k, -1, dtype=np.int64)
        self._col_slot = np.full(k, -1, dtype=np.int64)
        self._slot_key = np.full(self._n_slots, -1, dtype=np.int64)  # -1 free, p row p, -2 - p column p
        self._slot_used = np.zeros(self._n_slots, dtype=np.int64)  # last use (a tick), for LRU
        self._tick = 0
        self._n_lines = 0  # slots filled so far (they are then only reused)
        self._n_rows = 0
        self._n_cols = 0
        self._pairs: dict[int, int] = {}
        self._bytes = 0
        self._computed = [0, 0, 0]
        # CCH query objects may only be used by the thread that made them (the live API answers
        # from several threads): one set per thread
        self._queries = threading.local()
        self.durations = LazyMatrix(self, "durations")
        self.distances = LazyMatrix(self, "distances")
        # turning points: network nodes numbered from k on (each node once), their answers and paths
        self._extra_nodes: list[int] = []
        self._extra_of: dict[int, int] = {}
        self._extra_pairs: dict[tuple[int, int], int] = {}
        self._paths: dict[tuple[int, int], tuple[list[int], NDArray[np.int64]]] = {}

    def __len__(self) -> int:
        return self._k

    @property
    def n_points(self) -> int:
        """Points answered: the ``k`` given ones and the turning points named so far."""
        return self._k + len(self._extra_nodes)

    def node_of(self, point: int) -> int:
        """The network node of a point (a given one or a turning point)."""
        return int(self.nodes[point]) if point < self._k else self._extra_nodes[point - self._k]

    # -- turning points

    def turn_point(self, origin: int, target: int, elapsed: int) -> tuple[int, int] | None:
        """The next node of the road path from ``origin`` to ``target`` at or after ``elapsed`` s.

        Returns ``(point, seconds until the vehicle is there)``, the node numbered as a point;
        ``None`` when no node is left before ``target``, or without the CCH backend.
        """
        if self._cch is None:
            return None
        with self._lock:
            a, b = self.node_of(origin), self.node_of(target)
            if a == b:
                return None
            nodes, seconds = self._path(a, b)
            i = int(np.searchsorted(seconds, max(0, int(elapsed)), side="left"))
            if i >= len(nodes) - 1:
                return None
            return self.point_of_node(nodes[i]), int(seconds[i]) - max(0, int(elapsed))

    def point_of_node(self, node: int) -> int:
        """The turning point at network node ``node``, named (numbered after the points) if new.

        The live API names again, after a restart, the point where a van was turned.
        """
        node = int(node)
        if not 0 <= node < self.network.n_nodes:
            raise IndexError(f"network node {node} out of range 0..{self.network.n_nodes - 1}")
        with self._lock:
            point = self._extra_of.get(node)
            if point is None:
                point = self._k + len(self._extra_nodes)
                self._extra_nodes.append(node)
                self._extra_of[node] = point
            return point

    def _path(self, a: int, b: int) -> tuple[list[int], NDArray[np.int64]]:
        """Nodes of the fastest path from node ``a`` to node ``b`` and the seconds to reach each."""
        key = (a, b)
        hit = self._paths.get(key)
        if hit is not None:
            return hit
        import routingkit_cch as rk

        result = self._query("pair", rk.CCHQuery, self._cch[0]).run(a, b)
        nodes = [int(x) for x in result.node_path]
        del result  # the binding requires the result to go before its query
        if not nodes or nodes[0] != a or nodes[-1] != b:
            raise ValueError(_UNREACHABLE)
        net = self.network
        times = [int(net.edge_time[net.arc(u, v)]) for u, v in itertools.pairwise(nodes)]
        seconds = np.concatenate(([0], np.cumsum(times, dtype=np.int64)))
        if len(self._paths) >= 4096:
            self._paths.clear()
        self._paths[key] = (nodes, seconds)
        return nodes, seconds

    def _query(self, kind: str, make: Any, *args: Any) -> Any:
        """This thread's CCH query object of a kind (made on first use: they cannot change threads)."""
        _drop_parked()
        held: _ThreadBound | None = getattr(self._queries, kind, None)
        if held is None:
            held = _ThreadBound(make(*args))
            setattr(self._queries, kind, held)
        return held.obj

    def _extra(self, a: int, b: int) -> int:
        """The combined weight between two points of which one is a turning point (cached)."""
        key = (a, b)
        hit = self._extra_pairs.get(key)
        if hit is not None:
            return hit
        value = self._compute_pair(a, b)
        if len(self._extra_pairs) >= 1 << 18:
            self._extra_pairs.clear()
        self._extra_pairs[key] = value
        return value

    # -- cache bookkeeping

    def cache_info(self) -> CacheInfo:
        """Counts and bytes of what is cached now, and of everything computed so far."""
        with self._lock:
            return CacheInfo(
                self._n_rows,
                self._n_cols,
                len(self._pairs),
                self._bytes,
                self.max_bytes,
                *self._computed,
            )

    def clear_cache(self) -> None:
        """Forget every cached answer (the answers stay the same)."""
        with self._lock:
            self._row_slot[:] = -1
            self._col_slot[:] = -1
            self._slot_key[:] = -1
            self._slot_used[:] = 0
            self._n_lines = self._n_rows = self._n_cols = 0
            self._pairs.clear()
            self._bytes = 0

    def _free_slot(self, slot: int) -> None:
        key = int(self._slot_key[slot])
        if key == -1:
            return
        if key >= 0:
            self._row_slot[key] = -1
            self._n_rows -= 1
        else:
            self._col_slot[-2 - key] = -1
            self._n_cols -= 1
        self._slot_key[slot] = -1
        self._bytes -= self._line_bytes

    def _drop_pairs(self) -> None:
        drop = max(1, len(self._pairs) // 2)
        for key in list(self._pairs)[:drop]:
            del self._pairs[key]
        self._bytes -= drop * _PAIR_BYTES

    def _lru_slot(self) -> int:
        live = self._slot_key[: self._n_lines] != -1
        used = np.where(live, self._slot_used[: self._n_lines], np.iinfo(np.int64).max)
        return int(np.argmin(used))

    def _store_line(self, is_row: bool, point: int, line: NDArray[np.int64]) -> None:
        """Keep a row (column) in a slot, evicting the least recently used line or old pairs."""
        if self._n_slots == 0 or (self._row_slot if is_row else self._col_slot)[point] >= 0:
            return  # not even one line fits (answer without caching), or it is there already
        while self._bytes + self._line_bytes > self.max_bytes:
            if self._pairs and (
                self._n_rows + self._n_cols == 0 or len(self._pairs) * _PAIR_BYTES >= self._line_bytes
            ):
                self._drop_pairs()
            else:
                self._free_slot(self._lru_slot())
        if self._n_lines < self._n_slots:
            slot = self._n_lines
            self._n_lines += 1
        else:
            free = np.flatnonzero(self._slot_key[: self._n_lines] == -1)
            if len(free):
                slot = int(free[0])
            else:
                slot = self._lru_slot()
                self._free_slot(slot)
        self._store[slot] = line
        self._tick += 1
        self._slot_used[slot] = self._tick
        if is_row:
            self._row_slot[point] = slot
            self._slot_key[slot] = point
            self._n_rows += 1
        else:
            self._col_slot[point] = slot
            self._slot_key[slot] = -2 - point
            self._n_cols += 1
        self._bytes += self._line_bytes

    def _store_pair(self, key: int, value: int) -> None:
        if self.max_bytes < _PAIR_BYTES or key in self._pairs:
            return
        while self._bytes + _PAIR_BYTES > self.max_bytes:
            if self._pairs:
                self._drop_pairs()
            else:
                self._free_slot(self._lru_slot())
        self._pairs[key] = value
        self._bytes += _PAIR_BYTES

    # -- computing

    def _as_int(self, values: list[int | None]) -> NDArray[np.int64]:
        try:
            return np.array(values, dtype=np.int64)
        except TypeError as exc:  # None = unreachable
            raise ValueError(_UNREACHABLE) from exc

    def _compute_rows(self, sources: list[int]) -> list[NDArray[np.int64]]:
        self._computed[0] += len(sources)
        if self._cch is None:
            return self._scipy_lines(sources, reverse=False)
        import routingkit_cch as rk

        q_rows = self._query("rows", rk.CCHOneToMany, self._cch[0], self.nodes.tolist())
        nodes = self.nodes
        return [self._as_int(q_rows.distances_from(int(nodes[s]))) for s in sources]

    def _compute_cols(self, targets: list[int]) -> list[NDArray[np.int64]]:
        self._computed[1] += len(targets)
        if self._cch is None:
            return self._scipy_lines(targets, reverse=True)
        import routingkit_cch as rk

        q_cols = self._query("cols", rk.CCHManyToOne, self._cch[0], self.nodes.tolist())
        nodes = self.nodes
        return [self._as_int(q_cols.distances_to(int(nodes[t]))) for t in targets]

    def _scipy_lines(self, points: list[int], *, reverse: bool) -> list[NDArray[np.int64]]:
        key = "scipy_w_rev" if reverse else "scipy_w"
        w = self.network._memo.get(key)
        if w is None:
            w = _scipy_weights(self.network)
            if reverse:
                w = w.T.tocsr()
                self.network._memo[key] = w
        out: list[NDArray[np.int64]] = []
        chunk = max(1, min(256, self.max_bytes // max(1, 8 * self.network.n_nodes)))
        for a in range(0, len(points), chunk):
            src = self.nodes[points[a : a + chunk]]
            d = np.atleast_2d(dijkstra(w, directed=True, indices=src))[:, self.nodes]
            if not np.isfinite(d).all():
                raise ValueError(_UNREACHABLE)
            out.extend(np.rint(d).astype(np.int64))
        return out

    def _compute_pair(self, a: int, b: int) -> int:
        self._computed[2] += 1
        na, nb = self.node_of(a), self.node_of(b)
        if na == nb:
            return 0
        import routingkit_cch as rk

        result = self._query("pair", rk.CCHQuery, self._cch[0]).run(na, nb)
        d = result.distance
        del result  # the binding requires the result to go before its query
        if d is None:
            raise ValueError(_UNREACHABLE)
        return int(d)

    # -- lookups (combined weights)

    def _one(self, a: int, b: int) -> int:
        """The combined weight from point ``a`` to point ``b`` (indices already valid)."""
        with self._lock:
            if a >= self._k or b >= self._k:
                return self._extra(a, b)
            slot = int(self._row_slot[a])
            if slot >= 0:
                self._tick += 1
                self._slot_used[slot] = self._tick
                return int(self._store[slot, b])
            slot = int(self._col_slot[b])
            if slot >= 0:
                self._tick += 1
                self._slot_used[slot] = self._tick
                return int(self._store[slot, a])
            key = a * self._k + b
            hit = self._pairs.get(key)
            if hit is not None:
                return hit
            if self._cch is None:
                line = self._compute_rows([a])[0]
                self._store_line(True, a, line)
                return int(line[b])
            value = self._compute_pair(a, b)
            self._store_pair(key, value)
            return value

    def _gather(self, a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
        """Combined weights for the pairs ``(a[i], b[i])`` (flat, equal length, valid indices)."""
        n = len(a)
        out = np.empty(n, dtype=np.int64)
        if n == 0:
            return out
        with self._lock:
            self._tick += 1
            todo = np.ones(n, dtype=bool)
            if self._extra_nodes:
                beyond = (a >= self._k) | (b >= self._k)
                if beyond.any():
                    for i in np.flatnonzero(beyond).tolist():
                        out[i] = self._extra(int(a[i]), int(b[i]))
                    rest = np.flatnonzero(~beyond)
                    if len(rest):
                        out[rest] = self._gather(a[rest], b[rest])
                    return out
            if self._n_rows:
                slot = self._row_slot[a]
                hit = slot >= 0
                if hit.any():
                    out[hit] = self._store[slot[hit], b[hit]]
                    self._slot_used[slot[hit]] = self._tick
                    todo &= ~hit
            if self._n_cols and todo.any():
                slot = np.where(todo, self._col_slot[b], -1)
                hit = slot >= 0
                if hit.any():
                    out[hit] = self._store[slot[hit], a[hit]]
                    self._slot_used[slot[hit]] = self._tick
                    todo &= ~hit
            if self._pairs and todo.any():
                idx = np.flatnonzero(todo)
                get = self._pairs.get
                found = [get(x) for x in (a[idx] * self._k + b[idx]).tolist()]
                got = np.fromiter((f is not None for f in found), dtype=bool, count=len(found))
                if got.any():
                    out[idx[got]] = [f for f in found if f is not None]
                    todo[idx[got]] = False
            if todo.any():
                self._fill_misses(a, b, out, todo)
        return out

    def _fill_misses(
        self, a: NDArray[np.int64], b: NDArray[np.int64], out: NDArray[np.int64], todo: NDArray[np.bool_]
    ) -> None:
        """Compute every ``todo`` pair: whole lines for crowded sources/targets, queries for the rest."""
        src_keys, src_counts = np.unique(a[todo], return_counts=True)
        dst_keys, dst_counts = np.unique(b[todo], return_counts=True)
        # lines from the side with fewer distinct keys first (for scipy, threshold 1: that side only)
        sides = [(src_keys, src_counts, True), (dst_keys, dst_counts, False)]
        if len(dst_keys) < len(src_keys):
            sides.reverse()
        for keys, counts, is_row in sides:
            if not todo.any():
                return
            if keys is not sides[0][0]:  # the second side: count what is still missing
                keys, counts = np.unique((a if is_row else b)[todo], return_counts=True)
            chosen = keys[counts >= self._line_threshold].tolist()
            if not chosen:
                continue
            lines = self._compute_rows(chosen) if is_row else self._compute_cols(chosen)
            mine, other = (a, b) if is_row else (b, a)
            for point, line in zip(chosen, lines, strict=True):
                p = np.flatnonzero(todo & (mine == point))
                out[p] = line[other[p]]
                todo[p] = False
                self._store_line(is_row, point, line)
        k = self._k
        done: dict[int, int] = {}  # a gather may repeat a pair
        for i in np.flatnonzero(todo).tolist():
            ai, bi = int(a[i]), int(b[i])
            key = ai * k + bi
            value = done.get(key)
            if value is None:
                value = done[key] = self._compute_pair(ai, bi)
                self._store_pair(key, value)
            out[i] = value

    def _decode(self, d: Any, which: str) -> Any:
        return d // self._m if which == "durations" else d % self._m


class LazyMatrix:
    """One view (``durations`` or ``distances``) of an :class:`OnDemandTravelTimes`, indexed like an array."""

    __slots__ = ("_owner", "_which")

    def __init__(self, owner: OnDemandTravelTimes, which: str) -> None:
        self._owner = owner
        self._which = which

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``: the ``k`` points and the turning points named so far."""
        n = self._owner.n_points
        return (n, n)

    @property
    def ndim(self) -> int:
        """2."""
        return 2

    @property
    def dtype(self) -> np.dtype[np.int64]:
        """``int64``."""
        return np.dtype(np.int64)

    def __len__(self) -> int:
        return self._owner._k

    def _index(self, key: Any) -> NDArray[np.int64]:
        k = self._owner.n_points
        if isinstance(key, slice):
            return np.arange(k, dtype=np.int64)[key]
        arr = np.asarray(key)
        if arr.dtype == np.bool_:
            raise IndexError("boolean indices are not supported by on-demand travel times")
        if not np.issubdtype(arr.dtype, np.integer):
            raise IndexError(f"travel-time indices must be integers, got {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size and (int(arr.min()) < -k or int(arr.max()) >= k):
            raise IndexError(f"point index out of range for {k} points")
        return np.where(arr < 0, arr + k, arr)

    def __getitem__(self, key: Any) -> Any:
        owner = self._owner
        if not isinstance(key, tuple):
            key = (key, slice(None))
        if len(key) != 2:
            raise IndexError(f"travel times take two indices, got {len(key)}")
        r, c = key
        k = owner.n_points
        if isinstance(r, (int, np.integer)) and isinstance(c, (int, np.integer)):
            a, b = int(r), int(c)
            if not (-k <= a < k and -k <= b < k):
                raise IndexError(f"point index out of range for {k} points")
            return np.int64(owner._decode(owner._one(a % k, b % k), self._which))
        ri, ci = self._index(r), self._index(c)
        if isinstance(r, slice) and not isinstance(c, slice):
            ri = ri.reshape((-1,) + (1,) * ci.ndim)  # d[:, cols] -> rows x cols
        elif isinstance(r, slice) and isinstance(c, slice):
            ri = ri[:, None]
        ra, ca = np.broadcast_arrays(ri, ci)
        flat = owner._gather(ra.reshape(-1), ca.reshape(-1))
        return owner._decode(flat, self._which).reshape(ra.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        k = self._owner.n_points
        if 8 * k * k > self._owner.max_bytes:
            raise MemoryError(
                f"a dense {k} x {k} travel-time matrix takes {8 * k * k / 1e6:.0f} MB, more than the "
                f"on-demand cache cap of {self._owner.max_bytes / 1e6:.0f} MB; index it instead "
                "(tt.durations[rows, cols]) or raise [travel_times] cache_mb"
            )
        dense: NDArray[np.int64] = self[:, :]
        return dense if dtype is None else dense.astype(dtype)

    def submatrix(self, points: Sequence[int] | NDArray[np.integer[Any]]) -> NDArray[np.int64]:
        """The dense ``(m, m)`` block between ``points`` (in this order)."""
        p = np.asarray(points, dtype=np.int64)
        result: NDArray[np.int64] = self[np.ix_(p, p)]
        return result


def travel_times(
    network: RoadNetwork,
    nodes: Sequence[int] | NDArray[np.integer[Any]],
    *,
    params: TravelTimesParams | None = None,
    use_cache: bool = False,
    cache_folder: Path | None = None,
) -> TravelMatrix | OnDemandTravelTimes:
    """Travel times between ``nodes``: the dense matrix where it fits, else on demand.

    Parameters
    ----------
    network
        The road network.
    nodes
        Node of each point.
    params
        Mode and memory limits (default :class:`TravelTimesParams()`).
    use_cache, cache_folder
        Disk cache of the dense matrix (see :func:`~ondemand.routing.geo.matrix.build_matrix`).
    """
    p = params if params is not None else TravelTimesParams()
    arr = _check_nodes(network, nodes)
    if p.dense(len(arr)):
        return build_matrix(network, arr, use_cache=use_cache, cache_folder=cache_folder)
    return OnDemandTravelTimes(network, arr, cache_mb=p.cache_mb)
