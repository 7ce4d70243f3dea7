"""End to end on the real pilot areas: CLI outputs, same seed same bytes, sweeps on a pool and Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ondemand.cli import app
from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import ScenarioError
from ondemand.sim.engine import default_dispatcher, run_day
from ondemand.sim.kpis import KPI_KEYS, compute_kpis, kpis_json
from ondemand.sim.sweep import parse_range
from tests.sim.fakes import GridArea
from tests.sim.helpers import REPO, random_trips, scenario

SENBOKU = str(REPO / "scenarios" / "senboku.toml")


def test_same_trips_same_kpi_bytes() -> None:
    """Two runs of the same day give byte-identical kpis.json text."""
    sc = scenario("senboku", reoptimise_every_s=0)
    area = GridArea(5)
    texts = []
    for _ in range(2):
        trips = random_trips(30, len(area.stops), 4, sc.service.start, sc.service.end)
        ev = run_day(
            area=area,
            policy=ServicePolicy.from_scenario(sc, fleet=2),
            fares=sc.fares,
            trips=trips,
            dispatcher_factory=default_dispatcher,
            depot=0,
        )
        texts.append(kpis_json(compute_kpis(ev)))
    assert texts[0] == texts[1]


def test_parse_range() -> None:
    """Fleet ranges and lists parse; bad ones are clear errors."""
    assert parse_range("1-4", what="fleet") == [1, 2, 3, 4]
    assert parse_range("2,4, 8", what="fleet") == [2, 4, 8]
    with pytest.raises(ScenarioError, match="--fleet"):
        parse_range("4-1", what="fleet")
    with pytest.raises(ScenarioError, match="positive"):
        parse_range("0-2", what="fleet")


@pytest.mark.slow
def test_simulate_cli_writes_outputs_and_is_reproducible(data_dir: Path, tmp_path: Path) -> None:
    """`ondemand simulate` writes the four files; the same seed gives the same bytes in each, maps too."""
    runner = CliRunner()
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        res = runner.invoke(app, ["simulate", SENBOKU, "--seed", "3", "--out", str(out), "--no-progress"])
        assert res.exit_code == 0, res.output
        outs.append(out)
    for name in ("kpis.json", "events.parquet", "report.html", "map.html"):
        assert (outs[0] / name).is_file()
    for name in ("events.parquet", "report.html", "map.html"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    a, b = ((o / "kpis.json").read_bytes() for o in outs)
    assert a == b
    k = json.loads(a)
    assert set(KPI_KEYS) <= set(k)
    assert k["served"] + k["refused"] + k["cancelled"] + k["no_shows"] == k["requests"]
    import pyarrow.parquet as pq

    from ondemand.sim.events import from_records

    rows = pq.read_table(outs[0] / "events.parquet").to_pylist()
    rebuilt = from_records([{c: v for c, v in r.items() if v is not None} | {"seq": r["seq"]} for r in rows])
    assert kpis_json(compute_kpis(rebuilt)) == a.decode()


def test_simulate_cli_refuses_a_weekend_for_a_weekday_service(tmp_path: Path) -> None:
    """A weekday-only scenario refuses a Saturday with a clear message."""
    res = CliRunner().invoke(
        app,
        [
            "simulate",
            str(REPO / "scenarios" / "higashiosaka.toml"),
            "--date",
            "2024-01-13",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code != 0
    assert isinstance(res.exception, ScenarioError)
    assert "weekdays only" in str(res.exception)


@pytest.mark.slow
def test_sweep_process_pool(data_dir: Path, tmp_path: Path) -> None:
    """A small sweep on the process pool writes the table and plot; more vans refuse no more."""
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            SENBOKU,
            "--fleet",
            "1-2",
            "--demand",
            "40",
            "--seeds",
            "2",
            "--no-reoptimise",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("fleet,demand,runs")
    assert len(lines) == 3
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    runs = (tmp_path / "sweep_runs.csv").read_text().splitlines()
    assert len(runs) == 1 + 4


@pytest.mark.slow
def test_sweep_on_local_ray(data_dir: Path) -> None:
    """The same sweep points on a local Ray (1 CPU) give the same KPIs as in-process."""
    ray = pytest.importorskip("ray")
    from ondemand.sim.sweep import sweep

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = sweep(SENBOKU, fleets=[2], demands=[28], seeds=1, engine="ray", reoptimise=False)
    finally:
        ray.shutdown()
    local = sweep(SENBOKU, fleets=[2], demands=[28], seeds=1, engine="process", workers=1, reoptimise=False)
    strip = ("wall_s",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in on_ray] == [
        {k: v for k, v in r.items() if k not in strip} for r in local
    ]


@pytest.mark.slow
def test_concurrent_simulations_with_reoptimisation_give_identical_files(
    data_dir: Path, tmp_path: Path
) -> None:
    """The same scenario and seed simulated by two processes at once, re-optimisation on: same bytes.

    The processes compete for the CPU and hash strings differently (PYTHONHASHSEED); the
    re-optimiser works to the scenario's iteration budget, so kpis.json and events.parquet
    are byte-identical. The day does re-optimise: requests move between vehicles.
    """
    pq = pytest.importorskip("pyarrow.parquet")
    outs = [tmp_path / "A", tmp_path / "B"]
    cmd = [sys.executable, "-m", "ondemand.cli", "simulate", SENBOKU, "--seed", "3", "--fleet", "3"]
    cmd += ["--demand", "80", "--no-progress", "--out"]
    procs = [
        subprocess.Popen(
            [*cmd, str(out)],
            env=os.environ | {"PYTHONHASHSEED": str(k + 1)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, out in enumerate(outs)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
    for name in ("kpis.json", "events.parquet"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    types = pq.read_table(outs[0] / "events.parquet", columns=["type"]).column("type").to_pylist()
    assert types.count("RequestReassigned") > 0
