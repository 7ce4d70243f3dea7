"""ondemand: AI on-demand transit dispatch optimiser and simulator.

Public names are re-exported here explicitly; everything else is private.
Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

from ondemand.errors import (
    DataNotFoundError,
    InfeasiblePlanError,
    InfeasibleRequestError,
    InstanceFormatError,
    InvalidRequestError,
    OndemandError,
    OutsideServiceAreaError,
    ScenarioError,
    UnknownAreaError,
    UnknownStopError,
)
from ondemand.routing.model import (
    ArrayTravelTimes,
    BookingKind,
    OnboardRider,
    Plan,
    Request,
    Route,
    Stop,
    StopKind,
    TravelTimes,
    Vehicle,
)

__version__ = "0.1.0"

__all__ = [
    "ArrayTravelTimes",
    "BookingKind",
    "DataNotFoundError",
    "InfeasiblePlanError",
    "InfeasibleRequestError",
    "InstanceFormatError",
    "InvalidRequestError",
    "OnboardRider",
    "OndemandError",
    "OutsideServiceAreaError",
    "Plan",
    "Request",
    "Route",
    "ScenarioError",
    "Stop",
    "StopKind",
    "TravelTimes",
    "UnknownAreaError",
    "UnknownStopError",
    "Vehicle",
    "__version__",
]
