"""The ``ondemand`` command line.

Each group of commands lives in its own module under :mod:`ondemand._cli` and
registers itself on the one :data:`app`. :func:`main` turns every error this
package raises on purpose (:class:`ondemand.errors.OndemandError`) into a one-line
message on stderr and exit status 2: users never see a traceback for bad input.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ondemand._cli import api as _api_cli
from ondemand._cli import darp as _darp_cli
from ondemand._cli import export as _export_cli
from ondemand._cli import init as _init_cli
from ondemand._cli import network as _network_cli
from ondemand._cli import sim as _sim_cli
from ondemand._cli import validate as _validate_cli
from ondemand.errors import OndemandError

__all__ = ["app", "main"]

app = typer.Typer(
    name="ondemand",
    help="AI on-demand transit: road networks, dial-a-ride optimisation, simulation and a live dispatch API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Never download map data (as ONDEMAND_OFFLINE=1); areas need an extract or the data folder.",
        ),
    ] = False,
) -> None:
    """AI on-demand transit: road networks, dial-a-ride optimisation, simulation and a live dispatch API."""
    if offline:
        from ondemand.routing.geo.data import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"


for _module in (_init_cli, _network_cli, _darp_cli, _sim_cli, _validate_cli, _api_cli, _export_cli):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; errors of this package become a message and exit status 2."""
    err = Console(stderr=True)
    try:
        app(args=argv, standalone_mode=True)
    except OndemandError as exc:
        # escaped: a message may quote a TOML table ("[municipalities]"), which is no rich markup
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
