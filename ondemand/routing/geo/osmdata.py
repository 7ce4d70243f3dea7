"""An area from anywhere: a place name, a boundary polygon or a box, with its OpenStreetMap layers.

:func:`prepare_area` turns what a scenario's ``[area]`` table (or ``ondemand init``) says into an
:class:`~ondemand.routing.geo.network.AreaSpec` whose files the rest of the package reads as it
reads the pilots' data folder: ``{prefix}_drive.graphml`` (drivable roads), ``_pois``,
``_buildings``, ``_landuse``, ``_places``, ``_boundaries`` (administrative boundaries, with
``name``, ``name:ja``, ``admin_level``) and ``_zone`` (the area's polygon) ``.geojson``. They are
written once into the user cache's ``osm`` folder (:func:`~ondemand.routing.geo.data.cache_dir`),
under a prefix keyed by the area and the source, and found there afterwards.

The data comes from

- a local OpenStreetMap extract, ``.osm`` XML or ``.osm.pbf`` (read with pyosmium, the maintained
  bindings of libosmium), clipped to the area's box widened by :data:`CLIP_MARGIN_M` (roads just
  outside stay routable); or
- the Overpass API through osmnx, when no extract is given and downloading is allowed: one line is
  printed before any network access, and nothing is downloaded when the user said offline
  (``ONDEMAND_OFFLINE=1``, the CLI's ``--offline``).

A place name (``"河内長野市, 大阪府"``) is resolved offline from the extract's administrative
boundaries (``name``, ``name:ja`` or ``name:en``; the parts after a comma pick among namesakes by
the boundary that contains them), online with osmnx's geocoder (Nominatim).

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ondemand.errors import BoundaryError, DataNotFoundError, ExtractError, PlaceNotFoundError
from ondemand.routing.geo.data import OFFLINE_ENV, cache_dir
from ondemand.routing.geo.geodesy import METRES_PER_DEGREE, haversine_m
from ondemand.routing.geo.network import AreaSpec, Status, stage

__all__ = [
    "CLIP_MARGIN_M",
    "DRIVABLE",
    "LAYERS",
    "AreaRequest",
    "ExtractLayers",
    "is_offline",
    "key_class",
    "load_boundary",
    "prepare_area",
    "read_extract",
    "resolve_place",
]

_VERSION = 2
"""Version of the prepared-layer format; bump when what :func:`prepare_area` writes changes."""

CLIP_MARGIN_M = 500.0
"""Roads, buildings and POIs within this many metres outside the area's box are kept."""

DRIVABLE = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "road",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
"""OSM ``highway`` values a van drives on (service roads, tracks and paths are left out, as in the
pilots' graphs: PROVENANCE.md)."""

_NO_ACCESS = frozenset({"no", "private"})
LAYERS = ("pois", "buildings", "landuse", "places", "boundaries", "zone")
"""The GeoJSON layers written beside ``{prefix}_drive.graphml``."""

_LANDUSE = frozenset({"residential", "commercial", "industrial", "retail"})
_PLACES = frozenset({"city", "town", "village", "suburb", "quarter", "neighbourhood", "hamlet"})
_POI_KEYS = ("amenity", "shop", "railway", "public_transport", "highway", "leisure", "office", "healthcare")


def key_class(tags: Mapping[str, str]) -> str | None:
    """The coarse POI category of an OSM object's tags (the ``key_class`` of PROVENANCE.md), or ``None``.

    ``railway=station|halt`` -> ``rail_station``; ``amenity=hospital`` -> ``hospital``;
    clinics, doctors, dentists -> ``clinic``; supermarkets, department stores, malls,
    marketplaces -> ``supermarket``; town halls and public offices -> ``government``; ...
    """
    a, shop = tags.get("amenity", ""), tags.get("shop", "")
    if tags.get("railway") in ("station", "halt") or (
        tags.get("public_transport") == "station" and tags.get("train") == "yes"
    ):
        return "rail_station"
    if tags.get("highway") == "bus_stop":
        return "bus_stop"
    table = {
        "bus_station": "bus_station",
        "hospital": "hospital",
        "clinic": "clinic",
        "doctors": "clinic",
        "dentist": "clinic",
        "pharmacy": "pharmacy",
        "marketplace": "supermarket",
        "school": "school",
        "kindergarten": "kindergarten",
        "university": "university_college",
        "college": "university_college",
        "townhall": "government",
        "public_building": "government",
        "courthouse": "government",
        "community_centre": "community_centre",
        "post_office": "post_office",
        "bank": "bank",
        "library": "library",
        "police": "police_fire",
        "fire_station": "police_fire",
        "restaurant": "food_drink",
        "cafe": "food_drink",
        "fast_food": "food_drink",
        "bar": "food_drink",
        "pub": "food_drink",
        "parking": "parking",
        "place_of_worship": "place_of_worship",
    }
    if a in table:
        return table[a]
    if tags.get("healthcare") in ("clinic", "doctor", "dentist"):
        return "clinic"
    if shop in ("supermarket", "department_store", "mall"):
        return "supermarket"
    if shop == "convenience":
        return "convenience"
    if shop:
        return "shop_service"
    if tags.get("office") == "government":
        return "government"
    if tags.get("leisure") in ("park", "garden", "playground"):
        return "park"
    return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def is_offline(offline: bool | None = None) -> bool:
    """Whether downloading is off: ``offline`` when given, else ``ONDEMAND_OFFLINE`` is 1/true/yes."""
    if offline is not None:
        return offline
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------------------------------
# what the user asks for


