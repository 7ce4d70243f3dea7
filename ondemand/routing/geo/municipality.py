"""Municipalities: which town each place (a stop, a stretch of road) lies in.

A service that crosses a municipal border (市町村域を跨がるオンデマンド交通) is paid for by the
towns it serves, so the simulator must know the municipality of every stop and of every metre
driven. :class:`Municipalities` holds named (multi)polygons and answers that with one geometry
test (:meth:`Municipalities.locate`).

Where the polygons come from:

- **a boundary file** the scenario names (:func:`load_boundary_file`): GeoJSON Polygon or
  MultiPolygon features with a name property (one municipality may have several features);
- **OpenStreetMap administrative boundaries** of the area (:func:`osm_municipalities`): the
  area's ``{prefix}_boundaries.geojson`` layer when it has one (named polygons with their
  ``admin_level``, written from an OSM extract or Overpass by :mod:`ondemand.routing.geo.osmdata`),
  else the ``boundary`` layer of the z14 vector tiles in the data
  folder (``tiles_z14/{x}/{y}.pbf``). Those tiles carry the border *lines* with their
  ``admin_level`` and no names, so the lines of the chosen level and every coarser level
  (prefecture borders are municipal borders too) are joined into faces, clipped to the area's
  box, and a face takes the name of the label point that lies in it: the scenario's
  ``[municipalities.labels]`` first, then the tiles' ``place`` points of class city, town or
  village. In Japan ``admin_level`` 7 is the municipality (市町村, a designated city such as Sakai
  as a whole) and 8 a designated city's ward (区).

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ondemand.errors import MunicipalityError

__all__ = [
    "Municipalities",
    "decode_tile_layer",
    "load_boundary_file",
    "osm_municipalities",
    "tile_boundary_lines",
]

_TILE_ZOOM = 14
_PLACE_CLASSES = ("city", "town", "village")


@dataclass(frozen=True, eq=False)
class Municipalities:
    """Named, non-overlapping municipality polygons (lon, lat).

    Attributes
    ----------
    names
        Municipality names, in a fixed order (the order of every per-municipality array).
    geometries
        One shapely Polygon or MultiPolygon per name.
    source
        Where they came from (a file path, or the OSM layer and admin level), shown in outputs.
    """

    names: tuple[str, ...]
    geometries: tuple[Any, ...]
    source: str = ""
    _tree: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import shapely

        if not self.names:
            raise MunicipalityError(f"{self.source or 'municipalities'}: no municipality polygon")
        if len(self.names) != len(self.geometries):
            raise MunicipalityError(f"{len(self.names)} names for {len(self.geometries)} polygons")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise MunicipalityError(f"{self.source}: municipality {dup[0]!r} is given twice")
        geoms = []
        for n, g in zip(self.names, self.geometries, strict=True):
            if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
                raise MunicipalityError(f"{self.source}: municipality {n!r} is not a polygon")
            g = shapely.make_valid(g) if not g.is_valid else g
            shapely.prepare(g)
            geoms.append(g)
        object.__setattr__(self, "geometries", tuple(geoms))

    def __len__(self) -> int:
        return len(self.names)

    def locate(
        self,
        lon: float | Sequence[float] | NDArray[np.float64],
        lat: float | Sequence[float] | NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """Index into :attr:`names` of the municipality of each point, ``-1`` outside all of them.

        A point on a shared border goes to the first municipality in :attr:`names` order.
        """
        import shapely

        x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        out = np.full(x.shape, -1, dtype=np.int64)
        for k in range(len(self.names) - 1, -1, -1):  # first name wins on a border
            inside = np.asarray(shapely.intersects_xy(self.geometries[k], x, y), dtype=bool)
            out[inside] = k
        return out

    def name_at(self, lon: float, lat: float) -> str | None:
        """The municipality's name at a point, or ``None`` outside all of them."""
        k = int(self.locate(lon, lat)[0])
        return None if k < 0 else self.names[k]

    def metres_inside(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], metres: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Metres of a polyline in each municipality (last entry: outside all).

        ``metres`` is the cumulative length at each vertex (as in a road path); each segment
        counts wholly for the municipality of its midpoint, so the parts add up to the length.
        """
        out = np.zeros(len(self.names) + 1, dtype=np.float64)
        if len(lon) < 2:
            return out
        seg = np.diff(np.asarray(metres, dtype=np.float64))
        mx = (np.asarray(lon[:-1]) + np.asarray(lon[1:])) / 2.0
        my = (np.asarray(lat[:-1]) + np.asarray(lat[1:])) / 2.0
        where = self.locate(mx, my)
        np.add.at(out, np.where(where < 0, len(self.names), where), seg)
        return out

    def area_shares(self, geometry: Any) -> NDArray[np.float64]:
        """Share of ``geometry``'s area (lon/lat degrees) in each municipality (last: outside)."""
        total = float(geometry.area)
        out = np.zeros(len(self.names) + 1, dtype=np.float64)
        if total <= 0:
            return out
        for k, g in enumerate(self.geometries):
            out[k] = float(g.intersection(geometry).area) / total
        out[-1] = max(0.0, 1.0 - float(out[:-1].sum()))
        return out

    def to_geojson(self, properties: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection, one feature per municipality (``name`` + ``properties[name]``)."""
        from shapely.geometry import mapping

        props = properties or {}
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": mapping(g),
                    "properties": {"name": n, **dict(props.get(n, {}))},
                }
                for n, g in zip(self.names, self.geometries, strict=True)
            ],
        }


# --------------------------------------------------------------------------- boundary file


def load_boundary_file(path: str | Path, *, name_property: str = "name") -> Municipalities:
    """Municipalities from a GeoJSON file of Polygon/MultiPolygon features with a name property.

    Features of the same name are joined. Every feature must be a polygon with a name.

    Raises
    ------
    MunicipalityError
        For a missing or unreadable file, a feature that is not a polygon or has no name; the
        message names the file and the feature and says what to give instead.
    """
    from shapely.geometry import shape
    from shapely.ops import unary_union

    p = Path(path)
    what = (
        f"give municipal boundaries as a GeoJSON FeatureCollection of Polygon or MultiPolygon "
        f"features, each with a {name_property!r} property"
    )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MunicipalityError(f"{p}: no such boundary file; {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MunicipalityError(f"{p}: not a readable GeoJSON file ({exc}); {what}") from None
    feats = data.get("features") if isinstance(data, dict) else None
    if not isinstance(feats, list) or not feats:
        raise MunicipalityError(f"{p}: no features; {what}")
    parts: dict[str, list[Any]] = {}
    for k, feat in enumerate(feats):
        geom = (feat or {}).get("geometry") or {} if isinstance(feat, dict) else {}
        kind = geom.get("type") if isinstance(geom, dict) else None
        if kind not in ("Polygon", "MultiPolygon"):
            raise MunicipalityError(
                f"{p}: feature {k} is a {kind or 'feature without geometry'}, not a polygon; {what}"
            )
        props = feat.get("properties") or {}
        name = props.get(name_property) if isinstance(props, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise MunicipalityError(f"{p}: feature {k} has no {name_property!r} property; {what}")
        try:
            g = shape(geom)
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise MunicipalityError(
                f"{p}: feature {k} ({name}) has broken coordinates ({exc}); {what}"
            ) from None
        if g.is_empty or not all(math.isfinite(c) for c in g.bounds):
            raise MunicipalityError(f"{p}: feature {k} ({name}) is empty; {what}")
        parts.setdefault(name.strip(), []).append(g)
    names = tuple(parts)
    return Municipalities(names, tuple(unary_union(parts[n]) for n in names), source=str(p))


# --------------------------------------------------------------------------- OSM vector tiles


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int, Any]]:
    """Protocol-buffer fields of a message: (number, wire type, int or bytes)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            yield num, wire, v
        elif wire == 2:
            n, i = _varint(buf, i)
            yield num, wire, buf[i : i + n]
            i += n
        elif wire == 1:
            yield num, wire, buf[i : i + 8]
            i += 8
        elif wire == 5:
            yield num, wire, buf[i : i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _zigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


def _value(buf: bytes) -> Any:
    import struct

    for num, _wire, v in _fields(buf):
        if num == 1:
            return bytes(v).decode("utf-8")
        if num == 2:
            return struct.unpack("<f", v)[0]
        if num == 3:
            return struct.unpack("<d", v)[0]
        if num in (4, 5):
            return v if num == 5 or v < 2**63 else v - 2**64
        if num == 6:
            return _zigzag(v)
        if num == 7:
            return bool(v)
    return None


def decode_tile_layer(
    data: bytes, layer: str
) -> list[tuple[dict[str, Any], int, list[list[tuple[int, int]]]]]:
    """The features of one layer of a Mapbox Vector Tile (spec 2.1).

    Returns ``(properties, geometry type, parts)`` per feature, where ``parts`` are the
    MoveTo/LineTo runs in tile units (y down); type 1 point, 2 line, 3 polygon.
    """
    out: list[tuple[dict[str, Any], int, list[list[tuple[int, int]]]]] = []
    for num, _w, lbuf in _fields(data):
        if num != 3:
            continue
        name = ""
        keys: list[str] = []
        values: list[Any] = []
        feats: list[bytes] = []
        for ln, _lw, lv in _fields(lbuf):
            if ln == 1:
                name = bytes(lv).decode("utf-8")
            elif ln == 2:
                feats.append(lv)
            elif ln == 3:
                keys.append(bytes(lv).decode("utf-8"))
            elif ln == 4:
                values.append(_value(lv))
        if name != layer:
            continue
        for fbuf in feats:
            tags: list[int] = []
            gtype = 0
            geom: list[int] = []
            for fn, _fw, fv in _fields(fbuf):
                if fn == 2:
                    tags = _packed(fv)
                elif fn == 3:
                    gtype = fv
                elif fn == 4:
                    geom = _packed(fv)
            props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags) - 1, 2)}
            parts: list[list[tuple[int, int]]] = []
            x = y = 0
            i = 0
            while i < len(geom):
                cmd, count = geom[i] & 7, geom[i] >> 3
                i += 1
                if cmd == 7:  # ClosePath
                    if parts and parts[-1]:
                        parts[-1].append(parts[-1][0])
                    continue
                for _ in range(count):
                    x += _zigzag(geom[i])
                    y += _zigzag(geom[i + 1])
                    i += 2
                    if cmd == 1:
                        parts.append([(x, y)])
                    elif parts:
                        parts[-1].append((x, y))
            out.append((props, gtype, parts))
    return out


