"""Cross-municipal accounting: riders, trips and fares per town; subsidy first; shares add up exactly."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box, mapping

from ondemand.errors import ScenarioError
from ondemand.routing.geo.municipality import Municipalities, load_boundary_file
from ondemand.scenario import COST_RULES, MunicipalParams
from ondemand.sim.accounting import (
    OUTSIDE,
    largest_remainder,
    municipal_accounts,
    population_by_municipality,
    split_cost,
    subsidy_jpy,
)
from ondemand.sim.events import (
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleDeparted,
)

weights_st = st.lists(
    st.one_of(st.just(0.0), st.floats(0.0, 1e7, allow_nan=False, allow_infinity=False)),
    min_size=1,
    max_size=8,
)


@given(st.integers(0, 10**9), weights_st)
def test_largest_remainder_adds_up_and_stays_near_the_quota(total: int, weights: list[float]) -> None:
    """Parts sum to the total exactly, are >= 0, and each is within one yen of its exact quota."""
    parts = largest_remainder(total, weights)
    assert sum(parts) == total
    assert min(parts) >= 0
    s = sum(weights)
    for p, w in zip(parts, weights, strict=True):
        quota = total * w / s if s > 0 else total / len(weights)
        assert math.floor(quota) - 1e-6 <= p <= math.ceil(quota) + 1e-6


@given(
    st.integers(0, 10**8),
    st.sampled_from(COST_RULES),
    st.lists(st.integers(0, 10**6), min_size=2, max_size=6),
    st.floats(0.0, 0.5),
    st.one_of(st.none(), st.integers(0, 10**7)),
)
def test_subsidy_plus_shares_is_the_cost_for_every_rule(
    cost: int, rule: str, raw: list[int], rate: float, cap: int | None
) -> None:
    """For any rule's weights, the subsidy comes off first and subsidy + shares == total cost."""
    weights: list[float] = [float(x) for x in raw]
    if rule == "by_vehicle_km_inside":
        weights = [x / 7.0 for x in raw]  # metres: not integers after the midpoint split
    elif rule == "fixed":
        s = sum(raw) or 1
        weights = [x / s for x in raw]
    sub, shares = split_cost(cost, weights, rate=rate, cap_jpy=cap)
    assert sub + sum(shares) == cost
    assert 0 <= sub <= cost * rate + 1e-9
    assert cap is None or sub <= cap


def test_subsidy_rate_and_cap() -> None:
    """Half the cost, rounded down to the yen, up to the cap; rates above 1/2 are refused."""
    assert subsidy_jpy(137_159, rate=0.5, cap_jpy=None) == 68_579
    assert subsidy_jpy(137_159, rate=0.5, cap_jpy=25_386) == 25_386
    assert subsidy_jpy(1000, rate=0.0, cap_jpy=None) == 0
    with pytest.raises(ValueError, match="rate in"):
        subsidy_jpy(1000, rate=0.6, cap_jpy=None)


def test_largest_remainder_known_split() -> None:
    """100 yen by 1:1:1 is 34/33/33 (the first remainder wins the tie); all-zero weights split equally."""
    assert largest_remainder(100, [1.0, 1.0, 1.0]) == [34, 33, 33]
    assert largest_remainder(10, [0.0, 0.0]) == [5, 5]
    assert largest_remainder(7, [0.2, 0.3, 0.5]) == [1, 2, 4]  # quotas 1.4, 2.1, 3.5


@dataclasses.dataclass(frozen=True)
class _Stop:
    id: str
    name: str
    lon: float
    lat: float


# Two towns side by side: W (lon < 135.50) and E; stops 0, 1 in W, 2 in E, 3 outside both.
STOPS = (
    _Stop("0", "w0", 135.46, 34.45),
    _Stop("1", "w1", 135.48, 34.45),
    _Stop("2", "e2", 135.55, 34.45),
    _Stop("3", "x3", 135.70, 34.45),
)


