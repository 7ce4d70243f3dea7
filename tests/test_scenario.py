"""Scenario files: the four shipped scenarios load; every bad field is named with file and reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from ondemand.errors import ScenarioError
from ondemand.routing.geo.network import NetworkParams
from ondemand.routing.geo.stops import StopParams
from ondemand.scenario import ServiceParams, load_scenario

SCEN = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.mark.parametrize(
    "name", ["toyono", "senboku", "senboku_pilot1", "senboku_pilot3", "higashiosaka", "senboku_izumi"]
)
def test_shipped_scenarios_load(name: str) -> None:
    """Every shipped scenario loads into the routing layer's parameter classes."""
    sc = load_scenario(SCEN / f"{name}.toml")
    assert sc.name == name
    assert isinstance(sc.network, NetworkParams)
    assert isinstance(sc.stops, StopParams)
    assert sc.timezone == "Asia/Tokyo"
    assert len(sc.demand.hourly_profile) * 3600 >= sc.service.end - sc.service.start


def test_pilot_facts() -> None:
    """The public pilot facts of PILOTS.md are what the scenarios say."""
    s = load_scenario(SCEN / "senboku.toml")
    assert (s.service.fleet, s.service.seats, s.stops.target_count, s.fares.flat_jpy) == (2, 8, 50, 300)
    assert (s.service.start, s.service.end) == (9 * 3600, 18 * 3600)
    assert (s.demand.riders_per_day, s.demand.target_riders_per_day) == (28, 51)
    t = load_scenario(SCEN / "toyono.toml")
    assert (t.service.fleet, t.service.seats, t.stops.target_count, t.fares.flat_jpy) == (3, 8, 115, 0)
    assert (t.service.start, t.service.end) == (9 * 3600, 17 * 3600)
    h = load_scenario(SCEN / "higashiosaka.toml")
    assert (h.stops.target_count, h.fares.flat_jpy, h.service.calendar) == (100, 500, "weekdays")
    x = load_scenario(SCEN / "senboku_izumi.toml")
    w, s_, e, n = x.area_spec.bbox
    assert 135.445 <= w < e <= 135.540
    assert 34.455 <= s_ < n <= 34.535
    assert x.area_spec.prefix == "senboku"
    assert len(x.fares.special) == 2


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _mutate(tmp_path: Path, old: str, new: str, base: str = "senboku") -> Path:
    text = (SCEN / f"{base}.toml").read_text(encoding="utf-8")
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("fleet = 2 ", "fleet = 0 ", "service.fleet", ">= 1"),
        ("fleet = 2 ", "fleet = 'two' ", "service.fleet", "integer"),
        ('end = "18:00"', 'end = "08:00"', "service.end", "after"),
        ('start = "09:00"', 'start = "9am"', "service.start", "HH:MM"),
        ("flat_jpy = 300", "flat_jpy = -1", "fares.flat_jpy", ">= 0"),
        ("no_show_rate = 0.02", "no_show_rate = 1.5", "demand.no_show_rate", "<= 1"),
        ("group_sizes = [0.85, 0.12, 0.03]", "group_sizes = [0.5, 0.1]", "demand.group_sizes", "sum to 1"),
        (
            "hourly_profile = [1.6, 1.5, 1.2, 0.8, 1.0, 1.1, 1.0, 0.7, 0.4]",
            "hourly_profile = [1.0]",
            "demand.hourly_profile",
            "one weight per service hour",
        ),
        ('calendar = "every_day"', 'calendar = "sundays"', "service.calendar", "one of"),
        ("hospital = 3.0", "hopsital = 3.0", "demand.destinations.hopsital", "unknown destination"),
        ("seats = 8 ", "seats = 8\nsaets = 8 ", "service.saets", "unknown key"),
        ('graph = "senboku" ', 'graph = "kyoto" ', "area.graph", "unknown"),
        ('districts = ["桃山台", ', "districts = [1, ", "area.districts", "list of district names"),
        (
            'booking_channels = ["app", "phone"]',
            'booking_channels = ["fax"]',
            "service.booking_channels",
            "list",
        ),
        ("target_count = 50", "target_count = 0", "stops", "target_count"),
        ("wait_weight = 1.0 ", "wait_weight = -1.0 ", "service.wait_weight", ">= 0"),
        (
            "reoptimise_iterations = 20 ",
            "reoptimise_iterations = -1 ",
            "service.reoptimise_iterations",
            ">= 0",
        ),
        (
            "reoptimise_iterations = 20 ",
            "reoptimise_iterations = 0.5 ",
            "service.reoptimise_iterations",
            "integer",
        ),
        (
            "reoptimise_iterations = 20 ",
            "reoptimise_iterations = 20\nreoptimise_moves = -5\n#",
            "service.reoptimise_moves",
            ">= 0",
        ),
        (
            "booking_horizon_days = 7 ",
            "booking_horizon_days = 0 ",
            "demand.booking_lead_s",
            "booking_horizon_days",
        ),
    ],
)
def test_errors_name_file_field_and_reason(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    """A bad value raises ScenarioError naming the file, the field and why."""
    path = _mutate(tmp_path, old, new)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert str(path) in msg
    assert field in msg
    assert reason in msg


def test_reoptimise_budgets_live_and_simulated(tmp_path: Path) -> None:
    """The scenario gives the live API a time limit and the simulator an iteration budget (default 20)."""
    s = load_scenario(SCEN / "senboku.toml").service
    assert (s.reoptimise_every_s, s.reoptimise_time_limit_s, s.reoptimise_iterations) == (1800, 0.5, 20)
    text = (SCEN / "senboku.toml").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("reoptimise_iterations"))
    without = load_scenario(_write(tmp_path, text.replace(line + "\n", ""))).service
    default = next(f.default for f in dataclasses.fields(ServiceParams) if f.name == "reoptimise_iterations")
    assert without.reoptimise_iterations == default == 20
    hood = next(f.default for f in dataclasses.fields(ServiceParams) if f.name == "reoptimise_vehicles")
    assert s.reoptimise_vehicles == without.reoptimise_vehicles == hood == 4
    moves = next(f.default for f in dataclasses.fields(ServiceParams) if f.name == "reoptimise_moves")
    assert s.reoptimise_moves == without.reoptimise_moves == moves == 50
    none = load_scenario(_mutate(tmp_path, line, line + "\nreoptimise_moves = 0")).service
    assert none.reoptimise_moves == 0
    assert (
        load_scenario(_mutate(tmp_path, line, "reoptimise_iterations = 0")).service.reoptimise_iterations == 0
    )


