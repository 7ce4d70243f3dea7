"""ondemand validate: seeds simulated on the grid, their spread beside [observed], caveats said plainly."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from ondemand.scenario import Observation
from ondemand.sim.engine import simulate
from ondemand.sim.kpis import compute_kpis
from ondemand.sim.validate import validate
from tests.sim.fakes import GridArea
from tests.sim.helpers import random_trips, scenario

AREA = GridArea(4)
REPO = Path(__file__).resolve().parents[2]


class _Demand:
    """Twelve random trips a day on the grid, a different day per seed."""

    def trips(self, stops: Any, *, seed: int) -> list[Any]:
        return random_trips(12, len(stops), seed, 9 * 3600, 18 * 3600)


def _tiny() -> Any:
    sc = scenario("senboku", reoptimise_every_s=0)
    observed = {
        "riders_per_day": Observation(9.0, "a made-up pilot, 9 riders a day", fitted="demand.riders_per_day"),
        "passengers_per_vehicle_hour": Observation(0.5, "made up", derived="9 / (2 x 9)"),
    }
    return dataclasses.replace(
        sc, observed=MappingProxyType(observed), not_reproduced=("repeat riders: no identity across days",)
    )


def test_validate_spreads_seeds_beside_observations() -> None:
    """Each row holds the seeds' own KPIs (mean, min, max) and the observation with its source, unmixed."""
    sc = _tiny()
    res = validate(sc, seeds=3, area=AREA, demand=_Demand(), reoptimise=False)
    assert res.seeds == (0, 1, 2)
    assert len(set(res.dates)) == 3  # three different service days
    direct = [
        compute_kpis(simulate(sc, seed=s, area=AREA, demand=_Demand(), date=d, reoptimise=False).events)
        for s, d in zip(res.seeds, res.dates, strict=True)
    ]
    rows = {r.key: r for r in res.rows}
    riders = rows["riders_per_day"]
    assert riders.values == tuple(float(k["riders"]) for k in direct)
    assert riders.mean == pytest.approx(sum(k["riders"] for k in direct) / 3)
    assert (riders.low, riders.high) == (min(riders.values), max(riders.values))
    assert riders.observed is not None
    assert (riders.observed.value, riders.observed.source) == (9.0, "a made-up pilot, 9 riders a day")
    assert rows["requests_per_day"].values == (12.0, 12.0, 12.0)
    assert rows["refused_share"].observed is None
    waits = rows["wait_mean_min"].values
    assert waits == tuple(k["wait_mean_s"] / 60 for k in direct)


def test_validate_says_what_it_does_not_reproduce() -> None:
    """Unpublished metrics, fitted inputs, derived observations and the scenario's notes are stated."""
    res = validate(_tiny(), seeds=1, area=AREA, demand=_Demand(), reoptimise=False)
    text = "\n".join(res.caveats())
    assert "observed refused bookings (share of requests): not published" in text
    assert "demand.riders_per_day was set from this observation (calibrated to it)" in text
    assert "derived (9 / (2 x 9))" in text


def test_validate_needs_a_seed() -> None:
    """Zero seeds is refused with a message."""
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        validate(_tiny(), seeds=0, area=AREA, demand=_Demand())


@pytest.mark.slow
def test_validate_cli_on_the_senboku_pilot() -> None:
    """`ondemand validate scenarios/senboku.toml --seeds 2` prints its table with the observed 28 riders."""
    if not os.environ.get("ONDEMAND_DATA_DIR") or not Path(os.environ["ONDEMAND_DATA_DIR"]).is_dir():
        pytest.skip("needs the OSM data folder (set ONDEMAND_DATA_DIR to ../shared/data/osm)")
    from typer.testing import CliRunner

    from ondemand.cli import app

    r = CliRunner().invoke(
        app, ["validate", str(REPO / "scenarios" / "senboku.toml"), "--seeds", "2", "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert "riders a day" in r.output
    assert "28.0" in r.output  # the observation, in its own column
    assert "not published" in r.output
