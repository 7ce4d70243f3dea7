"""The re-optimiser's budget: wall-clock seconds (live) or a work budget (reproducible).

A module of its own (no OR-Tools) so that the dispatcher can check a budget before it
changes any state, with the same message as :func:`ondemand.routing.solver.darp.reoptimise`.
"""

from __future__ import annotations

__all__ = ["check_budget"]


def check_budget(time_limit: float | None, iterations: int | None) -> None:
    """Raise ``ValueError`` unless exactly one sensible budget is given.

    Parameters
    ----------
    time_limit
        Seconds of wall clock (the live API): the result depends on the machine's speed
        and load.
    iterations
        Work budget (the simulator): the result depends only on the input and the seed.
    """
    if time_limit is None and iterations is None:
        raise ValueError(
            "re-optimisation needs a budget: time_limit= (seconds of wall clock, the live API) "
            "or iterations= (a work budget, reproducible, the simulator)"
        )
    if time_limit is not None and iterations is not None:
        raise ValueError(
            "give re-optimisation one budget, time_limit= or iterations=, not both "
            f"(got time_limit={time_limit}, iterations={iterations})"
        )
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit}")
    if iterations is not None and (isinstance(iterations, bool) or iterations < 1):
        raise ValueError(f"iterations must be a whole number of at least 1, got {iterations}")
