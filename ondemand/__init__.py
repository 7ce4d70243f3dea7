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
    StopFileError,
    UnknownAreaError,
    UnknownStopError,
)
from ondemand.routing.area import ServiceArea, build_service_area
from ondemand.routing.matrix import RoadPath, TravelMatrix, build_matrix, road_path
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
from ondemand.routing.network import AreaSpec, NetworkParams, RoadNetwork, load_network
from ondemand.routing.stops import MeetingPoint, StopParams, StopSet

__version__ = "0.1.0"

__all__ = [
    "AreaSpec",
    "ArrayTravelTimes",
    "BookingKind",
    "DataNotFoundError",
    "InfeasiblePlanError",
    "InfeasibleRequestError",
    "InstanceFormatError",
    "InvalidRequestError",
    "MeetingPoint",
    "NetworkParams",
    "OnboardRider",
    "OndemandError",
    "OutsideServiceAreaError",
    "Plan",
    "Request",
    "RoadNetwork",
    "RoadPath",
    "Route",
    "ScenarioError",
    "ServiceArea",
    "Stop",
    "StopFileError",
    "StopKind",
    "StopParams",
    "StopSet",
    "TravelMatrix",
    "TravelTimes",
    "UnknownAreaError",
    "UnknownStopError",
    "Vehicle",
    "__version__",
    "build_matrix",
    "build_service_area",
    "load_network",
    "road_path",
]
