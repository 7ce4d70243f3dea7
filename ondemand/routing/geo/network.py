"""Road networks: load an area's drivable graph, give every edge a travel time, snap points to it.

The graph comes from the data folder (``ONDEMAND_DATA_DIR``), else from the user cache
(``ONDEMAND_CACHE_DIR`` or the platform's cache folder), else it is downloaded with osmnx for
the area's bounding box and cached. The loaded graph is compiled once into a frozen
:class:`RoadNetwork` (numpy arrays, CSR matrices, a KD-tree) and that compiled form is cached
on disk as well (keyed by the graph file's size and modification time and by the speed table),
so repeated runs load in a fraction of a second.

Nodes everywhere in :mod:`ondemand.routing` are *dense indices* ``0 .. n-1`` into the network's
arrays; ``RoadNetwork.node_ids[i]`` is the id the source graph gave node ``i``.

Units: integer seconds and integer metres. Edge lengths are rounded to whole metres (at least 1)
and edge times are ``max(1, round(length / (speed * hour factor)))`` plus junction delays (seconds)
(:class:`NetworkParams`), so a path's time and length are exact sums of integers and agree
everywhere (matrix, paths, schedules).

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ondemand.errors import DataNotFoundError, OutsideServiceAreaError, UnknownAreaError
from ondemand.routing.geo.data import DATA_ENV, OFFLINE_ENV, cache_dir, data_folders, find_data_file
from ondemand.routing.geo.geodesy import METRES_PER_DEGREE, project
from ondemand.routing.geo.zone import NamedPlace

__all__ = [
    "AREAS",
    "DEFAULT_HOUR_FACTORS",
    "DEFAULT_SPEEDS_KMH",
    "AreaSpec",
    "NetworkParams",
    "RoadNetwork",
    "Status",
    "compile_network",
    "get_area",
    "load_network",
    "stage",
]


Status = Callable[[str], AbstractContextManager[object]]
"""Progress callback for a long step: called with a message, it returns a context manager that
spans the step (the CLI passes ``rich.console.Console(stderr=True).status``)."""


def stage(status: Status | None, message: str) -> AbstractContextManager[object]:
    """``status(message)``, or a no-op context manager when ``status`` is ``None``."""
    return status(message) if status is not None else contextlib.nullcontext()


#: Version of the compiled-network cache format; bump when :func:`compile_network` changes.
_CACHE_VERSION = 4

DEFAULT_SPEEDS_KMH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 60.0,
        "trunk": 40.0,
        "primary": 35.0,
        "secondary": 32.0,
        "tertiary": 28.0,
        "minor": 22.0,
        "residential": 22.0,
        "unclassified": 22.0,
        "living_street": 15.0,
        "road": 22.0,
    }
)
"""Travel speeds a van drives between junctions, by road class (km/h) — not speed limits.

Sources and assumptions (``../shared/PILOTS.md``, "Road speeds in Japan"):

- The national road traffic census (道路交通センサス, 2010) measured an average congested-time
  travel speed (混雑時旅行速度) of 35.1 km/h over all surveyed roads (prefectural roads and
  above, expressways included); its 1999 round found weekday morning peak speeds of 10-25 km/h
  around Osaka and Kyoto. Residential streets are not surveyed and are slower.
