"""The GTFS-Flex export: read back with gtfs-kit, every reference resolves, the calendar is the policy's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import Point, shape

from ondemand.dispatch.calendar import ServiceCalendar
from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import OutputError
from ondemand.scenario import AgencyParams, Scenario, load_scenario
from ondemand.viz.gtfs_flex import ROUTE_TYPE_DEMAND_RESPONSIVE, write_gtfs_flex

SCEN = Path(__file__).resolve().parents[2] / "scenarios"
REQUIRED = ("agency.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt", "feed_info.txt")


@dataclass(frozen=True)
class _Stop:
    id: str
    name: str
    lon: float
    lat: float


def _stops() -> list[_Stop]:
    """Six meeting points around Senboku, one 100 m from 光明池駅 (a special-fare place)."""
    return [
        _Stop("S001", "01_光明池駅", 135.4756, 34.4755),
        _Stop("S002", "02_鴨谷台", 135.4870, 34.4700),
        _Stop("S003", "03_桃山台", 135.4950, 34.4800),
        _Stop("S004", "04_城山台", 135.5050, 34.4650),
        _Stop("S005", "05_原山公園", 135.5000, 34.4550),
        _Stop("S006", "06_泉ケ丘駅", 135.4990, 34.4590),
    ]


def _scenario(name: str = "senboku_izumi", **service: object) -> Scenario:
    sc = load_scenario(SCEN / f"{name}.toml")
    agency = AgencyParams(name="泉北オンデマンド", phone="072-000-0000", url="https://ondemand.example.jp/")
    return dataclasses.replace(sc, service=dataclasses.replace(sc.service, **service), agency=agency)


def _table(zf: zipfile.ZipFile, name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(zf.read(name)), dtype=str, keep_default_na=False)


@pytest.fixture
def feed(tmp_path: Path) -> tuple[Path, Scenario]:
    """The senboku_izumi service (two special fares) with six stops, January to March 2024."""
    sc = _scenario(
        calendar="weekdays",
        holidays=False,
        closures=(((12, 29), (1, 3)),),
        booking_horizon_days=7,
    )
    out = tmp_path / "feed.zip"
    write_gtfs_flex(
        sc, _stops(), out, first=dt.date(2024, 1, 1), last=dt.date(2024, 3, 31), today=dt.date(2023, 12, 20)
    )
    return out, sc


def test_feed_reads_back_with_gtfs_kit_and_every_reference_resolves(feed: tuple[Path, Scenario]) -> None:
    """gtfs-kit reads it; stop_times -> trips -> routes -> agency, services, groups, rules resolve."""
    import gtfs_kit

    path, sc = feed
    g = gtfs_kit.read_feed(path, dist_units="km")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for name in REQUIRED:
            assert name in names
        groups = _table(zf, "location_groups.txt")
        members = _table(zf, "location_group_stops.txt")
        rules = _table(zf, "booking_rules.txt")
        products = _table(zf, "fare_products.txt")
        legs = _table(zf, "fare_leg_rules.txt")
        areas = _table(zf, "areas.txt")
        stop_areas = _table(zf, "stop_areas.txt")
    st, trips, routes = g.stop_times, g.trips, g.routes
    assert set(st["trip_id"]) <= set(trips["trip_id"])
    assert set(trips["route_id"]) <= set(routes["route_id"])
    assert set(routes["agency_id"]) <= set(g.agency["agency_id"])
    assert set(trips["service_id"]) <= set(g.calendar["service_id"]) | set(g.calendar_dates["service_id"])
    assert set(g.calendar_dates["service_id"]) <= set(g.calendar["service_id"])
    assert (routes["route_type"].astype(int) == ROUTE_TYPE_DEMAND_RESPONSIVE).all()
    assert set(st["location_group_id"]) <= set(groups["location_group_id"])
    assert set(members["stop_id"]) == {s.id for s in _stops()} == set(g.stops["stop_id"])
    assert set(members["location_group_id"]) <= set(groups["location_group_id"])
    used_rules = set(st["pickup_booking_rule_id"].dropna()) | set(st["drop_off_booking_rule_id"].dropna())
    used_rules.discard("")
    assert used_rules
    assert used_rules <= set(rules["booking_rule_id"])
    assert set(legs["fare_product_id"]) <= set(products["fare_product_id"])
    used_areas = (set(legs["from_area_id"]) | set(legs["to_area_id"])) - {""}
    assert used_areas == set(areas["area_id"]) == set(stop_areas["area_id"])
    assert set(stop_areas["stop_id"]) == {"S001"}  # only the stop within 300 m of 光明池駅
    assert g.agency["agency_timezone"].tolist() == [sc.timezone]
    assert g.agency["agency_phone"].tolist() == ["072-000-0000"]
    assert sorted(products["amount"].astype(int)) == [sc.fares.flat_jpy, sc.fares.special[0].fare_jpy]
    assert "OpenStreetMap contributors" in g.feed_info["feed_publisher_name"].iloc[0]


def test_windows_are_the_service_hours_without_fixed_times(feed: tuple[Path, Scenario]) -> None:
    """Both stop_times rows carry the service hours as window, no fixed times, booked pickup types."""
    path, sc = feed
    with zipfile.ZipFile(path) as zf:
        st = _table(zf, "stop_times.txt")
    assert "arrival_time" not in st.columns
    assert "departure_time" not in st.columns
    assert (sc.service.start, sc.service.end) == (8 * 3600, 18 * 3600)
    assert st["start_pickup_drop_off_window"].tolist() == ["08:00:00", "08:00:00"]
    assert st["end_pickup_drop_off_window"].tolist() == ["18:00:00", "18:00:00"]
    # pickup on the first row, drop-off on the second, both booked (2); never 0 with windows
    assert st[["pickup_type", "drop_off_type"]].values.tolist() == [["2", "1"], ["1", "2"]]
    assert st["stop_sequence"].astype(int).is_monotonic_increasing


def test_calendar_is_the_policy_calendar(feed: tuple[Path, Scenario]) -> None:
    """A day has service in the feed exactly when the policy's calendar runs; holidays are removals."""
    path, _sc = feed
    with zipfile.ZipFile(path) as zf:
        cal = _table(zf, "calendar.txt").iloc[0]
        removed = set(_table(zf, "calendar_dates.txt").query("exception_type == '2'")["date"])
        assert set(_table(zf, "calendar_dates.txt")["exception_type"]) == {"2"}
    policy_cal = ServiceCalendar(days="weekdays", holidays=False, closures=(((12, 29), (1, 3)),))
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    d = dt.date(2024, 1, 1)
    while d <= dt.date(2024, 3, 31):
        in_feed = cal[days[d.weekday()]] == "1" and d.strftime("%Y%m%d") not in removed
        assert in_feed == policy_cal.runs_on(d), d
        d += dt.timedelta(days=1)
    # 1/1-1/3 closure, 成人の日 1/8, 振替休日 2/12, 天皇誕生日 2/23, 春分の日 3/20
    assert {"20240101", "20240102", "20240103", "20240108", "20240212", "20240223", "20240320"} <= removed
    assert (cal["start_date"], cal["end_date"]) == ("20240101", "20240331")