def _tile_xy(lon: float, lat: float, z: int = _TILE_ZOOM) -> tuple[float, float]:
    n = 2.0**z
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return x, y


def _tile_lonlat(x: float, y: float, z: int = _TILE_ZOOM) -> tuple[float, float]:
    n = 2.0**z
    return x / n * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y / n))))


def _tiles(folder: Path, bbox: tuple[float, float, float, float]) -> Iterable[tuple[int, int, bytes]]:
    w, s, e, n = bbox
    x0, y0 = _tile_xy(w, n)
    x1, y1 = _tile_xy(e, s)
    for x in range(int(x0), int(x1) + 1):
        for y in range(int(y0), int(y1) + 1):
            f = folder / str(x) / f"{y}.pbf"
            if f.is_file():
                yield x, y, f.read_bytes()


def tile_boundary_lines(
    folder: Path, bbox: tuple[float, float, float, float], *, admin_level: int
) -> tuple[list[Any], list[tuple[str, float, float]], tuple[float, float, float, float] | None]:
    """Border lines of ``admin_level`` and coarser, and city/town/village label points, in ``bbox``.

    ``folder`` holds z14 tiles as ``{x}/{y}.pbf``. Returns shapely LineStrings (lon, lat),
    ``(name, lon, lat)`` place points, and the box the tiles found cover (``None``: no tile).
    """
    from shapely.geometry import LineString

    lines: list[Any] = []
    labels: list[tuple[str, float, float]] = []
    cover: list[float] | None = None
    for tx, ty, data in _tiles(folder, bbox):
        (tw, tn), (te, ts) = _tile_lonlat(tx, ty), _tile_lonlat(tx + 1, ty + 1)
        cover = (
            [tw, ts, te, tn]
            if cover is None
            else [min(cover[0], tw), min(cover[1], ts), max(cover[2], te), max(cover[3], tn)]
        )
        try:
            for props, gtype, parts in decode_tile_layer(data, "boundary"):
                level = props.get("admin_level")
                if gtype != 2 or not isinstance(level, int | float) or int(level) > admin_level:
                    continue
                for part in parts:
                    if len(part) >= 2:
                        lines.append(
                            LineString([_tile_lonlat(tx + px / 4096.0, ty + py / 4096.0) for px, py in part])
                        )
            for props, gtype, parts in decode_tile_layer(data, "place"):
                name = props.get("name:latin") or props.get("name")
                if gtype == 1 and props.get("class") in _PLACE_CLASSES and isinstance(name, str) and parts:
                    lon, lat = _tile_lonlat(tx + parts[0][0][0] / 4096.0, ty + parts[0][0][1] / 4096.0)
                    labels.append((name, lon, lat))
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise MunicipalityError(
                f"{folder / str(tx) / f'{ty}.pbf'}: not a readable vector tile ({exc}); "
                "replace it with the tile from the OSM data folder"
            ) from None
    return lines, labels, None if cover is None else (cover[0], cover[1], cover[2], cover[3])


