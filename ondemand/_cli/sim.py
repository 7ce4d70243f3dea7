"""CLI commands: ``ondemand simulate`` and ``ondemand sweep`` (registered by :mod:`ondemand.cli`)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ondemand._cli._progress import day_bar, spinner
from ondemand.errors import ScenarioError

_KEY_KPIS = (
    ("requests", "requests (bookings)"),
    ("riders_requested", "riders requested"),
    ("riders", "riders carried"),
    ("served", "requests served"),
    ("refused", "refused"),
    ("cancelled", "cancelled"),
    ("no_shows", "no-shows"),
    ("wait_mean_s", "mean wait (s)"),
    ("wait_p90_s", "p90 wait (s)"),
    ("ride_mean_s", "mean ride (s)"),
    ("detour_mean", "mean detour"),
    ("passengers_per_vehicle_hour", "passengers / vehicle-hour"),
    ("shared_ride_share", "shared-ride share"),
    ("vehicle_km", "vehicle-km"),
    ("empty_km", "empty km"),
    ("driving_speed_kmh", "driving speed (km/h)"),
    ("fare_revenue_jpy", "fare revenue (JPY)"),
    ("operating_cost_jpy", "operating cost (JPY)"),
    ("subsidy_per_passenger_jpy", "subsidy / passenger (JPY)"),
)


def _check_date(scenario: Any, date: str | None) -> str | None:
    if date is None:
        return None
    from ondemand.dispatch.policy import ServicePolicy

    try:
        day = _dt.date.fromisoformat(date)
    except ValueError:
        raise ScenarioError(f"--date {date!r}: give the day as YYYY-MM-DD") from None
    why = ServicePolicy.from_scenario(scenario).rules.calendar.closed_reason(day)  # as the live API books
    if why is not None:
        raise ScenarioError(
            f"--date {date}: {scenario.name} does not run on {date} ({day.strftime('%A')}): {why}; "
            "pick a service day"
        )
    return date


def simulate_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file, e.g. scenarios/senboku.toml.")],
    seed: Annotated[int, typer.Option(help="Seed of the synthetic demand.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: runs/<scenario>-seed<N>).")
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="Simulated day YYYY-MM-DD (checked against the calendar).")
    ] = None,
    fleet: Annotated[int | None, typer.Option(min=1, help="Override the fleet size.")] = None,
    demand: Annotated[float | None, typer.Option(min=0, help="Override the mean riders per day.")] = None,
    requests: Annotated[
        Path | None, typer.Option(help="Replay a CSV of real requests instead of synthetic demand.")
    ] = None,
    events: Annotated[str, typer.Option(help="Events file format: parquet or csv.")] = "parquet",
    reoptimise: Annotated[
        bool, typer.Option(help="Rolling-horizon re-optimisation as in the scenario.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Simulate one service day: kpis.json, events, report.html and map.html in the output folder."""
    from ondemand.dispatch.policy import ServicePolicy
    from ondemand.scenario import load_scenario
    from ondemand.sim.demand import CsvDemand
    from ondemand.sim.engine import simulate
    from ondemand.sim.kpis import compute_kpis
    from ondemand.viz.outputs import write_outputs

    if events not in ("parquet", "csv"):
        raise ScenarioError(f"--events {events!r}: use parquet or csv")
    sc = load_scenario(scenario)
    day = _check_date(sc, date)
    if sc.municipalities is not None:  # bad boundaries fail now, not after the day is simulated
        from ondemand.sim.accounting import load_municipalities

        load_municipalities(sc)
    if not reoptimise:
        sc = dataclasses.replace(sc, service=dataclasses.replace(sc.service, reoptimise_every_s=0))
    console = Console(stderr=True)
    area = sc.service_area(status=spinner(progress))
    model = (
        CsvDemand(requests, walking=ServicePolicy.from_scenario(sc).walking) if requests is not None else None
    )
    with day_bar(sc.name, sc.service.end, enabled=progress) as tick:
        res = simulate(
            sc,
            seed=seed,
            fleet=fleet,
            riders_per_day=demand,
            demand=model,
            area=area,
            date=day,
            on_progress=tick,
        )
    folder = out if out is not None else Path("runs") / f"{sc.name}-seed{seed}"
    paths = write_outputs(res, folder, area=area, events_format=events)
    k = compute_kpis(res.events)
    table = Table(
        title=f"{sc.name}: {res.fleet} vehicles, seed {seed} — simulated in {res.wall_seconds:.1f} s"
    )
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, label in _KEY_KPIS:
        v = k.get(key)
        text = (
            "–"
            if v is None
            else f"{v:,}"
            if isinstance(v, int)
            else f"{v:,.2f}"
            if abs(v) < 10
            else f"{v:,.0f}"
        )
        table.add_row(label, text)
    Console().print(table)
    for kind, p in paths.items():
        console.print(f"{kind}: {p}", highlight=False)


