"""A simulated day on travel times answered on demand is the day on the dense matrix, event for event."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import ScenarioError
from ondemand.routing.geo.lazy import OnDemandTravelTimes, TravelTimesParams
from ondemand.routing.geo.matrix import build_matrix
from ondemand.routing.geo.network import RoadNetwork
from ondemand.scenario import load_scenario
from ondemand.sim.engine import run_day, simulate
from ondemand.sim.kpis import request_outcomes
from tests.routing.geo._network_fixtures import grid_network, isolated_cache
from tests.sim.fakes import FakeStop, StraightPath
from tests.sim.helpers import REPO, promise_violations, random_trips, scenario

_cache = pytest.fixture(scope="module", autouse=True)(isolated_cache)


@dataclass(frozen=True)
class RoadArea:
    """Stops on the nodes of a synthetic road network, with its travel times (dense or on demand)."""

    network: RoadNetwork
    matrix: Any
    stops: tuple[FakeStop, ...] = field(init=False)

    def __post_init__(self) -> None:
        net = self.network
        stops = tuple(
            FakeStop(f"s{i}", f"stop {i}", float(net.lon[n]), float(net.lat[n]), int(n))
            for i, n in enumerate(self.matrix.nodes.tolist())
        )
        object.__setattr__(self, "stops", stops)

    def path(self, i: int, j: int) -> StraightPath:
        return StraightPath(self.stops[i], self.stops[j], int(self.matrix.durations[i, j]))


def _day(area: RoadArea, *, reoptimise_every_s: int, seed: int) -> list[Any]:
    sc = scenario("senboku", reoptimise_every_s=reoptimise_every_s, reoptimise_iterations=20)
    trips = random_trips(40, len(area.stops), seed, sc.service.start, sc.service.end)
    return run_day(
        area=area,
        policy=ServicePolicy.from_scenario(sc, fleet=2),
        fares=sc.fares,
        trips=trips,
        depot=0,
    )


@pytest.mark.parametrize("reoptimise_every_s", [0, 3600])
def test_day_on_demand_equals_day_on_the_matrix(reoptimise_every_s: int) -> None:
    """Same trips, dense vs on-demand (a cache of two rows): identical events, re-optimisation included."""
    net = grid_network(7)
    nodes = np.arange(net.n_nodes)
    dense = RoadArea(net, build_matrix(net, nodes, backend="scipy"))
    lazy_tt = OnDemandTravelTimes(net, nodes, cache_mb=2 * 8 * len(nodes) / 1e6)
    lazy = RoadArea(net, lazy_tt)
    ev_dense = _day(dense, reoptimise_every_s=reoptimise_every_s, seed=3)
    ev_lazy = _day(lazy, reoptimise_every_s=reoptimise_every_s, seed=3)
    assert ev_lazy == ev_dense
    out = request_outcomes(ev_lazy)
    assert list(out.values()).count("served") > 5
    assert promise_violations(ev_lazy) == []
    info = lazy_tt.cache_info()
    assert info.rows + info.columns <= 2
    assert info.bytes <= info.max_bytes


def test_scenario_travel_times_table(tmp_path: Path) -> None:
    """[travel_times] becomes TravelTimesParams; absent = the defaults (auto); a bad mode names the table."""
    text = (REPO / "scenarios" / "senboku.toml").read_text(encoding="utf-8")
    assert load_scenario(REPO / "scenarios" / "senboku.toml").travel_times == TravelTimesParams()
    good = tmp_path / "good.toml"
    good.write_text(text + '\n[travel_times]\nmode = "on_demand"\ncache_mb = 64\n', encoding="utf-8")
    assert load_scenario(good).travel_times == TravelTimesParams(mode="on_demand", cache_mb=64.0)
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[travel_times]\nmode = "sparse"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"\[travel_times\].*mode must be"):
        load_scenario(bad)


@pytest.mark.slow
def test_pilot_day_on_demand_equals_the_matrix_day(data_dir: Path) -> None:
    """Senboku pilot scenario, one seed: [travel_times] on_demand gives the matrix's events exactly."""
    sc = load_scenario(REPO / "scenarios" / "senboku.toml")
    lazy_sc = replace(sc, travel_times=TravelTimesParams(mode="on_demand", cache_mb=1.0))
    dense = simulate(sc, seed=1, data_dir=data_dir)
    lazy = simulate(lazy_sc, seed=1, data_dir=data_dir)
    assert lazy.events == dense.events
    assert len(lazy.events) > 100
