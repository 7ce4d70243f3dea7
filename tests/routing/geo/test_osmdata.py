"""Areas from anywhere: reading OSM extracts (.osm, .osm.pbf), place names, boundaries, boxes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ondemand.errors import BoundaryError, DataNotFoundError, ExtractError, PlaceNotFoundError
from ondemand.routing.geo.network import AREAS, load_network
from ondemand.routing.geo.osmdata import (
    AreaRequest,
    build_graph,
    key_class,
    load_boundary,
    prepare_area,
    read_extract,
    resolve_place,
)
from tests.osm_towns import BBOX, EAST, TOWN_BOXES, WEST, grid_lonlat, prepare_two_towns, write_two_towns

_GRID_NODES = 8 * 6
_UNDIRECTED = 6 * 7 + 8 * 5  # street segments between neighbouring grid nodes
_ONEWAY = 2  # row 5, columns 5..7


@pytest.fixture
def towns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two-town extract in tmp_path, with a private cache and downloads off."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ONDEMAND_OFFLINE", "1")
    return write_two_towns(tmp_path / "towns.osm")


def _to_pbf(src: Path, dst: Path) -> Path:
    import osmium

    with osmium.SimpleWriter(str(dst)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            writer.add(obj)
    return dst


def test_read_extract_keeps_drivable_ways_and_layers(towns: Path) -> None:
    """The grid becomes 48 junctions and 162 directed edges; footway and private road left out; layers."""
    layers = read_extract(towns, None)
    g = build_graph(layers.ways)
    assert g.number_of_nodes() == _GRID_NODES
    assert g.number_of_edges() == 2 * _UNDIRECTED - _ONEWAY
    classes = {d["highway"] for _, _, d in g.edges(data=True)}
    assert classes == {"residential", "tertiary", "secondary"}
    # one block east along row 0 is ~183 m
    u, v = 1, 2
    (length,) = {d["length"] for d in g.get_edge_data(u, v).values()}
    assert 180 < length < 186
    # the one-way row-5 segment runs east only
    assert g.has_edge(1 + 5 * 8 + 5, 1 + 5 * 8 + 6)
    assert not g.has_edge(1 + 5 * 8 + 6, 1 + 5 * 8 + 5)
    by_class = {f["properties"]["key_class"]: f["properties"]["name"] for f in layers.pois}
    assert by_class["rail_station"] == "西町駅"  # 駅 added to a Japanese station name
    assert by_class["hospital"] == "東町病院"
    assert by_class["school"] == "東町小学校"  # a POI from a building polygon
    assert {"government", "supermarket", "convenience", "clinic", "pharmacy", "community_centre"} <= set(
        by_class
    )
    assert len(layers.buildings) == 4 * 7 * 2 + 1
    assert len(layers.places) == 6
    assert [f["properties"]["class"] for f in layers.landuse] == ["residential"]
    names = sorted(f["properties"]["name"] for f in layers.boundaries)
    assert names == sorted([WEST, EAST, "テスト県"])
    assert layers.extent is not None
    assert layers.extent[0] < BBOX[0]
    assert layers.extent[2] > BBOX[2]


def test_pbf_reads_to_the_same_graph(towns: Path, tmp_path: Path) -> None:
    """The same extract converted to .osm.pbf gives the same graph, lengths and layers."""
    pbf = _to_pbf(towns, tmp_path / "towns.osm.pbf")
    a, b = read_extract(towns, None), read_extract(pbf, None)
    ga, gb = build_graph(a.ways), build_graph(b.ways)
    edges_a = sorted((u, v, round(d["length"], 3)) for u, v, d in ga.edges(data=True))
    edges_b = sorted((u, v, round(d["length"], 3)) for u, v, d in gb.edges(data=True))
    assert edges_a == edges_b
    assert len(edges_a) == 2 * _UNDIRECTED - _ONEWAY
    assert len(a.pois) == len(b.pois)
    assert len(a.buildings) == len(b.buildings)
    assert sorted(f["properties"]["name"] for f in b.boundaries) == sorted([WEST, EAST, "テスト県"])


def test_resolve_place_by_name_and_parent(towns: Path) -> None:
    """A town's name (name, name:en, with its prefecture) gives its boundary; width/case are ignored."""
    admin = read_extract(towns, None, admin_only=True).boundaries
    w, s, e, n = TOWN_BOXES[WEST]
    for query in (WEST, "西町, テスト県", "nishi", "西町 "):
        geom = resolve_place(query, admin, source="towns.osm")
        assert geom.bounds == pytest.approx((w, s, e, n), abs=1e-7)
    east = resolve_place(f"{EAST}, テスト県", admin, source="towns.osm")
    assert east.bounds[0] == pytest.approx(TOWN_BOXES[EAST][0], abs=1e-7)