- So national roads (trunk) and main local roads (primary) run at about the census average
  between junctions (40 and 35 km/h, *assumption*), lesser classes progressively slower, and a
  ``minor`` street (OSM residential/unclassified/road, the OpenMapTiles class of the data
  folder's graphs) at 22 km/h (*assumption*: narrow hillside streets, parked cars, crossings).
- ``motorway`` 60 km/h is an *assumption* (the pilot vans hardly ever use one).
- Junction delays (:attr:`NetworkParams.junction_delay_s`, :attr:`NetworkParams.crossing_delay_s`)
  and the hour-of-day factor (:data:`DEFAULT_HOUR_FACTORS`) come on top; together they bring a
  van's mean driving speed over a pilot day into the census's 10-25 km/h range for urban Osaka.

A ``*_link`` class (ramp) takes the speed of its base class unless given explicitly."""

DEFAULT_HOUR_FACTORS: Mapping[int, float] = MappingProxyType({7: 0.8, 8: 0.8, 17: 0.85, 18: 0.85})
"""Speed multipliers by hour of day (hours not listed: 1.0). *Assumption* after the census's
weekday peak speeds around Osaka (10-25 km/h in the 1999 round, PILOTS.md): the morning peak
(07-09 h) 20 % slower, the evening peak (17-19 h) 15 % slower than the daytime speeds above."""


def _freeze_speeds(speeds: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(sorted((str(k), float(v)) for k, v in speeds.items())))


def _freeze_hours(factors: Mapping[Any, float]) -> Mapping[int, float]:
    out: dict[int, float] = {}
    for k, v in factors.items():
        try:
            hour = int(str(k).strip())
        except ValueError:
            raise ValueError(f"hour_factors: key {k!r} must be an hour of day 0..23") from None
        if not 0 <= hour <= 23:
            raise ValueError(f"hour_factors: key {k!r} must be an hour of day 0..23")
        if isinstance(v, bool) or not isinstance(v, int | float) or not (0.1 <= v <= 3.0):
            raise ValueError(f"hour_factors: factor for hour {hour} must be between 0.1 and 3, got {v!r}")
        out[hour] = float(v)
    return MappingProxyType(dict(sorted(out.items())))


@dataclass(frozen=True, eq=True)
class NetworkParams:
    """How road classes, junctions and the hour of day become travel times.

    An edge ``u -> v`` takes ``max(1, round(length / (speed * factor)))`` seconds plus half the
    junction delay of each end (:meth:`edge_seconds`): ``speed`` is its class's travel speed,
    ``factor`` the mean hour-of-day factor over ``hours``, and a node's junction delay is
    ``junction_delay_s`` where three streets meet, ``crossing_delay_s`` where four or more do,
    0 elsewhere. A path thus pays every junction it passes through once. A
    node's street count is the graph's ``street_count`` (osmnx) or, without it, its number of
    distinct neighbours. The graph is node based, so the delay does not depend on the turn
    made at the junction.

    Parameters
    ----------
    speeds_kmh
        Travel speed by road class in km/h. Given entries *override* :data:`DEFAULT_SPEEDS_KMH`;
        the stored table is the merged one. ``motorway_link`` etc. fall back to their base class.
    default_kmh
        Speed for any class not in the table.
    junction_delay_s, crossing_delay_s
        Whole seconds lost entering a junction of three streets, of four or more (*assumption*:
        4 s and 8 s — slowing, looking, giving way; a signalised crossing averages more, a
        green light less).
    hour_factors
        Speed multiplier by hour of day (0..23); given entries override
        :data:`DEFAULT_HOUR_FACTORS`, hours not listed take 1.0.
    hours
        ``(first, end)`` hours of day the travel times stand for, ``0 <= first < end <= 24``:
        a service day uses one matrix, at the mean factor of these hours (a scenario sets
        them from its service hours). Travel times that change within the day are not modelled.
    """

    speeds_kmh: Mapping[str, float] = field(default_factory=dict)
    default_kmh: float = 22.0
    junction_delay_s: int = 4
    crossing_delay_s: int = 8
    hour_factors: Mapping[Any, float] = field(default_factory=dict)
    hours: tuple[int, int] = (9, 18)

    def __post_init__(self) -> None:
        merged = dict(DEFAULT_SPEEDS_KMH)
        merged.update(self.speeds_kmh)
        for cls, kmh in merged.items():
            if not (isinstance(kmh, int | float) and math.isfinite(kmh) and 1.0 <= kmh <= 200.0):
                raise ValueError(f"speed for road class {cls!r} must be between 1 and 200 km/h, got {kmh!r}")
        if not (math.isfinite(self.default_kmh) and 1.0 <= self.default_kmh <= 200.0):
            raise ValueError(f"default_kmh must be between 1 and 200 km/h, got {self.default_kmh!r}")
        for name in ("junction_delay_s", "crossing_delay_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 300:
                raise ValueError(f"{name} must be a whole number of seconds 0..300, got {v!r}")
        hours = tuple(self.hours)
        if (
            len(hours) != 2
            or any(isinstance(h, bool) or not isinstance(h, int) for h in hours)
            or not 0 <= hours[0] < hours[1] <= 24
        ):
            raise ValueError(
                f"hours must be (first, end) whole hours with 0 <= first < end <= 24, got {self.hours!r}"
            )
        factors: dict[Any, float] = dict(DEFAULT_HOUR_FACTORS)
        factors.update(_freeze_hours(self.hour_factors))
        object.__setattr__(self, "speeds_kmh", _freeze_speeds(merged))
        object.__setattr__(self, "default_kmh", float(self.default_kmh))
        object.__setattr__(self, "hour_factors", _freeze_hours(factors))
        object.__setattr__(self, "hours", (int(hours[0]), int(hours[1])))

    def __hash__(self) -> int:
        return hash(self.key())

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as plain tables (a mappingproxy does not pickle)."""
        return (
            NetworkParams,
            (
                dict(self.speeds_kmh),
                self.default_kmh,
                self.junction_delay_s,
                self.crossing_delay_s,
                dict(self.hour_factors),
                self.hours,
            ),
        )

    @property
    def speed_factor(self) -> float:
        """Mean hour-of-day factor over :attr:`hours` (what the one matrix of a day uses)."""
        first, end = self.hours
        return sum(self.hour_factors.get(h, 1.0) for h in range(first, end)) / (end - first)

    def junction_delay(self, street_count: int) -> int:
        """Seconds lost entering a node where ``street_count`` streets meet."""
        if street_count >= 4:
            return self.crossing_delay_s
        if street_count == 3:
            return self.junction_delay_s
        return 0

    def edge_seconds(self, length_m: int, speed_kmh: float, streets_u: int, streets_v: int) -> int:
        """Travel time of an edge ``u -> v`` of ``length_m`` at ``speed_kmh``.

        ``max(1, round(length / (speed * speed_factor)))`` plus half of each end's junction delay
        (``junction_delay(streets_u) // 2`` leaving ``u``, the rest of ``junction_delay(streets_v)``
        entering ``v``): a path pays each junction it passes once, whole, and half of those it
        starts or ends at (a van stops there anyway); two-way roads stay symmetric.
        """
        v = speed_kmh * self.speed_factor / 3.6
        entering = self.junction_delay(streets_v)
        return max(1, round(length_m / v)) + self.junction_delay(streets_u) // 2 + entering - entering // 2

    def speed_for(self, highway: str | Iterable[str] | None) -> float:
        """Speed in km/h for an edge's ``highway`` value (a class, or a list of classes on a merged edge).

        A list takes the fastest of its classes; ``*_link`` takes its base class's speed.
        """
        if highway is None:
            return self.default_kmh
        classes = [highway] if isinstance(highway, str) else [str(h) for h in highway]
        if not classes:
            return self.default_kmh
        return max(self._class_speed(c) for c in classes)

    def _class_speed(self, cls: str) -> float:
        cls = cls.strip()
        if cls in self.speeds_kmh:
            return self.speeds_kmh[cls]
        if cls.endswith("_link") and cls[: -len("_link")] in self.speeds_kmh:
            return self.speeds_kmh[cls[: -len("_link")]]
        return self.default_kmh

    def key(self) -> str:
        """A stable text key of the speed table (for cache keys)."""
        return json.dumps(
            {
                "speeds": dict(self.speeds_kmh),
                "default": self.default_kmh,
                "junction": self.junction_delay_s,
                "crossing": self.crossing_delay_s,
                "hour_factors": {str(h): f for h, f in self.hour_factors.items()},
                "hours": list(self.hours),
            },
            sort_keys=True,
        )


@dataclass(frozen=True)
class AreaSpec:
    """A named service area: where its files are and what it covers.

    Parameters
    ----------
    name
        Area name used on the command line and in scenarios.
    prefix
        File prefix in the data folder: ``{prefix}_drive.graphml``, ``{prefix}_pois.geojson``, ...
    bbox
        ``(west, south, east, north)`` in degrees: the download box and the service area; points
        outside it are refused.
    default_stops
        Target number of meeting points when the scenario does not say.
    zone_name
        Name of the service zone (shown when a point outside it is refused).
    zone_file
        A GeoJSON polygon file: the service zone (see :mod:`ondemand.routing.geo.zone`).
    districts
        Or the zone as district (町丁目) names of the OSM place layer.
    places
        Named destinations (stations, hospitals): stops there carry their names, and trips may
        start or end there even outside the zone.
    """

    name: str
    prefix: str
    bbox: tuple[float, float, float, float]
    default_stops: int = 100
    zone_name: str = ""
    zone_file: Path | None = None
    districts: tuple[str, ...] = ()
    places: tuple[NamedPlace, ...] = ()

    def __post_init__(self) -> None:
        w, s, e, n = self.bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError(f"area {self.name!r}: bbox must be (west, south, east, north), got {self.bbox}")
        if self.default_stops < 1:
            raise ValueError(f"area {self.name!r}: default_stops must be >= 1")
        if self.zone_file is not None and self.districts:
            raise ValueError(f"area {self.name!r}: give a zone file or districts, not both")
        object.__setattr__(self, "districts", tuple(self.districts))
        object.__setattr__(self, "places", tuple(NamedPlace.parse(p) for p in self.places))

    @property
    def has_zone(self) -> bool:
        """Whether a zone (file or districts) is defined."""
        return self.zone_file is not None or bool(self.districts)

    @property
    def graph_file(self) -> str:
        """File name of the drivable graph."""
        return f"{self.prefix}_drive.graphml"

    def contains(self, lon: float, lat: float) -> bool:
        """Whether a point lies inside the bounding box."""
        w, s, e, n = self.bbox
        return w <= lon <= e and s <= lat <= n


_AREA_KEYS = frozenset({"name", "prefix", "bbox", "default_stops", "description"})


def _read_area_specs() -> dict[str, AreaSpec]:
    """The built-in areas: one TOML spec file each in the package's ``areas`` folder."""
    import tomllib
    from importlib.resources import files

    out: dict[str, AreaSpec] = {}
    folder = files("ondemand.routing.geo") / "areas"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        unknown = sorted(set(data) - _AREA_KEYS)
        if unknown:  # a packaging mistake, not user input
            raise ValueError(f"area spec {entry.name}: unknown key {unknown[0]!r}")
        w, s, e, n = (float(b) for b in data["bbox"])
        spec = AreaSpec(
            str(data["name"]),
            str(data["prefix"]),
            (w, s, e, n),
            default_stops=int(data.get("default_stops", 100)),
        )
        out[spec.name] = spec
    return out


AREAS: Mapping[str, AreaSpec] = MappingProxyType(_read_area_specs())
"""The built-in pilot areas, read from the spec files in ``ondemand/routing/geo/areas/*.toml``
(name, file prefix, bbox as in the data folder's PROVENANCE.md, default number of meeting points)."""


def get_area(area: str | AreaSpec) -> AreaSpec:
    """The :class:`AreaSpec` for a name (or the spec itself).

    Raises
    ------
    UnknownAreaError
        For a name that is not a built-in area; the message lists the known ones.
    """
    if isinstance(area, AreaSpec):
        return area
    spec = AREAS.get(area.strip().lower())
    if spec is None:
        known = ", ".join(sorted(AREAS))
        raise UnknownAreaError(
            f"unknown area {area!r}; known areas: {known} (or give a scenario .toml file that defines one)"
        )
    return spec


# --------------------------------------------------------------------------------------------------
# The compiled network


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A compiled, frozen drivable road network (the largest strongly connected component).

    Build with :func:`load_network` or :func:`compile_network`. Nodes are dense indices.

    Attributes
    ----------
    area
        Name of the area.
    bbox
        Service bounding box ``(west, south, east, north)``; points outside are refused.
    params
        The speed table used.
    node_ids
        Source-graph id of each node, ``int64`` ``(n,)``.
    lon, lat
        Node coordinates, ``float64`` ``(n,)``.
    edge_u, edge_v
        Tail and head node of each directed edge, ``int64`` ``(m,)`` (parallel edges kept).
    edge_length
        Edge length in whole metres (>= 1).
    edge_time
        Edge travel time in whole seconds (>= 1), junction delays of its ends included (half each).
    edge_speed
        Edge running speed in km/h (class travel speed times the hour-of-day factor; junction
        delays not included).
    edge_class
        Edge road class (the fastest class of a merged edge), as strings.
    geom_offsets, geom_lon, geom_lat
        Edge geometry: points of edge ``e`` are ``geom_*[geom_offsets[e]:geom_offsets[e+1]]``,
        oriented from ``edge_u`` to ``edge_v``.
    times, lengths
        CSR matrices ``(n, n)`` of the arc travel time (s) and length (m); where parallel edges
        exist, the arc is the fastest of them (shorter on ties).
    arc_edge
        For each stored CSR entry, the index of the edge it stands for.
    dropped_nodes, dropped_edges
        How many nodes/edges of the source graph were outside the largest strongly connected
        component and were dropped.
    source
        Where the graph came from (file path or "download").
    fingerprint
        Hex digest of the compiled arrays (for cache keys).
    """

    area: str
    bbox: tuple[float, float, float, float]
    params: NetworkParams
    node_ids: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    edge_u: NDArray[np.int64]
    edge_v: NDArray[np.int64]
    edge_length: NDArray[np.int64]
    edge_time: NDArray[np.int64]
    edge_speed: NDArray[np.float64]
    edge_class: NDArray[np.str_]
    geom_offsets: NDArray[np.int64]
    geom_lon: NDArray[np.float64]
    geom_lat: NDArray[np.float64]
    dropped_nodes: int
    dropped_edges: int
    source: str
    times: sp.csr_matrix = field(init=False, repr=False)
    lengths: sp.csr_matrix = field(init=False, repr=False)
    arc_edge: NDArray[np.int64] = field(init=False, repr=False)
    fingerprint: str = field(init=False)
    _xy: NDArray[np.float64] = field(init=False, repr=False)
    _tree: cKDTree = field(init=False, repr=False)
    _origin: tuple[float, float] = field(init=False, repr=False)
    _memo: dict[str, Any] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.node_ids)
        for name in ("node_ids", "lon", "lat"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, node_ids {n}")
        m = len(self.edge_u)
        for name in ("edge_v", "edge_length", "edge_time", "edge_speed", "edge_class"):
            if len(getattr(self, name)) != m:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, edge_u {m}")
        if m and (self.edge_time.min() < 1 or self.edge_length.min() < 1):
            raise ValueError("edge times and lengths must be at least 1")
        for name in (
            "node_ids",
            "lon",
            "lat",
            "edge_u",
            "edge_v",
            "edge_length",
            "edge_time",
            "edge_speed",
            "edge_class",
            "geom_offsets",
            "geom_lon",
            "geom_lat",
        ):
            arr = np.asarray(getattr(self, name))
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        # One CSR entry per (u, v): the lexicographically best parallel edge (time, then length).
        order = np.lexsort((self.edge_length, self.edge_time, self.edge_v, self.edge_u))
        uv = self.edge_u[order] * max(n, 1) + self.edge_v[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = uv[1:] != uv[:-1]
        best = order[first]  # sorted by (u, v), as CSR wants
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, self.edge_u[best] + 1, 1)
        indptr = np.cumsum(indptr)
        times = sp.csr_matrix(
            (self.edge_time[best].astype(np.float64), self.edge_v[best], indptr), shape=(n, n)
        )
        lengths = sp.csr_matrix(
            (self.edge_length[best].astype(np.float64), self.edge_v[best], indptr), shape=(n, n)
        )
        arc_edge = best.astype(np.int64)
        arc_edge.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "lengths", lengths)
        object.__setattr__(self, "arc_edge", arc_edge)
        lon0 = (self.bbox[0] + self.bbox[2]) / 2
        lat0 = (self.bbox[1] + self.bbox[3]) / 2
        object.__setattr__(self, "_origin", (lon0, lat0))
        xy = self.project(self.lon, self.lat)
        object.__setattr__(self, "_xy", xy)
        object.__setattr__(self, "_tree", cKDTree(xy))
        h = hashlib.sha256()
        for arr in (self.node_ids, self.edge_u, self.edge_v, self.edge_time, self.edge_length):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        object.__setattr__(self, "fingerprint", h.hexdigest()[:24])

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the in-memory memo (it may hold unpicklable routing engines)."""
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled network."""
        self.__dict__.update(state)

    # ---- sizes

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        """Number of directed edges (parallel edges counted)."""
        return len(self.edge_u)

    # ---- geometry

    def project(self, lon: Any, lat: Any) -> NDArray[np.float64]:
        """Local equirectangular projection around the bbox centre: ``(k, 2)`` metres east/north."""
        lon0, lat0 = self._origin
        return project(lon, lat, lon0=lon0, lat0=lat0)

    def unproject(self, xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Lon and lat of projected points ``(k, 2)`` (the inverse of :meth:`project`)."""
        lon0, lat0 = self._origin
        arr = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        lon = arr[:, 0] / (METRES_PER_DEGREE * math.cos(math.radians(lat0))) + lon0
        return lon, arr[:, 1] / METRES_PER_DEGREE + lat0

    def in_bbox(self, lon: Any, lat: Any) -> NDArray[np.bool_]:
        """Whether each point lies inside the service bounding box."""
        w, s, e, n = self.bbox
        lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        return (lon_a >= w) & (lon_a <= e) & (lat_a >= s) & (lat_a <= n)

    def nearest_nodes(self, lon: Any, lat: Any) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest node and straight-line distance in metres for each point (no checks)."""
        dist, idx = self._tree.query(self.project(lon, lat))
        return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float64)

    def snap(self, lon: float, lat: float, *, max_m: float = 500.0) -> int:
        """The nearest road node to a point.

        Parameters
        ----------
        lon, lat
            The point in degrees (WGS84).
        max_m
            Largest straight-line distance to the node, in metres.

        Raises
        ------
        OutsideServiceAreaError
            When the point is outside the area's bounding box or farther than ``max_m`` from
            every road node.
        """
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise OutsideServiceAreaError(f"point ({lon}, {lat}) is not a valid lon/lat")
        if not bool(self.in_bbox(lon, lat)[0]):
            w, s, e, n = self.bbox
            raise OutsideServiceAreaError(
                f"point (lon {lon:.6f}, lat {lat:.6f}) is outside the {self.area} service area "
                f"(lon {w}..{e}, lat {s}..{n}); choose a point inside it"
            )
        idx, dist = self.nearest_nodes(lon, lat)
        if dist[0] > max_m:
            raise OutsideServiceAreaError(
                f"point (lon {lon:.6f}, lat {lat:.6f}) is {dist[0]:.0f} m from the nearest road of "
                f"{self.area} (limit {max_m:.0f} m); choose a point nearer a road"
            )
        return int(idx[0])

    def edge_coords(self, edge: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Lon and lat of an edge's geometry, from its tail to its head."""
        a, b = int(self.geom_offsets[edge]), int(self.geom_offsets[edge + 1])
        return self.geom_lon[a:b], self.geom_lat[a:b]

    def arc(self, u: int, v: int) -> int:
        """The edge index used for the arc ``u -> v`` (the fastest parallel edge)."""
        a, b = int(self.times.indptr[u]), int(self.times.indptr[u + 1])
        pos = np.searchsorted(self.times.indices[a:b], v)
        if pos >= b - a or self.times.indices[a + pos] != v:
            raise ValueError(f"no edge from node {u} to node {v}")
        return int(self.arc_edge[a + pos])

    def arcs(self, nodes: NDArray[np.int64]) -> NDArray[np.int64]:
        """The edge indices of the arcs ``nodes[k] -> nodes[k + 1]`` (each as :meth:`arc`).

        One search over the arcs' (tail, head) keys, which the CSR layout keeps sorted.

        Raises
        ------
        ValueError
            When two consecutive nodes are not joined by an edge.
        """
        keys = self._memo.get("arc_keys")
        if keys is None:
            n = np.int64(self.n_nodes)
            tails = np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(self.times.indptr))
            keys = tails * n + self.times.indices.astype(np.int64)
            self._memo["arc_keys"] = keys
        nodes = np.asarray(nodes, dtype=np.int64)
        want = nodes[:-1] * np.int64(self.n_nodes) + nodes[1:]
        pos = np.searchsorted(keys, want)
        ok = pos < len(keys)
        ok[ok] = keys[pos[ok]] == want[ok]
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"no edge from node {int(nodes[k])} to node {int(nodes[k + 1])}")
        return self.arc_edge[pos].astype(np.int64)

    @property
    def graph(self) -> Any:
        """A :class:`networkx.MultiDiGraph` view (built on first use; nodes are dense indices).

        Node attributes ``x`` (lon), ``y`` (lat), ``osmid``; edge attributes ``length`` (m),
        ``travel_time`` (s), ``speed_kmh``, ``highway`` and ``edge`` (index into the edge arrays).
        """
        g = self._memo.get("graph")
        if g is None:
            import networkx as nx

            g = nx.MultiDiGraph(area=self.area, crs="epsg:4326")
            g.add_nodes_from(
                (i, {"x": float(x), "y": float(y), "osmid": int(o)})
                for i, (x, y, o) in enumerate(zip(self.lon, self.lat, self.node_ids, strict=True))
            )
            g.add_edges_from(
                (
                    int(u),
                    int(v),
                    {
                        "length": int(le),
                        "travel_time": int(t),
                        "speed_kmh": float(s),
                        "highway": str(c),
                        "edge": e,
                    },
                )
                for e, (u, v, le, t, s, c) in enumerate(
                    zip(
                        self.edge_u,
                        self.edge_v,
                        self.edge_length,
                        self.edge_time,
                        self.edge_speed,
                        self.edge_class,
                        strict=True,
                    )
                )
            )
            self._memo["graph"] = g
        return g

    def describe_component(self) -> str:
        """One line about the largest strongly connected component and what was dropped."""
        total_n = self.n_nodes + self.dropped_nodes
        total_e = self.n_edges + self.dropped_edges
        return (
            f"{self.n_nodes} of {total_n} nodes, {self.n_edges} of {total_e} edges "
            f"(dropped {self.dropped_nodes} nodes, {self.dropped_edges} edges outside it)"
        )

    # ---- persistence of the compiled form

    def _save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        meta = {
            "area": self.area,
            "bbox": list(self.bbox),
            "params": json.loads(self.params.key()),
            "dropped_nodes": self.dropped_nodes,
            "dropped_edges": self.dropped_edges,
            "source": self.source,
        }
        np.savez(
            tmp,
            meta=np.array(json.dumps(meta)),
            node_ids=self.node_ids,
            lon=self.lon,
            lat=self.lat,
            edge_u=self.edge_u,
            edge_v=self.edge_v,
            edge_length=self.edge_length,
            edge_time=self.edge_time,
            edge_speed=self.edge_speed,
            edge_class=self.edge_class.astype("U32"),
            geom_offsets=self.geom_offsets,
            geom_lon=self.geom_lon,
            geom_lat=self.geom_lat,
        )
        os.replace(tmp, path)

    @classmethod
    def _load(cls, path: Path, params: NetworkParams) -> RoadNetwork:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
        bbox = tuple(float(b) for b in meta["bbox"])
        return cls(
            area=str(meta["area"]),
            bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
            params=params,
            dropped_nodes=int(meta["dropped_nodes"]),
            dropped_edges=int(meta["dropped_edges"]),
            source=str(meta["source"]),
            **arrays,
        )


