"""Meeting points (乗降ポイント): load them from a file or place them to cover homes.

Riders walk to a meeting point; vehicles stop only there. Every meeting point is tied to one
road node (the nearest node of the drivable network) and no two meeting points share a node:
a second point on an already used node is *merged* into the first (its id becomes an alias).

Automatic placement (:func:`place_stops`):

1. **Seeds**: key destinations from ``{prefix}_pois.geojson`` in priority order — rail stations
   and platforms, bus stations/stops (where the data has them), hospitals, the town hall and
   other government offices, supermarkets, community centres, clinics. Within a class, the seed
   that covers the most demand comes first; each class other than rail/bus takes at most
   ``ceil(5 %)`` of the target (clinics ``ceil(3 %)``), all seeds together at most
   ``seed_share`` of the target.
2. **Greedy coverage**: repeatedly add the road node whose walking circle (``max_walk_m``,
   straight line) covers the most still-uncovered demand weight, never within ``merge_m`` of
   an existing stop, until ``target_count`` stops. When every demand point is covered first,
   the greedy goes on with half, then a quarter of the walking distance (shorter walks); if
   even that covers everything, fewer stops than the target are placed.

Only nodes and demand points inside the area's bounding box count (a scenario's service box may
be smaller than the data files' box).

Demand points: building centroids from ``{prefix}_buildings.geojson`` (weight 1 each). Building
mapping is patchy in Senboku and Higashiosaka (PROVENANCE.md), so the residential landuse
polygons are sampled on a 100 m grid (weight ``landuse_weight`` per sample, about the homes on
a hectare of low-rise housing) and place points (neighbourhood/quarter, weight ``place_weight``)
are added — each only where no building lies within 100 m, so mapped areas are not counted twice.

Coverage (:func:`stop_coverage`) is the share of buildings within 200 m and 300 m of a meeting
point, measured as a **straight line** (not along the road network).

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ondemand.errors import DataNotFoundError, OutsideServiceAreaError, StopFileError
from ondemand.routing.geo.data import find_data_file
from ondemand.routing.geo.geodesy import METRES_PER_DEGREE, haversine_m
from ondemand.routing.geo.network import AreaSpec, RoadNetwork, get_area
from ondemand.routing.geo.zone import ServiceZone

__all__ = [
    "SEED_CLASSES",
    "Coverage",
    "MeetingPoint",
    "StopLike",
    "StopParams",
    "StopSet",
    "load_stops",
    "make_stops",
    "name_stops",
    "place_stops",
    "stop_coverage",
]

SEED_CLASSES: tuple[str, ...] = (
    "rail_station",
    "rail_platform",
    "bus_station",
    "bus_stop",
    "hospital",
    "government",
    "supermarket",
    "community_centre",
    "clinic",
)
"""POI ``key_class`` values used as seeds, in priority order."""

_UNCAPPED = frozenset({"rail_station", "rail_platform", "bus_station", "bus_stop"})
_CLASS_SHARE = {"clinic": 0.03}
_DEFAULT_CLASS_SHARE = 0.05
_NAMES_EN = {
    "rail_station": "station",
    "rail_platform": "rail platform",
    "bus_station": "bus station",
    "bus_stop": "bus stop",
    "hospital": "hospital",
    "government": "public office",
    "supermarket": "supermarket",
    "community_centre": "community centre",
    "clinic": "clinic",
}


class StopLike(Protocol):
    """What demand and feeds need of a meeting point: an id, a name and a position."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def lon(self) -> float: ...

    @property
    def lat(self) -> float: ...


@dataclass(frozen=True, slots=True)
class MeetingPoint:
    """A meeting point: where riders board and alight.

    Attributes
    ----------
    id
        Stable identifier (from the file, or ``S001``... when placed automatically).
    name
        Human-readable name.
    lon, lat
        Where riders wait (degrees, WGS84).
    node
        The road node (dense index into the network) where vehicles stop.
    """

    id: str
    name: str
    lon: float
    lat: float
    node: int

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a meeting point needs a non-empty id")
        if not (math.isfinite(self.lon) and math.isfinite(self.lat)):
            raise ValueError(f"meeting point {self.id!r}: lon/lat must be finite")
        if self.node < 0:
            raise ValueError(f"meeting point {self.id!r}: node must be >= 0")


