"""Readers for the dial-a-ride and pickup-and-delivery benchmark sets.

Three formats are read, detected from the file's content (never its name):

* **Cordeau a/b** (Cordeau 2006; Ropke, Cordeau & Laporte 2007): header ``K n T Q L``
  with ``n`` requests, then ``2n + 2`` node lines ``id x y d q e l``; node ``n + i`` is
  the drop-off of request ``i``, node ``2n + 1`` the destination depot.
* **Cordeau–Laporte pr** (Cordeau & Laporte 2003): header ``K 2n T Q L`` where the
  second number counts the *nodes* besides the depot, then ``2n + 1`` node lines; the
  route ends at node 0. A file with ``2n + 2`` node lines after such a header (the
  "converted" layout with a destination-depot line) is read the same way, ending at
  the last node.
* **Li & Lim** PDPTW: header ``K Q S``, then task lines
  ``id x y demand e l s p_idx d_idx`` with explicit sibling indices, no ride-time limit.

Each file becomes a :class:`DarpInstance`: the float data exactly as in the file (used
for the exact Euclidean cost and the independent check) plus an integer core
(:meth:`DarpInstance.to_core`) in which one instance time unit is ``scale`` integer
units and every travel time is ``ceil(euclid * scale)``. Every schedule that is
feasible in the integer core is therefore feasible in the real-valued instance.
Windows of the core are tightened as in Cordeau (2006).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ondemand.errors import InstanceFormatError
from ondemand.routing.solver.model import ArrayTravelTimes, Request, Vehicle

__all__ = [
    "CORDEAU_BKS",
    "DarpInstance",
    "InstanceCore",
    "InstanceFormat",
    "best_known",
    "read_instance",
    "resolve_instance_set",
]

InstanceFormat = Literal["cordeau", "pr", "lilim"]

DEFAULT_SCALE = 1000
"""Integer units per instance time unit in the core."""

#: Best-known (proven optimal) total distances of the Cordeau / Ropke a/b sets, from
#: ``../shared/benchmarks/README.md`` (2-decimal literature values; see its status column).
CORDEAU_BKS: Mapping[str, float] = MappingProxyType(
    {
        "a2-16": 294.25, "a2-20": 344.83, "a2-24": 431.12, "a3-18": 300.48, "a3-24": 344.83,
        "a3-30": 494.85, "a3-36": 583.19, "a4-16": 282.68, "a4-24": 375.02, "a4-32": 485.50,
        "a4-40": 557.69, "a4-48": 668.82, "b2-16": 309.41, "b2-20": 332.64, "b2-24": 444.71,
        "b3-18": 301.64, "b3-24": 394.51, "b3-30": 531.44, "b3-36": 603.79, "b4-16": 296.96,
        "b4-24": 371.41, "b4-32": 494.82, "b4-40": 656.63, "b4-48": 673.81, "a5-40": 498.41,
        "a5-50": 686.62, "a5-60": 808.42, "a6-48": 604.12, "a6-60": 819.25, "a6-72": 916.05,
        "a7-56": 724.04, "a7-70": 889.12, "a7-84": 1033.37, "a8-64": 747.46, "a8-80": 945.73,
        "a8-96": 1229.66, "b5-40": 613.72, "b5-50": 761.40, "b5-60": 902.04, "b6-48": 714.83,
        "b6-60": 860.07, "b6-72": 978.47, "b7-56": 823.97, "b7-70": 912.62, "b7-84": 1203.37,
        "b8-64": 839.89, "b8-80": 1036.34, "b8-96": 1185.55,
    }
)  # fmt: skip

_SETS = {"cordeau": ("cordeau2006",), "ropke": ("ropke2007",), "ab": ("cordeau2006", "ropke2007")}
_SETS["lilim"] = ("lilim/100",)


@dataclass(frozen=True, slots=True)
class InstanceCore:
    """The integer core of an instance: what the solvers see.

    Attributes
    ----------
    requests
        One :class:`Request` per request, id ``str(i)`` for the i-th pair (0-based).
    vehicles
        ``num_vehicles`` identical vehicles, ids ``"0"``, ``"1"``, ...
    tt
        Travel times (``ceil(euclid * scale)``) and distances (``round(euclid * scale)``)
        between node indices.
    scale
        Integer units per instance time unit.
    """

    requests: tuple[Request, ...]
    vehicles: tuple[Vehicle, ...]
    tt: ArrayTravelTimes
    scale: int


@dataclass(frozen=True, slots=True, eq=False)
class DarpInstance:
    """A benchmark instance, as read from its file (float data, file numbering).

    Node ``k`` of the arrays is the ``k``-th node line of the file; ``node_ids[k]`` is the
    id the file gives it (they coincide for every known file).

    Attributes
    ----------
    name
        File stem, e.g. ``"a2-16"``.
    format
        ``"cordeau"``, ``"pr"`` or ``"lilim"``.
    num_vehicles, capacity
        Fleet size K (an upper bound) and seats Q.
    max_ride
        Longest ride L, or ``None`` (Li & Lim).
    max_route_duration
        Longest route T, or ``None`` (Li & Lim: the depot window alone).
    coords, service, load, earliest, latest
        Per node: x/y, service time, load change, time window (as in the file).
    pairs
        ``(pickup node, drop-off node)`` of each request.
    start_depot, end_depot
        Node index where routes start and end.
    """

    name: str
    format: InstanceFormat
    num_vehicles: int
    capacity: int
    max_ride: float | None
    max_route_duration: float | None
    coords: NDArray[np.float64]
    service: NDArray[np.float64]
    load: NDArray[np.int64]
    earliest: NDArray[np.float64]
    latest: NDArray[np.float64]
    pairs: tuple[tuple[int, int], ...]
    start_depot: int
    end_depot: int
    node_ids: tuple[int, ...]
    path: Path | None = None
    _core: dict[int, InstanceCore] = field(default_factory=dict, repr=False)

    @property
    def num_requests(self) -> int:
        """Number of requests (pickup/drop-off pairs)."""
        return len(self.pairs)

    @property
    def num_nodes(self) -> int:
        """Number of node lines (depots included)."""
        return int(self.coords.shape[0])

    def euclid(self) -> NDArray[np.float64]:
        """Unrounded Euclidean distances between all nodes (= travel times)."""
        diff = self.coords[:, None, :] - self.coords[None, :, :]
        return np.asarray(np.sqrt((diff**2).sum(axis=2)), dtype=np.float64)

    def route_cost(self, nodes: Sequence[int]) -> float:
        """Unrounded Euclidean length of a node sequence (node indices)."""
        c = self.coords
        return float(sum(math.hypot(*(c[a] - c[b])) for a, b in itertools.pairwise(nodes)))

    def to_core(self, scale: int = DEFAULT_SCALE) -> InstanceCore:
        """Integer requests, vehicles and travel times (cached per ``scale``).

        Travel times are ``ceil(euclid * scale)``; windows are the file's windows times
        ``scale``, tightened as in Cordeau (2006) with the integer travel times, so that
        the core is a restriction of the real instance.
        """
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        cached = self._core.get(scale)
        if cached is not None:
            return cached
        eu = self.euclid()
        dur = np.ceil(eu * scale - 1e-9).astype(np.int64)
        np.fill_diagonal(dur, 0)
        dist = np.rint(eu * scale).astype(np.int64)
        tt = ArrayTravelTimes(dur, dist)
        e = np.ceil(self.earliest * scale - 1e-9).astype(np.int64)
        lat = np.floor(self.latest * scale + 1e-9).astype(np.int64)
        svc = np.ceil(self.service * scale - 1e-9).astype(np.int64)
        s0, s1 = self.start_depot, self.end_depot
        horizon = int(lat[s1])
        ride = horizon if self.max_ride is None else math.floor(self.max_ride * scale + 1e-9)
        requests: list[Request] = []
        for k, (p, d) in enumerate(self.pairs):
            t = int(dur[p, d])
            ep = max(int(e[p]), int(e[s0]) + int(dur[s0, p]), int(e[d]) - ride - int(svc[p]))
            lp = min(int(lat[p]), int(lat[d]) - t - int(svc[p]))
            ed = max(int(e[d]), ep + int(svc[p]) + t)
            ld = min(int(lat[d]), lp + int(svc[p]) + ride, horizon - int(svc[d]) - int(dur[d, s1]))
            if ep > lp or ed > ld:
                raise InstanceFormatError(
                    f"{self.name}: request {k} (nodes {self.node_ids[p]}, {self.node_ids[d]}) cannot be "
                    "served within its windows; check the file"
                )
            requests.append(
                Request(
                    id=str(k),
                    pickup=p,
                    dropoff=d,
                    earliest_pickup=ep,
                    latest_pickup=lp,
                    earliest_dropoff=ed,
                    latest_dropoff=ld,
                    max_ride=ride,
                    passengers=int(self.load[p]),
                    pickup_service=int(svc[p]),
                    dropoff_service=int(svc[d]),
                )
            )
        max_dur = (
            None if self.max_route_duration is None else math.floor(self.max_route_duration * scale + 1e-9)
        )
        vehicles = tuple(
            Vehicle(
                id=str(v),
                seats=self.capacity,
                start=s0,
                available_from=int(e[s0]),
                shift_end=horizon,
                end=s1,
                max_route_duration=max_dur,
            )
            for v in range(self.num_vehicles)
        )
        core = InstanceCore(tuple(requests), vehicles, tt, scale)
        self._core[scale] = core
        return core


def _numbers(path: Path, lineno: int, line: str, count: int | None) -> list[float]:
    parts = line.split()
    try:
        values = [float(x) for x in parts]
    except ValueError:
        raise InstanceFormatError(
            f"{path}:{lineno}: expected numbers, got {line.strip()!r}; is this a benchmark instance file?"
        ) from None
    if count is not None and len(values) != count:
        raise InstanceFormatError(
            f"{path}:{lineno}: expected {count} numbers, got {len(values)} in {line.strip()!r}"
        )
    return values


def _as_int(path: Path, lineno: int, value: float, what: str) -> int:
    if value != int(value):
        raise InstanceFormatError(f"{path}:{lineno}: {what} must be an integer, got {value}")
    return int(value)


def read_instance(path: str | Path) -> DarpInstance:
    """Read a Cordeau a/b, Cordeau–Laporte pr or Li & Lim instance file.

    Parameters
    ----------
    path
        The instance file; the format is detected from its content.

    Returns
    -------
    DarpInstance

    Raises
    ------
    InstanceFormatError
        When the file is empty, malformed or inconsistent; the message names the file
        and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InstanceFormatError(f"{path}: no such instance file") from None
    except UnicodeDecodeError:
        raise InstanceFormatError(f"{path}: not a text file") from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        raise InstanceFormatError(f"{path}: the file is empty")
    head_no, head = lines[0]
    header = _numbers(path, head_no, head, None)
    if len(header) == 3:
        return _read_lilim(path, header, lines)
    if len(header) == 5:
        return _read_cordeau(path, header, lines)
    raise InstanceFormatError(
        f"{path}:{head_no}: header has {len(header)} numbers; expected 5 (Cordeau 'K n T Q L') "
        "or 3 (Li & Lim 'K Q S')"
    )