def _faces(lines: Sequence[Any], bbox: tuple[float, float, float, float]) -> list[Any]:
    from shapely.geometry import box
    from shapely.ops import polygonize, unary_union

    frame = box(*bbox)
    merged = unary_union([ln.intersection(frame) for ln in lines] + [frame.exterior])
    return [f for f in polygonize(merged) if f.area > 0]


def _from_boundary_layer(path: Path, admin_level: int) -> Municipalities:
    """Municipalities from an area's administrative-boundary layer (``{prefix}_boundaries.geojson``).

    The layer is written from an OSM extract or Overpass (:mod:`ondemand.routing.geo.osmdata`):
    polygons with ``name``, ``name:ja`` and ``admin_level``; those of ``admin_level`` are kept and
    named by ``name:ja``, else ``name``.
    """
    from shapely.geometry import shape
    from shapely.ops import unary_union

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MunicipalityError(
            f"{path}: not a readable GeoJSON file ({exc}); prepare the area again"
        ) from None
    parts: dict[str, list[Any]] = {}
    levels: set[str] = set()
    for feat in data.get("features", []) if isinstance(data, dict) else []:
        props = feat.get("properties") or {}
        level = str(props.get("admin_level") or "")
        levels.add(level)
        geom = feat.get("geometry") or {}
        name = props.get("name:ja") or props.get("name")
        if level != str(admin_level) or geom.get("type") not in ("Polygon", "MultiPolygon") or not name:
            continue
        parts.setdefault(str(name), []).append(shape(geom))
    if not parts:
        found = ", ".join(sorted(lv for lv in levels if lv)) or "none"
        raise MunicipalityError(
            f"{path}: no administrative boundary of admin_level {admin_level} (levels found: {found}); "
            "set [municipalities] admin_level to one of them or give boundaries = 'file.geojson'"
        )
    names = tuple(sorted(parts))
    return Municipalities(
        names,
        tuple(unary_union(parts[n]) for n in names),
        source=f"OpenStreetMap administrative boundaries, admin_level {admin_level} ({path.name})",
    )


