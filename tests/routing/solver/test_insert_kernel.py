"""The compiled insertion search agrees with the numpy path, answer for answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.routing.solver import insertion
from ondemand.routing.solver.insertion import Insertion, Refusal, best_insertion
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
def _assert_same(fast: Insertion | Refusal, slow: Insertion | Refusal) -> None:
    """Same vehicle, stop order, cost (bit for bit) and promise, or the same refusal."""
    assert type(fast) is type(slow)
    if isinstance(fast, Insertion):
        assert isinstance(slow, Insertion)
        assert fast.vehicle_id == slow.vehicle_id
        assert fast.plan.route_of(fast.vehicle_id) == slow.plan.route_of(slow.vehicle_id)
        assert fast.cost == slow.cost
        assert fast.request == slow.request
    else:
        assert fast == slow


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
    _assert_same(*_both(plan, new, tt, now, opts))


def test_compiled_search_is_what_runs_by_default() -> None:
    """With numba installed, best_insertion takes the compiled path unless USE_COMPILED is off."""
    assert insertion.USE_COMPILED is True
    assert insertion.use_compiled()


def _day(seed: int, cancel_every: int) -> list[tuple[object, ...]]:
    """Every answer of a dispatcher over a random day (bookings, cancellations, legs completing)."""
    from ondemand.dispatch import InsertionDispatcher
    from ondemand.dispatch.base import DispatchOptions
    from ondemand.routing.solver.model import Vehicle

    rng = np.random.default_rng(seed)
    pts = rng.integers(0, 2_000, size=(60, 2))
    d = np.ceil(np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)) / 8).astype(np.int64)
    tt = ArrayTravelTimes(d, d * 8)
    vehicles = [Vehicle(f"v{k}", 3, int(k), 0, 20_000, end=0 if k == 0 else None) for k in range(6)]
    opts = DispatchOptions(
        insertion=insertion.InsertionOptions(promise_before=60, promise_after=240, delay_weight=0.5),
        auto_complete=True,
    )
    disp = InsertionDispatcher(vehicles, tt, options=opts)
    out: list[tuple[object, ...]] = []
    t = 0
    for i in range(120):
        t += int(rng.integers(0, 90))
        a, b = (int(x) for x in rng.choice(60, size=2, replace=False))
        direct = int(d[a, b])
        req = Request(f"r{i}", a, b, t, t + 600, t + 600 + 2 * direct + 120, 2 * direct + 120)
        res = disp.submit(req, now=t)
        if isinstance(res, Refusal):
            out.append((req.id, res.code))
        else:
            out.append((req.id, res.vehicle_id, res.pickup_window, res.dropoff_eta))
        if cancel_every and i % cancel_every == 0 and not isinstance(res, Refusal):
            disp.cancel(req.id, now=t)
    disp.advance(40_000)
    out.append(tuple(sorted(disp.plan.requests)))
    out.append((disp.counts(),))
    return out


@pytest.mark.parametrize(("seed", "cancel_every"), [(0, 0), (1, 7), (2, 3)])
def test_compiled_dispatcher_day_equals_numpy_day(seed: int, cancel_every: int) -> None:
    """A dispatcher's whole day (fleet arrays updated vehicle by vehicle) answers as the numpy path does."""
    fast = _day(seed, cancel_every)
    insertion.USE_COMPILED = False
    try:
        slow = _day(seed, cancel_every)
    finally:
        insertion.USE_COMPILED = True
    assert fast == slow
    assert sum(1 for x in fast[:-2] if len(x) == 4) > 30  # the day is not all refusals


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.integers(0, 60), st.integers(0, 200))
def test_compiled_search_equals_numpy_path_for_an_early_pickup(
    case: tuple[Plan, list[Request], Request, ArrayTravelTimes, insertion.InsertionOptions, int],
    pickup_width: int,
    ride_extra: int,
) -> None:
    """A pickup due before most planned stops are left (the compiled search skips their look-ups)
    gets the numpy path's answer, bit for bit."""
    plan, _, new, tt, opts, now = case
    direct = int(tt.durations[new.pickup, new.dropoff])
    lp = new.earliest_pickup + pickup_width
    early = replace(
        new,
        latest_pickup=lp,
        latest_dropoff=max(new.earliest_dropoff, lp + new.pickup_service + direct) + ride_extra,
        max_ride=direct + ride_extra,
    )
    _assert_same(*_both(plan, early, tt, now, opts))
