"""CLI command: ``ondemand validate`` (registered by :mod:`ondemand.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def validate_cmd(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML with an [observed] table, e.g. scenarios/senboku.toml.")
    ],
    seeds: Annotated[int, typer.Option(min=1, help="Simulated days (seeds 0..N-1).")] = 5,
    reoptimise: Annotated[
        bool, typer.Option(help="Rolling-horizon re-optimisation as in the scenario.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Simulate a pilot over N seeds and print it side by side with what was observed."""
    from rich.progress import Progress

    from ondemand._cli._progress import spinner
    from ondemand.scenario import load_scenario
    from ondemand.sim.validate import fmt, validate

    sc = load_scenario(scenario)
    area = sc.service_area(status=spinner(progress))
    with Progress(transient=True, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(f"validate {sc.name}", total=seeds)
        res = validate(
            sc, seeds=seeds, area=area, reoptimise=reoptimise, on_done=lambda _s: bar.advance(task)
        )
    table = Table(
        title=f"{sc.name}: {seeds} simulated days ({res.dates[0]} … {res.dates[-1]}) vs observed",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("simulated mean", justify="right")
    table.add_column("min–max", justify="right")
    table.add_column("observed", justify="right")
    sources: list[str] = []
    for r in res.rows:
        obs = r.observed
        if obs is None:
            seen = "not published"
        else:
            sources.append(obs.source)
            seen = f"{fmt(obs.value, r.key)} [{len(sources)}]"
        table.add_row(r.label, fmt(r.mean, r.key), f"{fmt(r.low, r.key)}–{fmt(r.high, r.key)}", seen)
    out = Console()
    out.print(table)
    for k, src in enumerate(sources, 1):
        out.print(f"[{k}] {src}", highlight=False, soft_wrap=True, markup=False)
    for line in [*res.caveats(), *sc.not_reproduced]:
        out.print(f"- {line}", highlight=False, soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``validate`` to ``app``."""
    app.command("validate")(validate_cmd)
