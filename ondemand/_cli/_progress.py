"""Progress bars and spinners of the command line (rich); the library below only takes callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["day_bar", "spinner"]


def spinner(enabled: bool = True) -> Callable[[str], AbstractContextManager[object]] | None:
    """A status callback (``ondemand.routing.geo.network.Status``): a spinner on stderr, or ``None``."""
    return Console(stderr=True).status if enabled else None


@contextmanager
def day_bar(name: str, end_s: int, *, enabled: bool = True) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over a simulated service day ending at ``end_s``; yields the clock callback."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=end_s, clock="--:--")

        def tick(now: int) -> None:
            bar.update(task, completed=min(now, end_s), clock=f"{now // 3600:02d}:{now % 3600 // 60:02d}")

        yield tick
