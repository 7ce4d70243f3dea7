"""`ondemand init` on a two-town OSM extract, then `ondemand simulate` on what it wrote (offline)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ondemand.cli import app, main
from ondemand.errors import ScenarioError
from ondemand.scenario import load_scenario
from tests.osm_towns import BBOX, EAST, TOWN_BOXES, WEST, write_two_towns


@pytest.fixture
def towns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two-town extract, a private cache, and downloads off."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ONDEMAND_OFFLINE", "1")
    return write_two_towns(tmp_path / "towns.osm")


def _numbers_are_sourced(text: str) -> list[str]:
    """Lines setting a number with neither a source nor 'assumption' (nor under a table that says so)."""
    bad = []
    table_note = ""
    for line in text.splitlines():
        if line.startswith("["):
            table_note = line
            continue
        key, eq, value = line.partition("=")
        if not eq or line.lstrip().startswith("#"):
            continue
        value = value.split("#")[0]
        if not re.search(r"\d", value) or key.strip() in ("name", "description"):
            continue
        note = line.partition("#")[2] + " " + table_note
        if not re.search(r"assumption|PILOTS\.md|given with|ondemand init", note):
            bad.append(line)
    return bad


@pytest.mark.slow
def test_init_then_simulate_on_a_two_town_extract(towns: Path, tmp_path: Path) -> None:
    """init writes a loadable, sourced scenario and stop file for both towns; simulate runs on it."""
    scen = tmp_path / "sc" / "twotowns.toml"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "init",
            str(scen),
            "--place",
            WEST,
            "--place",
            EAST,
            "--osm",
            str(towns),
            "--fleet",
            "1",
            "--hours",
            "09:00-12:00",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "road nodes" in res.output
    assert "48" in res.output
    text = scen.read_text(encoding="utf-8")
    assert _numbers_are_sourced(text) == []
    assert 'osm = "../towns.osm"' in text
    sc = load_scenario(scen)
    assert sc.service.fleet == 1
    assert sc.service.start == 9 * 3600
    assert sc.service.end == 12 * 3600
    assert len(sc.demand.hourly_profile) == 3
    assert sc.area_spec.bbox == pytest.approx(BBOX, abs=1e-6)
    assert sc.area_spec.zone_file is not None  # the two towns' polygon
    assert sc.municipalities is not None  # two places: who pays what
    assert (sc.municipalities.admin_level, sc.municipalities.cost_split) == (7, "by_riders")
    with (scen.parent / "twotowns_stops.csv").open(encoding="utf-8") as fh:
        stops = list(csv.DictReader(fh))
    assert 5 <= len(stops) <= sc.area_spec.default_stops
    assert any("西町駅" in s["name"] for s in stops)  # a stop at the station carries its name
    for s in stops:
        assert BBOX[0] <= float(s["lon"]) <= BBOX[2]
        assert BBOX[1] <= float(s["lat"]) <= BBOX[3]

    out = tmp_path / "run"
    res = runner.invoke(
        app, ["simulate", str(scen), "--seed", "1", "--demand", "12", "--out", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    k = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert k["requests"] > 0
    assert k["served"] + k["refused"] + k["cancelled"] + k["no_shows"] == k["requests"]
    assert k["served"] > 0
    assert k["vehicle_km"] > 0
    assert set(k["municipalities"]["names"]) == {WEST, EAST}
    assert (out / "report.html").is_file()


def test_init_with_a_box_has_no_zone_and_defaults(towns: Path, tmp_path: Path) -> None:
    """--bbox makes a box area; fleet and hours default to the cited Senboku figures."""
    scen = tmp_path / "box.toml"
    w, s, e, n = TOWN_BOXES[EAST]
    res = CliRunner().invoke(app, ["init", str(scen), "--bbox", f"{w},{s},{e},{n}", "--osm", str(towns)])
    assert res.exit_code == 0, res.output
    text = scen.read_text(encoding="utf-8")
    assert "fleet = 2" in text
    assert "PILOTS.md §2" in text
    assert "[municipalities]" not in text  # one box, no towns to share the cost among
    sc = load_scenario(scen)
    assert sc.area_spec.zone_file is None
    assert sc.service.start == 9 * 3600
    assert sc.service.end == 18 * 3600


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return int(exc.value.code or 0), err


def test_init_bad_input_gives_one_message(
    towns: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown place, uncovered box, non-polygon boundary, no area: one message each, no traceback."""
    scen = tmp_path / "bad.toml"
    line = tmp_path / "line.geojson"
    line.write_text(json.dumps({"type": "LineString", "coordinates": [[135.5, 34.5], [135.51, 34.51]]}))
    cases = [
        (["--place", "北町", "--osm", str(towns)], r"'北町' not found .*towns\.osm"),
        (["--bbox", "135.60,34.60,135.62,34.62", "--osm", str(towns)], r"towns\.osm covers lon .*download"),
        (["--boundary", str(line), "--osm", str(towns)], r"line\.geojson: the boundary is a LineString"),
        (["--osm", str(towns)], r"exactly one of --place NAME, --boundary FILE or --bbox"),
        (["--place", WEST], r"downloading is off"),
        (["--place", WEST, "--osm", str(tmp_path / "none.osm.pbf")], r"none\.osm\.pbf: no such OSM extract"),
        (["--place", WEST, "--osm", str(towns), "--hours", "9-5"], r"--hours '9-5': give the service hours"),
    ]
    for args, pattern in cases:
        code, err = _main(["init", str(scen), *args], capsys)
        flat = " ".join(err.split())
        assert code == 2, (args, err)
        assert re.search(pattern, flat), (args, err)
        assert "Traceback" not in err
        assert not scen.exists()


def test_scenario_area_errors_name_the_scenario(towns: Path, tmp_path: Path) -> None:
    """A scenario whose [area] place is unknown, or whose extract is missing, names the field or file."""
    good = tmp_path / "good.toml"
    assert CliRunner().invoke(app, ["init", str(good), "--place", WEST, "--osm", str(towns)]).exit_code == 0
    text = good.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(f'place = "{WEST}"', 'place = "北町"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: \[area\]: place '北町' not found"):
        load_scenario(bad)
    bad.write_text(text.replace('osm = "towns.osm"', 'osm = "gone.osm"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: field 'area\.osm': no such file .*gone\.osm"):
        load_scenario(bad)


def test_global_offline_flag(towns: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ondemand --offline init` without an extract refuses even when ONDEMAND_OFFLINE is unset."""
    monkeypatch.delenv("ONDEMAND_OFFLINE", raising=False)
    res = CliRunner().invoke(app, ["--offline", "init", str(tmp_path / "x.toml"), "--place", WEST])
    assert res.exit_code != 0
    assert "downloading is off" in str(res.exception)


def test_init_with_a_boundary_file(towns: Path, tmp_path: Path) -> None:
    """--boundary writes the file's path relative to the scenario; its polygon is the zone."""
    w, s, e, n = TOWN_BOXES[WEST]
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    boundary = tmp_path / "nishi.geojson"
    boundary.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}), encoding="utf-8")
    scen = tmp_path / "sc" / "west.toml"
    res = CliRunner().invoke(
        app, ["init", str(scen), "--boundary", str(boundary), "--osm", str(towns), "--name", "nishi"]
    )
    assert res.exit_code == 0, res.output
    text = scen.read_text(encoding="utf-8")
    assert 'boundary = "../nishi.geojson"' in text
    sc = load_scenario(scen)
    assert sc.name == "nishi"
    assert sc.area_spec.bbox == pytest.approx(TOWN_BOXES[WEST], abs=1e-6)
    assert sc.area_spec.zone_file is not None