def test_unknown_place_names_the_file_and_the_way_out(towns: Path) -> None:
    """An unknown place says which file was searched, which names it has, and what to do."""
    admin = read_extract(towns, None, admin_only=True).boundaries
    with pytest.raises(
        PlaceNotFoundError, match=r"'北町' not found .* of towns.osm \(テスト県, 東町, 西町\).*--bbox"
    ):
        resolve_place("北町", admin, source="towns.osm")
    with pytest.raises(PlaceNotFoundError, match=r"towns\.osm"):
        prepare_area(AreaRequest("north", place=("北町",), osm=towns))


def test_prepare_area_from_place_writes_layers_and_zone(towns: Path) -> None:
    """A place area's spec: its box, its polygon as zone, a graph clipped to the box plus 500 m."""
    spec = prepare_area(AreaRequest("nishi", place=(WEST,), osm=towns))
    assert spec.bbox == pytest.approx(TOWN_BOXES[WEST], abs=1e-6)
    assert spec.zone_file is not None
    assert spec.zone_file.is_file()
    for kind in ("pois", "buildings", "landuse", "places", "boundaries"):
        assert (spec.zone_file.parent / f"{spec.prefix}_{kind}.geojson").is_file()
    net = load_network(spec)
    # column 7 (1.2 km east of the border) lies beyond the 500 m margin: its street is cut, and the
    # one-way end of row 5 there, a dead end now, leaves the largest strongly connected component
    assert net.n_nodes == _GRID_NODES - 1
    assert net.describe_component().startswith(f"{_GRID_NODES - 1} of {_GRID_NODES} nodes")
    assert spec.default_stops >= 5
    again = prepare_area(AreaRequest("nishi", place=(WEST,), osm=towns))
    assert again == spec  # prepared once, found again


def test_prepare_area_from_bbox_and_boundary(towns: Path, tmp_path: Path) -> None:
    """A box has no zone polygon; a boundary file is the zone; both read the same extract."""
    box = prepare_area(AreaRequest("both", bbox=BBOX, osm=towns))
    assert box.zone_file is None
    assert box.bbox == pytest.approx(BBOX, abs=1e-6)
    w, s, e, n = TOWN_BOXES[EAST]
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    path = tmp_path / "east.geojson"
    path.write_text(json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}))
    spec = prepare_area(AreaRequest("higashi", boundary=path, osm=towns))
    assert spec.bbox == pytest.approx(TOWN_BOXES[EAST], abs=1e-6)
    assert load_boundary(path).area == pytest.approx((e - w) * (n - s))


def test_extract_that_does_not_cover_the_area(towns: Path) -> None:
    """A box beyond the extract names the file, both extents and what to download."""
    with pytest.raises(ExtractError, match=r"towns.osm covers lon .* but the area needs .*download"):
        prepare_area(AreaRequest("far", bbox=(135.60, 34.60, 135.62, 34.62), osm=towns))


