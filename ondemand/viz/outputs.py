"""Writers of simulation outputs: a day's folder (kpis.json, events.parquet or .csv, report.html,
map.html), a sweep's folder (sweep_runs.csv, sweep.csv, sweep.png) and the notebook helpers.

Everything here reads what the simulator returns (its events and KPI rows); the simulator never
imports this package. folium and matplotlib are imported only when a map or a plot is drawn
(extra ``viz``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ondemand.sim.accounting import accounts_for, load_municipalities, older_riders
from ondemand.sim.engine import SimResult
from ondemand.sim.events import Event, to_records
from ondemand.sim.kpis import compute_kpis, kpis_json
from ondemand.sim.sweep import SWEEP_COLUMNS, aggregate

__all__ = [
    "day_map",
    "fleet_sizing_plot",
    "municipalities_geojson",
    "write_events",
    "write_outputs",
    "write_sweep",
]


def write_events(path: Path, events: Sequence[Event]) -> Path:
    """Write the events as Parquet (``.parquet``, needs pyarrow) or CSV (``.csv``).

    Columns: ``seq``, ``type`` and the union of the event fields (empty where a field does
    not belong to the event's type).
    """
    rows = to_records(events)
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: [r.get(c) for r in rows] for c in cols})
        pq.write_table(table, path)
    else:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    return path


def write_outputs(
    result: SimResult, out_dir: str | Path, *, area: Any = None, events_format: str = "parquet"
) -> dict[str, Path]:
    """Write the day's files to ``out_dir`` (created) and return their paths by kind.

    Parameters
    ----------
    result
        The simulated day.
    out_dir
        Output folder.
    area
        The service area (for road paths on the map); straight legs without it.
    events_format
        ``"parquet"`` or ``"csv"``.
    """
    from ondemand.viz.maps import write_map
    from ondemand.viz.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kpis = compute_kpis(result.events)
    munis = None
    if result.scenario is not None and result.scenario.municipalities is not None:
        found = load_municipalities(result.scenario)
        accounts = accounts_for(result, area=area, municipalities=found)
        if accounts is not None:
            kpis["municipalities"] = accounts
            munis = municipalities_geojson(found, accounts)
    if result.scenario is not None and result.scenario.demand.population_mesh is not None:
        kpis.update(older_riders(result.events))  # ages are known from the census mesh
    paths = {"kpis": out / "kpis.json"}
    paths["kpis"].write_text(kpis_json(kpis), encoding="utf-8")
    paths["events"] = write_events(
        out / f"events.{'csv' if events_format == 'csv' else 'parquet'}", result.events
    )
    sc = result.scenario
    title = f"{sc.name if sc else 'custom'}: simulated day (seed {result.seed}, {result.fleet} vehicles)"
    notes = []
    if sc is not None:
        notes.append(sc.description)
        d = sc.demand
        target = f" (target {d.target_riders_per_day:g} riders)" if d.target_riders_per_day else ""
        notes.append(
            f"Demand: mean {d.riders_per_day:g} riders/day{target} = {d.requests_per_day:.1f} requests/day "
            f"at {d.mean_group_size:.2f} riders per request."
        )
    paths["map"] = write_map(
        out / "map.html",
        result.events,
        result.stops,
        path=getattr(area, "path", None),
        roads=getattr(area, "network", None),
        zone=getattr(area, "zone", None),
        timezone=sc.timezone if sc is not None else "Asia/Tokyo",
        title=title,
        municipalities=munis,
    )
    paths["report"] = write_report(
        out / "report.html", kpis, result.events, title=title, notes=notes, map_file="map.html"
    )
    return paths


def municipalities_geojson(munis: Any, accounts: dict[str, Any]) -> dict[str, Any]:
    """The municipalities as GeoJSON with the day's numbers as properties (for the map)."""
    rows = accounts["by_municipality"]
    props = {
        n: {
            "cost share (JPY)": f"{rows[n]['cost_share_jpy']:,}",
            "riders boarding / alighting": f"{rows[n]['riders_boarding']} / {rows[n]['riders_alighting']}",
            "trips within / across": f"{rows[n]['trips_within']} / {rows[n]['trips_across']}",
            "fare revenue (JPY)": f"{rows[n]['fare_revenue_jpy']:,}",
            "vehicle-km inside": f"{rows[n]['vehicle_km_inside']:.1f}",
        }
        for n in munis.names
        if n in rows
    }
    return dict(munis.to_geojson(props))


def day_map(result: SimResult, *, area: Any = None, title: str | None = None) -> Any:
    """The folium map of a simulated day (road paths from ``area`` when given).

    A thin wrapper over :func:`ondemand.viz.maps.day_map` that imports folium only when
    called (extra ``viz``).
    """
    from ondemand.viz.maps import day_map as _day_map

    sc = result.scenario
    label = (
        title
        if title is not None
        else f"{sc.name if sc else 'custom'} (seed {result.seed}, {result.fleet} vehicles)"
    )
    return _day_map(
        result.events,
        result.stops,
        path=getattr(area, "path", None),
        zone=getattr(area, "zone", None),
        timezone=sc.timezone if sc is not None else "Asia/Tokyo",
        title=label,
    )


def fleet_sizing_plot(rows: Sequence[dict[str, Any]], *, title: str = "") -> Any:
    """Matplotlib figure of fleet-sizing curves from :func:`ondemand.sim.sweep.sweep` rows."""
    from ondemand.viz.plots import sweep_plot

    return sweep_plot(aggregate(rows), title=title)


def write_sweep(out_dir: str | Path, rows: Sequence[dict[str, Any]], *, title: str = "") -> dict[str, Path]:
    """Write ``sweep_runs.csv`` (every run), ``sweep.csv`` (means) and ``sweep.png`` (curves)."""
    from ondemand.viz.plots import figure_png, sweep_plot

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "sweep_runs.csv"
    cols = sorted({k for r in rows for k in r}, key=lambda c: (c not in ("fleet", "demand", "seed"), c))
    with runs.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    agg = aggregate(rows)
    table = out / "sweep.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SWEEP_COLUMNS))
        w.writeheader()
        w.writerows(agg)
    png = out / "sweep.png"
    png.write_bytes(figure_png(sweep_plot(agg, title=title)))
    return {"runs": runs, "table": table, "plot": png}
