"""CLI commands: ``ondemand darp solve`` and ``ondemand darp bench`` (registered by :mod:`ondemand.cli`)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ondemand.errors import InstanceFormatError

darp_app = typer.Typer(
    name="darp",
    help="Dial-a-ride benchmark instances: solve one, or benchmark a set against best-known values.",
    no_args_is_help=True,
)


def _bench_dir() -> Path | None:
    env = os.environ.get("ONDEMAND_BENCHMARK_DIR")
    return Path(env) if env else None


@darp_app.command("solve")
def solve(
    instance: Annotated[Path, typer.Argument(help="Cordeau a/b, Cordeau-Laporte pr, or Li & Lim file.")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds of search.", min=0.01)],
    out: Annotated[Path, typer.Option("--out", help="Where to write the solution JSON.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Solve one instance and write the solution JSON (contract in DESIGN.md)."""
    from ondemand.routing.solver.darp import solve_instance
    from ondemand.routing.solver.instances import read_instance

    inst = read_instance(instance)
    sol = solve_instance(inst, time_limit=time_limit, seed=seed)
    if not sol.routes:
        raise InstanceFormatError(
            f"{instance}: no solution found in {time_limit} s; try a longer --time-limit"
        )
    out.write_text(json.dumps(sol.to_json(), indent=1) + "\n", encoding="utf-8")
    con = Console(stderr=True)
    status = "feasible" if sol.feasible else "INFEASIBLE: " + "; ".join(sol.violations[:3])
    con.print(
        f"{inst.name}: cost {sol.cost:.2f}, {sol.vehicles} vehicles, {status}, "
        f"{sol.solve_seconds:.1f} s -> {out}",
        highlight=False,
    )
    if not sol.feasible:
        raise typer.Exit(1)


@darp_app.command("bench")
def bench(
    sets: Annotated[
        list[str],
        typer.Argument(
            help="Set names (cordeau, ropke, ab, lilim) under ONDEMAND_BENCHMARK_DIR, folders, or files."
        ),
    ],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per instance.", min=0.01)],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Solve every instance of the sets and compare with the best-known values."""
    from ondemand.routing.solver.darp import solve_instance
    from ondemand.routing.solver.instances import best_known, read_instance, resolve_instance_set

    bdir = _bench_dir()
    files: list[Path] = []
    for spec in sets:
        files.extend(resolve_instance_set(spec, bdir))
    rows: list[dict[str, object]] = []
    con = Console()
    with Progress(console=con, transient=True) as progress:
        task = progress.add_task("solving", total=len(files))
        for f in files:
            inst = read_instance(f)
            progress.update(task, description=f"{inst.name} ({time_limit:g} s)")
            sol = solve_instance(inst, time_limit=time_limit, seed=seed)
            bk_veh, bk_cost = best_known(inst, bdir)
            gap = 100.0 * (sol.cost / bk_cost - 1.0) if bk_cost and sol.feasible else None
            rows.append(
                {
                    "instance": inst.name,
                    "feasible": sol.feasible,
                    "vehicles": sol.vehicles,
                    "cost": round(sol.cost, 4),
                    "best_known_vehicles": bk_veh,
                    "best_known": bk_cost,
                    "gap_percent": None if gap is None else round(gap, 3),
                    "seconds": round(sol.solve_seconds, 2),
                }
            )
            progress.advance(task)
    table = Table(title=f"DARP benchmark, {time_limit:g} s per instance")
    for col in ("instance", "feasible", "vehicles", "cost", "best known", "gap %", "seconds"):
        table.add_column(col, justify="left" if col == "instance" else "right")
    for r in rows:
        bk = "" if r["best_known"] is None else f"{r['best_known']}"
        if r["best_known_vehicles"] is not None:
            bk = f"{r['best_known_vehicles']} / {bk}"
        table.add_row(
            str(r["instance"]),
            "yes" if r["feasible"] else "NO",
            str(r["vehicles"]),
            f"{r['cost']:.2f}",
            bk,
            "" if r["gap_percent"] is None else f"{r['gap_percent']:.2f}",
            f"{r['seconds']:.1f}",
        )
    con.print(table)
    gaps = [float(str(r["gap_percent"])) for r in rows if r["gap_percent"] is not None]
    feas = sum(1 for r in rows if r["feasible"])
    summary = f"{feas}/{len(rows)} feasible"
    if gaps:
        summary += f", mean gap {sum(gaps) / len(gaps):.2f} % over {len(gaps)} with a best-known value"
    con.print(summary, highlight=False)
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["instance"])
            w.writeheader()
            w.writerows(rows)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(darp_app, name="darp")
