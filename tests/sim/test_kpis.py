"""KPIs recomputed by hand on a tiny hand-made event stream, and canonical bytes."""

from __future__ import annotations

import json

import pytest

from ondemand.sim.events import (
    NoShow,
    RequestAssigned,
    RequestCancelled,
    RequestRefused,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleArrived,
    VehicleDeparted,
    from_records,
    to_records,
)
from ondemand.sim.kpis import KPI_KEYS, compute_kpis, kpis_json


def _sub(rid: str, t: int, req: int, direct: int, pax: int = 1, fare: int = 300) -> RequestSubmitted:
    return RequestSubmitted(
        t, rid, "asap", req, 0, 1, pax, 0, direct, direct * 5, 100, 100, 0.0, 0.0, 0.0, 0.0, fare
    )


def _stream() -> list:
    # One vehicle, 09:00-11:00 (2 h). A (2 pax) and B share the van; C refused; D cancelled; E no-show.
    return [
        SimulationStarted(0, "tiny", 1, "2024-01-15", 1, 32400, 39600, 4000),
        ShiftStarted(32400, "v1", 0),
        _sub("A", 32400, 33000, 600, pax=2, fare=600),
        RequestAssigned(32400, "A", "v1", 33000, 33600, 34000, 35000),
        _sub("B", 32500, 33100, 300),
        RequestAssigned(32500, "B", "v1", 33100, 33700, 34000, 35000),
        _sub("C", 32600, 33200, 300),
        RequestRefused(32600, "C", "full"),
        _sub("D", 32700, 34000, 300),
        RequestAssigned(32700, "D", "v1", 34000, 34600, 35000, 36000),
        _sub("E", 32800, 36000, 300),
        RequestAssigned(32800, "E", "v1", 36000, 36600, 37000, 38000),
        VehicleDeparted(32800, "v1", 0, 1, 0, 300, 3000),  # empty: 3 km
        VehicleArrived(33100, "v1", 1),
        RiderPickedUp(33100, "A", "v1", 1, 2, 0, 33160, 2),  # waited 100 s
        RiderPickedUp(33160, "B", "v1", 1, 1, 0, 33190, 3),  # waited 60 s
        VehicleDeparted(33190, "v1", 1, 2, 3, 900, 9000),  # 9 km loaded
        VehicleArrived(34090, "v1", 2),
        RiderDroppedOff(34090, "B", "v1", 2, 1, 34110, 2),  # ride 900 s, direct 300 -> 3.0
        RiderDroppedOff(34110, "A", "v1", 2, 2, 34150, 0),  # ride 950 s, direct 600 -> 1.5833
        RequestCancelled(34200, "D"),
        VehicleDeparted(35000, "v1", 2, 3, 0, 200, 2000),  # empty: 2 km
        VehicleArrived(35200, "v1", 3),
        NoShow(36000, "E", "v1", 3),
        ShiftEnded(39600, "v1", 0),
    ]


def test_kpis_match_hand_computation() -> None:
    """Every KPI equals the value worked out by hand for the tiny stream."""
    k = compute_kpis(_stream())
    assert set(KPI_KEYS) <= set(k)
    assert (k["requests"], k["served"], k["refused"], k["cancelled"], k["no_shows"]) == (5, 2, 1, 1, 1)
    assert k["passengers"] == 3
    # 5 requests carrying 6 persons (A is a group of 2); 3 persons carried (A's 2 and B).
    assert (k["requests"], k["riders_requested"], k["riders"]) == (5, 6, 3)
    assert k["wait_mean_s"] == pytest.approx((100 + 60) / 2)
    assert k["wait_p90_s"] == pytest.approx(60 + 0.9 * 40)
    assert k["ride_mean_s"] == pytest.approx((950 + 900) / 2)
    assert k["detour_mean"] == pytest.approx(round((950 / 600 + 900 / 300) / 2, 3))
    assert k["vehicle_hours"] == 2.0
    assert k["vehicle_km"] == 14.0
    assert k["empty_km"] == 5.0
    assert k["driving_speed_kmh"] == 36.0  # 14,000 m in 300 + 900 + 200 s of driving
    assert k["passengers_per_vehicle_hour"] == 1.5
    assert k["shared_ride_share"] == 1.0
    assert k["fare_revenue_jpy"] == 900
    assert k["operating_cost_jpy"] == 8000
    assert k["subsidy_per_passenger_jpy"] == pytest.approx((8000 - 900) / 3, abs=0.05)
    assert k["refused_share"] == 0.2


def test_empty_day_has_null_rates() -> None:
    """With no request, rates are null rather than division errors."""
    k = compute_kpis(
        [
            SimulationStarted(0, "x", 0, "", 1, 0, 3600, 100),
            ShiftStarted(0, "v1", 0),
            ShiftEnded(3600, "v1", 0),
        ]
    )
    assert k["served"] == 0
    assert k["wait_mean_s"] is None
    assert k["driving_speed_kmh"] is None
    assert k["subsidy_per_passenger_jpy"] is None
    assert k["operating_cost_jpy"] == 100


def test_kpis_json_is_canonical() -> None:
    """Sorted keys, rounded floats: the same stream gives the same bytes."""
    a = kpis_json(compute_kpis(_stream()))
    b = kpis_json(compute_kpis(list(_stream())))
    assert a == b
    assert list(json.loads(a)) == sorted(json.loads(a))


def test_records_round_trip() -> None:
    """Events survive flattening to rows and back."""
    ev = _stream()
    assert from_records(to_records(ev)) == ev
