"""Cross-municipal accounting: who rode where, and who pays what (``kpis.json`` key ``municipalities``).

Per municipality, from a day's events and the municipality of each stop:

- ``riders_boarding``, ``riders_alighting``: persons picked up / dropped off at its stops (served
  requests);
- ``trips_within``: served requests with both ends in it; ``trips_across``: served requests with
  one end in it and the other in another municipality (counted on both sides);
- ``fare_revenue_jpy``: fares of the served requests that boarded there;
- ``vehicle_km_inside``: kilometres driven inside it, along the roads the vehicles drove (each
  road segment counts for the municipality of its midpoint; straight legs between stops when no
  road paths are given);
- ``population``: people in the service zone living in it (the population mesh, squares split by
  area), or the count of buildings there as a proxy when no mesh is given (``population_basis``
  says which);
- ``cost_share_jpy``: its share of the day's operating cost after the prefecture's subsidy.

The subsidy comes off first: ``min(floor(rate x cost), cap per day)``, the cap per day being the
yearly cap over the service days of a year. What is left is split by the scenario's rule
(:data:`~ondemand.scenario.COST_RULES`) in integer yen with largest-remainder rounding
(:func:`largest_remainder`), so ``subsidy + sum of shares == operating cost`` exactly.
When the rule's weights are all zero (no rider on a quiet day), the cost is split equally and
``weights_basis`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ondemand.errors import ScenarioError
from ondemand.routing.geo.municipality import Municipalities
from ondemand.scenario import COST_RULES, MunicipalParams
from ondemand.sim.events import (
    Event,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleDeparted,
)

__all__ = [
    "OUTSIDE",
    "largest_remainder",
    "municipal_accounts",
    "older_riders",
    "split_cost",
    "subsidy_jpy",
]

_MARGIN_DEG = 0.01
OUTSIDE = "(outside the municipalities)"
"""The row for stops and road outside every municipality polygon (gets no cost share)."""


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` integer units in proportion to ``weights`` (Hamilton's method).

    Each part is the floor of its exact quota, and the units left go one each to the largest
    remainders (ties: the earlier part). The parts add up to ``total`` exactly. Weights are
    taken exactly (as fractions of their float values); all-zero weights split equally.

    Raises
    ------
    ValueError
        For a negative total, no weights, or a negative or non-finite weight.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if not weights:
        raise ValueError("no weights to split by")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and >= 0, got {list(weights)}")
    ws = [Fraction(w) for w in weights]
    s = sum(ws, Fraction(0))
    if s == 0:
        ws, s = [Fraction(1)] * len(weights), Fraction(len(weights))
    quotas = [total * w / s for w in ws]
    parts = [math.floor(q) for q in quotas]
    left = total - sum(parts)
    order = sorted(range(len(ws)), key=lambda k: (-(quotas[k] - parts[k]), k))
    for k in order[:left]:
        parts[k] += 1
    return parts


def subsidy_jpy(cost_jpy: int, *, rate: float, cap_jpy: int | None) -> int:
    """The prefecture's subsidy: ``floor(rate x cost)``, at most ``cap_jpy`` (integer yen)."""
    if cost_jpy < 0 or not 0.0 <= rate <= 0.5:
        raise ValueError(f"cost must be >= 0 and rate in [0, 0.5], got {cost_jpy}, {rate}")
    s = math.floor(Fraction(cost_jpy) * Fraction(rate))
    return s if cap_jpy is None else min(s, cap_jpy)


def split_cost(
    cost_jpy: int,
    weights: Sequence[float],
    *,
    rate: float = 0.0,
    cap_jpy: int | None = None,
) -> tuple[int, list[int]]:
    """The subsidy and each municipality's share of the rest: ``subsidy + sum(shares) == cost_jpy``."""
    sub = subsidy_jpy(cost_jpy, rate=rate, cap_jpy=cap_jpy)
    return sub, largest_remainder(cost_jpy - sub, weights)


def older_riders(events: Sequence[Event]) -> dict[str, Any]:
    """Riders carried who are 65 or over (``RequestSubmitted.older`` of served requests) and their share.

    Meaningful only when the demand knew ages (a population mesh); the caller decides to report it.
    """
    submitted = {e.request_id: e for e in events if isinstance(e, RequestSubmitted)}
    picked = {e.request_id for e in events if isinstance(e, RiderPickedUp)}
    served = [
        submitted[e.request_id]
        for e in events
        if isinstance(e, RiderDroppedOff) and e.request_id in picked and e.request_id in submitted
    ]
    riders = sum(r.passengers for r in served)
    old = sum(r.older for r in served)
    return {"riders_65_plus": old, "riders_65_plus_share": _r(old / riders) if riders else None}


