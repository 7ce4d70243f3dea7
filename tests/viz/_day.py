"""The small simulated day the map and plot tests draw."""

from __future__ import annotations

from typing import Any

from ondemand.dispatch.policy import ServicePolicy
from ondemand.sim.engine import default_dispatcher, run_day
from tests.sim.fakes import GridArea
from tests.sim.helpers import random_trips, scenario

AREA = GridArea(5)


def grid_day() -> list[Any]:
    """A small simulated day on a 5 x 5 grid with two vehicles."""
    sc = scenario("senboku", reoptimise_every_s=0)
    trips = random_trips(25, len(AREA.stops), 11, sc.service.start, sc.service.end)
    return run_day(
        area=AREA,
        policy=ServicePolicy.from_scenario(sc, fleet=2),
        fares=sc.fares,
        trips=trips,
        dispatcher_factory=default_dispatcher,
        depot=0,
        date="2024-01-15",
    )