@dataclass(frozen=True)
class AreaRequest:
    """An area as a scenario's ``[area]`` table or ``ondemand init`` gives it (exactly one of
    ``place``, ``boundary``, ``bbox``).

    Parameters
    ----------
    name
        The area's name (scenarios, reports, file prefix).
    place
        Place names (``"河内長野市, 大阪府"``); several make one area of all of them.
    boundary
        A GeoJSON file of a Polygon or MultiPolygon (a geometry, Feature or FeatureCollection).
    bbox
        ``(west, south, east, north)`` in degrees.
    osm
        A local ``.osm`` or ``.osm.pbf`` extract; ``None`` downloads from Overpass (when allowed).
    default_stops
        Target number of meeting points; ``None`` derives it from the area (one per 0.22 km²).
    """

    name: str
    place: tuple[str, ...] = ()
    boundary: Path | None = None
    bbox: tuple[float, float, float, float] | None = None
    osm: Path | None = None
    default_stops: int | None = None

    def __post_init__(self) -> None:
        given = sum((bool(self.place), self.boundary is not None, self.bbox is not None))
        if given != 1:
            raise ValueError("give exactly one of place, boundary or bbox for the area")
        if isinstance(self.place, str):
            object.__setattr__(self, "place", (self.place,))
        if any(not str(p).strip() for p in self.place):
            raise ValueError("a place name must not be empty")
        if self.bbox is not None:
            w, s, e, n = (float(x) for x in self.bbox)
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError(
                    f"bbox must be west, south, east, north with west < east, south < north; got {self.bbox}"
                )
            object.__setattr__(self, "bbox", (w, s, e, n))


@dataclass
class ExtractLayers:
    """What :func:`read_extract` collected from an extract (clipped), as plain Python data.

    Attributes
    ----------
    extent
        ``(west, south, east, north)`` the file covers: its header box, else the extent of its
        tagged nodes, drivable ways and polygons (untagged nodes are never seen in Python).
    extent_from_header
        Whether ``extent`` is the header's box.
    ways
        Drivable ways: ``(way id, tags, [(node id, lon, lat), ...])``.
    pois, buildings, places
        GeoJSON Point features (dicts).
    landuse, boundaries
        GeoJSON (Multi)Polygon features (dicts).
    """

    extent: tuple[float, float, float, float] | None = None
    extent_from_header: bool = False
    ways: list[tuple[int, dict[str, str], list[tuple[int, float, float]]]] = field(default_factory=list)
    pois: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    places: list[dict[str, Any]] = field(default_factory=list)
    landuse: list[dict[str, Any]] = field(default_factory=list)
    boundaries: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# geometry helpers


def _widen(bbox: tuple[float, float, float, float], metres: float) -> tuple[float, float, float, float]:
    w, s, e, n = bbox
    dlat = metres / METRES_PER_DEGREE
    dlon = dlat / max(0.1, math.cos(math.radians((s + n) / 2)))
    return (w - dlon, s - dlat, e + dlon, n + dlat)


def _point(lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": props,
    }


def _area_m2(geom: Any) -> float:
    """Planar area in m² of a lon/lat geometry (local equirectangular projection; fine for buildings)."""
    import shapely

    c = geom.centroid
    k = math.cos(math.radians(c.y))
    local = shapely.transform(geom, lambda xy: (xy - [c.x, c.y]) * [METRES_PER_DEGREE * k, METRES_PER_DEGREE])
    return float(local.area)


