"""Municipalities: boundary files, OSM vector-tile borders, which town a point or a road lies in."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import box, mapping

from ondemand.errors import MunicipalityError
from ondemand.routing.geo.municipality import (
    decode_tile_layer,
    load_boundary_file,
    osm_municipalities,
)

WEST = box(135.40, 34.40, 135.50, 34.50)
EAST = box(135.50, 34.40, 135.60, 34.50)


def _fc(path: Path, feats: list[tuple[Any, dict[str, Any]]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in feats],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_boundary_file_locates_points(tmp_path: Path) -> None:
    """Points take the name of the polygon they lie in, -1 / None outside every polygon."""
    f = _fc(tmp_path / "b.geojson", [(mapping(WEST), {"name": "西町"}), (mapping(EAST), {"name": "東市"})])
    m = load_boundary_file(f)
    assert m.names == ("西町", "東市")
    got = m.locate([135.45, 135.55, 135.70], [34.45, 34.45, 34.45])
    assert got.tolist() == [0, 1, -1]
    assert m.name_at(135.55, 34.41) == "東市"
    assert m.name_at(135.0, 34.0) is None


def test_features_of_one_name_are_joined(tmp_path: Path) -> None:
    """Two features with one name make one municipality covering both."""
    a, b = box(135.40, 34.40, 135.45, 34.45), box(135.45, 34.40, 135.50, 34.45)
    f = _fc(tmp_path / "b.geojson", [(mapping(a), {"town": "A"}), (mapping(b), {"town": "A"})])
    m = load_boundary_file(f, name_property="town")
    assert m.names == ("A",)
    assert m.locate([135.42, 135.48], [34.42, 34.42]).tolist() == [0, 0]


@pytest.mark.parametrize(
    ("feats", "needle"),
    [
        (
            [({"type": "LineString", "coordinates": [[135.4, 34.4], [135.5, 34.5]]}, {"name": "x"})],
            "LineString, not a polygon",
        ),
        ([(mapping(WEST), {"label": "x"})], "has no 'name' property"),
        ([], "no features"),
    ],
)
def test_bad_boundary_file_names_file_and_fix(tmp_path: Path, feats: list[Any], needle: str) -> None:
    """A boundary that is not a named polygon is refused naming the file and what to give."""
    f = _fc(tmp_path / "bad.geojson", feats)
    with pytest.raises(MunicipalityError) as err:
        load_boundary_file(f)
    msg = str(err.value)
    assert str(f) in msg
    assert needle in msg
    assert "Polygon or MultiPolygon" in msg


def test_missing_and_broken_boundary_files(tmp_path: Path) -> None:
    """A missing or non-JSON boundary file gets one message naming it."""
    with pytest.raises(MunicipalityError, match="no such boundary file"):
        load_boundary_file(tmp_path / "none.geojson")
    bad = tmp_path / "x.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(MunicipalityError, match="not a readable GeoJSON"):
        load_boundary_file(bad)


def test_metres_inside_split_a_line_at_the_border(tmp_path: Path) -> None:
    """A road crossing the border counts each segment for its midpoint's town; parts add up."""
    f = _fc(tmp_path / "b.geojson", [(mapping(WEST), {"name": "W"}), (mapping(EAST), {"name": "E"})])
    m = load_boundary_file(f)
    lon = np.array([135.46, 135.48, 135.52, 135.58, 135.65])
    lat = np.full(5, 34.45)
    metres = np.array([0.0, 100.0, 300.0, 600.0, 1000.0])
    got = m.metres_inside(lon, lat, metres)
    # W: 100 + the 200 m segment whose midpoint is on the border (first name wins); E: 300; outside: 400
    assert got.tolist() == [300.0, 300.0, 400.0]
    assert got.sum() == metres[-1]