def test_boundary_that_is_not_a_polygon(tmp_path: Path) -> None:
    """A LineString, a missing file and broken JSON each name the file and ask for a polygon."""
    line = tmp_path / "line.geojson"
    line.write_text(json.dumps({"type": "LineString", "coordinates": [[135.5, 34.5], [135.51, 34.51]]}))
    with pytest.raises(BoundaryError, match=r"line.geojson: the boundary is a LineString, not a polygon"):
        load_boundary(line)
    with pytest.raises(BoundaryError, match=r"nothere.geojson: no such boundary file"):
        load_boundary(tmp_path / "nothere.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(BoundaryError, match=r"bad\.geojson: not valid GeoJSON"):
        load_boundary(bad)


def test_offline_without_extract_refuses_with_the_file_to_provide(towns: Path) -> None:
    """Offline and no extract: a clear error naming the extract to download; nothing is fetched."""
    with pytest.raises(DataNotFoundError, match=r"downloading is off .*\.osm\.pbf.*--osm"):
        prepare_area(AreaRequest("x", place=("河内長野市, 大阪府",)))
    with pytest.raises(DataNotFoundError, match="downloading is off"):
        prepare_area(AreaRequest("x", bbox=BBOX), offline=True)


def test_not_an_extract(tmp_path: Path) -> None:
    """A missing extract or a file of another kind says which file and what to give."""
    with pytest.raises(ExtractError, match=r"missing.osm.pbf: no such OSM extract"):
        read_extract(tmp_path / "missing.osm.pbf", None)
    other = tmp_path / "roads.csv"
    other.write_text("a,b\n")
    with pytest.raises(ExtractError, match=r"roads.csv: not an OSM extract"):
        read_extract(other, None)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat='x'")
    with pytest.raises(ExtractError, match=r"broken.osm: cannot read"):
        read_extract(broken, None)


def test_key_class_of_common_tags() -> None:
    """OSM tags map onto the POI categories of the pilots' layers."""
    assert key_class({"railway": "station"}) == "rail_station"
    assert key_class({"amenity": "doctors"}) == "clinic"
    assert key_class({"shop": "department_store"}) == "supermarket"
    assert key_class({"amenity": "townhall"}) == "government"
    assert key_class({"shop": "bakery"}) == "shop_service"
    assert key_class({"highway": "residential"}) is None


def test_builtin_areas_are_data_files() -> None:
    """The three pilot areas come from the package's spec files with PROVENANCE.md's boxes."""
    assert set(AREAS) == {"toyono", "senboku", "higashiosaka"}
    assert AREAS["toyono"].prefix == "toyono_west"
    assert AREAS["toyono"].default_stops == 115
    assert AREAS["senboku"].bbox == (135.445, 34.455, 135.540, 34.535)
    assert AREAS["higashiosaka"].graph_file == "higashiosaka_east_drive.graphml"


def test_grid_fixture_is_where_it_says() -> None:
    """The fixture's grid node (0, 0) is its south-west corner inside the box."""
    lon, lat = grid_lonlat(0, 0)
    assert BBOX[0] < lon < BBOX[2]
    assert BBOX[1] < lat < BBOX[3]


def _fake_osmnx(monkeypatch: pytest.MonkeyPatch, towns: Path, calls: list[str]) -> None:
    """osmnx's network functions replaced by the fixture's data; each call is recorded."""
    import geopandas as gpd
    import osmnx as ox
    import pandas as pd
    from shapely.geometry import Point, box

    layers = read_extract(towns, None)
    w, s, e, n = TOWN_BOXES[WEST]

    def geocode_to_gdf(query: str) -> gpd.GeoDataFrame:
        calls.append(f"geocode {query}")
        if query != WEST:
            raise ValueError(f"Nominatim could not geocode query {query!r}")
        return gpd.GeoDataFrame({"name": [WEST]}, geometry=[box(w, s, e, n)], crs="epsg:4326")

    def graph_from_polygon(polygon: object, **kwargs: object) -> object:
        calls.append("graph")
        return build_graph(layers.ways)

    def features_from_polygon(polygon: object, tags: object) -> gpd.GeoDataFrame:
        calls.append("features")
        rows = [
            (("node", 1), {"amenity": "hospital", "name": "西町病院"}, Point(w + 0.002, s + 0.003)),
            (("node", 2), {"place": "neighbourhood", "name": "西一丁目"}, Point(w + 0.003, s + 0.002)),
            (("way", 3), {"building": "house"}, box(w + 0.002, s + 0.002, w + 0.0022, s + 0.0021)),
            (
                ("relation", 4),
                {"boundary": "administrative", "admin_level": "7", "name": WEST},
                box(w, s, e, n),
            ),
        ]
        index = pd.MultiIndex.from_tuples([r[0] for r in rows], names=["element", "id"])
        frame = pd.DataFrame([r[1] for r in rows], index=index)
        return gpd.GeoDataFrame(frame, geometry=[r[2] for r in rows], crs="epsg:4326")

    monkeypatch.setattr(ox, "geocode_to_gdf", geocode_to_gdf)
    monkeypatch.setattr(ox, "graph_from_polygon", graph_from_polygon)
    monkeypatch.setattr(ox, "features_from_polygon", features_from_polygon)


def test_online_area_says_one_line_first_and_is_cached(towns: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online: one line before the first network call, layers from osmnx; then offline from the cache."""
    calls: list[str] = []
    _fake_osmnx(monkeypatch, towns, calls)
    spec = prepare_area(
        AreaRequest("nishi", place=(WEST,)), offline=False, notify=lambda m: calls.append(f"say {m}")
    )
    said = [c for c in calls if c.startswith("say")]
    assert len(said) == 1
    assert calls[0].startswith("say downloading nishi from OpenStreetMap")
    assert calls[1:] == [f"geocode {WEST}", "graph", "features"]
    assert spec.bbox == pytest.approx(TOWN_BOXES[WEST], abs=1e-6)
    folder = spec.zone_file.parent if spec.zone_file is not None else Path()
    pois = json.loads((folder / f"{spec.prefix}_pois.geojson").read_text(encoding="utf-8"))["features"]
    assert [p["properties"]["key_class"] for p in pois] == ["hospital"]
    bounds = json.loads((folder / f"{spec.prefix}_boundaries.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["name"] for f in bounds["features"]] == [WEST]
    assert load_network(spec).n_nodes > 0
    calls.clear()
    again = prepare_area(AreaRequest("nishi", place=(WEST,)), offline=True, notify=calls.append)
    assert again == spec
    assert calls == []  # geocode and layers from the cache: no network, nothing said


def test_online_unknown_place(towns: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The geocoder not knowing a place gives PlaceNotFoundError with what to do."""
    calls: list[str] = []
    _fake_osmnx(monkeypatch, towns, calls)
    with pytest.raises(PlaceNotFoundError, match=r"'北町' not found by the OpenStreetMap geocoder.*--bbox"):
        prepare_area(AreaRequest("x", place=("北町",)), offline=False, notify=calls.append)


def test_extract_without_header_box_is_checked_by_its_data(towns: Path) -> None:
    """Without a <bounds> header the extract's own data decides coverage: a box half outside is refused."""
    text = towns.read_text(encoding="utf-8")
    towns.write_text("\n".join(x for x in text.splitlines() if not x.startswith("<bounds")), encoding="utf-8")
    layers = read_extract(towns, None)
    assert layers.extent is not None
    assert not layers.extent_from_header
    assert layers.extent == pytest.approx(BBOX, abs=1e-7)  # the boundaries reach furthest
    assert prepare_area(AreaRequest("both", bbox=BBOX, osm=towns)).bbox == pytest.approx(BBOX, abs=1e-6)
    w, s, e, n = BBOX
    with pytest.raises(ExtractError, match=r"towns\.osm covers lon .* but the area needs"):
        prepare_area(AreaRequest("wide", bbox=(w, s, e + 0.02, n), osm=towns))
    assert prepare_area(AreaRequest("inside", bbox=(w + 0.002, s + 0.002, e - 0.002, n - 0.002), osm=towns))


def test_place_that_is_only_a_point(towns: Path) -> None:
    """A name only a place point carries (no boundary) is refused with a box around the point."""
    with pytest.raises(
        PlaceNotFoundError, match=r"'西二丁目' is only a point in .*towns\.osm .*--bbox 135\.48"
    ):
        prepare_area(AreaRequest("x", place=("西二丁目",), osm=towns))


def test_prepare_two_towns_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture helper gives the cross-border area: both towns' box, a zone, the boundary layer."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    spec = prepare_two_towns(tmp_path)
    assert spec.bbox == pytest.approx(BBOX, abs=1e-6)
    assert spec.zone_file is not None
    layer = json.loads(
        (spec.zone_file.parent / f"{spec.prefix}_boundaries.geojson").read_text(encoding="utf-8")
    )
    levels = {f["properties"]["name"]: f["properties"]["admin_level"] for f in layer["features"]}
    assert levels == {WEST: "7", EAST: "7", "テスト県": "4"}
