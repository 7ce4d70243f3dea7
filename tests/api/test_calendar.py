"""The live API books by the policy layer's calendar: public holidays and year-end closures are refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from ondemand.api.booking import ServiceConfig, service_config_from_scenario
from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import InvalidRequestError
from ondemand.scenario import load_scenario
from tests.sim.fakes import GridArea

SCEN = Path(__file__).resolve().parents[2] / "scenarios"


class _Area(GridArea):
    def stop_index(self, stop_id: str) -> int:
        return [s.id for s in self.stops].index(stop_id)


def _weekday_service() -> tuple[ServiceConfig, ServicePolicy]:
    sc = load_scenario(SCEN / "senboku.toml")
    year_end = (((12, 29), (1, 3)),)
    svc = dataclasses.replace(
        sc.service, calendar="weekdays", holidays=False, closures=year_end, booking_horizon_days=7
    )
    sc = dataclasses.replace(sc, service=svc)
    return service_config_from_scenario(sc, _Area(3)), ServicePolicy.from_scenario(sc)


@pytest.mark.parametrize(
    ("day", "today", "why"),
    [
        (dt.date(2024, 1, 8), dt.date(2024, 1, 5), "成人の日"),
        (dt.date(2023, 12, 29), dt.date(2023, 12, 27), "annual break"),
        (dt.date(2024, 1, 6), dt.date(2024, 1, 5), "weekdays only"),
    ],
)
def test_api_and_policy_refuse_the_same_closed_days(day: dt.date, today: dt.date, why: str) -> None:
    """The API's booking check and the policy refuse a holiday, the year-end break and a Saturday alike."""
    config, policy = _weekday_service()
    assert config.policy == policy  # the API books by the very policy the simulator follows
    for check in (config.policy.check_bookable, policy.check_bookable):
        with pytest.raises(InvalidRequestError, match=why):
            check(day, today)
    config.policy.check_bookable(dt.date(2024, 1, 9), dt.date(2024, 1, 5))