def _munis() -> Municipalities:
    return Municipalities(
        ("W", "E"), (box(135.40, 34.40, 135.50, 34.50), box(135.50, 34.40, 135.60, 34.50)), "test"
    )


def _req(rid: str, a: int, b: int, pax: int, fare: int, older: int = 0) -> RequestSubmitted:
    return RequestSubmitted(
        0, rid, "LEAVE_AT", 3600, a, b, pax, 0, 300, 1000, 0, 0, 0.0, 0.0, 0.0, 0.0, fare, older
    )


def _day() -> list[Any]:
    ev: list[Any] = [
        SimulationStarted(0, "t", 1, "2026-12-01", 1, 32400, 36000, 3600),
        ShiftStarted(32400, "v0", 0),
        _req("a", 0, 1, 2, 600, older=1),  # within W
        _req("b", 1, 2, 1, 300),  # W -> E
        _req("c", 2, 0, 1, 300),  # E -> W
        _req("d", 0, 2, 1, 300, older=1),  # refused: never picked up
    ]
    for rid, s0, s1, pax in (("a", 0, 1, 2), ("b", 1, 2, 1), ("c", 2, 0, 1)):
        ev.append(RiderPickedUp(33000, rid, "v0", s0, pax, 0, 33030, pax))
        ev.append(RiderDroppedOff(33600, rid, "v0", s1, pax, 33620, 0))
    ev += [
        VehicleDeparted(33100, "v0", 0, 1, 2, 300, 1000),  # W only
        VehicleDeparted(33700, "v0", 1, 2, 1, 300, 3000),  # W 135.48 -> E 135.55: midpoint 135.515 in E
        VehicleDeparted(34000, "v0", 2, 3, 0, 300, 2000),  # E -> outside: midpoint 135.625 outside
        ShiftEnded(36000, "v0", 0),
    ]
    return ev


def test_accounts_of_a_hand_made_day() -> None:
    """Boarding, alighting, trips within/across, fares at boarding, km inside and shares are as counted."""
    p = MunicipalParams(cost_split="by_riders", subsidy_rate=0.5, subsidy_cap_jpy_per_year=None)
    acc = municipal_accounts(_day(), stops=STOPS, municipalities=_munis(), params=p, cap_jpy_per_day=1000)
    w, e = acc["by_municipality"]["W"], acc["by_municipality"]["E"]
    assert (w["riders_boarding"], w["riders_alighting"], e["riders_boarding"], e["riders_alighting"]) == (
        3,
        3,
        1,
        1,
    )
    assert (w["trips_within"], w["trips_across"], e["trips_within"], e["trips_across"]) == (1, 2, 0, 2)
    assert (w["fare_revenue_jpy"], e["fare_revenue_jpy"]) == (900, 300)
    assert (w["vehicle_km_inside"], e["vehicle_km_inside"]) == (1.0, 3.0)
    assert acc["by_municipality"][OUTSIDE]["vehicle_km_inside"] == 2.0
    assert acc["operating_cost_jpy"] == 3600  # 1 vehicle-hour at 3600 JPY
    assert acc["subsidy"]["jpy"] == 1000  # half would be 1800: capped
    assert (w["cost_share_jpy"], e["cost_share_jpy"]) == (1950, 650)  # 2600 by 6:2
    assert acc["subsidy"]["jpy"] + w["cost_share_jpy"] + e["cost_share_jpy"] == acc["operating_cost_jpy"]


@pytest.mark.parametrize(
    ("params", "population", "expect"),
    [
        (MunicipalParams(cost_split="by_vehicle_km_inside"), None, (900, 2700)),
        (MunicipalParams(cost_split="by_population"), [1.0, 2.0], (1200, 2400)),
        (
            MunicipalParams(cost_split="fixed", fixed_shares=MappingProxyType({"W": 0.25, "E": 0.75})),
            None,
            (900, 2700),
        ),
    ],
)
def test_each_rule_splits_the_cost(
    params: MunicipalParams, population: list[float] | None, expect: tuple[int, int]
) -> None:
    """km inside (1:3), population (1:2) and fixed shares (1:3) split the 3600 JPY as stated."""
    acc = municipal_accounts(
        _day(),
        stops=STOPS,
        municipalities=_munis(),
        params=params,
        population=population,
        population_basis="x",
    )
    rows = acc["by_municipality"]
    assert (rows["W"]["cost_share_jpy"], rows["E"]["cost_share_jpy"]) == expect