@dataclass(frozen=True, slots=True)
class StopParams:
    """How meeting points are chosen.

    Parameters
    ----------
    target_count
        How many meeting points to place automatically (``None``: the area's default, e.g. 115
        for Toyono). Ignored when ``file`` is given.
    max_walk_m
        Walking distance (straight line, metres) a meeting point serves.
    file
        A CSV or GeoJSON file of meeting points (id, name, lon, lat) to use instead of placing them.
    merge_m
        Automatically placed points are at least this far apart (metres).
    max_snap_m
        A point from a file may be at most this far from the nearest road node (metres).
    seed_share
        At most this share of ``target_count`` comes from key destinations (POIs).
    landuse_weight, place_weight
        Demand weight of a residential-landuse sample point (per hectare) and of a place point,
        where no mapped building is near.
    """

    target_count: int | None = None
    max_walk_m: float = 300.0
    file: Path | None = None
    merge_m: float = 100.0
    max_snap_m: float = 150.0
    seed_share: float = 0.3
    landuse_weight: float = 10.0
    place_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.target_count is not None and not (1 <= self.target_count <= 5000):
            raise ValueError(f"target_count must be between 1 and 5000, got {self.target_count}")
        if not (50 <= self.max_walk_m <= 3000):
            raise ValueError(f"max_walk_m must be between 50 and 3000 m, got {self.max_walk_m}")
        if not (0 <= self.merge_m <= self.max_walk_m):
            raise ValueError(
                f"merge_m must be between 0 and max_walk_m ({self.max_walk_m}), got {self.merge_m}"
            )
        if not (0 < self.max_snap_m <= 3000):
            raise ValueError(f"max_snap_m must be between 0 and 3000 m, got {self.max_snap_m}")
        if not (0 <= self.seed_share <= 1):
            raise ValueError(f"seed_share must be between 0 and 1, got {self.seed_share}")
        if self.landuse_weight < 0 or self.place_weight < 0:
            raise ValueError("landuse_weight and place_weight must be >= 0")
        if self.file is not None and not isinstance(self.file, Path):
            object.__setattr__(self, "file", Path(self.file))

    def key(self) -> str:
        """A stable text key (for cache keys)."""
        return json.dumps(
            {
                "target_count": self.target_count,
                "max_walk_m": self.max_walk_m,
                "file": str(self.file) if self.file else None,
                "merge_m": self.merge_m,
                "max_snap_m": self.max_snap_m,
                "seed_share": self.seed_share,
                "landuse_weight": self.landuse_weight,
                "place_weight": self.place_weight,
            },
            sort_keys=True,
        )


@dataclass(frozen=True, slots=True)
class Coverage:
    """Share of buildings within walking distance of a meeting point (straight line).

    Attributes
    ----------
    buildings
        Number of buildings counted.
    within_200m, within_300m
        Share (0..1) of them within 200 m / 300 m of the nearest meeting point.
    """

    buildings: int
    within_200m: float
    within_300m: float
    method: str = "straight line"


