"""Service zones: polygon and district zones, named destinations, refusals that name the zone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import box

from ondemand.errors import OutsideServiceAreaError, OutsideServiceZoneError, ZoneError
from ondemand.routing.geo.area import ServiceArea
from ondemand.routing.geo.matrix import build_matrix
from ondemand.routing.geo.network import AreaSpec
from ondemand.routing.geo.stops import StopParams, place_stops
from ondemand.routing.geo.zone import NamedPlace, ServiceZone, district_zone, load_zone_file
from tests.routing.geo._network_fixtures import BBOX, grid_network, isolated_cache, lonlat

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)

REPO = Path(__file__).resolve().parents[3]


def _points(path: Path, points: list[tuple[float, float, dict[str, Any]]]) -> None:
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": p}
        for x, y, p in points
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")


def _west_zone(**kw: Any) -> ServiceZone:
    """Columns 0-2 of the 7 x 7 grid (up to 250 m east of the west edge)."""
    x0, y0 = lonlat(-0.5, -0.5)
    x1, y1 = lonlat(2.5, 6.5)
    return ServiceZone("西ゾーン", box(x0, y0, x1, y1), **kw)


def test_polygon_zone_admits_inside_and_listed_destinations_only() -> None:
    """Inside the polygon: admitted; outside: refused, unless within a named place's radius."""
    station = NamedPlace("東駅", *lonlat(5, 3), kind="station", radius_m=60)
    z = _west_zone(places=(station,))
    inside, outside, at_station = lonlat(1, 1), lonlat(5, 5), lonlat(5.4, 3)
    assert z.contains(*inside).tolist() == [True]
    assert z.contains(*at_station).tolist() == [False]
    lons, lats = zip(inside, outside, at_station, strict=True)
    assert z.admits(np.array(lons), np.array(lats)).tolist() == [True, False, True]
    assert z.place_at(*at_station) == station
    z.check(*inside)
    with pytest.raises(OutsideServiceZoneError, match="outside the service zone '西ゾーン'") as info:
        z.check(*outside, what="pickup")
    assert "東駅" in str(info.value)  # the message lists the destinations allowed outside
    assert isinstance(info.value, OutsideServiceAreaError)  # callers that catch the area error still do


def test_district_zone_is_the_voronoi_cells_of_its_place_points(tmp_path: Path) -> None:
    """A district = points nearer its place point(s) than any other; a name selects every 丁 it prefixes."""
    f = tmp_path / "places.geojson"
    _points(
        f,
        [
            (*lonlat(1, 1), {"class": "quarter", "name": "桃山台一丁"}),
            (*lonlat(1, 5), {"class": "quarter", "name": "桃山台二丁"}),
            (*lonlat(5, 3), {"class": "quarter", "name": "城山台一丁"}),
            (*lonlat(3, 3), {"class": "city", "name": "堺市"}),  # not a district: ignored
        ],
    )
    z = district_zone(["桃山台"], f, BBOX, name="P1")
    assert sorted(z.districts) == ["桃山台一丁", "桃山台二丁"]
    # nearest place point decides: (2.9, 1) is 1.9 blocks from 桃山台一丁 and 2.9 from 城山台一丁
    for ij, inside in (
        ((2.9, 1), True),
        ((0.5, 3), True),
        ((0, 6), True),
        ((4, 1), False),
        ((4.5, 3), False),
    ):
        assert z.contains(*lonlat(*ij)).tolist() == [inside], ij
    with pytest.raises(ZoneError, match="district '鴨谷台' is not a place name"):
        district_zone(["鴨谷台"], f, BBOX, name="P1")


def test_zone_file_loads_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    """A GeoJSON polygon file is a zone; a file without polygons or a missing one is a ZoneError."""
    z = _west_zone()
    f = tmp_path / "zone.geojson"
    f.write_text(json.dumps(z.to_geojson(), ensure_ascii=False), encoding="utf-8")
    back = load_zone_file(f)
    assert back.name == "西ゾーン"
    assert back.geometry.equals(z.geometry)
    _points(tmp_path / "pts.geojson", [(*lonlat(1, 1), {})])
    with pytest.raises(ZoneError, match="no Polygon"):
        load_zone_file(tmp_path / "pts.geojson")
    with pytest.raises(ZoneError, match="no such zone file"):
        load_zone_file(tmp_path / "missing.geojson")