def _r(x: float, nd: int = 3) -> float:
    v = round(float(x), nd)
    return 0.0 if v == 0 else v


def service_days_per_year(scenario: Any, date: str) -> int:
    """Days the service runs in the 365 days from ``date`` (the calendar the live API books by)."""
    import datetime as _dt

    from ondemand.dispatch.policy import ServicePolicy

    cal = ServicePolicy.from_scenario(scenario).rules.calendar
    first = _dt.date.fromisoformat(date)
    return sum(1 for k in range(365) if cal.closed_reason(first + _dt.timedelta(days=k)) is None)


def municipal_accounts(
    events: Sequence[Event],
    *,
    stops: Sequence[Any],
    municipalities: Municipalities,
    params: MunicipalParams,
    leg_path: Any = None,
    population: Sequence[float] | None = None,
    population_basis: str = "",
    cap_jpy_per_day: int | None = None,
    where: str = "scenario",
    with_older: bool = False,
) -> dict[str, Any]:
    """The ``municipalities`` block of ``kpis.json`` (see the module docstring).

    Parameters
    ----------
    events
        The day's events.
    stops
        The meeting points (``lon``, ``lat``; event stop indices refer to them).
    municipalities
        The polygons.
    params
        The scenario's ``[municipalities]``.
    leg_path
        ``(i, j) -> RoadPath`` (the road driven between two stops); straight lines when ``None``.
    population
        People (or buildings) per municipality, in ``municipalities.names`` order (``by_population``).
    population_basis
        What ``population`` counts, as shown in the output.
    cap_jpy_per_day
        The subsidy cap for this day (``None``: no cap).
    where
        The scenario file, for error messages.
    with_older
        Also count riders aged 65+ boarding (``riders_65_plus_boarding``; known with a population mesh).

    Raises
    ------
    ScenarioError
        When ``fixed_shares`` names a municipality the boundaries do not have, or leaves one out.
    """
    names = list(municipalities.names)
    n = len(names)
    rule = params.cost_split
    if rule not in COST_RULES:
        choices = ", ".join(COST_RULES)
        raise ScenarioError(
            f"{where}: field 'municipalities.cost_split': unknown rule {rule!r}; use one of {choices}"
        )
    lon = np.array([float(s.lon) for s in stops], dtype=np.float64)
    lat = np.array([float(s.lat) for s in stops], dtype=np.float64)
    stop_muni = municipalities.locate(lon, lat) if len(stops) else np.zeros(0, dtype=np.int64)
    stop_muni = np.where(stop_muni < 0, n, stop_muni)  # n: outside

    evs = list(events)
    meta = next((e for e in evs if isinstance(e, SimulationStarted)), None)
    submitted = {e.request_id: e for e in evs if isinstance(e, RequestSubmitted)}
    picked = {e.request_id for e in evs if isinstance(e, RiderPickedUp)}
    served = sorted(e.request_id for e in evs if isinstance(e, RiderDroppedOff) and e.request_id in picked)
    board = np.zeros(n + 1, dtype=np.int64)
    older = np.zeros(n + 1, dtype=np.int64)
    alight = np.zeros(n + 1, dtype=np.int64)
    within = np.zeros(n + 1, dtype=np.int64)
    across = np.zeros(n + 1, dtype=np.int64)
    fares = np.zeros(n + 1, dtype=np.int64)
    for rid in served:
        r = submitted.get(rid)
        if r is None:
            continue
        a, b = int(stop_muni[r.pickup_stop]), int(stop_muni[r.dropoff_stop])
        board[a] += r.passengers
        older[a] += r.older
        alight[b] += r.passengers
        fares[a] += r.fare_jpy
        if a == b:
            within[a] += 1
        else:
            across[a] += 1
            across[b] += 1

    metres = np.zeros(n + 1, dtype=np.float64)
    for e in evs:
        if not isinstance(e, VehicleDeparted) or e.from_stop == e.to_stop:
            continue
        p = leg_path(e.from_stop, e.to_stop) if leg_path is not None else None
        if p is not None and hasattr(p, "metres") and len(p.metres) > 1 and float(p.metres[-1]) > 0:
            # the roads driven, scaled so that the parts add up to the leg's distance in the events
            metres += municipalities.metres_inside(p.lon, p.lat, p.metres) * (
                e.distance_m / float(p.metres[-1])
            )
        else:
            # a straight line; a turning point (past the stops, no road path given) counts as the
            # leg's stop end
            known = [x for x in (e.from_stop, e.to_stop) if 0 <= x < len(lon)] or [0]
            u, v = known[0], known[-1]
            metres += municipalities.metres_inside(
                lon[[u, v]],
                lat[[u, v]],
                np.array([0.0, float(e.distance_m)]),
            )

    rate = meta.cost_per_vehicle_hour_jpy if meta is not None else 0
    starts = {e.vehicle_id: e.t for e in evs if isinstance(e, ShiftStarted)}
    ends = {e.vehicle_id: e.t for e in evs if isinstance(e, ShiftEnded)}
    vehicle_s = sum(ends[v] - starts[v] for v in starts if v in ends)
    cost = round(vehicle_s / 3600.0 * rate)  # as kpis.operating_cost_jpy

    basis = {
        "by_riders": "riders boarding plus riders alighting in each municipality",
        "by_vehicle_km_inside": "vehicle-km driven inside each municipality (roads driven)",
        "by_population": f"people in the service zone in each municipality ({population_basis})",
        "fixed": "fixed shares given by the scenario",
    }[rule]
    weights: list[float]
    if rule == "by_riders":
        weights = [float(board[k] + alight[k]) for k in range(n)]
    elif rule == "by_vehicle_km_inside":
        weights = [float(metres[k]) for k in range(n)]
    elif rule == "by_population":
        if population is None or len(population) != n:
            raise ValueError("by_population needs one population figure per municipality")
        weights = [float(x) for x in population]
    else:
        unknown = sorted(set(params.fixed_shares) - set(names))
        missing = [m for m in names if m not in params.fixed_shares]
        if unknown or missing:
            raise ScenarioError(
                f"{where}: field 'municipalities.fixed_shares': "
                + (
                    f"names {unknown[0]!r}, which is not among the municipalities {names}"
                    if unknown
                    else f"gives no share for {missing[0]!r}; give one share per municipality {names}"
                )
            )
        weights = [float(params.fixed_shares[m]) for m in names]
    if sum(weights) <= 0:
        basis += "; all zero on this day, so split equally"
    sub, shares = split_cost(cost, weights, rate=params.subsidy_rate, cap_jpy=cap_jpy_per_day)

    wsum = sum(weights)
    rows: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        row: dict[str, Any] = {
            "stops": int(np.sum(stop_muni == k)),
            "riders_boarding": int(board[k]),
            "riders_alighting": int(alight[k]),
            "trips_within": int(within[k]),
            "trips_across": int(across[k]),
            "fare_revenue_jpy": int(fares[k]),
            "vehicle_km_inside": _r(metres[k] / 1000.0),
            "weight_share": _r(weights[k] / wsum if wsum > 0 else 1.0 / n, 6),
            "cost_share_jpy": int(shares[k]),
        }
        if population is not None:
            row["population"] = _r(float(population[k]), 1)
        if with_older:
            row["riders_65_plus_boarding"] = int(older[k])
        rows[name] = row
    if stop_muni.size and (np.any(stop_muni == n) or board[n] or alight[n] or metres[n] > 0):
        rows[OUTSIDE] = {
            "stops": int(np.sum(stop_muni == n)),
            "riders_boarding": int(board[n]),
            "riders_alighting": int(alight[n]),
            "trips_within": int(within[n]),
            "trips_across": int(across[n]),
            "fare_revenue_jpy": int(fares[n]),
            "vehicle_km_inside": _r(metres[n] / 1000.0),
            "weight_share": 0.0,
            "cost_share_jpy": 0,
        }
    out: dict[str, Any] = {
        "source": municipalities.source,
        "names": names,
        "cost_split": rule,
        "weights_basis": basis,
        "operating_cost_jpy": int(cost),
        "subsidy": {
            "rate": params.subsidy_rate,
            "cap_jpy_per_day": cap_jpy_per_day,
            "jpy": int(sub),
        },
        "shared_jpy": int(cost - sub),
        "by_municipality": rows,
    }
    if population is not None:
        out["population_basis"] = population_basis
    return out


