"""CLI commands: ``ondemand export gtfs-flex SCENARIO --out feed.zip`` (registered by :mod:`ondemand.cli`)."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Annotated

import typer

from ondemand._cli._progress import spinner
from ondemand.errors import OutputError, ScenarioError

export_app = typer.Typer(
    help="Publish the service: files journey planners and other apps read.", no_args_is_help=True
)


def _day(option: str, value: str | None) -> _dt.date | None:
    if value is None:
        return None
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise ScenarioError(f"{option} {value!r}: give the day as YYYY-MM-DD") from None


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot be written before any slow work starts."""
    if out.is_dir():
        raise OutputError(f"--out {out}: is a folder; give a file name such as {out / 'feed.zip'}")
    parent = out.parent if str(out.parent) else Path()
    if not parent.is_dir():
        raise OutputError(
            f"--out {out}: the folder {parent} does not exist; create it or choose another file"
        )
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise OutputError(f"--out {out}: no permission to write there; choose a writable --out file")


@export_app.command(name="gtfs-flex")
def gtfs_flex_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file, e.g. scenarios/senboku.toml.")],
    out: Annotated[Path, typer.Option("--out", help="The feed zip to write, e.g. feed.zip.")],
    start: Annotated[
        str | None,
        typer.Option(help="First day of the calendar, YYYY-MM-DD (default: today)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last day of the calendar, YYYY-MM-DD (default: a year on)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show what is being loaded.")] = True,
) -> None:
    """Write the service as GTFS with Flex: meeting points, zone, hours, calendar, booking rules, fares."""
    from shapely.geometry import mapping

    from ondemand.scenario import load_scenario
    from ondemand.viz.gtfs_flex import write_gtfs_flex

    first, last = _day("--start", start), _day("--end", end)
    if first is not None and last is not None and last < first:
        raise ScenarioError(f"--end {end} is before --start {start}")
    _check_out(out)
    sc = load_scenario(scenario)
    area = sc.service_area(status=spinner(progress))
    from_osm = getattr(sc.stops, "file", None) is None
    try:
        zone = None if area.zone is None else mapping(area.zone.geometry)  # the scenario's zone polygon
        summary = write_gtfs_flex(
            sc, area.stops, out, first=first, last=last, zone=zone, osm_geometry=from_osm
        )
    except ValueError as exc:
        raise ScenarioError(f"{scenario}: {exc}") from exc
    typer.echo(f"wrote {summary.path}: GTFS-Flex feed of {sc.name}, {len(area.stops)} meeting points")
    typer.echo(
        f"calendar {summary.first.isoformat()} to {summary.last.isoformat()}: {summary.service_days} "
        f"service days, {summary.removed_days} holidays/closures removed (calendar_dates.txt)"
    )
    typer.echo(f"files: {', '.join(summary.files)}")
    if area.zone is not None:
        typer.echo(f"zone: {area.zone.name} ({area.zone.source}), in locations.geojson")
    for note in summary.notes:
        typer.echo(f"note: {note}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(export_app, name="export")
