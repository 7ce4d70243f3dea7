"""Demand: seeded synthetic days from the OSM layers, and CSV replay with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ondemand.errors import DataNotFoundError, ScenarioError
from ondemand.routing.solver.model import BookingKind
from ondemand.sim.demand import CsvDemand, SyntheticDemand, _Weighted
from tests.sim.fakes import FakeStop
from tests.sim.helpers import scenario

# Stops spread over Senboku New Town (lon/lat), enough to reach homes and POIs.
STOPS = tuple(
    FakeStop(f"s{i}{j}", f"stop {i}{j}", 135.455 + 0.008 * j, 34.460 + 0.007 * i)
    for i in range(10)
    for j in range(10)
)


@pytest.fixture(scope="module")
def days(data_dir: Path) -> tuple[list, list, list]:
    sc = scenario("senboku")
    model = SyntheticDemand(sc, data_dir=data_dir, riders_per_day=236)  # 200 requests at 1.18
    return model.trips(STOPS, seed=5), model.trips(STOPS, seed=5), model.trips(STOPS, seed=6)


def test_same_seed_same_day(days: tuple[list, list, list]) -> None:
    """The same seed gives the same trips; another seed gives other trips."""
    a, b, c = days
    assert a == b
    assert a != c


def test_trips_respect_the_scenario(days: tuple[list, list, list]) -> None:
    """Counts, hours, walking limits, group sizes, round trips and booking kinds follow the scenario."""
    sc = scenario("senboku")
    trips = days[0]
    assert 150 <= len(trips) <= 250  # Poisson(236 riders / 1.18 riders per request = 200)
    riders = sum(t.passengers for t in trips)
    assert 1.05 * len(trips) <= riders <= 1.35 * len(trips)  # mean group size 1.18
    assert [t.booked_at for t in trips] == sorted(t.booked_at for t in trips)
    for t in trips:
        assert sc.service.start <= t.requested_pickup <= sc.service.end - 1800
        assert t.booked_at <= t.requested_pickup
        assert t.walk_to_m <= sc.demand.max_walk_m
        assert t.walk_from_m <= sc.demand.max_walk_m
        assert (
            t.walk_to_s == -(-t.walk_to_m // 1)
            or t.walk_to_s >= t.walk_to_m / sc.demand.walking_speed_mps - 1
        )
        assert 1 <= t.passengers <= len(sc.demand.group_sizes)
        assert t.pickup_stop != t.dropoff_stop
        assert not (t.no_show and t.cancel_at is not None)
    by_id = {t.id: t for t in trips}
    returns = [t for t in trips if t.return_of is not None]
    assert returns
    for r in returns:
        out = by_id[r.return_of]
        assert (r.pickup_stop, r.dropoff_stop) == (out.dropoff_stop, out.pickup_stop)
        assert r.requested_pickup > out.requested_pickup
    kinds = {t.kind for t in trips}
    assert kinds == {BookingKind.ASAP, BookingKind.LEAVE_AT}


def test_bbox_restricts_demand(data_dir: Path) -> None:
    """With a custom area box, every origin and destination lies inside it."""
    sc = scenario("senboku_izumi")
    trips = SyntheticDemand(sc, data_dir=data_dir, riders_per_day=118).trips(STOPS, seed=1)
    w, s, e, n = sc.area_spec.bbox
    assert trips
    for t in trips:
        for lon, lat in (t.origin, t.destination):
            assert w <= lon <= e
            assert s <= lat <= n


def test_population_mesh_weights_homes(data_dir: Path, tmp_path: Path) -> None:
    """With a census mesh, outbound trips start only in peopled squares, about in their proportion."""
    import dataclasses

    import numpy as np

    from ondemand.routing.geo.mesh import load_population_mesh, mesh_code

    a, b = mesh_code(135.48, 34.47), mesh_code(135.462, 34.463)  # Komyoike (Sakai), Izumi-Chuo (Izumi)
    mesh_file = tmp_path / "mesh.csv"
    mesh_file.write_bytes(
        (
            "KEY_CODE,HTKSYORI,HTKSAKI,GASSAN,T001101001,T001101010\n"
            ",,,,人口（総数）,65歳以上人口　総数\n"
            f"{a},0,,,3000,900\n{b},0,,,1000,200\n"
        ).encode("cp932")
    )
    sc = scenario("senboku_izumi")
    sc = dataclasses.replace(sc, demand=dataclasses.replace(sc.demand, population_mesh=mesh_file))
    trips = SyntheticDemand(sc, data_dir=data_dir, riders_per_day=236).trips(STOPS, seed=3)
    outbound = [t for t in trips if t.return_of is None]
    mesh = load_population_mesh(mesh_file)
    where = mesh.locate(np.array([t.origin[0] for t in outbound]), np.array([t.origin[1] for t in outbound]))
    assert len(outbound) > 50
    assert (where >= 0).all()
    share_a = float(np.mean(where == mesh.codes.index(a)))
    assert 0.6 <= share_a <= 0.9  # 3000 of 4000 people
    older = sum(t.older for t in outbound) / sum(t.passengers for t in outbound)
    assert 0.15 <= older <= 0.4  # 65+: 30 % in a, 20 % in b
    by_id = {t.id: t for t in trips}
    assert all(t.older == by_id[t.return_of].older for t in trips if t.return_of is not None)
    assert all(0 <= t.older <= t.passengers for t in trips)
    plain = SyntheticDemand(scenario("senboku_izumi"), data_dir=data_dir, riders_per_day=236).trips(
        STOPS, seed=3
    )
    assert all(t.older == 0 for t in plain)  # ages are unknown without the mesh


def test_csv_replay(tmp_path: Path) -> None:
    """A CSV of requests is snapped to stops, with ASAP when no pickup time is given."""
    p = tmp_path / "req.csv"
    p.write_text(
        "id,booked_at,pickup_time,origin_lon,origin_lat,dest_lon,dest_lat,passengers,no_show\n"
        "x1,09:00,10:30,135.455,34.460,135.471,34.474,2,0\n"
        "x2,09:05:30,,135.479,34.467,135.455,34.460,,1\n",
        encoding="utf-8",
    )
    trips = CsvDemand(p).trips(STOPS)
    assert [t.id for t in trips] == ["x1", "x2"]
    x1, x2 = trips
    assert (x1.booked_at, x1.requested_pickup, x1.kind, x1.passengers) == (
        32400,
        37800,
        BookingKind.LEAVE_AT,
        2,
    )
    assert (x1.pickup_stop, x1.dropoff_stop, x1.walk_to_m) == (0, 22, 0)
    assert x2.kind is BookingKind.ASAP
    assert x2.no_show
    assert x2.requested_pickup == 32730 + x2.walk_to_s


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("x1,09:00,,abc,34.46,135.47,34.47", "origin_lon"),
        ("x1,9h,,135.455,34.46,135.47,34.47", "booked_at"),
        ("x1,09:00,,135.455,34.46,135.455,34.46", "dest_lon"),
        ("x1,09:00,,140.0,34.46,135.47,34.47", "origin_lon"),
        ("x1,09:00,08:00,135.455,34.46,135.47,34.47", "pickup_time"),
    ],
)
def test_csv_bad_rows_name_line_and_column(tmp_path: Path, row: str, column: str) -> None:
    """A bad row raises ScenarioError naming the file, line 2 and the column."""
    p = tmp_path / "bad.csv"
    p.write_text(
        "id,booked_at,pickup_time,origin_lon,origin_lat,dest_lon,dest_lat\n" + row + "\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as info:
        CsvDemand(p).trips(STOPS)
    assert str(p) in str(info.value)
    assert "line 2" in str(info.value)
    assert repr(column) in str(info.value)


def test_csv_missing_column(tmp_path: Path) -> None:
    """A CSV without a required column is refused with the column's name."""
    p = tmp_path / "bad.csv"
    p.write_text("id,booked_at\nx,09:00\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="origin_lon"):
        CsvDemand(p).trips(STOPS)


def test_missing_layer_names_file_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SyntheticDemand without its POI file raises DataNotFoundError naming the file and where it looked."""
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(tmp_path / "cache"))
    given = tmp_path / "data"
    given.mkdir()
    (given / "senboku_buildings.geojson").write_text('{"features": []}', encoding="utf-8")
    with pytest.raises(DataNotFoundError, match=r"senboku_pois\.geojson not found") as err:
        SyntheticDemand(scenario("senboku"), data_dir=given)
    msg = str(err.value)
    assert "senboku_buildings" not in msg
    assert str(given) in msg
    assert str(tmp_path / "cache" / "osm") in msg
    assert "ONDEMAND_DATA_DIR" in msg


@settings(max_examples=200)
@given(
    weights=st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=300).filter(
        lambda w: sum(w) > 0
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_weighted_draws_equal_numpy_choice(weights: list[float], seed: int) -> None:
    """_Weighted draws the same indices as rng.choice(len(p), p=p) and leaves the stream in step."""
    p = np.array(weights) / sum(weights)
    if abs(p.sum() - 1.0) > 1e-8:  # choice refuses such p; the day never builds one
        return
    fast, ref = np.random.default_rng(seed), np.random.default_rng(seed)
    sampler = _Weighted(p)
    assert [sampler.draw(fast) for _ in range(20)] == [int(ref.choice(len(p), p=p)) for _ in range(20)]
    assert fast.random() == ref.random()
