"""The rider's drop-off estimate: never before the pickup window ends, nor after the latest drop-off."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ondemand.dispatch import Assignment
from ondemand.dispatch.policy import Booking, ServicePolicy
from ondemand.routing.solver.model import BookingKind
from ondemand.sim.engine import run_day
from ondemand.sim.events import RequestAssigned
from tests.sim.fakes import GridArea
from tests.sim.helpers import random_trips, scenario

AREA = GridArea(4)

_booking = st.tuples(
    st.integers(0, 15),  # pickup stop
    st.integers(0, 15),  # drop-off stop
    st.sampled_from(list(BookingKind)),
    st.integers(0, 3600),  # requested time, seconds after the booking
    st.integers(1, 3),  # passengers
    st.integers(0, 600),  # seconds from the previous booking
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_booking, min_size=1, max_size=25), st.integers(1, 3))
def test_dropoff_estimate_is_within_the_promise(bookings: list[tuple[int, ...]], fleet: int) -> None:
    """Property: for any bookings, pickup window end <= drop-off estimate <= latest drop-off."""
    policy = ServicePolicy.from_scenario(scenario("senboku", reoptimise_every_s=0), fleet=fleet)
    disp = policy.dispatcher(policy.vehicles(AREA.stops, depot=0), AREA.matrix)
    now = policy.start
    for k, (a, b, kind, ahead, pax, gap) in enumerate(bookings):
        now += gap
        if a == b or now > policy.end:
            continue
        at = now + ahead
        booking = Booking(
            id=f"r{k}",
            pickup=a,
            dropoff=b,
            kind=kind,
            pickup_at=at if kind is BookingKind.LEAVE_AT else None,
            dropoff_by=at + 1800 if kind is BookingKind.ARRIVE_BY else None,
            passengers=pax,
        )
        try:
            req = policy.request(booking, AREA.matrix, now=now)
        except ValueError:
            continue
        answer = disp.submit(req, now=now)
        if isinstance(answer, Assignment):
            start, end = answer.pickup_window
            assert start <= end <= answer.dropoff_eta <= answer.latest_dropoff, answer


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30))
def test_simulated_dropoff_estimates_follow_the_same_rule(seed: int, n: int) -> None:
    """Property: every RequestAssigned of a simulated day has pickup_end <= dropoff_eta <= latest_dropoff."""
    sc = scenario("senboku", reoptimise_every_s=0)
    policy = ServicePolicy.from_scenario(sc, fleet=2)
    trips = random_trips(n, len(AREA.stops), seed, sc.service.start, sc.service.end)
    events = run_day(area=AREA, policy=policy, fares=sc.fares, trips=trips, depot=0)
    for e in events:
        if isinstance(e, RequestAssigned):
            assert e.pickup_start <= e.pickup_end <= e.dropoff_eta <= e.latest_dropoff, e