def _read_cordeau(path: Path, header: list[float], lines: list[tuple[int, str]]) -> DarpInstance:
    hno = lines[0][0]
    k = _as_int(path, hno, header[0], "K (vehicles)")
    n_hdr = _as_int(path, hno, header[1], "n")
    t_max, q, ride = header[2], _as_int(path, hno, header[3], "Q (capacity)"), header[4]
    body = lines[1:]
    if k < 1 or n_hdr < 1 or q < 1 or t_max <= 0 or ride < 0:
        raise InstanceFormatError(f"{path}:{hno}: header values out of range: {lines[0][1].strip()!r}")
    n_lines = len(body)
    fmt: InstanceFormat
    if n_lines == 2 * n_hdr + 2:
        fmt, n = "cordeau", n_hdr
    elif n_hdr % 2 == 0 and n_lines in (n_hdr + 1, n_hdr + 2):
        fmt, n = "pr", n_hdr // 2
    else:
        raise InstanceFormatError(
            f"{path}: header says n = {n_hdr} but the file has {n_lines} node lines; expected "
            f"{2 * n_hdr + 2} (a/b format, n requests) or {n_hdr + 1} (pr format, n nodes)"
        )
    rows = []
    for lineno, line in body:
        vals = _numbers(path, lineno, line, None)
        if len(vals) < 7:
            raise InstanceFormatError(
                f"{path}:{lineno}: a node line needs 7 numbers 'id x y d q e l', got {len(vals)}"
            )
        rows.append((lineno, vals[:7]))
    # pr files may carry extra columns; only the first seven are used.
    ids = tuple(_as_int(path, ln, v[0], "node id") for ln, v in rows)
    coords = np.array([[v[1], v[2]] for _, v in rows], dtype=np.float64)
    service = np.array([v[3] for _, v in rows], dtype=np.float64)
    load = np.array([_as_int(path, ln, v[4], "load q") for ln, v in rows], dtype=np.int64)
    earliest = np.array([v[5] for _, v in rows], dtype=np.float64)
    latest = np.array([v[6] for _, v in rows], dtype=np.float64)
    for idx, (ln, _) in enumerate(rows):
        if earliest[idx] > latest[idx]:
            raise InstanceFormatError(
                f"{path}:{ln}: time window is reversed ({earliest[idx]} > {latest[idx]})"
            )
        if service[idx] < 0:
            raise InstanceFormatError(f"{path}:{ln}: negative service time")
    pairs = tuple((i, n + i) for i in range(1, n + 1))
    for p, d in pairs:
        if load[p] <= 0 or load[d] != -load[p]:
            raise InstanceFormatError(
                f"{path}:{rows[p][0]}: request {p} has load {load[p]} at pickup and {load[d]} at "
                f"drop-off (line {rows[d][0]}); expected +q and -q with q >= 1"
            )
        if load[p] > q:
            raise InstanceFormatError(f"{path}:{rows[p][0]}: request {p} needs {load[p]} seats > Q = {q}")
    end = len(rows) - 1 if len(rows) == 2 * n + 2 else 0
    inst = DarpInstance(
        name=path.stem,
        format=fmt,
        num_vehicles=k,
        capacity=q,
        max_ride=float(ride),
        max_route_duration=float(t_max),
        coords=coords,
        service=service,
        load=load,
        earliest=earliest,
        latest=latest,
        pairs=pairs,
        start_depot=0,
        end_depot=end,
        node_ids=ids,
        path=path,
    )
    _freeze(inst)
    return inst


