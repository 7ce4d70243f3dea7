"""A service area: road network + meeting points + the travel-time matrix between them.

This is what the dispatcher, the simulator and the API see: matrix index ``i`` is
``stops[i]``; riders are snapped to the nearest meeting point within walking distance.

Everything is cached on disk (see :func:`build_service_area`): the compiled network, the
placed meeting points and the matrix, so the second build of the same area takes well under
a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ondemand.errors import OutsideServiceAreaError, UnknownStopError
from ondemand.routing.geo.data import cache_dir, find_data_file
from ondemand.routing.geo.geodesy import haversine_m
from ondemand.routing.geo.lazy import LazyMatrix, OnDemandTravelTimes, TravelTimesParams
from ondemand.routing.geo.lazy import travel_times as _travel_times
from ondemand.routing.geo.matrix import RoadPath, TravelMatrix, road_path
from ondemand.routing.geo.network import (
    AreaSpec,
    NetworkParams,
    RoadNetwork,
    Status,
    get_area,
    load_network,
    stage,
)
from ondemand.routing.geo.stops import Coverage, MeetingPoint, StopParams, StopSet, make_stops
from ondemand.routing.geo.zone import ServiceZone, zone_of

__all__ = ["ServiceArea", "build_service_area", "fold_name"]

_CACHE_VERSION = 4


@dataclass(frozen=True, eq=False)
class ServiceArea:
    """Road network, meeting points and their travel-time matrix.

    Attributes
    ----------
    network
        The road network.
    stops
        The meeting points; matrix index ``i`` is ``stops[i]``.
    matrix
        Travel times (s) and distances (m) between the meeting points' nodes (a ``TravelTimes``):
        the dense matrix where it fits, else answered on demand (``TravelTimesParams``).
    aliases
        Ids merged into another meeting point -> that point's id.
    coverage
        Building coverage of the meeting points (straight line), if the area has buildings.
    seeds
        How many meeting points came from key destinations.
    zone
        The service zone, when the area defines one: trips start and end only where it admits
        them (:meth:`nearest` refuses other places, naming the zone).
    """

    network: RoadNetwork
    stops: tuple[MeetingPoint, ...]
    matrix: TravelMatrix | OnDemandTravelTimes
    aliases: dict[str, str] = field(default_factory=dict)
    coverage: Coverage | None = None
    seeds: int = 0
    zone: ServiceZone | None = None
    _index: dict[str, int] = field(init=False, repr=False)
    _tree: cKDTree = field(init=False, repr=False)
    _paths: dict[tuple[int, int], RoadPath] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.matrix) != len(self.stops):
            raise ValueError(f"matrix has {len(self.matrix)} rows for {len(self.stops)} meeting points")
        for i, s in enumerate(self.stops):
            if int(self.matrix.nodes[i]) != s.node:
                raise ValueError(
                    f"matrix row {i} is node {self.matrix.nodes[i]}, meeting point {s.id!r} is {s.node}"
                )
        index = {s.id: i for i, s in enumerate(self.stops)}
        for alias, target in self.aliases.items():
            if target not in index:
                raise ValueError(f"alias {alias!r} points to unknown meeting point {target!r}")
            index.setdefault(alias, index[target])
        object.__setattr__(self, "_index", index)
        xy = self.network.project([s.lon for s in self.stops], [s.lat for s in self.stops])
        object.__setattr__(self, "_tree", cKDTree(xy))

    def __len__(self) -> int:
        return len(self.stops)

    @property
    def durations(self) -> NDArray[np.int64] | LazyMatrix:
        """Travel times between meeting points (s)."""
        return self.matrix.durations

    @property
    def distances(self) -> NDArray[np.int64] | LazyMatrix:
        """Travel distances between meeting points (m)."""
        return self.matrix.distances

    def stop_index(self, stop_id: str) -> int:
        """Matrix index of a meeting point (merged ids resolve to the point they were merged into).

        Raises
        ------
        UnknownStopError
            When the id is not a meeting point of this area.
        """
        try:
            return self._index[stop_id]
        except KeyError:
            sample = ", ".join(s.id for s in self.stops[:5])
            raise UnknownStopError(
                f"unknown meeting point {stop_id!r} in {self.network.area} "
                f"({len(self.stops)} points, e.g. {sample})"
            ) from None

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """The nearest meeting point to a place and the great-circle metres to it.

        Raises
        ------
        OutsideServiceAreaError
            When the place is outside the area's box (or not a number); its subclass
            ``OutsideServiceZoneError``, naming the zone, when it is outside the service zone.
        """
        if self.zone is not None:  # (first: a place far away is outside the zone too, named as such)
            self.zone.check(lon, lat, what="place")
        if not (math.isfinite(lon) and math.isfinite(lat)) or not bool(self.network.in_bbox(lon, lat)[0]):
            w, s, e, n = self.network.bbox
            raise OutsideServiceAreaError(
                f"place (lon {lon:.6f}, lat {lat:.6f}) is outside the {self.network.area} service area "
                f"(lon {w}..{e}, lat {s}..{n})"
            )
        _, idx = self._tree.query(self.network.project(lon, lat)[0])
        stop = self.stops[int(idx)]
        return int(idx), haversine_m(float(lon), float(lat), stop.lon, stop.lat)

    def find_stops(self, query: str) -> list[int]:
        """Indices of the meeting points whose name contains ``query`` (width, case and the
        small-kana spellings ケ/ヶ/が of place names like 泉ケ丘 are ignored)."""
        q = fold_name(query)
        if not q:
            return []
        return [i for i, s in enumerate(self.stops) if q in fold_name(s.name)]

    def snap(self, lon: float, lat: float, *, max_walk_m: float) -> tuple[int, int]:
        """The nearest meeting point to a place and the straight-line metres to it.

        Parameters
        ----------
        lon, lat
            The rider's place (degrees).
        max_walk_m
            Longest acceptable distance (straight line, metres).

        Returns
        -------
        tuple[int, int]
            Matrix index of the meeting point and the great-circle distance in whole metres.
            (Riders' walks add the service's circuity: ``ServicePolicy.walking``.)

        Raises
        ------
        OutsideServiceAreaError
            When the place is outside the area or no meeting point is within ``max_walk_m``.
        """
        idx, dist = self.nearest(lon, lat)
        if dist > max_walk_m:
            raise OutsideServiceAreaError(
                f"no meeting point within {max_walk_m:.0f} m of (lon {lon:.6f}, lat {lat:.6f}); the nearest, "
                f"{self.stops[idx].id!r}, is {dist:.0f} m away (straight line)"
            )
        return idx, round(dist)

    def path(self, i: int, j: int) -> RoadPath:
        """The road path from meeting point ``i`` to ``j`` (memoised).

        An index past the meeting points, ``len(stops) + node``, is the road network's node
        ``node``: a turning point where a van diverted mid-leg turned (simulated events number
        turning points so, the same on every run).
        """
        key = (int(i), int(j))
        got = self._paths.get(key)
        if got is None:
            got = road_path(self.network, self._node(key[0], key), self._node(key[1], key))
            self._paths[key] = got
        return got

    def _node(self, point: int, key: tuple[int, int]) -> int:
        """The network node of a meeting point, or of a turning point ``len(stops) + node``."""
        k = len(self.stops)
        if 0 <= point < k:
            return int(self.stops[point].node)
        if k <= point < k + self.network.n_nodes:
            return point - k
        last = k + self.network.n_nodes - 1
        raise IndexError(f"meeting point index out of range 0..{k - 1} (turning points {k}..{last}): {key}")


def fold_name(text: str) -> str:
    """Text folded for searching: NFKC, lower case, ヶ/ケ/が/ガ as one."""
    import unicodedata

    t = unicodedata.normalize("NFKC", text).lower()
    return t.translate(str.maketrans("ヶがガヵ", "ケケケカ"))


# --------------------------------------------------------------------------------------------------
# building with a disk cache


def _stops_cache_key(
    network: RoadNetwork, spec: AreaSpec, params: StopParams, data_dir: Path | None, zone: ServiceZone | None
) -> str:
    parts = [str(_CACHE_VERSION), network.fingerprint, repr(spec), params.key(), zone.key() if zone else "-"]
    files: list[Path | None] = [params.file] if params.file is not None else []
    files += [
        find_data_file(spec.prefix, f"{k}.geojson", data_dir)
        for k in ("buildings", "landuse", "places", "pois")
    ]
    for f in files:
        if f is not None and f.is_file():
            st = f.stat()
            parts.append(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}")
        else:
            parts.append("-")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _save_stops(path: Path, stop_set: StopSet) -> None:
    data: dict[str, Any] = {
        "stops": [[s.id, s.name, s.lon, s.lat, s.node] for s in stop_set.stops],
        "aliases": dict(stop_set.aliases),
        "source": stop_set.source,
        "seeds": stop_set.seeds,
        "coverage": None
        if stop_set.coverage is None
        else [stop_set.coverage.buildings, stop_set.coverage.within_200m, stop_set.coverage.within_300m],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _load_stops(path: Path) -> StopSet:
    data = json.loads(path.read_text(encoding="utf-8"))
    cov = data["coverage"]
    return StopSet(
        stops=tuple(
            MeetingPoint(str(a), str(b), float(c), float(d), int(e)) for a, b, c, d, e in data["stops"]
        ),
        aliases=dict(data["aliases"]),
        source=str(data["source"]),
        seeds=int(data["seeds"]),
        coverage=None if cov is None else Coverage(int(cov[0]), float(cov[1]), float(cov[2])),
    )


def cached_stops(
    network: RoadNetwork,
    params: StopParams,
    *,
    area: str | AreaSpec | None = None,
    data_dir: Path | None = None,
    use_cache: bool = True,
    zone: ServiceZone | None = None,
) -> StopSet:
    """:func:`~ondemand.routing.geo.stops.make_stops`, cached on disk by network, params, zone and files."""
    spec = get_area(area if area is not None else network.area)
    key = _stops_cache_key(network, spec, params, data_dir, zone)
    path = cache_dir() / "stops" / f"{spec.prefix}-{key}.json"
    if use_cache and path.is_file():
        try:
            return _load_stops(path)
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
    stop_set = make_stops(network, params, area=spec, data_dir=data_dir, zone=zone)
    if use_cache:
        with contextlib.suppress(OSError):  # a read-only cache only costs speed
            _save_stops(path, stop_set)
    return stop_set


def build_service_area(
    area: str | AreaSpec,
    *,
    network: NetworkParams | None = None,
    stops: StopParams | None = None,
    data_dir: Path | None = None,
    status: Status | None = None,
    use_cache: bool = True,
    travel_times: TravelTimesParams | None = None,
) -> ServiceArea:
    """Load the network, make the meeting points and the matrix between them (all cached on disk).

    Parameters
    ----------
    area
        ``toyono``, ``senboku``, ``higashiosaka`` or an :class:`AreaSpec`.
    network
        Speed table (default :class:`NetworkParams()`).
    stops
        Meeting-point parameters (default :class:`StopParams()`: the area's default count).
    data_dir
        Data folder (default ``ONDEMAND_DATA_DIR``).
    status
        Progress callback for the long steps (see :data:`~ondemand.routing.geo.network.Status`).
    use_cache
        Read and write the disk caches.
    travel_times
        Dense matrix or on-demand travel times (default :class:`TravelTimesParams()`: the matrix
        while both matrices take at most 512 MB, about 5,600 meeting points).

    Raises
    ------
    UnknownAreaError, DataNotFoundError, StopFileError, OutsideServiceAreaError, ZoneError
        See :func:`~ondemand.routing.geo.network.load_network` and
        :func:`~ondemand.routing.geo.stops.make_stops`.
    """
    spec = get_area(area)
    stop_params = stops if stops is not None else StopParams()
    net = load_network(spec, params=network, data_dir=data_dir, status=status, use_cache=use_cache)
    zone = zone_of(spec, data_dir)
    with stage(status, f"meeting points of {spec.name}"):
        stop_set = cached_stops(
            net, stop_params, area=spec, data_dir=data_dir, use_cache=use_cache, zone=zone
        )
    nodes = np.array([s.node for s in stop_set.stops], dtype=np.int64)
    tt_params = travel_times if travel_times is not None else TravelTimesParams()
    what = "travel-time matrix" if tt_params.dense(len(nodes)) else "on-demand travel times"
    with stage(status, f"{what} of {len(nodes)} meeting points"):
        matrix = _travel_times(net, nodes, params=tt_params, use_cache=use_cache)
    return ServiceArea(
        network=net,
        stops=stop_set.stops,
        matrix=matrix,
        aliases=dict(stop_set.aliases),
        coverage=stop_set.coverage,
        seeds=stop_set.seeds,
        zone=zone,
    )
