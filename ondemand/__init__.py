"""ondemand: AI on-demand transit dispatch optimiser and simulator.

Public names are re-exported here explicitly; everything else is private. They are loaded
lazily (on first attribute access), so ``import ondemand`` stays light: OR-Tools, SimPy,
osmnx and the web stack load only when a name that needs them is used.
Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        BoundaryError,
        CommitFailedError,
        DatabaseUrlError,
        DataNotFoundError,
        ExtractError,
        InfeasiblePlanError,
        InfeasibleRequestError,
        InstanceFormatError,
        InvalidRequestError,
        MunicipalityError,
        OndemandError,
        OutsideServiceAreaError,
        PlaceNotFoundError,
        PopulationMeshError,
        ScenarioError,
        StopFileError,
        UnknownAreaError,
        UnknownStopError,
    )
    from ondemand.routing.geo.area import ServiceArea, build_service_area
    from ondemand.routing.geo.matrix import RoadPath, TravelMatrix, build_matrix, road_path
    from ondemand.routing.geo.mesh import PopulationMesh, load_population_mesh, mesh_box
    from ondemand.routing.geo.municipality import Municipalities, load_boundary_file
    from ondemand.routing.geo.network import AreaSpec, NetworkParams, RoadNetwork, load_network
    from ondemand.routing.geo.osmdata import AreaRequest, prepare_area
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
    from ondemand.sim.accounting import municipal_accounts
    from ondemand.sim.demand import CsvDemand, DemandModel, SyntheticDemand, TripRequest
    from ondemand.sim.engine import SimResult, simulate
    from ondemand.sim.kpis import compute_kpis, kpis_json
    from ondemand.sim.sweep import sweep
    from ondemand.viz.outputs import day_map, fleet_sizing_plot, write_outputs

_EXPORTS: dict[str, str] = {
    "AreaRequest": "ondemand.routing.geo.osmdata",
    "AreaSpec": "ondemand.routing.geo.network",
    "ArrayTravelTimes": "ondemand.routing.solver.model",
    "Assignment": "ondemand.dispatch",
    "BookingKind": "ondemand.routing.solver.model",
    "CheckResult": "ondemand.routing.solver.check",
    "BoundaryError": "ondemand.errors",
    "CommitFailedError": "ondemand.errors",
    "CsvDemand": "ondemand.sim.demand",
    "DarpInstance": "ondemand.routing.solver.instances",
    "DataNotFoundError": "ondemand.errors",
    "DatabaseUrlError": "ondemand.errors",
    "DemandModel": "ondemand.sim.demand",
    "ExtractError": "ondemand.errors",
    "DispatchCounts": "ondemand.dispatch",
    "DispatchOptions": "ondemand.dispatch",
    "Dispatcher": "ondemand.dispatch",
    "InfeasiblePlanError": "ondemand.errors",
    "InfeasibleRequestError": "ondemand.errors",
    "Insertion": "ondemand.routing.solver.insertion",
    "InsertionDispatcher": "ondemand.dispatch",
    "InsertionOptions": "ondemand.routing.solver.insertion",
    "InstanceFormatError": "ondemand.errors",
    "InstanceSolution": "ondemand.routing.solver.darp",
    "InvalidRequestError": "ondemand.errors",
    "MeetingPoint": "ondemand.routing.geo.stops",
    "Municipalities": "ondemand.routing.geo.municipality",
    "MunicipalityError": "ondemand.errors",
    "NetworkParams": "ondemand.routing.geo.network",
    "OnboardRider": "ondemand.routing.solver.model",
    "OndemandError": "ondemand.errors",
    "OutsideServiceAreaError": "ondemand.errors",
    "PlaceNotFoundError": "ondemand.errors",
    "Plan": "ondemand.routing.solver.model",
    "PlannedStop": "ondemand.dispatch",
    "PopulationMesh": "ondemand.routing.geo.mesh",
    "PopulationMeshError": "ondemand.errors",
    "Refusal": "ondemand.routing.solver.insertion",
    "Request": "ondemand.routing.solver.model",
    "RequestStatus": "ondemand.dispatch",
    "RoadNetwork": "ondemand.routing.geo.network",
    "RoadPath": "ondemand.routing.geo.matrix",
    "Route": "ondemand.routing.solver.model",
    "RouteSchedule": "ondemand.routing.solver.schedule",
    "Scenario": "ondemand.scenario",
    "ScenarioError": "ondemand.errors",
    "ServiceArea": "ondemand.routing.geo.area",
    "SimResult": "ondemand.sim.engine",
    "Stop": "ondemand.routing.solver.model",
    "StopFileError": "ondemand.errors",
    "StopKind": "ondemand.routing.solver.model",
    "StopParams": "ondemand.routing.geo.stops",
    "StopSet": "ondemand.routing.geo.stops",
    "SyntheticDemand": "ondemand.sim.demand",
    "TravelMatrix": "ondemand.routing.geo.matrix",
    "TravelTimes": "ondemand.routing.solver.model",
    "TripRequest": "ondemand.sim.demand",
    "UnknownAreaError": "ondemand.errors",
    "UnknownStopError": "ondemand.errors",
    "Vehicle": "ondemand.routing.solver.model",
    "best_insertion": "ondemand.routing.solver.insertion",
    "build_matrix": "ondemand.routing.geo.matrix",
    "build_service_area": "ondemand.routing.geo.area",
    "check_plan": "ondemand.routing.solver.check",
    "check_solution": "ondemand.routing.solver.check",
    "compute_kpis": "ondemand.sim.kpis",
    "day_map": "ondemand.viz.outputs",
    "evaluate_route": "ondemand.routing.solver.schedule",
    "fleet_sizing_plot": "ondemand.viz.outputs",
    "kpis_json": "ondemand.sim.kpis",
    "load_boundary_file": "ondemand.routing.geo.municipality",
    "load_network": "ondemand.routing.geo.network",
    "load_population_mesh": "ondemand.routing.geo.mesh",
    "load_scenario": "ondemand.scenario",
    "prepare_area": "ondemand.routing.geo.osmdata",
    "mesh_box": "ondemand.routing.geo.mesh",
    "municipal_accounts": "ondemand.sim.accounting",
    "read_instance": "ondemand.routing.solver.instances",
    "reoptimise": "ondemand.routing.solver.darp",
    "road_path": "ondemand.routing.geo.matrix",
    "simulate": "ondemand.sim.engine",
    "solve_instance": "ondemand.routing.solver.darp",
    "sweep": "ondemand.sim.sweep",
    "write_outputs": "ondemand.viz.outputs",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module's namespace."""
    if name == "__version__":
        from importlib.metadata import version

        value: Any = version("ondemand")
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'ondemand' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AreaRequest",
    "AreaSpec",
    "ArrayTravelTimes",
    "Assignment",
    "BookingKind",
    "BoundaryError",
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
    "ExtractError",
    "InfeasiblePlanError",
    "InfeasibleRequestError",
    "Insertion",
    "InsertionDispatcher",
    "InsertionOptions",
    "InstanceFormatError",
    "InstanceSolution",
    "InvalidRequestError",
    "MeetingPoint",
    "Municipalities",
    "MunicipalityError",
    "NetworkParams",
    "OnboardRider",
    "OndemandError",
    "OutsideServiceAreaError",
    "PlaceNotFoundError",
    "Plan",
    "PlannedStop",
    "PopulationMesh",
    "PopulationMeshError",
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
    "load_boundary_file",
    "load_network",
    "load_population_mesh",
    "load_scenario",
    "mesh_box",
    "municipal_accounts",
    "prepare_area",
    "read_instance",
    "reoptimise",
    "road_path",
    "simulate",
    "solve_instance",
    "sweep",
    "write_outputs",
]