def test_missing_and_broken_files(tmp_path: Path) -> None:
    """A missing file, broken TOML and a missing required field are clear errors."""
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "name = [\n"))
    text = (SCEN / "senboku.toml").read_text(encoding="utf-8").replace("fleet = 2 ", "# fleet", 1)
    with pytest.raises(ScenarioError, match=r"'service\.fleet': is required"):
        load_scenario(_write(tmp_path, text))


def test_custom_area_must_fit_the_graph(tmp_path: Path) -> None:
    """A custom [area] box outside its graph's box is refused."""
    text = (SCEN / "senboku_izumi.toml").read_text(encoding="utf-8")
    text = text.replace(
        "bbox = [135.450, 34.457, 135.505, 34.492]", "bbox = [135.40, 34.457, 135.505, 34.492]"
    )
    with pytest.raises(ScenarioError, match=r"'area\.bbox'.*inside"):
        load_scenario(_write(tmp_path, text))


def test_requests_follow_from_riders() -> None:
    """Requests a day are riders a day over the mean group size (28 riders at 1.18 = 23.7 requests)."""
    d = load_scenario(SCEN / "senboku.toml").demand
    assert d.mean_group_size == pytest.approx(0.85 + 2 * 0.12 + 3 * 0.03)
    assert d.requests_per_day == pytest.approx(28 / 1.18)