def test_stops_lie_in_the_zone_or_at_its_named_places(tmp_path: Path) -> None:
    """Placement puts every stop where the zone admits trips; each named place gets a stop with its name."""
    d = tmp_path / "data"
    d.mkdir()
    homes = [lonlat(i, j) for i in range(7) for j in range(7)]
    _points(d / "synth_buildings.geojson", [(x, y, {}) for x, y in homes])
    _points(d / "synth_pois.geojson", [])
    _points(d / "synth_places.geojson", [(*lonlat(1, 3), {"class": "quarter", "name": "西町"})])
    station = NamedPlace("東駅", *lonlat(6, 3), kind="station", stand="北口", radius_m=60)
    z = _west_zone(places=(station,))
    net = grid_network(7)
    spec = AreaSpec("synthetic", "synth", BBOX, default_stops=8)
    s = place_stops(
        net, StopParams(target_count=8, max_walk_m=150, merge_m=50), area=spec, data_dir=d, zone=z
    )
    assert len(s.stops) >= 3
    assert all(z.admits(m.lon, m.lat)[0] for m in s.stops)
    assert s.stops[0].name == "01_東駅(北口)"
    assert all(not z.contains(m.lon, m.lat)[0] for m in s.stops if "東駅" in m.name)
    assert all(m.name[2] == "_" and m.name[:2].isdigit() for m in s.stops)
    assert all("西町" in m.name for m in s.stops[1:])
    assert sorted(int(m.name[:2]) for m in s.stops) == list(range(1, len(s.stops) + 1))


def test_service_area_refuses_trips_outside_the_zone_naming_it() -> None:
    """ServiceArea.nearest/snap (what the service policy and the API use) refuse a place outside the zone."""
    from ondemand.routing.geo.stops import MeetingPoint

    net = grid_network(7)
    nodes = [8, 9, 45]  # (1, 1), (1, 2), (6, 3)
    stops = tuple(
        MeetingPoint(f"S{k}", f"0{k}_x", float(net.lon[n]), float(net.lat[n]), n) for k, n in enumerate(nodes)
    )
    station = NamedPlace("東駅", float(net.lon[45]), float(net.lat[45]), radius_m=60)
    area = ServiceArea(net, stops, build_matrix(net, nodes), zone=_west_zone(places=(station,)))
    assert area.snap(*lonlat(1, 1.2), max_walk_m=300)[0] == 0
    assert area.snap(float(net.lon[45]), float(net.lat[45]) + 0.0002, max_walk_m=300)[0] == 2
    with pytest.raises(OutsideServiceZoneError, match="'西ゾーン'"):
        area.snap(*lonlat(5, 5), max_walk_m=300)
    # far away (outside the network's box too): the same message, the zone named, one number format
    with pytest.raises(
        OutsideServiceZoneError, match=r"place \(lon 139\.767000, lat 35\.681000\) .*'西ゾーン'"
    ):
        area.snap(139.767, 35.681, max_walk_m=300)
    from ondemand.dispatch.policy import Walking

    with pytest.raises(OutsideServiceZoneError, match="'西ゾーン'"):
        Walking(speed_mps=1.0, max_walk_m=500).snap(area, *lonlat(5, 1))


@pytest.mark.data
@pytest.mark.slow
def test_senboku_pilot1_stops_and_names(data_dir: Path) -> None:
    """Senboku pilot 1: stops in 桃山台/鴨谷台 or at its 3 stations; searching 泉ケ丘 finds the station."""
    from ondemand.scenario import load_scenario

    sc = load_scenario(REPO / "scenarios" / "senboku_pilot1.toml")
    area = sc.service_area(data_dir=data_dir)
    assert area.zone is not None
    assert set(area.zone.districts) >= {"桃山台一丁", "鴨谷台一丁"}
    assert 20 <= len(area.stops) <= 29
    assert all(area.zone.admits(s.lon, s.lat)[0] for s in area.stops)
    found = [area.stops[i].name for i in area.find_stops("泉ケ丘")]
    assert found
    assert all(n.endswith("_泉ケ丘駅") for n in found)
    assert area.find_stops("泉が丘") == area.find_stops("泉ケ丘")  # the spelling of OSM's signs
    names = [s.name for s in area.stops]
    assert any("光明池駅" in n for n in names)
    assert any("栂・美木多駅" in n for n in names)
    districts = [n for n in names if "桃山台" in n or "鴨谷台" in n]
    assert len(districts) >= len(names) // 2
    # a place outside the zone (和泉中央, Izumi City) is refused with the zone's name
    with pytest.raises(OutsideServiceZoneError, match="桃山台・鴨谷台"):
        area.snap(135.4563, 34.4613, max_walk_m=500)
