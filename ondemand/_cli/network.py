"""CLI commands: ``ondemand network AREA_OR_SCENARIO`` (registered by :mod:`ondemand.cli`)."""

from __future__ import annotations

import dataclasses
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from ondemand.errors import ScenarioError


def _from_scenario(path: Path) -> tuple[Any, Any, Any]:
    """Area (name or AreaSpec), NetworkParams (or None) and StopParams (or None) of a scenario file."""
    try:
        from ondemand.scenario import load_scenario
    except ImportError:  # the scenario module is optional here: read only `area`
        return _area_from_toml(path), None, None
    scenario = load_scenario(path)
    stops = scenario.stops
    if stops is not None and stops.file is not None and not stops.file.is_absolute():
        rel = path.parent / stops.file
        if not stops.file.exists() and rel.exists():
            stops = dataclasses.replace(stops, file=rel)
    spec = getattr(scenario, "area_spec", None)  # a custom [area] table, or the built-in area
    return (spec if spec is not None else str(scenario.area)), scenario.network, stops


def _area_from_toml(path: Path) -> str:
    """The ``area`` field of a scenario file, read without the scenario module."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario ({exc})") from exc
    area = data.get("area")
    if not isinstance(area, str):
        raise ScenarioError(f"{path}: field 'area' is missing or not a string")
    return area


def network(
    area_or_scenario: Annotated[
        str, typer.Argument(help="Area (toyono, senboku, higashiosaka) or a scenario .toml file.")
    ],
    map_file: Annotated[
        Path | None,
        typer.Option("--map", help="Write a folium map of roads and meeting points to this HTML file."),
    ] = None,
    stops: Annotated[
        int | None,
        typer.Option("--stops", min=1, help="Number of meeting points to place (default: the area's)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="OSM data folder (default: $ONDEMAND_DATA_DIR).")
    ] = None,
) -> None:
    """Load an area's roads, place meeting points, build their travel-time matrix; print the figures."""
    from rich.console import Console

    from ondemand.routing.geo.area import cached_stops
    from ondemand.routing.geo.matrix import build_matrix
    from ondemand.routing.geo.network import load_network, stage
    from ondemand.routing.geo.stops import StopParams

    err = Console(stderr=True)
    status = err.status if err.is_terminal else None
    if area_or_scenario.lower().endswith(".toml"):
        area, net_params, stop_params = _from_scenario(Path(area_or_scenario))
    else:
        area, net_params, stop_params = area_or_scenario, None, None
    stop_params = stop_params if stop_params is not None else StopParams()
    if stops is not None:
        stop_params = dataclasses.replace(stop_params, target_count=stops, file=None)
    net = load_network(area, params=net_params, data_dir=data_dir, status=status)
    typer.echo(f"{net.n_nodes} nodes")
    typer.echo(f"{net.n_edges} edges")
    typer.echo(f"largest component: {net.describe_component()}")
    with stage(status, "placing meeting points"):
        stop_set = cached_stops(net, stop_params, area=area, data_dir=data_dir)
    typer.echo(
        f"{len(stop_set.stops)} stops ({stop_set.seeds} at key destinations, source: {stop_set.source})"
    )
    if stop_set.coverage is None:
        typer.echo("coverage: no buildings file for this area")
    else:
        cov = stop_set.coverage
        typer.echo(
            f"coverage 200 m: {cov.within_200m * 100:.1f} % of {cov.buildings} buildings ({cov.method})"
        )
        typer.echo(
            f"coverage 300 m: {cov.within_300m * 100:.1f} % of {cov.buildings} buildings ({cov.method})"
        )
    nodes = [s.node for s in stop_set.stops]
    with stage(status, "building the travel-time matrix"):
        t0 = time.perf_counter()
        matrix = build_matrix(net, nodes)
        secs = time.perf_counter() - t0
    k = len(matrix)
    typer.echo(
        f"matrix: {k} x {k} in {secs:.2f} s (longest trip {int(matrix.durations.max())} s, "
        f"{int(matrix.distances.max())} m)"
    )
    if map_file is not None:
        from ondemand.viz.network_map import write_network_map

        with stage(status, "writing the map"):
            write_network_map(net, stop_set.stops, map_file)
        typer.echo(f"map: {map_file}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="network")(network)
