"""CLI commands: sim (registered on the main app by :mod:`ondemand.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