def test_booking_rule_says_notice_horizon_and_phone(tmp_path: Path) -> None:
    """Shortest channel notice and the horizon are prior_notice min/max; channels' hours the message."""
    sc = _scenario("senboku", booking_horizon_days=7)
    sc = dataclasses.replace(
        sc,
        service=dataclasses.replace(
            sc.service,
            channels=tuple(dataclasses.replace(c, min_lead_s=600) for c in sc.service.channels),
        ),
    )
    out = tmp_path / "f.zip"
    write_gtfs_flex(sc, _stops(), out, first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 7))
    with zipfile.ZipFile(out) as zf:
        rule = _table(zf, "booking_rules.txt").iloc[0]
    assert (rule["booking_type"], rule["prior_notice_duration_min"]) == ("1", "10")
    assert rule["prior_notice_duration_max"] == str(7 * 1440)
    assert rule["phone_number"] == "072-000-0000"
    assert "app" in rule["message"]
    assert "phone" in rule["message"]
    assert "7 days" in rule["message"]


def test_locations_geojson_is_a_valid_polygon_holding_every_stop(feed: tuple[Path, Scenario]) -> None:
    """locations.geojson: a FeatureCollection of valid (Multi)Polygons holding every meeting point."""
    path, _ = feed
    with zipfile.ZipFile(path) as zf:
        fc = json.loads(zf.read("locations.geojson"))
        stop_ids = set(_table(zf, "stops.txt")["stop_id"])
    assert fc["type"] == "FeatureCollection"
    assert fc["features"]
    for f in fc["features"]:
        assert f["type"] == "Feature"
        assert f["id"] not in stop_ids
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        geom = shape(f["geometry"])
        assert geom.is_valid
        assert not geom.is_empty
        for ring in f["geometry"]["coordinates"]:
            assert ring[0] == ring[-1]
            assert len(ring) >= 4
        assert all(geom.contains(Point(s.lon, s.lat)) for s in _stops())
        assert "convex hull" in f["properties"]["stop_desc"]