# --------------------------------------------------------------------------------------------------
# Compiling a networkx graph


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):  # a list stored as text
            return [p.strip().strip("'\"") for p in text[1:-1].split(",") if p.strip()]
        return [text]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def compile_network(
    graph: Any, *, area: str, bbox: tuple[float, float, float, float], params: NetworkParams, source: str = ""
) -> RoadNetwork:
    """Compile a networkx (Multi)DiGraph with osmnx attributes into a :class:`RoadNetwork`.

    Keeps the largest strongly connected component. Nodes need ``x`` (lon) and ``y`` (lat);
    edges need ``length`` (metres) and may have ``highway`` (str or list) and ``geometry``
    (a shapely LineString); an edge without geometry is a straight segment.

    Parameters
    ----------
    graph
        The source graph.
    area, bbox
        Name and service bounding box ``(west, south, east, north)``.
    params
        Speed table.
    source
        Where the graph came from (kept for reports).
    """
    all_nodes = list(graph.nodes)
    n_all = len(all_nodes)
    if n_all == 0:
        raise ValueError(f"area {area!r}: the road graph has no nodes")
    pos = {node: i for i, node in enumerate(all_nodes)}
    multi = bool(graph.is_multigraph())
    edges = list(graph.edges(keys=True, data=True)) if multi else list(graph.edges(data=True))
    eu = np.fromiter((pos[e[0]] for e in edges), dtype=np.int64, count=len(edges))
    ev = np.fromiter((pos[e[1]] for e in edges), dtype=np.int64, count=len(edges))
    adj = sp.csr_matrix((np.ones(len(edges)), (eu, ev)), shape=(n_all, n_all))
    _, labels = connected_components(adj, directed=True, connection="strong")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    keep_edge = keep_node[eu] & keep_node[ev]
    new_index = np.full(n_all, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))

    # streets meeting at each node (junction delays): osmnx's street_count, else distinct neighbours
    neighbours: dict[Any, set[Any]] = {node: set() for node in all_nodes}
    for e in edges:
        if e[0] != e[1]:
            neighbours[e[0]].add(e[1])
            neighbours[e[1]].add(e[0])
    street_count = np.zeros(n_all, dtype=np.int64)
    for node, i in pos.items():
        given = graph.nodes[node].get("street_count")
        try:
            street_count[i] = int(given) if given is not None else len(neighbours[node])
        except (TypeError, ValueError):
            street_count[i] = len(neighbours[node])

    kept_nodes = [node for node, k in zip(all_nodes, keep_node, strict=True) if k]
    node_ids = np.array([int(node) for node in kept_nodes], dtype=np.int64)
    lon = np.array([float(graph.nodes[node]["x"]) for node in kept_nodes], dtype=np.float64)
    lat = np.array([float(graph.nodes[node]["y"]) for node in kept_nodes], dtype=np.float64)

    e_u: list[int] = []
    e_v: list[int] = []
    e_len: list[int] = []
    e_time: list[int] = []
    e_speed: list[float] = []
    e_class: list[str] = []
    offsets = [0]
    g_lon: list[float] = []
    g_lat: list[float] = []
    for k, edge in enumerate(edges):
        if not keep_edge[k]:
            continue
        data = edge[-1]
        u, v = int(new_index[eu[k]]), int(new_index[ev[k]])
        length_m = max(1, round(float(data.get("length", 0.0))))
        classes = _as_list(data.get("highway"))
        speed = params.speed_for(classes)
        fastest = max(classes, key=params.speed_for) if classes else "unknown"
        seconds = params.edge_seconds(length_m, speed, int(street_count[eu[k]]), int(street_count[ev[k]]))
        geom = data.get("geometry")
        if geom is not None and not isinstance(geom, str):
            xs, ys = (list(c) for c in geom.xy)
            # orient the geometry from u to v
            d_start = (xs[0] - lon[u]) ** 2 + (ys[0] - lat[u]) ** 2
            d_end = (xs[-1] - lon[u]) ** 2 + (ys[-1] - lat[u]) ** 2
            if d_end < d_start:
                xs.reverse()
                ys.reverse()
            xs[0], ys[0], xs[-1], ys[-1] = float(lon[u]), float(lat[u]), float(lon[v]), float(lat[v])
        else:
            xs, ys = [float(lon[u]), float(lon[v])], [float(lat[u]), float(lat[v])]
        e_u.append(u)
        e_v.append(v)
        e_len.append(length_m)
        e_time.append(seconds)
        e_speed.append(speed * params.speed_factor)
        e_class.append(fastest)
        g_lon.extend(xs)
        g_lat.extend(ys)
        offsets.append(len(g_lon))

    return RoadNetwork(
        area=area,
        bbox=bbox,
        params=params,
        node_ids=node_ids,
        lon=lon,
        lat=lat,
        edge_u=np.array(e_u, dtype=np.int64),
        edge_v=np.array(e_v, dtype=np.int64),
        edge_length=np.array(e_len, dtype=np.int64),
        edge_time=np.array(e_time, dtype=np.int64),
        edge_speed=np.array(e_speed, dtype=np.float64),
        edge_class=np.array(e_class, dtype="U32"),
        geom_offsets=np.array(offsets, dtype=np.int64),
        geom_lon=np.array(g_lon, dtype=np.float64),
        geom_lat=np.array(g_lat, dtype=np.float64),
        dropped_nodes=int(n_all - keep_node.sum()),
        dropped_edges=int(len(edges) - keep_edge.sum()),
        source=source,
    )


