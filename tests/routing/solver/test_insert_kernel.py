"""The compiled insertion search agrees with the numpy path, answer for answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.solver import insertion
from ondemand.routing.solver.insertion import Insertion, best_insertion
from ondemand.routing.solver.model import ArrayTravelTimes, Plan, Request, Route
from tests.routing.solver.test_insertion import scenario

pytest.importorskip("numba", reason="the compiled search needs numba")


def _both(
    plan: Plan, new: Request, tt: ArrayTravelTimes, now: int, opts: insertion.InsertionOptions
) -> tuple[object, object]:
    """The answer of the compiled search and of the numpy path."""
    assert insertion.use_compiled()
    fast = best_insertion(plan, new, tt, now=now, options=opts)
    insertion.USE_COMPILED = False
    try:
        slow = best_insertion(plan, new, tt, now=now, options=opts)
    finally:
        insertion.USE_COMPILED = True
    return fast, slow


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.sampled_from([None, None, 300, 600, 1200]))
def test_compiled_search_equals_numpy_path(
    case: tuple[Plan, list[Request], Request, ArrayTravelTimes, insertion.InsertionOptions, int],
    max_duration: int | None,
) -> None:
    """Same vehicle, same stop order, same cost (bit for bit) and same promise, or the same refusal."""
    plan, _, new, tt, opts, now = case
    if max_duration is not None:
        plan = Plan(
            tuple(Route(replace(r.vehicle, max_route_duration=max_duration), r.stops) for r in plan.routes),
            plan.requests,
        )
    fast, slow = _both(plan, new, tt, now, opts)
    assert type(fast) is type(slow)
    if isinstance(fast, Insertion):
        assert isinstance(slow, Insertion)
        assert fast.vehicle_id == slow.vehicle_id
        assert fast.plan.route_of(fast.vehicle_id) == slow.plan.route_of(slow.vehicle_id)
        assert fast.cost == slow.cost
        assert fast.request == slow.request
    else:
        assert fast == slow


def test_compiled_search_is_what_runs_by_default() -> None:
    """With numba installed, best_insertion takes the compiled path unless USE_COMPILED is off."""
    assert insertion.USE_COMPILED is True
    assert insertion.use_compiled()