def test_old_requests_per_day_is_refused_with_migration(tmp_path: Path) -> None:
    """A pre-riders file (requests_per_day) is refused with both migrations spelled out, not reread."""
    p = _mutate(tmp_path, "riders_per_day = 28 ", "requests_per_day = 28 ")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(p)
    msg = str(exc.value)
    assert "demand.requests_per_day" in msg
    assert "riders_per_day = 33.0 keeps 28 requests" in msg  # 28 x 1.18
    assert "published ridership write it unchanged" in msg


def test_calendar_and_channels_are_read(tmp_path: Path) -> None:
    """closures, closed_dates, period, outside_hours and [service.channels.*] map onto ServiceParams."""
    extra = (
        'closures = [["12-29", "01-03"]]\nclosed_dates = ["2024-01-15"]\n'
        'period = ["2023-10-01", "2024-01-31"]\noutside_hours = "lost"\n'
        "[service.channels.app]\nshare = 0.65\n"
        '[service.channels.phone]\nshare = 0.35\nhours = ["09:00", "17:00"]\ndays = "weekdays"\n'
        "[fares]"
    )
    s = load_scenario(_mutate(tmp_path, "[fares]", extra, base="senboku_izumi")).service
    assert s.closures == (((12, 29), (1, 3)),)
    assert s.closed_dates == (dt.date(2024, 1, 15),)
    assert s.period == (dt.date(2023, 10, 1), dt.date(2024, 1, 31))
    assert s.outside_hours == "lost"
    phone = s.channels[1]
    got = (phone.name, phone.share, phone.opens, phone.closes, phone.days)
    assert got == ("phone", 0.35, 32400, 61200, "weekdays")


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ('closures = [["12-32", "01-03"]]', "service.closures[0]", "MM-DD"),
        ('period = ["2024-02-01", "2024-01-01"]', "service.period", "ends before"),
        ('outside_hours = "drop"', "service.outside_hours", "one of"),
        ("[service.channels.app]\nshare = 1.0", "service.channels", "one table per booking channel"),
        (
            "[service.channels.app]\nshare = 0.5\n[service.channels.phone]\nshare = 0.4",
            "service.channels.app",
            "sum to 1",
        ),
        (
            "[service.channels.app]\nshare = 0.5\n[service.channels.phone]\nshare = 0.5\n"
            'hours = ["17:00", "09:00"]',
            "service.channels.phone.hours",
            "close after",
        ),
    ],
)
def test_bad_calendar_fields_are_named(tmp_path: Path, extra: str, field: str, reason: str) -> None:
    """Each bad calendar or channel field is refused with its dotted name and the reason."""
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_mutate(tmp_path, "[fares]", extra + "\n[fares]", base="senboku_izumi"))
    assert repr(field) in str(exc.value)
    assert reason in str(exc.value)


def test_pilot_service_facts() -> None:
    """Hours, fleet, fares, channels, calendars and riders of the pilots are what PILOTS.md says."""
    p1 = load_scenario(SCEN / "senboku_pilot1.toml")
    s1 = p1.service
    assert (s1.start, s1.end, s1.fleet, p1.stops.target_count) == (9 * 3600, 18 * 3600, 2, 29)
    assert (p1.fares.flat_jpy, [(f.name, f.fare_jpy) for f in p1.fares.special]) == (200, [("泉ケ丘駅", 300)])
    assert s1.booking_channels == ("web", "phone")
    assert s1.period == (dt.date(2023, 1, 10), dt.date(2023, 3, 10))
    assert p1.demand.riders_per_day == 14
    assert p1.observed["riders_per_day"].value == 14
    p2 = load_scenario(SCEN / "senboku.toml")
    assert {c.name: c.share for c in p2.service.channels} == {"app": 0.65, "phone": 0.35}
    assert p2.service.closures == (((12, 29), (1, 3)),)
    p3 = load_scenario(SCEN / "senboku_pilot3.toml")
    s3 = p3.service
    assert (s3.start, s3.end, p3.stops.target_count, p3.fares.flat_jpy) == (8 * 3600, 18 * 3600, 81, 300)
    assert [(c.name, c.min_lead_s) for c in s3.channels] == [("app", 600)]
    assert p3.observed == {}
    t = load_scenario(SCEN / "toyono.toml").service
    phone = next(c for c in t.channels if c.name == "phone")
    assert (phone.opens, phone.closes, phone.days) == (9 * 3600, 17 * 3600, "weekdays")
    assert t.period == (dt.date(2023, 2, 1), dt.date(2023, 2, 28))
    h = load_scenario(SCEN / "higashiosaka.toml")
    assert (h.service.calendar, h.service.holidays, h.fares.flat_jpy) == ("weekdays", False, 500)
    assert h.service.booking_channels == ("line", "phone")
    assert any("not published" in n for n in h.not_reproduced)