def population_by_municipality(
    municipalities: Municipalities,
    *,
    within: Any,
    mesh: Any = None,
    homes: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> tuple[list[float], str]:
    """People (or, without a mesh, buildings) inside ``within`` per municipality, and what was counted.

    Parameters
    ----------
    municipalities
        The polygons.
    within
        A shapely polygon (the service zone, or the area's box).
    mesh
        A :class:`~ondemand.routing.geo.mesh.PopulationMesh`: each square's people are split
        among municipalities by the area of the square inside ``within`` and each municipality.
    homes
        ``(lon, lat)`` of the buildings, the proxy when there is no mesh.
    """
    from shapely.geometry import box

    n = len(municipalities)
    if mesh is not None:
        pop = np.zeros(n, dtype=np.float64)
        for (w, s, e, nn), people in zip(mesh.boxes(), mesh.population, strict=True):
            if people <= 0:
                continue
            sq = box(w, s, e, nn)
            part = sq.intersection(within)
            if part.is_empty:
                continue
            frac = municipalities.area_shares(part) * (part.area / sq.area)
            pop += float(people) * frac[:n]
        return [float(x) for x in pop], f"census mesh population from {mesh.source}"
    if homes is None:
        return [0.0] * n, "no population data and no buildings"
    import shapely

    hx, hy = homes
    inside = np.asarray(shapely.intersects_xy(within, hx, hy), dtype=bool)
    where = municipalities.locate(hx[inside], hy[inside])
    counts = np.bincount(where[where >= 0], minlength=n)[:n]
    return [float(x) for x in counts], "buildings as a proxy for residents (no population mesh given)"


def accounts_for(
    result: Any, *, area: Any = None, data_dir: Any = None, municipalities: Municipalities | None = None
) -> dict[str, Any] | None:
    """The ``municipalities`` block for a simulated day, or ``None`` when the scenario has none.

    Builds the municipalities (boundary file or OSM), the population (mesh or buildings) when
    the rule needs it, the subsidy cap per day, and calls :func:`municipal_accounts`.
    """
    sc = getattr(result, "scenario", None)
    if sc is None or sc.municipalities is None:
        return None
    munis = municipalities if municipalities is not None else load_municipalities(sc, data_dir=data_dir)
    p = sc.municipalities
    population: list[float] | None = None
    basis = ""
    if p.cost_split == "by_population" or sc.demand.population_mesh is not None:
        population, basis = _population(sc, munis, area=area, data_dir=data_dir)
    meta = next((e for e in result.events if isinstance(e, SimulationStarted)), None)
    cap_day: int | None = None
    if p.subsidy_cap_jpy_per_year is not None:
        days = p.service_days_per_year
        if days is None:
            days = service_days_per_year(sc, meta.date if meta is not None else "2026-04-01")
        cap_day = p.subsidy_cap_jpy_per_year // max(1, days)
    leg = getattr(area, "path", None)
    out = municipal_accounts(
        result.events,
        stops=result.stops,
        municipalities=munis,
        params=p,
        leg_path=leg,
        population=population,
        population_basis=basis,
        cap_jpy_per_day=cap_day,
        where=str(sc.path or sc.name),
        with_older=sc.demand.population_mesh is not None,
    )
    if p.subsidy_cap_jpy_per_year is not None:
        out["subsidy"]["cap_jpy_per_year"] = p.subsidy_cap_jpy_per_year
    return out


def load_municipalities(scenario: Any, *, data_dir: Any = None) -> Municipalities:
    """The scenario's municipalities: its boundary file, else the area's OSM boundaries."""
    from ondemand.errors import MunicipalityError
    from ondemand.routing.geo.municipality import load_boundary_file, osm_municipalities
    from ondemand.routing.geo.network import get_area

    p = scenario.municipalities
    where = str(scenario.path or scenario.name)
    try:
        if p.boundaries is not None:
            return load_boundary_file(p.boundaries, name_property=p.name_property)
        spec = get_area(scenario.area_spec)
        w, s, e, n = spec.bbox
        m = _MARGIN_DEG  # vehicles drive roads a little outside the area's box
        return osm_municipalities(
            prefix=spec.prefix,
            bbox=(w - m, s - m, e + m, n + m),
            admin_level=p.admin_level,
            labels={n: (x, y) for n, x, y in p.labels},
            data_dir=data_dir,
        )
    except MunicipalityError as exc:
        raise MunicipalityError(f"{where}: table [municipalities]: {exc}") from None


def _population(sc: Any, munis: Municipalities, *, area: Any, data_dir: Any) -> tuple[list[float], str]:
    from shapely.geometry import box

    from ondemand.routing.geo.data import find_data_file
    from ondemand.routing.geo.mesh import load_population_mesh
    from ondemand.routing.geo.network import get_area

    spec = get_area(sc.area_spec)
    zone = getattr(area, "zone", None)
    within = zone.geometry if zone is not None else box(*spec.bbox)
    if sc.demand.population_mesh is not None:
        return population_by_municipality(
            munis, within=within, mesh=load_population_mesh(sc.demand.population_mesh)
        )
    buildings = find_data_file(spec.prefix, "buildings.geojson", data_dir)
    homes = None
    if buildings is not None:
        from ondemand.sim.demand import _load_points

        pois = find_data_file(spec.prefix, "pois.geojson", data_dir) or buildings
        h, _ = _load_points(buildings, pois)
        homes = (h.lon, h.lat)
    return population_by_municipality(munis, within=within, homes=homes)