def test_older_riders_count_served_riders_only() -> None:
    """Riders 65+ are those of served requests (1 of 4 riders here); per town where they boarded."""
    from ondemand.sim.accounting import older_riders

    assert older_riders(_day()) == {"riders_65_plus": 1, "riders_65_plus_share": 0.25}
    acc = municipal_accounts(
        _day(), stops=STOPS, municipalities=_munis(), params=MunicipalParams(), with_older=True
    )
    assert acc["by_municipality"]["W"]["riders_65_plus_boarding"] == 1
    assert acc["by_municipality"]["E"]["riders_65_plus_boarding"] == 0
    plain = municipal_accounts(_day(), stops=STOPS, municipalities=_munis(), params=MunicipalParams())
    assert "riders_65_plus_boarding" not in plain["by_municipality"]["W"]


def test_fixed_shares_must_name_the_municipalities() -> None:
    """Fixed shares naming an unknown town (or leaving one out) are refused, naming the field."""
    p = MunicipalParams(cost_split="fixed", fixed_shares=MappingProxyType({"W": 0.5, "North": 0.5}))
    with pytest.raises(ScenarioError, match=r"fixed_shares.*'North'"):
        municipal_accounts(_day(), stops=STOPS, municipalities=_munis(), params=p, where="s.toml")


def test_population_from_buildings_and_mesh(tmp_path: Path) -> None:
    """Without a mesh, buildings in the zone are counted per town; a mesh square is split by area."""
    from ondemand.routing.geo.mesh import PopulationMesh, mesh_box

    munis = _munis()
    zone = box(135.45, 34.40, 135.55, 34.50)
    homes = (np.array([135.46, 135.47, 135.52, 135.58]), np.array([34.45] * 4))
    pop, basis = population_by_municipality(munis, within=zone, homes=homes)
    assert pop == [2.0, 1.0]
    assert "proxy" in basis
    code = "513573631"  # a 500 m square in Senboku; the towns' border runs through its middle
    w, s, e, n = mesh_box(code)
    mid = (w + e) / 2
    m2 = Municipalities(("A", "B"), (box(w - 1, s - 1, mid, n + 1), box(mid, s - 1, e + 1, n + 1)), "t")
    mesh = PopulationMesh((code,), np.array([1000]), np.array([300]), "m.csv")
    pop, basis = population_by_municipality(m2, within=box(w - 1, s - 1, e + 1, n + 1), mesh=mesh)
    assert pop == pytest.approx([500.0, 500.0])
    assert "m.csv" in basis
    pop, _ = population_by_municipality(m2, within=box(w - 1, s - 1, mid, n + 1), mesh=mesh)
    assert pop == pytest.approx([500.0, 0.0])  # only the part inside the zone counts


def test_boundary_file_scenario_keys(tmp_path: Path) -> None:
    """A boundary file read from disk feeds the accounts (names in file order)."""
    f = tmp_path / "b.geojson"
    f.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": mapping(box(135.40, 34.40, 135.50, 34.50)),
                        "properties": {"name": "W"},
                    },
                    {
                        "type": "Feature",
                        "geometry": mapping(box(135.50, 34.40, 135.60, 34.50)),
                        "properties": {"name": "E"},
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    acc = municipal_accounts(
        _day(), stops=STOPS, municipalities=load_boundary_file(f), params=MunicipalParams()
    )
    assert acc["names"] == ["W", "E"]
    assert acc["source"] == str(f)