@dataclass(frozen=True)
class StopSet:
    """Meeting points with the ids merged into them and how they were made.

    Attributes
    ----------
    stops
        The meeting points, in a stable order (matrix index ``i`` is ``stops[i]``).
    aliases
        Merged id -> id of the meeting point it was merged into.
    source
        ``"auto"`` or the file path.
    seeds
        How many of the stops came from key destinations.
    coverage
        Building coverage, or ``None`` when the area has no building file.
    """

    stops: tuple[MeetingPoint, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    source: str = "auto"
    seeds: int = 0
    coverage: Coverage | None = None

    def __post_init__(self) -> None:
        ids = [s.id for s in self.stops]
        if len(set(ids)) != len(ids):
            raise ValueError("meeting point ids must be unique")
        nodes = [s.node for s in self.stops]
        if len(set(nodes)) != len(nodes):
            raise ValueError("two meeting points share a road node; merge them")
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle with plain dicts (a mappingproxy does not pickle)."""
        return (StopSet, (self.stops, dict(self.aliases), self.source, self.seeds, self.coverage))


# --------------------------------------------------------------------------------------------------
# files


def _read_points(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64], list[dict[str, Any]]]:
    """Lon, lat and properties of the Point features of a GeoJSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lon: list[float] = []
    lat: list[float] = []
    props: list[dict[str, Any]] = []
    for feat in data.get("features", []):
        geom = feat.get("geometry") or {}
        if geom.get("type") != "Point":
            continue
        x, y = geom["coordinates"][:2]
        lon.append(float(x))
        lat.append(float(y))
        props.append(feat.get("properties") or {})
    return np.array(lon, dtype=np.float64), np.array(lat, dtype=np.float64), props


def _landuse_samples(
    path: Path, network: RoadNetwork, spacing_m: float = 100.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Grid points (every ``spacing_m``) inside the residential landuse polygons."""
    import shapely
    from shapely.geometry import shape

    data = json.loads(path.read_text(encoding="utf-8"))
    lat0 = (network.bbox[1] + network.bbox[3]) / 2
    dlat = spacing_m / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(lat0))
    lons: list[NDArray[np.float64]] = []
    lats: list[NDArray[np.float64]] = []
    for feat in data.get("features", []):
        if (feat.get("properties") or {}).get("class") != "residential":
            continue
        poly = shape(feat["geometry"])
        w, s, e, n = poly.bounds
        mx, my = np.meshgrid(np.arange(w + dlon / 2, e, dlon), np.arange(s + dlat / 2, n, dlat))
        gx, gy = mx.ravel(), my.ravel()
        inside = shapely.contains_xy(poly, gx, gy)
        lons.append(gx[inside])
        lats.append(gy[inside])
    if not lons:
        return np.empty(0), np.empty(0)
    return np.concatenate(lons), np.concatenate(lats)


def _demand_points(
    spec: AreaSpec, network: RoadNetwork, params: StopParams, data_dir: Path | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Projected demand points ``(k, 2)``, their weights, and the projected buildings ``(b, 2)``."""
    b_path = find_data_file(spec.prefix, "buildings.geojson", data_dir)
    if b_path is None:
        raise DataNotFoundError(
            f"{spec.prefix}_buildings.geojson not found for area {spec.name!r}: automatic meeting-point "
            "placement needs it; set ONDEMAND_DATA_DIR to the data folder or give a stop file "
            "(stops.file in the scenario)"
        )
    b_lon, b_lat, _ = _read_points(b_path)
    keep = network.in_bbox(b_lon, b_lat)  # a scenario's service box may be smaller than the files'
    bxy = network.project(b_lon[keep], b_lat[keep])
    pts = [bxy]
    wts = [np.ones(len(bxy))]
    b_tree = cKDTree(bxy) if len(bxy) else None

    def far_from_buildings(xy: NDArray[np.float64]) -> NDArray[np.bool_]:
        if b_tree is None or len(xy) == 0:
            return np.ones(len(xy), dtype=bool)
        d, _ = b_tree.query(xy, distance_upper_bound=100.0)
        return np.asarray(~np.isfinite(d))

    lu_path = find_data_file(spec.prefix, "landuse.geojson", data_dir)
    if lu_path is not None and params.landuse_weight > 0:
        l_lon, l_lat = _landuse_samples(lu_path, network)
        keep = network.in_bbox(l_lon, l_lat)
        lxy = network.project(l_lon[keep], l_lat[keep])
        lxy = lxy[far_from_buildings(lxy)]
        pts.append(lxy)
        wts.append(np.full(len(lxy), params.landuse_weight))
    pl_path = find_data_file(spec.prefix, "places.geojson", data_dir)
    if pl_path is not None and params.place_weight > 0:
        p_lon, p_lat, props = _read_points(pl_path)
        ok = np.array([p.get("class") in ("neighbourhood", "quarter") for p in props], dtype=bool)
        ok &= network.in_bbox(p_lon, p_lat)
        pxy = network.project(p_lon[ok], p_lat[ok])
        pxy = pxy[far_from_buildings(pxy)]
        pts.append(pxy)
        wts.append(np.full(len(pxy), params.place_weight))
    xy = np.concatenate([p.reshape(-1, 2) for p in pts])
    w = np.concatenate(wts)
    return xy, w, bxy


def _place_names(
    spec: AreaSpec, data_dir: Path | None, network: RoadNetwork
) -> tuple[cKDTree | None, list[str]]:
    path = find_data_file(spec.prefix, "places.geojson", data_dir)
    if path is None:
        return None, []
    lon, lat, props = _read_points(path)
    names = [str(p.get("name") or "") for p in props]
    # districts (町丁目): neighbourhood/quarter points, as the zone's Voronoi cells use
    keep = [
        i for i, nm in enumerate(names) if nm and props[i].get("class") in ("neighbourhood", "quarter", None)
    ]
    if not keep:
        return None, []
    return cKDTree(network.project(lon[keep], lat[keep])), [names[i] for i in keep]


# --------------------------------------------------------------------------------------------------
# placement


def _incidence(
    candidates_xy: NDArray[np.float64], demand_xy: NDArray[np.float64], radius: float
) -> sp.csr_matrix:
    """Sparse 0/1 matrix ``(candidates, demand)``: demand point within ``radius`` of the candidate."""
    tree = cKDTree(candidates_xy)
    lists = tree.query_ball_point(demand_xy, r=radius, return_sorted=False)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    rows = (
        np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
        if counts.sum()
        else np.empty(0, np.int64)
    )
    cols = np.repeat(np.arange(len(demand_xy), dtype=np.int64), counts)
    data = np.ones(len(rows), dtype=np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(candidates_xy), len(demand_xy)))


def place_stops(
    network: RoadNetwork,
    params: StopParams | None = None,
    *,
    area: str | AreaSpec | None = None,
    data_dir: Path | None = None,
    zone: ServiceZone | None = None,
) -> StopSet:
    """Place meeting points automatically: key destinations first, then greedy coverage of homes.

    Parameters
    ----------
    network
        The road network (stops snap to its nodes).
    params
        Target count, walking distance, merge distance...
    area
        The area whose data files to use; defaults to ``network.area``.
    data_dir
        Data folder (defaults to ``ONDEMAND_DATA_DIR``, then the cache).
    zone
        The service zone: stops only where it admits trips (inside, or at a named place), homes
        counted only inside it; its named places become the first stops.

    Raises
    ------
    DataNotFoundError
        When the area's buildings file is missing.
    """
    params = params if params is not None else StopParams()
    spec = get_area(area if area is not None else network.area)
    target = params.target_count if params.target_count is not None else spec.default_stops
    demand_xy, weight, bxy = _demand_points(spec, network, params, data_dir)
    node_xy = network.project(network.lon, network.lat)
    inside = network.in_bbox(network.lon, network.lat)
    if zone is not None:
        inside &= zone.admits(network.lon, network.lat)
        d_lon, d_lat = network.unproject(demand_xy)
        in_zone = zone.contains(d_lon, d_lat)
        demand_xy, weight = demand_xy[in_zone], weight[in_zone]
        b_lon, b_lat = network.unproject(bxy)
        bxy = bxy[zone.contains(b_lon, b_lat)]
    cover = _incidence(node_xy, demand_xy, params.max_walk_m)  # nodes x demand
    uncovered = np.ones(len(demand_xy), dtype=bool)
    allowed = inside.copy()
    node_tree = cKDTree(node_xy)
    chosen: list[int] = []
    names: list[str] = []

    def take(node: int, name: str) -> None:
        chosen.append(node)
        names.append(name)
        a, b = cover.indptr[node], cover.indptr[node + 1]
        uncovered[cover.indices[a:b]] = False
        near = node_tree.query_ball_point(node_xy[node], r=max(params.merge_m, 1e-6))
        allowed[np.asarray(near, dtype=np.int64)] = False
        allowed[node] = False

    # 0. the zone's named places (stations, hospitals): a stop at each, uncapped
    seeds = 0
    for place in zone.places if zone is not None else ():
        p_nodes, p_dists = network.nearest_nodes(place.lon, place.lat)
        n0 = int(p_nodes[0])
        if p_dists[0] <= max(place.radius_m, params.max_snap_m) and allowed[n0]:
            take(n0, place.label)
            seeds += 1
    # 1. seeds
    poi_path = find_data_file(spec.prefix, "pois.geojson", data_dir)
    seed_cap = math.floor(target * params.seed_share)
    if poi_path is not None and seed_cap > 0:
        p_lon, p_lat, props = _read_points(poi_path)
        ok = network.in_bbox(p_lon, p_lat)
        if zone is not None:
            ok &= zone.admits(p_lon, p_lat)
        p_node, p_dist = network.nearest_nodes(p_lon, p_lat)
        gain0 = np.asarray(cover @ weight).ravel()
        for cls in SEED_CLASSES:
            idx = [
                i
                for i, p in enumerate(props)
                if p.get("key_class") == cls and ok[i] and p_dist[i] <= params.max_walk_m
            ]
            idx.sort(key=lambda i: (-gain0[p_node[i]], i))
            cap = (
                len(idx)
                if cls in _UNCAPPED
                else math.ceil(target * _CLASS_SHARE.get(cls, _DEFAULT_CLASS_SHARE))
            )
            taken = 0
            for i in idx:
                if seeds >= seed_cap or taken >= cap:
                    break
                node = int(p_node[i])
                if not allowed[node]:
                    continue  # merged into a stop already there
                take(node, str(props[i].get("name") or "") or f"({_NAMES_EN[cls]})")
                seeds += 1
                taken += 1
    # 2. greedy coverage at the walking distance; when everything is covered and stops are left,
    #    again at half and a quarter of it (shorter walks for the homes farthest from a stop)
    for k, radius in enumerate((params.max_walk_m, params.max_walk_m / 2, params.max_walk_m / 4)):
        if len(chosen) >= target:
            break
        if k > 0:
            cover = _incidence(node_xy, demand_xy, radius)
            uncovered[:] = True
            if chosen:
                d, _ = cKDTree(node_xy[chosen]).query(demand_xy, distance_upper_bound=radius + 1e-6)
                uncovered &= ~np.isfinite(d)
        while len(chosen) < target:
            gain = np.asarray(cover @ (weight * uncovered)).ravel()
            gain[~allowed] = -1.0
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                break  # every demand point is covered at this radius (or no node is left)
            take(best, "")
    final = name_stops(network, chosen, names, spec=spec, data_dir=data_dir, zone=zone)
    cov = stop_coverage(network, final, bxy) if len(bxy) else None
    return StopSet(stops=tuple(final), source="auto", seeds=seeds, coverage=cov)


_NAMED_CLASSES = ("hospital", "supermarket", "community_centre", "government")
_NAMED_POI_M = 80.0  # a stop this near a named hospital/supermarket/community centre takes its name
_STATION_M = 80.0  # a stop this near a station (or a named place) takes its name
_STATION_HINT = re.compile(r"^(\S+駅) \(\d+ m\)$")


def _station_points(spec: AreaSpec, data_dir: Path | None) -> list[tuple[float, float, str]]:
    """Named stations of the POI layer: ``rail_station`` names, and platform points whose
    ``nearby_names_with_駅_within_300m`` holds a feature named exactly ``…駅`` (a station node)."""
    path = find_data_file(spec.prefix, "pois.geojson", data_dir)
    if path is None:
        return []
    lon, lat, props = _read_points(path)
    out: list[tuple[float, float, str]] = []
    for x, y, p in zip(lon, lat, props, strict=True):
        if p.get("key_class") == "rail_station" and str(p.get("name") or "").endswith("駅"):
            out.append((float(x), float(y), str(p["name"])))
        elif p.get("key_class") == "rail_platform":
            for hint in p.get("nearby_names_with_駅_within_300m") or []:
                m = _STATION_HINT.match(str(hint))
                if m:
                    out.append((float(x), float(y), m.group(1)))
                    break
    return out


def _named_pois(spec: AreaSpec, data_dir: Path | None) -> list[tuple[float, float, str]]:
    path = find_data_file(spec.prefix, "pois.geojson", data_dir)
    if path is None:
        return []
    lon, lat, props = _read_points(path)
    return [
        (float(x), float(y), str(p["name"]))
        for x, y, p in zip(lon, lat, props, strict=True)
        if p.get("key_class") in _NAMED_CLASSES and p.get("name")
    ]


def _nearest_named(
    network: RoadNetwork, xy: NDArray[np.float64], points: list[tuple[float, float, str]], limit_m: float
) -> list[str]:
    if not points or len(xy) == 0:
        return [""] * len(xy)
    tree = cKDTree(network.project([p[0] for p in points], [p[1] for p in points]))
    d, i = tree.query(xy)
    return [
        points[int(k)][2] if dist <= limit_m else ""
        for dist, k in zip(np.atleast_1d(d), np.atleast_1d(i), strict=True)
    ]


def name_stops(
    network: RoadNetwork,
    nodes: Sequence[int],
    given: Sequence[str],
    *,
    spec: AreaSpec,
    data_dir: Path | None = None,
    zone: ServiceZone | None = None,
) -> list[MeetingPoint]:
    """Meeting points at ``nodes`` with names a rider recognises and a short number.

    Each stop's name, first that applies: the zone's named place it was placed for, or within
    80 m of (with its stand: ``泉ケ丘駅(北側4番のりば)``); the name of the POI it was seeded from
    (``given``); a station within 80 m (an OSM ``…駅`` feature); a named hospital, supermarket,
    community centre or public office within 80 m; else its district (the nearest OSM place point, i.e. the
    district whose Voronoi cell holds it) and, where a district has several, a number. Every name
    then gets a two-digit (three past 99) number as in Senboku pilot 3: ``01_泉ケ丘駅``,
    ``12_桃山台二丁 (2)``. Stations come first, then other named places, then district stops by
    district; ids stay ``S001``... in placement order.
    """
    xy = network.project(network.lon[list(nodes)], network.lat[list(nodes)]) if nodes else np.empty((0, 2))
    stations = _nearest_named(network, xy, _station_points(spec, data_dir), _STATION_M)
    pois = _nearest_named(network, xy, _named_pois(spec, data_dir), _NAMED_POI_M)
    tree, place_names = _place_names(spec, data_dir, network)
    near = (
        np.atleast_1d(tree.query(xy)[1])
        if tree is not None and len(xy)
        else np.zeros(len(xy), dtype=np.int64)
    )
    rows: list[tuple[int, str, int]] = []  # (rank, base name, k)
    for k, node in enumerate(nodes):
        lon, lat = float(network.lon[node]), float(network.lat[node])
        place = zone.place_at(lon, lat) if zone is not None else None
        own = given[k] if k < len(given) and given[k] and not given[k].startswith("(") else ""
        if (
            place is not None
            and own != place.label
            and haversine_m(lon, lat, place.lon, place.lat) > _STATION_M
        ):
            place = None  # only the place's own stop, or one right at it, carries its name
        if place is not None:
            rows.append((0 if place.kind == "station" else 1, place.label, k))
        elif own:
            rows.append((0 if own.endswith("駅") else 1, own, k))
        elif stations[k]:
            rows.append((0, stations[k], k))
        elif pois[k]:
            rows.append((1, pois[k], k))
        else:
            base = place_names[int(near[k])] if tree is not None else f"stop {k + 1}"
            rows.append((2, base, k))
    counts: dict[str, int] = {}
    for _, base, _ in rows:
        counts[base] = counts.get(base, 0) + 1
    ordered = sorted(rows, key=lambda r: (r[0], r[1], float(network.lon[nodes[r[2]]]), r[2]))
    width = 2 if len(rows) < 100 else 3
    seen: dict[str, int] = {}
    names: dict[int, str] = {}
    for number, (_, base, k) in enumerate(ordered, start=1):
        label = base
        if counts[base] > 1:
            seen[base] = seen.get(base, 0) + 1
            label = f"{base} ({seen[base]})"
        names[k] = f"{number:0{width}d}_{label}"
    return [
        MeetingPoint(
            id=f"S{k + 1:03d}",
            name=names[k],
            lon=float(network.lon[node]),
            lat=float(network.lat[node]),
            node=int(node),
        )
        for k, node in enumerate(nodes)
    ]


def stop_coverage(
    network: RoadNetwork, stops: Sequence[MeetingPoint], buildings_xy: NDArray[np.float64]
) -> Coverage:
    """Share of buildings within 200 m and 300 m (straight line) of the nearest meeting point.

    Parameters
    ----------
    network
        Gives the projection.
    stops
        The meeting points (their lon/lat, where riders wait).
    buildings_xy
        Projected building points ``(b, 2)`` (see :meth:`RoadNetwork.project`).
    """
    if len(buildings_xy) == 0:
        return Coverage(0, 0.0, 0.0)
    if not stops:
        return Coverage(len(buildings_xy), 0.0, 0.0)
    sxy = network.project([s.lon for s in stops], [s.lat for s in stops])
    d, _ = cKDTree(sxy).query(buildings_xy)
    return Coverage(
        buildings=len(buildings_xy),
        within_200m=float(np.mean(d <= 200.0)),
        within_300m=float(np.mean(d <= 300.0)),
    )


# --------------------------------------------------------------------------------------------------
# loading from a file


def _rows_csv(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        missing = [c for c in ("id", "lon", "lat") if c not in fields]
        if missing:
            raise StopFileError(
                f"{path}: missing column(s) {', '.join(missing)}; a stop CSV needs the header id,name,lon,lat"
            )
        rows = []
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            rows.append((f"{path}: line {line}", row))
        return rows


def _rows_geojson(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StopFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise StopFileError(f"{path}: expected a GeoJSON FeatureCollection of Point features")
    rows = []
    for k, feat in enumerate(data.get("features") or []):
        where = f"{path}: feature {k}"
        geom = (feat or {}).get("geometry") or {}
        if geom.get("type") != "Point":
            raise StopFileError(f"{where}: geometry must be a Point, got {geom.get('type')!r}")
        coords = geom.get("coordinates") or []
        if len(coords) < 2:
            raise StopFileError(f"{where}: a Point needs [lon, lat] coordinates")
        props = dict(feat.get("properties") or {})
        row = {
            "id": props.get("id", feat.get("id", "")),
            "name": props.get("name", ""),
            "lon": coords[0],
            "lat": coords[1],
        }
        rows.append((where, row))
    return rows


def load_stops(path: Path, network: RoadNetwork, *, max_snap_m: float = 150.0) -> StopSet:
    """Read meeting points from a CSV (header ``id,name,lon,lat``) or GeoJSON file and snap them.

    Points that snap to a node already taken are merged into the earlier point (their id becomes
    an alias of it).

    Raises
    ------
    StopFileError
        For a missing or malformed file (the message names the file and the row).
    OutsideServiceAreaError
        For a point outside the service area or farther than ``max_snap_m`` from every road.
    """
    path = Path(path)
    if not path.is_file():
        raise StopFileError(f"{path}: no such meeting-point file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _rows_csv(path)
    elif suffix in (".geojson", ".json"):
        rows = _rows_geojson(path)
    else:
        raise StopFileError(f"{path}: unknown file type {suffix!r}; use .csv or .geojson")
    if not rows:
        raise StopFileError(f"{path}: no meeting points in the file")
    stops: list[MeetingPoint] = []
    aliases: dict[str, str] = {}
    by_node: dict[int, str] = {}
    ids: set[str] = set()
    for where, row in rows:
        sid = str(row.get("id", "")).strip()
        if not sid:
            raise StopFileError(f"{where}: empty id")
        if sid in ids:
            raise StopFileError(f"{where}: duplicate id {sid!r}")
        ids.add(sid)
        try:
            lon, lat = float(row["lon"]), float(row["lat"])
        except (TypeError, ValueError) as exc:
            raise StopFileError(
                f"{where}: lon/lat must be numbers, got {row.get('lon')!r}, {row.get('lat')!r}"
            ) from exc
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise StopFileError(f"{where}: lon/lat out of range: {lon}, {lat}")
        try:
            node = network.snap(lon, lat, max_m=max_snap_m)
        except OutsideServiceAreaError as exc:
            raise OutsideServiceAreaError(f"{where}: meeting point {sid!r}: {exc}") from exc
        if node in by_node:
            aliases[sid] = by_node[node]
            continue
        by_node[node] = sid
        stops.append(MeetingPoint(sid, str(row.get("name") or sid), lon, lat, node))
    return StopSet(stops=tuple(stops), aliases=aliases, source=str(path))


def make_stops(
    network: RoadNetwork,
    params: StopParams | None = None,
    *,
    area: str | AreaSpec | None = None,
    data_dir: Path | None = None,
    zone: ServiceZone | None = None,
) -> StopSet:
    """Meeting points from ``params.file`` when given, else placed by :func:`place_stops`.

    Coverage is reported in both cases when the area's building file exists.

    Raises
    ------
    OutsideServiceZoneError
        When a stop of the file lies outside ``zone`` (the message names the stop and the zone).
    """
    params = params if params is not None else StopParams()
    if params.file is None:
        return place_stops(network, params, area=area, data_dir=data_dir, zone=zone)
    stop_set = load_stops(params.file, network, max_snap_m=params.max_snap_m)
    if zone is not None:
        for m in stop_set.stops:
            zone.check(m.lon, m.lat, what=f"{params.file}: meeting point {m.id!r}")
    spec = get_area(area if area is not None else network.area)
    b_path = find_data_file(spec.prefix, "buildings.geojson", data_dir)
    if b_path is None:
        return stop_set
    b_lon, b_lat, _ = _read_points(b_path)
    keep = network.in_bbox(b_lon, b_lat)
    cov = stop_coverage(network, stop_set.stops, network.project(b_lon[keep], b_lat[keep]))
    return StopSet(stop_set.stops, stop_set.aliases, stop_set.source, 0, cov)
