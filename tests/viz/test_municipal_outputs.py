"""Cross-municipal outputs of a simulated day: kpis.json ``municipalities``, report table, map borders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim.helpers import REPO


@pytest.mark.slow
@pytest.mark.data
def test_senboku_izumi_day_says_who_pays(data_dir: Path, tmp_path: Path) -> None:
    """Sakai and Izumi: shares + subsidy = cost, km inside add up, same seed gives the same bytes."""
    from ondemand.scenario import load_scenario
    from ondemand.sim.engine import simulate
    from ondemand.viz.outputs import write_outputs

    sc = load_scenario(REPO / "scenarios" / "senboku_izumi.toml")
    area = sc.service_area(data_dir=data_dir)
    runs = []
    for k in range(2):
        res = simulate(sc, seed=1, area=area, date="2026-12-01")
        paths = write_outputs(res, tmp_path / f"run{k}", area=area, events_format="csv")
        runs.append({kind: p.read_bytes() for kind, p in paths.items()})
    for kind in ("kpis", "report", "map"):
        assert runs[0][kind] == runs[1][kind], kind
    kpis = json.loads(runs[0]["kpis"])
    acc = kpis["municipalities"]
    rows = acc["by_municipality"]
    assert acc["names"] == ["堺市", "和泉市"]
    assert acc["operating_cost_jpy"] == kpis["operating_cost_jpy"]
    assert (
        acc["subsidy"]["jpy"] + sum(r["cost_share_jpy"] for r in rows.values()) == kpis["operating_cost_jpy"]
    )
    assert (
        0 < acc["subsidy"]["jpy"] <= min(kpis["operating_cost_jpy"] // 2, acc["subsidy"]["cap_jpy_per_day"])
    )
    assert sum(r["riders_boarding"] for r in rows.values()) == kpis["riders"]
    assert sum(r["riders_alighting"] for r in rows.values()) == kpis["riders"]
    assert sum(r["fare_revenue_jpy"] for r in rows.values()) == kpis["fare_revenue_jpy"]
    assert sum(r["vehicle_km_inside"] for r in rows.values()) == pytest.approx(kpis["vehicle_km"], abs=0.01)
    assert rows["堺市"]["stops"] > 0
    assert rows["和泉市"]["stops"] > 0
    assert rows["和泉市"]["trips_across"] > 0  # the point of the service: trips cross the border
    report = (tmp_path / "run0" / "report.html").read_text(encoding="utf-8")
    assert "Municipalities: who rode where, who pays what" in report
    assert "和泉市" in report
    assert f"{rows['和泉市']['cost_share_jpy']:,}" in report
    page = (tmp_path / "run0" / "map.html").read_text(encoding="utf-8")
    assert "Municipalities (borders, riders, cost shares)" in page
    assert "cost share (JPY)" in page