def osm_municipalities(
    *,
    prefix: str,
    bbox: tuple[float, float, float, float],
    admin_level: int = 7,
    labels: Mapping[str, tuple[float, float]] | None = None,
    data_dir: Path | None = None,
) -> Municipalities:
    """Municipalities of an area from its OSM data (see the module docstring).

    Parameters
    ----------
    prefix
        The area's data-file prefix (``{prefix}_boundaries.geojson``).
    bbox
        ``(west, south, east, north)``: faces are clipped to it.
    admin_level
        OSM ``admin_level`` of the borders (7: 市町村; 8: wards of a designated city).
    labels
        Name -> (lon, lat) of a point inside each municipality; they name the tile faces and
        win over the tiles' own place points.
    data_dir
        The data folder (default ``ONDEMAND_DATA_DIR``, then the cache).

    Raises
    ------
    MunicipalityError
        When the data has neither a municipalities file nor boundary tiles for the box, or no
        face carries a name, or two names fall in one face.
    """
    from shapely.ops import unary_union

    from ondemand.routing.geo.data import data_folders, find_data_file

    named = find_data_file(prefix, "boundaries.geojson", data_dir)
    if named is not None:
        return _from_boundary_layer(named, admin_level)
    folders = [f / "tiles_z14" for f in data_folders(data_dir) if (f / "tiles_z14").is_dir()]
    looked = ", ".join(str(f) for f in data_folders(data_dir))
    lines: list[Any] = []
    places: list[tuple[str, float, float]] = []
    cover = None
    for folder in folders:
        lines, places, cover = tile_boundary_lines(folder, bbox, admin_level=admin_level)
        if lines:
            break
    if not lines:
        raise MunicipalityError(
            f"no municipal boundaries of admin_level {admin_level} for the box {list(bbox)} "
            f"(looked for {prefix}_boundaries.geojson and tiles_z14/ in {looked}); give "
            "[municipalities] boundaries = 'file.geojson' (polygons with a name property)"
        )
    if cover is not None:  # beyond the tiles there are no border lines: faces would merge there
        bbox = (
            max(bbox[0], cover[0]),
            max(bbox[1], cover[1]),
            min(bbox[2], cover[2]),
            min(bbox[3], cover[3]),
        )
    faces = _faces(lines, bbox)
    points = [(n, lon, lat, "scenario") for n, (lon, lat) in (labels or {}).items()]
    points += [(n, lon, lat, "osm") for n, lon, lat in places if n not in (labels or {})]
    owner: dict[int, str] = {}
    by_name: dict[str, list[Any]] = {}
    import shapely

    for name, lon, lat, origin in points:
        hit = [k for k, f in enumerate(faces) if shapely.intersects_xy(f, lon, lat)]
        if not hit:
            if origin == "scenario":
                raise MunicipalityError(
                    f"label point of {name!r} (lon {lon}, lat {lat}) lies outside the box {list(bbox)}; "
                    "give a point inside the municipality and the area"
                )
            continue
        k = hit[0]
        if k in owner and owner[k] != name:
            if origin == "osm":
                continue
            raise MunicipalityError(
                f"{name!r} and {owner[k]!r} fall in one face of the admin_level {admin_level} "
                "borders; the OSM lines do not separate them: give a boundary file instead"
            )
        owner[k] = name
        by_name.setdefault(name, []).append(faces[k])
    if not by_name:
        raise MunicipalityError(
            f"the admin_level {admin_level} borders in the box {list(bbox)} carry no names: give "
            "[municipalities.labels] NAME = [lon, lat] (a point inside each municipality)"
        )
    order = [n for n, *_ in points if n in by_name]
    names = tuple(dict.fromkeys(order))
    return Municipalities(
        names,
        tuple(unary_union(by_name[n]) for n in names),
        source=f"OpenStreetMap administrative boundaries, admin_level {admin_level}",
    )