def test_agency_table_is_optional_and_checked(tmp_path: Path) -> None:
    """[agency] is optional (defaults listed in .defaulted); set fields are kept, bad url/phone named."""
    sc = load_scenario(SCEN / "senboku.toml")
    assert sc.agency.name is None
    assert sc.agency.lang == "ja"
    assert set(sc.agency.defaulted) == {"name", "url", "phone", "email", "booking_url", "lang"}
    text = (SCEN / "senboku.toml").read_text(encoding="utf-8")
    ok = text + '\n[agency]\nname = "南海バス"\nphone = "072-000-0000"\nurl = "https://example.jp/"\n'
    ag = load_scenario(_write(tmp_path, ok)).agency
    assert (ag.name, ag.phone, ag.url) == ("南海バス", "072-000-0000", "https://example.jp/")
    assert set(ag.defaulted) == {"email", "booking_url", "lang"}
    with pytest.raises(ScenarioError, match=r"agency\.url"):
        load_scenario(_write(tmp_path, text + '\n[agency]\nurl = "example.jp"\n'))
    with pytest.raises(ScenarioError, match=r"agency\.phone"):
        load_scenario(_write(tmp_path, text + '\n[agency]\nphone = "call us"\n'))
    with pytest.raises(ScenarioError, match=r"agency\.fax"):
        load_scenario(_write(tmp_path, text + '\n[agency]\nfax = "1"\n'))


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            'cost_split = "by_riders"',
            'cost_split = "by_area"',
            "municipalities.cost_split",
            "one of by_riders",
        ),
        (
            'cost_split = "by_riders"',
            'cost_split = "fixed"\nfixed_shares = { "堺市" = 0.7, "和泉市" = 0.2 }',
            "municipalities.fixed_shares",
            "must sum to 1",
        ),
        ('cost_split = "by_riders"', 'cost_split = "fixed"', "municipalities.fixed_shares", "is required"),
        ("rate = 0.5 ", "rate = 0.6 ", "municipalities.subsidy.rate", "at most 1/2"),
        (
            "admin_level = 7",
            'boundaries = "towns.geojson"',
            "municipalities.boundaries",
            "no such boundary file",
        ),
        (
            '"和泉市" = [135.456, 34.461]',
            '"和泉市" = [135.456]',
            "municipalities.labels.和泉市",
            "[lon, lat]",
        ),
        (
            "max_walk_m = 500",
            'max_walk_m = 500\npopulation_mesh = "mesh.csv"',
            "demand.population_mesh",
            "no such",
        ),
    ],
)
def test_municipal_fields_are_checked(tmp_path: Path, old: str, new: str, field: str, reason: str) -> None:
    """Bad [municipalities] and mesh fields raise ScenarioError naming the file, the field and why."""
    path = _mutate(tmp_path, old, new, base="senboku_izumi")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert str(path) in msg
    assert field in msg
    assert reason in msg


def test_cross_municipal_scenario_reads_its_accounting() -> None:
    """senboku_izumi: Sakai and Izumi at admin_level 7, split by riders, subsidy 1/2 with a yearly cap."""
    m = load_scenario(SCEN / "senboku_izumi.toml").municipalities
    assert m is not None
    assert m.boundaries is None
    assert m.admin_level == 7
    assert [n for n, _x, _y in m.labels] == ["堺市", "和泉市"]
    assert (m.cost_split, m.subsidy_rate, m.subsidy_cap_jpy_per_year) == ("by_riders", 0.5, 9_266_000)
    assert load_scenario(SCEN / "senboku.toml").municipalities is None