# --------------------------------------------------------------------------- vector tiles


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _field(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(num << 3) + _varint(payload)
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _zz(v: int) -> int:
    return (v << 1) ^ (v >> 31)


def _tile(layer: str, feats: list[tuple[list[tuple[str, int | str]], int, list[tuple[int, int]]]]) -> bytes:
    """A one-layer MVT: features of (tags, geometry type, line coordinates in tile units)."""
    keys: list[str] = []
    values: list[int | str] = []
    body = _field(1, layer.encode())
    for tags, gtype, coords in feats:
        tag_ids: list[int] = []
        for k, v in tags:
            if k not in keys:
                keys.append(k)
            if v not in values:
                values.append(v)
            tag_ids += [keys.index(k), values.index(v)]
        geom = [1 | (1 << 3), _zz(coords[0][0]), _zz(coords[0][1])]
        if len(coords) > 1:
            geom.append(2 | ((len(coords) - 1) << 3))
            for (x0, y0), (x1, y1) in itertools.pairwise(coords):
                geom += [_zz(x1 - x0), _zz(y1 - y0)]
        feat = _field(2, b"".join(_varint(t) for t in tag_ids)) + _field(3, gtype)
        feat += _field(4, b"".join(_varint(g) for g in geom))
        body += _field(2, feat)
    for k in keys:
        body += _field(3, k.encode())
    for v in values:
        body += _field(4, _field(1, v.encode()) if isinstance(v, str) else _field(4, v))
    body += _field(5, 4096) + _field(15, 2)
    return _field(3, body)


def test_tile_decoder_reads_lines_and_tags() -> None:
    """The MVT decoder returns each feature's tags and its coordinates in tile units."""
    data = _tile("boundary", [([("admin_level", 7)], 2, [(0, 2048), (1000, 2000), (4096, 2100)])])
    ((props, gtype, parts),) = decode_tile_layer(data, "boundary")
    assert props == {"admin_level": 7}
    assert gtype == 2
    assert parts == [[(0, 2048), (1000, 2000), (4096, 2100)]]
    assert decode_tile_layer(data, "place") == []


def test_tile_borders_split_and_are_named_by_labels(tmp_path: Path) -> None:
    """A tile's admin_level 7 line splits the box into two faces named by the label points."""
    from ondemand.routing.geo.municipality import _tile_lonlat, _tile_xy

    x, y = 14358, 6517
    data = _tile(
        "boundary",
        [
            ([("admin_level", 7)], 2, [(2048, -64), (2048, 4160)]),  # a vertical border mid-tile
            ([("admin_level", 8)], 2, [(-64, 2048), (2048, 2048)]),  # a ward border: not at level 7
        ],
    )
    folder = tmp_path / "tiles_z14" / str(x)
    folder.mkdir(parents=True)
    (folder / f"{y}.pbf").write_bytes(data)
    w, n = _tile_lonlat(x + 0.01, y + 0.01)
    e, s = _tile_lonlat(x + 0.99, y + 0.99)
    mid, _ = _tile_lonlat(x + 0.5, y + 0.5)
    cy = (s + n) / 2
    m = osm_municipalities(
        prefix="nowhere",
        bbox=(w, s, e, n),
        labels={"西": (w + 0.001, cy), "東": (e - 0.001, cy)},
        data_dir=tmp_path,
    )
    assert m.names == ("西", "東")
    assert m.name_at(mid - 0.001, s + 0.001) == "西"  # the level-8 line split nothing
    assert m.name_at(mid + 0.001, n - 0.001) == "東"
    assert abs(_tile_xy(mid, cy)[0] - (x + 0.5)) < 1e-9
    m8 = osm_municipalities(
        prefix="nowhere",
        bbox=(w, s, e, n),
        admin_level=8,
        labels={"北西": (w + 0.001, n - 0.001)},
        data_dir=tmp_path,
    )
    assert m8.name_at(w + 0.001, s + 0.001) is None  # the south-west face is another ward now


def test_no_border_data_is_refused(tmp_path: Path) -> None:
    """An area without border data gets a message saying to give a boundary file."""
    with pytest.raises(MunicipalityError, match=r"boundaries = 'file\.geojson'"):
        osm_municipalities(prefix="nowhere", bbox=(135.4, 34.4, 135.5, 34.5), data_dir=tmp_path)


def test_senboku_borders_put_stations_in_their_cities(data_dir: Path) -> None:
    """OSM admin_level 7 borders: 光明池 station is in Sakai, 和泉中央 station in Izumi."""
    if not (data_dir / "tiles_z14").is_dir():
        pytest.skip("tiles_z14 not in the data folder")
    m = osm_municipalities(
        prefix="senboku-test-none",
        bbox=(135.445, 34.455, 135.540, 34.535),
        labels={"堺市": (135.490, 34.480), "和泉市": (135.456, 34.461)},
        data_dir=data_dir,
    )
    assert m.name_at(135.4755, 34.4747) == "堺市"  # 光明池駅 platform
    assert m.name_at(135.4563, 34.4613) == "和泉市"  # 和泉中央駅
    assert m.name_at(135.4820, 34.4920) == "堺市"  # 桃山台
    with pytest.raises(MunicipalityError, match="fall in one face"):
        osm_municipalities(
            prefix="senboku-test-none",
            bbox=(135.445, 34.455, 135.540, 34.535),
            labels={"堺市": (135.490, 34.480), "南区": (135.4755, 34.4747)},
            data_dir=data_dir,
        )