# --------------------------------------------------------------------------------------------------
# Loading


def _download(spec: AreaSpec, target: Path) -> None:
    """Download the drivable graph of ``spec.bbox`` with osmnx and save it as graphml at ``target``."""
    import osmnx as ox

    host = urlparse(str(ox.settings.overpass_url)).hostname or "overpass-api.de"
    try:  # fail fast without a network (osmnx itself retries for about a minute)
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as exc:
        raise OSError(f"cannot reach {host}: {exc}") from exc
    graph = ox.graph_from_bbox(spec.bbox, network_type="drive", truncate_by_edge=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(graph, target)


def load_network(
    area: str | AreaSpec,
    *,
    params: NetworkParams | None = None,
    data_dir: Path | None = None,
    status: Status | None = None,
    download: bool | None = None,
    use_cache: bool = True,
) -> RoadNetwork:
    """Load an area's drivable road network, compiled and frozen.

    Looks for ``{prefix}_drive.graphml`` in ``data_dir`` (or ``ONDEMAND_DATA_DIR``), then in the
    user cache (``ONDEMAND_CACHE_DIR`` or the platform cache folder, sub-folder ``osm``); when it is
    in neither, downloads the area's bounding box with osmnx (``network_type="drive"``) into the
    cache. The compiled network is cached as ``.npz`` keyed by the file's size and mtime and the
    speed table.

    Parameters
    ----------
    area
        A built-in area name (``toyono``, ``senboku``, ``higashiosaka``) or an :class:`AreaSpec`.
    params
        Speed table; defaults to :class:`NetworkParams()`.
    data_dir
        Data folder; defaults to ``ONDEMAND_DATA_DIR``.
    status
        Progress callback for the download and the compilation (see :data:`Status`).
    download
        Allow downloading; ``None`` means yes unless ``ONDEMAND_OFFLINE=1``.
    use_cache
        Read and write the compiled-network cache.

    Raises
    ------
    UnknownAreaError
        For an unknown area name.
    DataNotFoundError
        When the graph is nowhere and cannot be downloaded.
    """
    spec = get_area(area)
    params = params if params is not None else NetworkParams()
    path = find_data_file(spec.prefix, "drive.graphml", data_dir)
    looked = [folder / spec.graph_file for folder in data_folders(data_dir)]
    if path is None:
        if download is None:
            download = os.environ.get(OFFLINE_ENV, "") not in ("1", "true", "yes")
        target = cache_dir() / "osm" / spec.graph_file
        reason = "downloading is switched off (ONDEMAND_OFFLINE)"
        if download:
            try:
                with stage(status, f"downloading the {spec.name} road network from OpenStreetMap"):
                    _download(spec, target)
                path = target
            except (OSError, ValueError) as exc:  # requests' errors are OSErrors
                reason = f"the download failed ({type(exc).__name__}: {exc})"
        if path is None:
            places = ", ".join(str(p) for p in looked)
            raise DataNotFoundError(
                f"road graph {spec.graph_file} for area {spec.name!r} not found (looked at {places}) and "
                f"{reason}; set {DATA_ENV} to the folder that holds it (e.g. ../shared/data/osm)"
            )
    stat = path.stat()
    key = hashlib.sha256(
        f"{_CACHE_VERSION}|{spec.name}|{spec.prefix}|{spec.bbox}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{params.key()}".encode()
    ).hexdigest()[:20]
    cached = cache_dir() / "networks" / f"{spec.prefix}-{key}.npz"
    if use_cache and cached.is_file():
        try:
            return RoadNetwork._load(cached, params)
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)  # a broken cache entry: rebuild it
    with stage(status, f"loading {path.name}"):
        import osmnx as ox

        graph = ox.load_graphml(path)
        net = compile_network(graph, area=spec.name, bbox=spec.bbox, params=params, source=str(path))
    if use_cache:
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            net._save(cached)
    return net
