"""ondemand: AI on-demand transit dispatch optimiser and simulator.

Public names are re-exported here explicitly; everything else is private.
Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

from ondemand.dispatch import (
    Assignment,
    DispatchCounts,
    Dispatcher,
    DispatchOptions,
    InsertionDispatcher,
    PlannedStop,
    RequestStatus,
)
from ondemand.errors import (
    CommitFailedError,
    DatabaseUrlError,
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
from ondemand.routing.geo.area import ServiceArea, build_service_area
from ondemand.routing.geo.matrix import RoadPath, TravelMatrix, build_matrix, road_path
from ondemand.routing.geo.network import AreaSpec, NetworkParams, RoadNetwork, load_network
from ondemand.routing.geo.stops import MeetingPoint, StopParams, StopSet
from ondemand.routing.solver.check import CheckResult, check_plan, check_solution
from ondemand.routing.solver.darp import InstanceSolution, reoptimise, solve_instance
from ondemand.routing.solver.insertion import Insertion, InsertionOptions, Refusal, best_insertion
from ondemand.routing.solver.instances import DarpInstance, read_instance
from ondemand.routing.solver.model import (
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
from ondemand.routing.solver.schedule import RouteSchedule, evaluate_route
from ondemand.scenario import Scenario, load_scenario
from ondemand.sim import (
    CsvDemand,
    DemandModel,
    SimResult,
    SyntheticDemand,
    TripRequest,
    compute_kpis,
    kpis_json,
    simulate,
    sweep,
)
from ondemand.viz.outputs import day_map, fleet_sizing_plot, write_outputs

__version__ = "0.1.0"

__all__ = [
    "AreaSpec",
    "ArrayTravelTimes",
    "Assignment",
    "BookingKind",
    "CheckResult",
    "CommitFailedError",
    "CsvDemand",
    "DarpInstance",
    "DataNotFoundError",
    "DatabaseUrlError",
    "DemandModel",
    "DispatchCounts",
    "DispatchOptions",
    "Dispatcher",
    "InfeasiblePlanError",
    "InfeasibleRequestError",
    "Insertion",
    "InsertionDispatcher",
    "InsertionOptions",
    "InstanceFormatError",
    "InstanceSolution",
    "InvalidRequestError",
    "MeetingPoint",
    "NetworkParams",
    "OnboardRider",
    "OndemandError",
    "OutsideServiceAreaError",
    "Plan",
    "PlannedStop",
    "Refusal",
    "Request",
    "RequestStatus",
    "RoadNetwork",
    "RoadPath",
    "Route",
    "RouteSchedule",
    "Scenario",
    "ScenarioError",
    "ServiceArea",
    "SimResult",
    "Stop",
    "StopFileError",
    "StopKind",
    "StopParams",
    "StopSet",
    "SyntheticDemand",
    "TravelMatrix",
    "TravelTimes",
    "TripRequest",
    "UnknownAreaError",
    "UnknownStopError",
    "Vehicle",
    "__version__",
    "best_insertion",
    "build_matrix",
    "build_service_area",
    "check_plan",
    "check_solution",
    "compute_kpis",
    "day_map",
    "evaluate_route",
    "fleet_sizing_plot",
    "kpis_json",
    "load_network",
    "load_scenario",
    "read_instance",
    "reoptimise",
    "road_path",
    "simulate",
    "solve_instance",
    "sweep",
    "write_outputs",
]