def _read_lilim(path: Path, header: list[float], lines: list[tuple[int, str]]) -> DarpInstance:
    hno = lines[0][0]
    k = _as_int(path, hno, header[0], "K (vehicles)")
    q = _as_int(path, hno, header[1], "Q (capacity)")
    if k < 1 or q < 1:
        raise InstanceFormatError(f"{path}:{hno}: header values out of range: {lines[0][1].strip()!r}")
    rows = [(ln, _numbers(path, ln, line, 9)) for ln, line in lines[1:]]
    if len(rows) < 3:
        raise InstanceFormatError(f"{path}: a Li & Lim file needs a depot line and at least one pair")
    ids = tuple(_as_int(path, ln, v[0], "task id") for ln, v in rows)
    if ids != tuple(range(len(rows))):
        bad = next(i for i, t in enumerate(ids) if t != i)
        raise InstanceFormatError(
            f"{path}:{rows[bad][0]}: task ids must be 0, 1, 2, ... in order; "
            f"found {ids[bad]} at position {bad}"
        )
    coords = np.array([[v[1], v[2]] for _, v in rows], dtype=np.float64)
    load = np.array([_as_int(path, ln, v[3], "demand") for ln, v in rows], dtype=np.int64)
    earliest = np.array([v[4] for _, v in rows], dtype=np.float64)
    latest = np.array([v[5] for _, v in rows], dtype=np.float64)
    service = np.array([v[6] for _, v in rows], dtype=np.float64)
    pairs: list[tuple[int, int]] = []
    m = len(rows)
    for i, (ln, v) in enumerate(rows):
        if earliest[i] > latest[i]:
            raise InstanceFormatError(f"{path}:{ln}: time window is reversed ({earliest[i]} > {latest[i]})")
        if i == 0:
            continue
        p_idx = _as_int(path, ln, v[7], "pickup index")
        d_idx = _as_int(path, ln, v[8], "delivery index")
        if load[i] > 0:
            if p_idx != 0 or not 0 < d_idx < m:
                raise InstanceFormatError(
                    f"{path}:{ln}: pickup {i} must have p_idx 0 and a delivery index in 1..{m - 1}"
                )
            dv = rows[d_idx][1]
            if int(dv[7]) != i or load[d_idx] != -load[i]:
                raise InstanceFormatError(
                    f"{path}:{ln}: pickup {i} names delivery {d_idx}, but line {rows[d_idx][0]} does not "
                    "name it back with the opposite demand"
                )
            if load[i] > q:
                raise InstanceFormatError(f"{path}:{ln}: pickup {i} needs {load[i]} > Q = {q}")
            pairs.append((i, d_idx))
        elif load[i] < 0:
            if d_idx != 0 or not 0 < p_idx < m or load[p_idx] <= 0:
                raise InstanceFormatError(
                    f"{path}:{ln}: delivery {i} must have d_idx 0 and name its pickup in p_idx"
                )
        else:
            raise InstanceFormatError(f"{path}:{ln}: task {i} has demand 0; expected a pickup or delivery")
    if 2 * len(pairs) != m - 1:
        raise InstanceFormatError(f"{path}: {m - 1} tasks but {len(pairs)} pickup/delivery pairs")
    inst = DarpInstance(
        name=path.stem,
        format="lilim",
        num_vehicles=k,
        capacity=q,
        max_ride=None,
        max_route_duration=None,
        coords=coords,
        service=service,
        load=load,
        earliest=earliest,
        latest=latest,
        pairs=tuple(pairs),
        start_depot=0,
        end_depot=0,
        node_ids=ids,
        path=path,
    )
    _freeze(inst)
    return inst


