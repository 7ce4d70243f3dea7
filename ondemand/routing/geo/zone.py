"""Service zones: where a service picks up and drops off, and the named places it serves.

A zone is a polygon (a GeoJSON file kept beside the scenario) or a list of districts (町丁目)
from the OSM place layer (``{prefix}_places.geojson``). That layer holds **points only** (one
label point per district, PROVENANCE.md), so a district's extent is defined here as the
*Voronoi cell* of its place point among all place points of the area, clipped to the road
graph's box: every spot belongs to the district whose label point is nearest. That is an
approximation of the real 町丁目 boundary (which OSM's tiles here do not carry); it is exact
in the sense that "the district of a stop" is the name of the nearest place point.

A district name selects every place point whose name *starts with* it: ``桃山台`` takes
桃山台一丁 .. 桃山台四丁.

Named places (:class:`NamedPlace`: stations, hospitals, shopping) are the destinations a scenario
lists; a trip may start or end at one of them even when it lies outside the polygon (real
services run to the station), and a stop near one carries its name.

The geometry test (:meth:`ServiceZone.admits`) is the one both drivers use: the simulator's
demand, the service policy and the live API call it.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ondemand.errors import ZoneError
from ondemand.routing.geo.geodesy import haversine_m

__all__ = [
    "PLACE_KINDS",
    "NamedPlace",
    "ServiceZone",
    "district_cells",
    "district_zone",
    "load_zone_file",
    "zone_of",
]

PLACE_KINDS = (
    "station",
    "hospital",
    "clinic",
    "supermarket",
    "shopping",
    "community_centre",
    "government",
    "other",
)
"""Kinds of :class:`NamedPlace`."""


@dataclass(frozen=True, slots=True)
class NamedPlace:
    """A place a scenario names: a station, a hospital, a shopping centre.

    Parameters
    ----------
    name
        Its name as riders know it (``泉ケ丘駅``).
    lon, lat
        Where the vehicle stops for it (degrees).
    kind
        One of :data:`PLACE_KINDS`.
    stand
        The stand or exit (``北側4番のりば``), where known; shown after the name.
    radius_m
        A point within this distance counts as "at" the place (trips may end there even outside
        the zone polygon; a stop this near takes the place's name).
    """

    name: str
    lon: float
    lat: float
    kind: str = "station"
    stand: str = ""
    radius_m: float = 150.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a named place needs a name")
        if not (math.isfinite(self.lon) and math.isfinite(self.lat) and -180 <= self.lon <= 180):
            raise ValueError(f"named place {self.name!r}: lon/lat must be finite degrees")
        if self.kind not in PLACE_KINDS:
            raise ValueError(f"named place {self.name!r}: kind must be one of {', '.join(PLACE_KINDS)}")
        if not (10 <= self.radius_m <= 2000):
            raise ValueError(f"named place {self.name!r}: radius_m must be between 10 and 2000 m")

    @property
    def label(self) -> str:
        """The name with its stand: ``泉ケ丘駅(北側4番のりば)``."""
        return f"{self.name}({self.stand})" if self.stand else self.name

    @classmethod
    def parse(cls, raw: Any) -> NamedPlace:
        """A place from a TOML table (``name``, ``lon``, ``lat``; ``kind``, ``stand``, ``radius_m``)."""
        if isinstance(raw, NamedPlace):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"a named place must be a table with name, lon, lat; got {raw!r}")
        unknown = sorted(set(raw) - {"name", "lon", "lat", "kind", "stand", "radius_m", "source"})
        if unknown:
            raise ValueError(f"named place {raw.get('name')!r}: unknown key {unknown[0]!r}")
        try:
            return cls(
                name=str(raw["name"]),
                lon=float(raw["lon"]),
                lat=float(raw["lat"]),
                kind=str(raw.get("kind", "station")),
                stand=str(raw.get("stand", "")),
                radius_m=float(raw.get("radius_m", 150.0)),
            )
        except KeyError as exc:
            raise ValueError(f"named place {raw.get('name')!r}: missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"named place {raw.get('name')!r}: {exc}") from None


@dataclass(frozen=True, eq=False)
class ServiceZone:
    """A service zone: a (multi)polygon in lon/lat and the named places it serves.

    Attributes
    ----------
    name
        Shown in refusals (``"Senboku pilot 1 (桃山台, 鴨谷台)"``).
    geometry
        A shapely Polygon or MultiPolygon (lon, lat).
    places
        Named destinations; those outside ``geometry`` are still allowed trip ends.
    source
        How it was made (file path, or the districts and the place file).
    districts
        The district (place point) names it covers, when built from districts.
    """

    name: str
    geometry: Any
    places: tuple[NamedPlace, ...] = ()
    source: str = ""
    districts: tuple[str, ...] = ()
    _prepared: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import shapely

        if self.geometry is None or self.geometry.is_empty:
            raise ZoneError(f"zone {self.name!r} is empty")
        if self.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise ZoneError(
                f"zone {self.name!r} must be a Polygon or MultiPolygon, got {self.geometry.geom_type}"
            )
        geom = shapely.make_valid(self.geometry) if not self.geometry.is_valid else self.geometry
        object.__setattr__(self, "geometry", geom)
        object.__setattr__(self, "places", tuple(NamedPlace.parse(p) for p in self.places))
        shapely.prepare(geom)
        object.__setattr__(self, "_prepared", geom)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the polygon and the places."""
        w, s, e, n = self.geometry.bounds
        for p in self.places:
            w, s, e, n = min(w, p.lon), min(s, p.lat), max(e, p.lon), max(n, p.lat)
        return float(w), float(s), float(e), float(n)

    def contains(
        self,
        lon: float | Sequence[float] | NDArray[np.float64],
        lat: float | Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Whether points lie inside the polygon (boundary included), as a boolean array."""
        import shapely

        x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        return np.asarray(shapely.intersects_xy(self._prepared, x, y), dtype=bool)

    def place_at(self, lon: float, lat: float) -> NamedPlace | None:
        """The named place within whose radius the point lies (the nearest such), or ``None``."""
        best: tuple[float, NamedPlace] | None = None
        for p in self.places:
            d = haversine_m(float(lon), float(lat), p.lon, p.lat)
            if d <= p.radius_m and (best is None or d < best[0]):
                best = (d, p)
        return None if best is None else best[1]

    def admits(
        self,
        lon: float | Sequence[float] | NDArray[np.float64],
        lat: float | Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Whether a trip may start or end at each point: inside the polygon or at a named place."""
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        ok = self.contains(x, y)
        for p in self.places:
            if ok.all():
                break
            ok |= np.asarray(haversine_m(x, y, p.lon, p.lat)) <= p.radius_m
        return ok

    def check(self, lon: float, lat: float, *, what: str = "point") -> None:
        """Raise ``OutsideServiceZoneError`` naming the zone when the point is not admitted."""
        from ondemand.errors import OutsideServiceZoneError

        if not (math.isfinite(lon) and math.isfinite(lat)) or not bool(self.admits(lon, lat)[0]):
            listed = ", ".join(p.name for p in self.places)
            also = f" or at one of its listed destinations ({listed})" if listed else ""
            raise OutsideServiceZoneError(
                f"{what} (lon {lon:.6f}, lat {lat:.6f}) is outside the service zone {self.name!r}; "
                f"choose a place inside the zone{also}"
            )

    def key(self) -> str:
        """A stable digest of the zone (for cache keys)."""
        h = hashlib.sha256(self.name.encode())
        h.update(self.geometry.wkb)
        h.update(
            json.dumps([[p.name, p.lon, p.lat, p.kind, p.stand, p.radius_m] for p in self.places]).encode()
        )
        return h.hexdigest()[:24]

    def to_geojson(self) -> dict[str, Any]:
        """The zone as a GeoJSON FeatureCollection: the polygon, then one Point per named place."""
        from shapely.geometry import mapping

        feats: list[dict[str, Any]] = [
            {
                "type": "Feature",
                "geometry": mapping(self.geometry),
                "properties": {"name": self.name, "source": self.source, "districts": list(self.districts)},
            }
        ]
        feats += [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                "properties": {"name": p.label, "kind": p.kind, "radius_m": p.radius_m},
            }
            for p in self.places
        ]
        return {"type": "FeatureCollection", "features": feats}


def load_zone_file(path: Path, *, name: str | None = None, places: Sequence[NamedPlace] = ()) -> ServiceZone:
    """A zone from a GeoJSON file: the union of its Polygon/MultiPolygon features.

    The zone's name is ``name``, else the first polygon feature's ``name`` property, else the
    file's stem.

    Raises
    ------
    ZoneError
        For a missing file, invalid JSON or a file without polygons.
    """
    from shapely.geometry import shape
    from shapely.ops import unary_union

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZoneError(f"{path}: no such zone file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ZoneError(f"{path}: not a readable GeoJSON file ({exc})") from None
    feats = data.get("features", []) if isinstance(data, dict) else []
    polys = []
    first_name = None
    for feat in feats:
        geom = (feat or {}).get("geometry") or {}
        if geom.get("type") in ("Polygon", "MultiPolygon"):
            polys.append(shape(geom))
            first_name = first_name or ((feat.get("properties") or {}).get("name"))
    if not polys:
        raise ZoneError(f"{path}: no Polygon or MultiPolygon feature; a zone file needs one")
    return ServiceZone(
        name=name or first_name or path.stem,
        geometry=unary_union(polys),
        places=tuple(places),
        source=str(path),
    )


def district_cells(places_file: Path, bbox: tuple[float, float, float, float]) -> tuple[list[str], list[Any]]:
    """Names and Voronoi cells (clipped to ``bbox``) of the neighbourhood/quarter place points in ``bbox``."""
    import shapely
    from shapely.geometry import MultiPoint, box

    data = json.loads(Path(places_file).read_text(encoding="utf-8"))
    names: list[str] = []
    pts: list[tuple[float, float]] = []
    w, s, e, n = bbox
    for feat in data.get("features", []):
        geom = feat.get("geometry") or {}
        props = feat.get("properties") or {}
        if geom.get("type") != "Point" or props.get("class") not in ("neighbourhood", "quarter"):
            continue
        x, y = (float(c) for c in geom["coordinates"][:2])
        name = str(props.get("name") or "")
        if name and w <= x <= e and s <= y <= n:
            names.append(name)
            pts.append((x, y))
    frame = box(w, s, e, n)
    if not pts:
        return [], []
    # Voronoi in a locally isotropic frame: scale lon by cos(lat) so cells are metric
    k = math.cos(math.radians((s + n) / 2))
    scaled = MultiPoint([(x * k, y) for x, y in pts])
    regions = shapely.voronoi_polygons(scaled, extend_to=box(w * k - 1, s - 1, e * k + 1, n + 1))
    cells: list[Any] = [None] * len(pts)
    sp = [shapely.Point(x * k, y) for x, y in pts]
    for poly in shapely.get_parts(regions):
        for i, p in enumerate(sp):
            if cells[i] is None and poly.covers(p):
                cells[i] = shapely.affinity.scale(poly, xfact=1 / k, yfact=1.0, origin=(0, 0)).intersection(
                    frame
                )
                break
    return names, cells


def district_zone(
    districts: Sequence[str],
    places_file: Path,
    bbox: tuple[float, float, float, float],
    *,
    name: str,
    places: Sequence[NamedPlace] = (),
) -> ServiceZone:
    """A zone made of districts: the union of the Voronoi cells of their OSM place points.

    Parameters
    ----------
    districts
        District names; each selects every place point whose name starts with it.
    places_file
        The area's ``{prefix}_places.geojson``.
    bbox
        Clip box (the road graph's box).
    name
        The zone's name.
    places
        Named destinations.

    Raises
    ------
    ZoneError
        When a district matches no place point (the message lists similar names).
    """
    import shapely
    from shapely.ops import unary_union

    all_names, cells = district_cells(places_file, bbox)
    chosen: list[Any] = []
    covered: list[str] = []
    for d in districts:
        hit = [i for i, nm in enumerate(all_names) if nm.startswith(d)]
        if not hit:
            similar = sorted({nm for nm in all_names if d[:2] and nm.startswith(d[:2])})[:8]
            hint = f"; similar: {', '.join(similar)}" if similar else ""
            raise ZoneError(f"zone {name!r}: district {d!r} is not a place name in {places_file}{hint}")
        chosen += [cells[i] for i in hit if cells[i] is not None]
        covered += [all_names[i] for i in hit]
    geom = unary_union(chosen)
    geom = shapely.make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        geom = unary_union([g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")])
    return ServiceZone(
        name=name,
        geometry=geom,
        places=tuple(places),
        source=f"Voronoi cells of OSM place points {', '.join(districts)} in {Path(places_file).name}",
        districts=tuple(covered),
    )


_ZONES: dict[str, ServiceZone] = {}


def zone_of(spec: Any, data_dir: Path | None = None) -> ServiceZone | None:
    """The service zone of an ``AreaSpec`` (``None`` when it defines none), memoised per process.

    Raises
    ------
    ZoneError
        When the zone file is bad, a district is unknown, or the place layer is missing.
    """
    from ondemand.routing.geo.data import find_data_file

    if spec.zone_file is None and not spec.districts:
        return None
    name = spec.zone_name or spec.name
    if spec.zone_file is not None:
        path = Path(spec.zone_file)
        st = path.stat() if path.is_file() else None
        key = f"file|{path.resolve()}|{st and st.st_mtime_ns}|{name}|{spec.places!r}"
        if key not in _ZONES:
            _ZONES[key] = load_zone_file(path, name=name, places=spec.places)
        return _ZONES[key]
    places_file = find_data_file(spec.prefix, "places.geojson", data_dir)
    if places_file is None:
        raise ZoneError(
            f"zone {name!r} is a list of districts but {spec.prefix}_places.geojson was not found; "
            "set ONDEMAND_DATA_DIR to the folder with the OSM layers"
        )
    key = f"districts|{places_file.resolve()}|{spec.bbox}|{name}|{spec.districts}|{spec.places!r}"
    if key not in _ZONES:
        _ZONES[key] = district_zone(
            spec.districts, places_file, tuple(spec.bbox), name=name, places=spec.places
        )
    return _ZONES[key]