def sweep_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    fleet: Annotated[str, typer.Option(help="Fleet sizes: a range 1-6 or a list 2,4,8.")] = "1-6",
    demand: Annotated[
        str | None, typer.Option(help="Mean riders per day, comma-separated (default: the scenario's).")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per point.")] = 3,
    engine: Annotated[str, typer.Option(help="process (local pool) or ray (extra 'dist').")] = "process",
    workers: Annotated[int | None, typer.Option(min=1, help="Local pool size (default 2).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: runs/<scenario>-sweep).")] = None,
    reoptimise: Annotated[
        bool, typer.Option(help="Rolling-horizon re-optimisation as in the scenario.")
    ] = True,
) -> None:
    """Fleet-sizing curves: wait, refused share, passengers/vehicle-hour, cost/passenger vs fleet."""
    from rich.progress import Progress

    from ondemand.scenario import load_scenario
    from ondemand.sim.sweep import aggregate, parse_range, sweep
    from ondemand.viz.outputs import write_sweep

    sc = load_scenario(scenario)
    fleets = parse_range(fleet, what="fleet")
    if demand is None:
        demands = [sc.demand.riders_per_day]
    else:
        try:
            demands = [float(x) for x in demand.split(",") if x.strip()]
        except ValueError:
            raise ScenarioError(f"--demand {demand!r}: give numbers like 28,51") from None
        if not demands or min(demands) < 0:
            raise ScenarioError(f"--demand {demand!r}: give non-negative numbers like 28,51")
    total = len(fleets) * len(demands) * seeds
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(f"sweep {sc.name} ({engine})", total=total)
        rows = sweep(
            scenario,
            fleets=fleets,
            demands=demands,
            seeds=seeds,
            engine=engine,
            workers=workers,
            reoptimise=reoptimise,
            on_done=lambda _row: bar.advance(task),
        )
    folder = out if out is not None else Path("runs") / f"{sc.name}-sweep"
    paths = write_sweep(folder, rows, title=f"{sc.name}: fleet sizing ({seeds} seeds per point)")
    table = Table(title=f"{sc.name}: fleet sizing (means over {seeds} seeds)")
    for col in ("fleet", "demand", "wait (min)", "refused", "pax/veh-h", "cost/pax (JPY)"):
        table.add_column(col, justify="right")
    for r in aggregate(rows):

        def f(v: Any, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
            return "–" if v is None else fmt.format(v * scale)

        table.add_row(
            str(r["fleet"]),
            f"{r['demand']:g}",
            f(r["wait_mean_s"], 1 / 60),
            f(r["refused_share"], 100, "{:.0f}%"),
            f(r["passengers_per_vehicle_hour"], 1, "{:.2f}"),
            f(r["cost_per_passenger_jpy"], 1, "{:,.0f}"),
        )
    Console().print(table)
    for kind, p in paths.items():
        Console(stderr=True).print(f"{kind}: {p}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``sweep`` to ``app``."""
    app.command("simulate")(simulate_cmd)
    app.command("sweep")(sweep_cmd)
