"""Who pays, end to end and offline: `ondemand init` on a two-town OSM extract, then `simulate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ondemand.cli import app
from ondemand.errors import MunicipalityError
from ondemand.routing.geo.mesh import mesh_code
from ondemand.routing.geo.municipality import osm_municipalities
from ondemand.scenario import load_scenario
from tests.osm_towns import BBOX, BORDER_LON, EAST, WEST, write_two_towns


@pytest.fixture
def towns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two-town extract, a private cache, and downloads off."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ONDEMAND_OFFLINE", "1")
    return write_two_towns(tmp_path / "towns.osm")


def _init(towns: Path, scen: Path) -> None:
    res = CliRunner().invoke(
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


def test_extract_boundaries_give_the_towns(towns: Path, tmp_path: Path) -> None:
    """The area's OSM boundary layer gives both admin_level 7 towns, split at the border."""
    scen = tmp_path / "sc" / "twotowns.toml"
    _init(towns, scen)
    spec = load_scenario(scen).area_spec
    m = osm_municipalities(prefix=spec.prefix, bbox=spec.bbox, admin_level=7)
    assert set(m.names) == {WEST, EAST}
    lat = (spec.bbox[1] + spec.bbox[3]) / 2
    assert m.name_at(BORDER_LON - 0.001, lat) == WEST
    assert m.name_at(BORDER_LON + 0.001, lat) == EAST
    with pytest.raises(MunicipalityError, match=r"admin_level 8 \(levels found: 4, 7\)"):
        osm_municipalities(prefix=spec.prefix, bbox=spec.bbox, admin_level=8)


def _mesh(path: Path) -> Path:
    """A census-format mesh CSV: 100 people (30 aged 65+) in every 500 m square of the two towns."""
    w, s, e, n = BBOX
    codes = sorted(
        {mesh_code(w + (e - w) * i / 20, s + (n - s) * j / 20) for i in range(21) for j in range(21)}
    )
    rows = [f"{c},0,,,100,30" for c in codes]
    head = "KEY_CODE,HTKSYORI,HTKSAKI,GASSAN,T001101001,T001101010\n,,,,人口（総数）,65歳以上人口　総数\n"
    path.write_bytes((head + "\n".join(rows) + "\n").encode("cp932"))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule", "mesh"),
    [
        ("by_riders", False),
        ("by_vehicle_km_inside", False),
        ("by_population", False),
        ("by_population", True),
    ],
)
def test_two_towns_share_the_cost(towns: Path, tmp_path: Path, rule: str, mesh: bool) -> None:
    """init + simulate on the two towns: both get stops and riders, subsidy + shares = operating cost."""
    scen = tmp_path / "sc" / "twotowns.toml"
    _init(towns, scen)
    text = scen.read_text(encoding="utf-8")
    assert text.count("[municipalities]") == 1  # init writes who pays for an area of two places
    text = text.replace('cost_split = "by_riders"', f'cost_split = "{rule}"', 1)
    if mesh:
        _mesh(scen.parent / "mesh.csv")
        text = text.replace(
            "[demand]\n", '[demand]\npopulation_mesh = "mesh.csv"  # made up for the test\n', 1
        )
    scen.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["simulate", str(scen), "--seed", "1", "--demand", "12", "--out", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    k = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    acc = k["municipalities"]
    rows = acc["by_municipality"]
    assert set(acc["names"]) == {WEST, EAST}
    assert acc["cost_split"] == rule
    assert acc["subsidy"]["jpy"] + sum(r["cost_share_jpy"] for r in rows.values()) == k["operating_cost_jpy"]
    assert acc["subsidy"]["jpy"] == min(k["operating_cost_jpy"] // 2, acc["subsidy"]["cap_jpy_per_day"])
    assert rows[WEST]["stops"] > 0
    assert rows[EAST]["stops"] > 0
    assert sum(r["riders_boarding"] for r in rows.values()) == k["riders"]
    assert sum(r["vehicle_km_inside"] for r in rows.values()) == pytest.approx(k["vehicle_km"], abs=0.01)
    if rule == "by_population":
        assert ("census mesh" if mesh else "buildings as a proxy") in acc["population_basis"]
        assert rows[WEST]["population"] > 0
        assert rows[EAST]["population"] > 0
    if mesh:
        assert 0 <= k["riders_65_plus"] <= k["riders"]
        assert sum(r["riders_65_plus_boarding"] for r in rows.values()) == k["riders_65_plus"]
    else:
        assert "riders_65_plus" not in k
    assert WEST in (out / "report.html").read_text(encoding="utf-8")


def test_cli_bad_boundary_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """simulate with a boundary that is not a polygon: one message naming both files, before any work."""
    from ondemand.cli import main

    text = (Path(__file__).resolve().parents[1] / "scenarios" / "senboku_izumi.toml").read_text(
        encoding="utf-8"
    )
    scen = tmp_path / "s.toml"
    scen.write_text(text.replace("admin_level = 7", 'boundaries = "line.geojson"', 1), encoding="utf-8")
    line = {"type": "LineString", "coordinates": [[135.4, 34.4], [135.5, 34.5]]}
    (tmp_path / "line.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "geometry": line, "properties": {"name": "x"}}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(scen), "--no-progress", "--out", str(tmp_path / "run")])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 2
    bad = tmp_path / "line.geojson"
    assert f"{scen}: table [municipalities]: {bad}: feature 0 is a LineString, not a polygon" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()