def load_boundary(path: Path) -> Any:
    """The (multi)polygon of a GeoJSON file: a Polygon/MultiPolygon geometry, a Feature or a
    FeatureCollection of them (unioned), in lon/lat.

    Raises
    ------
    BoundaryError
        When the file is missing, not JSON, or holds anything but polygons.
    """
    import shapely
    from shapely.geometry import shape

    path = Path(path)
    fix = "give a GeoJSON file of a Polygon or MultiPolygon in lon/lat (EPSG:4326), e.g. a municipal boundary"
    if not path.is_file():
        raise BoundaryError(f"{path}: no such boundary file; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"{path}: not valid GeoJSON ({exc}); {fix}") from None
    geoms: list[Any] = []
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "FeatureCollection":
        geoms = [(f or {}).get("geometry") for f in data.get("features") or []]
    elif kind == "Feature":
        geoms = [data.get("geometry")]
    elif kind is not None:
        geoms = [data]
    polys = []
    for g in geoms:
        gtype = (g or {}).get("type") if isinstance(g, dict) else None
        if gtype not in ("Polygon", "MultiPolygon"):
            raise BoundaryError(
                f"{path}: the boundary is a {gtype or 'missing geometry'}, not a polygon; {fix}"
            )
        try:
            polys.append(shape(g))
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise BoundaryError(f"{path}: a polygon cannot be read ({exc}); {fix}") from None
    if not polys:
        raise BoundaryError(f"{path}: no polygon in the file; {fix}")
    geom = shapely.union_all([shapely.make_valid(p) for p in polys])
    geom = _polygonal(geom)
    if geom is None or geom.is_empty or geom.area == 0:
        raise BoundaryError(f"{path}: the polygon is empty; {fix}")
    w, s, e, n = geom.bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise BoundaryError(f"{path}: coordinates are not lon/lat degrees (bounds {geom.bounds}); {fix}")
    return geom


def _polygonal(geom: Any) -> Any:
    """The polygon part of a geometry (make_valid may return a collection), or ``None``."""
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    if not parts:
        return None
    import shapely

    return shapely.union_all(parts)


# --------------------------------------------------------------------------------------------------
# reading an extract with pyosmium


def _osmium() -> Any:
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ExtractError(
            "reading an OSM extract needs pyosmium: pip install osmium (it is a dependency of ondemand)"
        ) from exc
    return osmium


def _check_extract(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ExtractError(
            f"{path}: no such OSM extract; download one that covers your town (.osm.pbf, e.g. "
            "https://download.geofabrik.de/asia/japan/kansai-latest.osm.pbf) and give its path"
        )
    name = path.name.lower()
    if not (name.endswith(".osm") or name.endswith(".osm.pbf") or name.endswith(".pbf")):
        raise ExtractError(f"{path}: not an OSM extract; give a .osm (XML) or .osm.pbf file")
    return path


def _header_box(path: Path) -> tuple[float, float, float, float] | None:
    osmium = _osmium()
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
    except RuntimeError as exc:
        raise ExtractError(
            f"{path}: cannot read the OSM extract ({exc}); give a valid .osm or .osm.pbf file"
        ) from None
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _tags(obj: Any) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def _admin_feature(tags: Mapping[str, str], geom: Any, osm_id: int) -> dict[str, Any]:
    from shapely.geometry import mapping

    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {
            "name": tags.get("name"),
            "name:ja": tags.get("name:ja"),
            "name:en": tags.get("name:en"),
            "admin_level": tags.get("admin_level"),
            "osm_id": osm_id,
        },
    }


def read_extract(
    path: Path, clip: tuple[float, float, float, float] | None, *, admin_only: bool = False
) -> ExtractLayers:
    """Read an ``.osm`` or ``.osm.pbf`` extract: drivable ways, POIs, buildings, land use, place
    points and administrative boundaries within ``clip`` (``None``: everywhere).

    Parameters
    ----------
    path
        The extract.
    clip
        ``(west, south, east, north)``: a way is kept when one of its nodes lies inside, a point
        or polygon when its centroid (a boundary: its box) does.
    admin_only
        Collect only the administrative boundaries (for resolving place names).

    Raises
    ------
    ExtractError
        When the file is missing or cannot be read.
    """
    import shapely

    osmium = _osmium()
    path = _check_extract(path)
    header = _header_box(path)
    out = ExtractLayers(extent=header, extent_from_header=header is not None)
    wkb = osmium.geom.WKBFactory()
    box = clip or (-180.0, -90.0, 180.0, 90.0)

    def inside(lon: float, lat: float) -> bool:
        return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]

    near = _widen(box, 1000.0) if clip is not None else box  # a building's first node is this near
    ext = [math.inf, math.inf, -math.inf, -math.inf]
    try:
        fp = osmium.FileProcessor(str(path)).with_locations()
        if admin_only:  # assemble and see only the administrative boundaries (and place points)
            fp = fp.with_areas(osmium.filter.TagFilter(("boundary", "administrative")))
            fp = fp.with_filter(osmium.filter.EntityFilter(osmium.osm.AREA | osmium.osm.NODE))
            fp = fp.with_filter(osmium.filter.KeyFilter("boundary", "place"))
        else:
            fp = fp.with_areas()
        fp = fp.with_filter(osmium.filter.EmptyTagFilter())  # untagged nodes stay in C++ (locations only)
        for obj in fp:
            if obj.is_node():
                lon, lat = obj.location.lon, obj.location.lat
                ext[0], ext[1] = min(ext[0], lon), min(ext[1], lat)
                ext[2], ext[3] = max(ext[2], lon), max(ext[3], lat)
                if not len(obj.tags) or not inside(lon, lat):
                    continue
                tags = _tags(obj)
                if admin_only:
                    if tags.get("place") in _PLACES and (tags.get("name") or tags.get("name:ja")):
                        out.places.append(_point(lon, lat, _place_props(tags, f"n{obj.id}")))
                    continue
                _collect_point(out, lon, lat, tags, f"n{obj.id}")
            elif obj.is_way():
                if admin_only:
                    continue
                t = obj.tags
                if t.get("highway") in DRIVABLE:
                    tags = _tags(obj)
                    if not _drivable(tags):
                        continue
                    nodes = [(n.ref, n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                    for _, x, y in nodes:
                        ext[0], ext[1] = min(ext[0], x), min(ext[1], y)
                        ext[2], ext[3] = max(ext[2], x), max(ext[3], y)
                    if len(nodes) >= 2 and any(inside(x, y) for _, x, y in nodes):
                        out.ways.append((int(obj.id), tags, nodes))
                    continue
                # a closed way is a polygon: buildings, land use, POIs mapped as areas (the cheap
                # path: most of an extract's objects are buildings)
                if not ("building" in t or t.get("landuse") in _LANDUSE or any(k in t for k in _POI_KEYS)):
                    continue
                wn = obj.nodes
                if len(wn) < 4:
                    continue
                if t.get("landuse") is None and wn[0].location.valid():  # a building far outside: skip it
                    lon0, lat0 = wn[0].lon, wn[0].lat
                    if not (near[0] <= lon0 <= near[2] and near[1] <= lat0 <= near[3]):
                        continue
                ring = [(n.lon, n.lat) for n in wn if n.location.valid()]
                if len(ring) < 4 or ring[0] != ring[-1]:
                    continue
                cx, cy, area_m2 = _ring_centroid(ring)
                ext[0], ext[1] = min(ext[0], cx), min(ext[1], cy)
                ext[2], ext[3] = max(ext[2], cx), max(ext[3], cy)
                if inside(cx, cy):
                    _collect_polygon(out, _tags(obj), ring, cx, cy, area_m2, f"w{obj.id}")
            elif obj.is_area():
                if obj.from_way():
                    continue  # closed ways were read as ways above
                tags = _tags(obj)
                is_admin = tags.get("boundary") == "administrative"
                if admin_only and not is_admin:
                    continue
                if not (is_admin or "building" in tags or tags.get("landuse") in _LANDUSE or key_class(tags)):
                    continue
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except (RuntimeError, shapely.errors.GEOSException):
                    continue  # a broken multipolygon in the data: skip it
                osm_id = int(obj.orig_id())
                gw, gs, ge, gn = geom.bounds
                ext[0], ext[1] = min(ext[0], gw), min(ext[1], gs)
                ext[2], ext[3] = max(ext[2], ge), max(ext[3], gn)
                if is_admin:
                    if gw <= box[2] and ge >= box[0] and gs <= box[3] and gn >= box[1]:
                        out.boundaries.append(_admin_feature(tags, geom, osm_id))
                    continue
                c = geom.centroid
                if inside(c.x, c.y):
                    _collect_polygon(out, tags, geom, c.x, c.y, _area_m2(geom), f"r{osm_id}")
    except RuntimeError as exc:
        raise ExtractError(
            f"{path}: cannot read the OSM extract ({exc}); give a valid .osm or .osm.pbf file"
        ) from None
    if out.extent is None and math.isfinite(ext[0]):
        out.extent = (ext[0], ext[1], ext[2], ext[3])
    return out


def _ring_centroid(ring: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Centroid (lon, lat) and area (m², local equirectangular projection) of a closed lon/lat ring."""
    x0, y0 = ring[0]
    kx = METRES_PER_DEGREE * math.cos(math.radians(y0))
    ky = METRES_PER_DEGREE
    a = sx = sy = 0.0
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        p1, q1, p2, q2 = (x1 - x0) * kx, (y1 - y0) * ky, (x2 - x0) * kx, (y2 - y0) * ky
        cross = p1 * q2 - p2 * q1
        a += cross
        sx += (p1 + p2) * cross
        sy += (q1 + q2) * cross
    if abs(a) < 1e-9:  # degenerate: the mean of its points
        n = len(ring) - 1
        return sum(x for x, _ in ring[:-1]) / n, sum(y for _, y in ring[:-1]) / n, 0.0
    return x0 + sx / (3 * a) / kx, y0 + sy / (3 * a) / ky, abs(a) / 2


def _collect_polygon(
    out: ExtractLayers,
    tags: Mapping[str, str],
    geom: Any,
    cx: float,
    cy: float,
    area_m2: float,
    osm_id: str,
) -> None:
    """A building, land-use polygon and/or POI from a polygon (a ring of a closed way, or a geometry)."""
    if "building" in tags:
        out.buildings.append(_point(cx, cy, {"area_m2": round(area_m2, 1), "osm_id": osm_id}))
    if tags.get("landuse") in _LANDUSE:
        from shapely.geometry import Polygon, mapping

        poly = Polygon(geom) if isinstance(geom, list) else geom
        out.landuse.append(
            {
                "type": "Feature",
                "geometry": mapping(poly),
                "properties": {"class": tags["landuse"], "area_m2": round(area_m2)},
            }
        )
    if key_class(tags):
        _collect_point(out, cx, cy, tags, osm_id, places=False)


def _drivable(tags: Mapping[str, str]) -> bool:
    if tags.get("area") == "yes":
        return False
    return not any(tags.get(k) in _NO_ACCESS for k in ("access", "motor_vehicle", "motorcar", "vehicle"))


def _place_props(tags: Mapping[str, str], osm_id: str) -> dict[str, Any]:
    return {
        "class": tags["place"],
        "name": tags.get("name:ja") or tags.get("name"),
        "name:en": tags.get("name:en"),
        "osm_id": osm_id,
    }


def _collect_point(
    out: ExtractLayers, lon: float, lat: float, tags: Mapping[str, str], osm_id: str, *, places: bool = True
) -> None:
    name = tags.get("name:ja") or tags.get("name")
    if places and tags.get("place") in _PLACES and name:
        out.places.append(_point(lon, lat, _place_props(tags, osm_id)))
    kc = key_class(tags)
    if kc is None:
        return
    if (
        kc == "rail_station"
        and name
        and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", name)
        and not name.endswith("駅")
    ):
        name = f"{name}駅"  # OSM names Japanese stations without 駅; riders and the stop names use it
    cls, sub = next(((k, tags[k]) for k in _POI_KEYS if k in tags), ("", ""))
    out.pois.append(
        _point(lon, lat, {"class": cls, "subclass": sub, "name": name, "key_class": kc, "osm_id": osm_id})
    )


# --------------------------------------------------------------------------------------------------
# the road graph


def build_graph(ways: Sequence[tuple[int, Mapping[str, str], Sequence[tuple[int, float, float]]]]) -> Any:
    """A drivable osmnx-style ``MultiDiGraph`` of OSM ways, split at junctions and ends.

    Nodes are OSM node ids with ``x`` (lon) and ``y`` (lat); each piece of a way between two
    junctions is one edge (both directions unless one-way) with ``osmid``, ``highway``,
    ``oneway``, ``reversed``, ``length`` (great-circle metres) and ``geometry``. ``oneway=yes|1|
    true``, ``junction=roundabout`` and motorways are one-way; ``oneway=-1|reverse`` runs backwards.
    """
    import networkx as nx
    from shapely.geometry import LineString

    uses: dict[int, int] = {}
    for _, _, nodes in ways:
        for k, (ref, _, _) in enumerate(nodes):
            uses[ref] = uses.get(ref, 0) + (2 if k in (0, len(nodes) - 1) else 1)
    g = nx.MultiDiGraph(crs="epsg:4326")
    for wid, tags, nodes in ways:
        ow = tags.get("oneway", "").lower()
        backward = ow in ("-1", "reverse")
        oneway = backward or ow in ("yes", "1", "true") or tags.get("junction") in ("roundabout", "circular")
        oneway = oneway or (tags.get("highway") == "motorway" and ow != "no")
        pts = list(reversed(nodes)) if backward else list(nodes)
        start = 0
        for k in range(1, len(pts)):
            if k < len(pts) - 1 and uses.get(pts[k][0], 0) < 2:
                continue
            piece = pts[start : k + 1]
            start = k
            if piece[0][0] == piece[-1][0] and len(piece) <= 2:
                continue
            length = sum(haversine_m(a[1], a[2], b[1], b[2]) for a, b in itertools.pairwise(piece))
            line = LineString([(x, y) for _, x, y in piece])
            for ref, x, y in (piece[0], piece[-1]):
                g.add_node(ref, x=x, y=y)
            data = {"osmid": wid, "highway": tags["highway"], "oneway": oneway, "length": max(length, 0.5)}
            g.add_edge(piece[0][0], piece[-1][0], reversed=False, geometry=line, **data)
            if not oneway:
                g.add_edge(piece[-1][0], piece[0][0], reversed=True, geometry=line.reverse(), **data)
    return g


# --------------------------------------------------------------------------------------------------
# place names


def _admin_cache(path: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[
        :16
    ]
    return cache_dir() / "osm" / f"extract-{key}_admin.geojson"


def _admin_boundaries(path: Path, status: Status | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every administrative boundary and place point of an extract (cached per file)."""
    cached = _admin_cache(path)
    if cached.is_file():
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            return list(data["features"]), list(data["places"])
        except (OSError, ValueError, KeyError):
            cached.unlink(missing_ok=True)
    with stage(status, f"reading the administrative boundaries of {path.name}"):
        layers = read_extract(path, None, admin_only=True)
    _write_json(cached, {"type": "FeatureCollection", "features": layers.boundaries, "places": layers.places})
    return layers.boundaries, layers.places


def _names(props: Mapping[str, Any]) -> list[str]:
    return [_fold(str(props[k])) for k in ("name", "name:ja", "name:en") if props.get(k)]


def resolve_place(
    place: str,
    boundaries: Sequence[Mapping[str, Any]],
    *,
    source: str,
    places: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """The (multi)polygon of a place name among administrative boundary features.

    ``"河内長野市, 大阪府"``: the first part must equal a boundary's ``name``, ``name:ja`` or
    ``name:en`` (width and case ignored); each further part, when some boundary carries it,
    keeps the candidates that lie inside that boundary. Among several left, the one with the
    highest ``admin_level`` (the municipality rather than a namesake prefecture) wins only if
    it is the only one at that level.

    A name that only a place point (``place=town``, ``suburb``, ... with no boundary) carries is
    refused with a box around the point to use instead.

    Raises
    ------
    PlaceNotFoundError
        When no boundary matches, or several do and the name does not say which.
    """
    from shapely.geometry import shape

    parts = [p.strip() for p in place.split(",") if p.strip()]
    hint = (
        "check the spelling (the name as in OpenStreetMap, e.g. 河内長野市), add the prefecture "
        '("河内長野市, 大阪府"), or give the area as a boundary file (--boundary) or a box (--bbox)'
    )
    if not parts:
        raise PlaceNotFoundError(f"empty place name; {hint}")
    first = _fold(parts[0])
    cands = [f for f in boundaries if first in _names(f.get("properties") or {})]
    if not cands:
        for pt in places:
            props = pt.get("properties") or {}
            if first in _names(props):
                lon, lat = pt["geometry"]["coordinates"][:2]
                w, s, e, n = _widen((lon, lat, lon, lat), 1500.0)
                raise PlaceNotFoundError(
                    f"place {place!r} is only a point in {source} ({props.get('class')} at lon {lon:.4f}, "
                    f"lat {lat:.4f}), not an area with a boundary; give a box around it, e.g. "
                    f"--bbox {w:.4f},{s:.4f},{e:.4f},{n:.4f}, or a boundary file (--boundary)"
                )
        known = sorted(
            {
                str((f.get("properties") or {}).get("name"))
                for f in boundaries
                if (f.get("properties") or {}).get("name")
            }
        )
        sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        raise PlaceNotFoundError(
            f"place {place!r} not found among the {len(known)} administrative boundaries of {source}"
            + (f" ({sample})" if known else "")
            + f"; {hint}"
        )
    for part in parts[1:]:
        p = _fold(part)
        parents = [shape(f["geometry"]) for f in boundaries if p in _names(f.get("properties") or {})]
        if not parents:
            continue  # the extract does not hold that boundary: the part cannot narrow
        kept = [
            f
            for f in cands
            if any(par.covers(shape(f["geometry"]).representative_point()) for par in parents)
        ]
        if kept:
            cands = kept
    if len(cands) > 1:

        def level(f: Mapping[str, Any]) -> int:
            try:
                return int((f.get("properties") or {}).get("admin_level") or 0)
            except ValueError:
                return 0

        top = max(level(f) for f in cands)
        best = [f for f in cands if level(f) == top]
        if len(best) > 1:
            listed = "; ".join(
                f"{(f.get('properties') or {}).get('name')} (admin_level {level(f)}, "
                f"lon {shape(f['geometry']).centroid.x:.3f} lat {shape(f['geometry']).centroid.y:.3f})"
                for f in best[:5]
            )
            raise PlaceNotFoundError(
                f"place {place!r} matches {len(best)} boundaries of {source} ({listed}); "
                "add the prefecture or city it lies in after a comma, or give --boundary / --bbox"
            )
        cands = best
    return shape(cands[0]["geometry"])


def _online_line(name: str) -> str:
    """The one line printed before the first network access of an area."""
    return (
        f"downloading {name} from OpenStreetMap (Nominatim geocoder, Overpass API) into the cache "
        f"{cache_dir() / 'osm'}; to avoid this, give an extract (--osm FILE) and --offline"
    )


def _once(fn: Callable[[str], None]) -> Callable[[str], None]:
    """``fn`` that speaks only on its first call."""
    said: list[str] = []

    def call(message: str) -> None:
        if not said:
            said.append(message)
            fn(message)

    return call


def _geocode(place: str, name: str, notify: Callable[[str], None], offline: bool) -> Any:
    """A place's polygon from the geocoder, cached per place name (so a cached area works offline)."""
    from shapely.geometry import mapping, shape

    key = hashlib.sha256(f"{_VERSION}|{_fold(place)}".encode()).hexdigest()[:16]
    cached = cache_dir() / "osm" / f"geocode-{key}.geojson"
    if cached.is_file():
        try:
            return shape(json.loads(cached.read_text(encoding="utf-8"))["geometry"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            cached.unlink(missing_ok=True)
    _refuse_offline(name, offline)
    geom = _geocode_online(place, name, notify)
    _write_json(cached, {"type": "Feature", "geometry": mapping(geom), "properties": {"place": place}})
    return geom


def _geocode_online(place: str, name: str, notify: Callable[[str], None]) -> Any:
    import osmnx as ox

    notify(_online_line(name))
    try:
        gdf = ox.geocode_to_gdf(place)
    except (ValueError, LookupError) as exc:  # osmnx raises InsufficientResponseError (a ValueError)
        raise PlaceNotFoundError(
            f"place {place!r} not found by the OpenStreetMap geocoder ({exc}); check the spelling, or "
            "give the area as a boundary file (--boundary) or a box (--bbox)"
        ) from None
    geom = _polygonal(gdf.geometry.iloc[0])
    if geom is None:
        raise PlaceNotFoundError(
            f"the geocoder found {place!r} only as a point, not an area; give --boundary or --bbox"
        )
    return geom


# --------------------------------------------------------------------------------------------------
# preparing an area


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _slug(name: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]+", "_", unicodedata.normalize("NFKC", name)).strip("_").lower()
    return s[:24] or "area"


def _stops_for(geom: Any) -> int:
    """One meeting point per 0.22 km² (a 300 m walking circle's hexagon: 3√3/2 · 0.3² km² ≈ 0.23), 5..400."""
    km2 = _area_m2(geom) / 1e6
    return max(5, min(400, math.ceil(km2 / 0.22)))


def _notify_stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def prepare_area(
    request: AreaRequest,
    *,
    offline: bool | None = None,
    status: Status | None = None,
    notify: Callable[[str], None] | None = None,
) -> AreaSpec:
    """Resolve the area, write its layers into the cache (once) and return its :class:`AreaSpec`.

    The spec's ``bbox`` is the area's box, its ``zone_file`` the area's polygon for a place or a
    boundary (trips start and end inside it), none for a box.

    Parameters
    ----------
    request
        What the user gave.
    offline
        Never download (``None``: ``ONDEMAND_OFFLINE``).
    status
        Progress callback for the long steps.
    notify
        Called with one line before any network access (default: printed on stderr).

    Raises
    ------
    PlaceNotFoundError
        An unknown or ambiguous place name.
    BoundaryError
        A boundary file that is not a polygon.
    ExtractError
        An extract that cannot be read or does not cover the area.
    DataNotFoundError
        No extract given and downloading is off (or failed).
    """
    import shapely
    from shapely.geometry import box as shapely_box

    say = _once(notify if notify is not None else _notify_stderr)
    offline = is_offline(offline)
    osm = _check_extract(request.osm) if request.osm is not None else None
    source = str(osm) if osm is not None else "the Overpass API"
    if request.bbox is not None:
        geom, polygon = shapely_box(*request.bbox), False
    elif request.boundary is not None:
        geom, polygon = load_boundary(request.boundary), True
    else:
        polygon = True
        if osm is not None:
            admin, points = _admin_boundaries(osm, status)
            geom = shapely.union_all(
                [resolve_place(p, admin, source=str(osm), places=points) for p in request.place]
            )
        else:
            geom = shapely.union_all([_geocode(p, request.name, say, offline) for p in request.place])
    w, s, e, n = (round(v, 6) for v in geom.bounds)
    bbox = (w, s, e, n)
    if osm is not None:
        st = osm.stat()
        origin = f"{osm.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    else:
        origin = "overpass"
    key = hashlib.sha256(f"{_VERSION}|{origin}|{shapely.to_wkb(geom, hex=True)}".encode()).hexdigest()[:12]
    prefix = f"{_slug(request.name)}-{key}"
    folder = cache_dir() / "osm"
    meta_path = folder / f"{prefix}_meta.json"
    if not meta_path.is_file():
        if osm is not None:
            _prepare_from_extract(osm, geom, bbox, folder, prefix, status)
        else:
            _refuse_offline(request.name, offline)
            _prepare_online(geom, bbox, folder, prefix, say, request.name)
        _write_json(
            folder / f"{prefix}_zone.geojson",
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": shapely.geometry.mapping(geom),
                        "properties": {"name": request.name},
                    }
                ],
            },
        )
        _write_json(
            meta_path, {"version": _VERSION, "name": request.name, "source": source, "bbox": list(bbox)}
        )
    return AreaSpec(
        request.name,
        prefix,
        bbox,
        default_stops=request.default_stops if request.default_stops is not None else _stops_for(geom),
        zone_name=request.name,
        zone_file=folder / f"{prefix}_zone.geojson" if polygon else None,
    )


def _refuse_offline(name: str, offline: bool) -> None:
    if offline:
        raise DataNotFoundError(
            f"area {name!r} has no OpenStreetMap extract and downloading is off (--offline or "
            f"{OFFLINE_ENV}=1); download an extract that covers it (.osm.pbf, e.g. "
            'https://download.geofabrik.de/asia/japan/kansai-latest.osm.pbf) and give it as osm = "FILE" '
            "in the scenario's [area] (ondemand init --osm FILE), or allow downloading"
        )


def _covers(
    extent: tuple[float, float, float, float], bbox: tuple[float, float, float, float], tol: float
) -> bool:
    return (
        extent[0] <= bbox[0] + tol
        and extent[1] <= bbox[1] + tol
        and extent[2] >= bbox[2] - tol
        and extent[3] >= bbox[3] - tol
    )


def _prepare_from_extract(
    osm: Path,
    geom: Any,
    bbox: tuple[float, float, float, float],
    folder: Path,
    prefix: str,
    status: Status | None,
) -> None:
    import osmnx as ox

    clip = _widen(bbox, CLIP_MARGIN_M)
    with stage(status, f"reading {osm.name}"):
        layers = read_extract(osm, clip)
    fix = (
        "download an extract that covers the whole area (e.g. the prefecture's or region's .osm.pbf from "
        "https://download.geofabrik.de/asia/japan.html) or choose an area inside the extract"
    )
    if layers.extent is None:
        raise ExtractError(f"{osm}: the extract holds no data; {fix}")
    # a header box is exact; an extent measured on the data may fall short of a cut edge by a bit
    if not _covers(layers.extent, bbox, 1e-6 if layers.extent_from_header else 0.002):
        ew, es, ee, en = layers.extent
        raise ExtractError(
            f"{osm} covers lon {ew:.4f}..{ee:.4f}, lat {es:.4f}..{en:.4f} but the area needs lon "
            f"{bbox[0]:.4f}..{bbox[2]:.4f}, lat {bbox[1]:.4f}..{bbox[3]:.4f}; {fix}"
        )
    graph = build_graph(layers.ways)
    if graph.number_of_edges() == 0:
        raise ExtractError(
            f"{osm}: no drivable road inside the area (lon {bbox[0]}..{bbox[2]}, "
            f"lat {bbox[1]}..{bbox[3]}); {fix}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{prefix}_drive.graphml.{os.getpid()}.tmp"
    ox.save_graphml(graph, tmp)
    os.replace(tmp, folder / f"{prefix}_drive.graphml")
    for kind, feats in (
        ("pois", layers.pois),
        ("buildings", layers.buildings),
        ("landuse", layers.landuse),
        ("places", layers.places),
        ("boundaries", layers.boundaries),
    ):
        _write_json(folder / f"{prefix}_{kind}.geojson", {"type": "FeatureCollection", "features": feats})


_ONLINE_TAGS: dict[str, Any] = {
    "amenity": True,
    "shop": True,
    "railway": ["station", "halt"],
    "highway": "bus_stop",
    "leisure": ["park", "garden", "playground"],
    "office": "government",
    "healthcare": True,
    "building": True,
    "landuse": sorted(_LANDUSE),
    "place": sorted(_PLACES),
    "boundary": "administrative",
}


def _prepare_online(
    geom: Any,
    bbox: tuple[float, float, float, float],
    folder: Path,
    prefix: str,
    say: Callable[[str], None],
    name: str,
) -> None:
    import osmnx as ox
    from shapely.geometry import box as shapely_box

    clip = shapely_box(*_widen(bbox, CLIP_MARGIN_M))
    say(_online_line(name))
    try:
        graph = ox.graph_from_polygon(clip, network_type="drive", truncate_by_edge=True, retain_all=True)
        feats = ox.features_from_polygon(clip, _ONLINE_TAGS)
    except (OSError, ValueError) as exc:
        raise DataNotFoundError(
            f"downloading {name} from OpenStreetMap failed ({type(exc).__name__}: {exc}); try again later or "
            "download an extract (.osm.pbf) and give it with --osm"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(graph, folder / f"{prefix}_drive.graphml")
    layers = ExtractLayers(extent=bbox)
    for idx, row in feats.iterrows():
        tags = {str(k): str(v) for k, v in row.items() if k != "geometry" and isinstance(v, str)}
        g = row["geometry"]
        osm_id = f"{str(idx[0])[0]}{idx[1]}"
        if tags.get("boundary") == "administrative" and _polygonal(g) is not None:
            layers.boundaries.append(_admin_feature(tags, g, int(idx[1])))
            continue
        c = g.centroid
        if g.geom_type == "Point":
            _collect_point(layers, c.x, c.y, tags, osm_id)
            continue
        if _polygonal(g) is None:
            continue
        if "building" in tags:
            layers.buildings.append(_point(c.x, c.y, {"area_m2": round(_area_m2(g), 1), "osm_id": osm_id}))
        if tags.get("landuse") in _LANDUSE:
            from shapely.geometry import mapping

            layers.landuse.append(
                {
                    "type": "Feature",
                    "geometry": mapping(g),
                    "properties": {"class": tags["landuse"], "area_m2": round(_area_m2(g))},
                }
            )
        if key_class(tags):
            _collect_point(layers, c.x, c.y, tags, osm_id, places=False)
    for kind, fs in (
        ("pois", layers.pois),
        ("buildings", layers.buildings),
        ("landuse", layers.landuse),
        ("places", layers.places),
        ("boundaries", layers.boundaries),
    ):
        _write_json(folder / f"{prefix}_{kind}.geojson", {"type": "FeatureCollection", "features": fs})