def test_defaults_are_named_when_the_scenario_has_no_agency(tmp_path: Path) -> None:
    """Without [agency] the feed uses a placeholder url and no phone, and the summary says so."""
    sc = load_scenario(SCEN / "senboku.toml")
    summary = write_gtfs_flex(
        sc, _stops(), tmp_path / "f.zip", first=dt.date(2024, 1, 1), last=dt.date(2024, 1, 2)
    )
    notes = "\n".join(summary.notes)
    assert "placeholder https://example.invalid/senboku" in notes
    assert "phone" in notes
    assert "[agency]" in notes


def test_unwritable_out_is_one_clear_error(tmp_path: Path) -> None:
    """An --out in a missing folder raises OutputError naming the file and leaves nothing behind."""
    sc = load_scenario(SCEN / "senboku.toml")
    out = tmp_path / "missing" / "feed.zip"
    with pytest.raises(OutputError, match="cannot write the feed"):
        write_gtfs_flex(sc, _stops(), out)
    assert not out.parent.exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ondemand.cli", "export", "gtfs-flex", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    """An unknown scenario file or an unwritable --out gives exit 2 and one line, no traceback."""
    r = _cli(str(tmp_path / "nope.toml"), "--out", str(tmp_path / "f.zip"), "--no-progress")
    assert r.returncode == 2
    assert "no such scenario file" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli(str(SCEN / "senboku.toml"), "--out", str(tmp_path / "no" / "f.zip"), "--no-progress")
    assert r.returncode == 2
    assert "does not exist" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli(str(SCEN / "senboku.toml"), "--out", str(tmp_path), "--no-progress")
    assert r.returncode == 2
    assert "is a folder" in r.stderr


@pytest.mark.slow
@pytest.mark.data
def test_cli_exports_a_shipped_scenario(tmp_path: Path, data_dir: Path) -> None:
    """`ondemand export gtfs-flex senboku.toml` writes a feed of its 50 stops and names its defaults."""
    out = tmp_path / "feed.zip"
    r = _cli(
        str(SCEN / "senboku.toml"),
        "--out",
        str(out),
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert "note: agency url: placeholder" in r.stdout
    assert "zone: 泉北ニュータウン" in r.stdout  # the scenario's zone polygon, not the hull
    assert "convex hull" not in r.stdout
    with zipfile.ZipFile(out) as zf:
        assert len(_table(zf, "stops.txt")) == 50
        assert len(_table(zf, "location_group_stops.txt")) == 50
    cal = ServicePolicy.from_scenario(load_scenario(SCEN / "senboku.toml")).rules.calendar
    days = cal.service_days(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert len(days) == 366 - 6  # 2024 minus the year-end closures (01-01..01-03, 12-29..12-31)
    assert f"{len(days)} service days" in r.stdout