def _freeze(inst: DarpInstance) -> None:
    for arr in (inst.coords, inst.service, inst.load, inst.earliest, inst.latest):
        arr.setflags(write=False)


def _lilim_bks(csv_path: Path) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    with csv_path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                out[row["instance"].strip()] = (int(row["routes"]), float(row["distance"]))
            except (KeyError, ValueError):
                continue
    return out


def best_known(inst: DarpInstance, bench_dir: Path | None = None) -> tuple[int | None, float | None]:
    """Best-known ``(vehicles, distance)`` of an instance, or ``(None, None)`` if unknown.

    a/b values come from :data:`CORDEAU_BKS` (vehicles: ``None``, the fleet is a bound);
    Li & Lim values from ``lilim/bks_sintef_100.csv`` in ``bench_dir`` (or next to the
    instance file's folder).
    """
    if inst.format == "cordeau":
        return None, CORDEAU_BKS.get(inst.name)
    if inst.format == "lilim":
        candidates = []
        if bench_dir is not None:
            candidates.append(Path(bench_dir) / "lilim" / "bks_sintef_100.csv")
        if inst.path is not None:
            candidates.append(inst.path.parent.parent / "bks_sintef_100.csv")
        for c in candidates:
            if c.is_file():
                v, d = _lilim_bks(c).get(inst.name, (None, None))
                return v, d
    return None, None


_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def resolve_instance_set(spec: str, bench_dir: Path | None) -> list[Path]:
    """Instance files for a set name (``cordeau``, ``ropke``, ``ab``, ``lilim``), folder, or file.

    Raises
    ------
    InstanceFormatError
        When nothing matches.
    """
    p = Path(spec)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(p.glob("*.txt"))
        if files:
            return files
    if bench_dir is not None and spec in _SETS:
        out: list[Path] = []
        for sub in _SETS[spec]:
            out.extend(sorted((bench_dir / sub).glob("*.txt")))
        if out:
            return out
    if bench_dir is not None and _NAME.match(spec):
        hits = sorted(bench_dir.rglob(f"{spec}.txt"))
        hits = [h for h in hits if "bks_solutions" not in h.parts]
        if hits:
            return hits[:1]
    raise InstanceFormatError(
        f"{spec!r} is neither an instance file, a folder of .txt files, nor a set name "
        f"({', '.join(sorted(_SETS))}) under ONDEMAND_BENCHMARK_DIR={bench_dir}"
    )
