"""Dispatch policies over the routing core: immediate insertion and rolling-horizon re-optimisation.

The same :class:`InsertionDispatcher` object serves the simulator and the live API.
"""

from __future__ import annotations

from ondemand.dispatch.base import (
    Assignment,
    DispatchCounts,
    Dispatcher,
    DispatchOptions,
    PlannedStop,
    RequestStatus,
)
from ondemand.dispatch.dispatcher import InsertionDispatcher
from ondemand.routing.solver.insertion import InsertionOptions, Refusal

__all__ = [
    "Assignment",
    "DispatchCounts",
    "DispatchOptions",
    "Dispatcher",
    "InsertionDispatcher",
    "InsertionOptions",
    "PlannedStop",
    "Refusal",
    "RequestStatus",
]
