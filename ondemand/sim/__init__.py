"""Simulation: demand, the SimPy engine, events, KPIs, outputs and fleet-sizing sweeps."""

from __future__ import annotations

from ondemand.sim.demand import CsvDemand, DemandModel, SyntheticDemand, TripRequest
from ondemand.sim.engine import SimResult, run_day, simulate
from ondemand.sim.kpis import KPI_KEYS, compute_kpis, kpis_json
from ondemand.sim.outputs import day_map, fleet_sizing_plot, write_outputs
from ondemand.sim.sweep import aggregate, sweep

__all__ = [
    "KPI_KEYS",
    "CsvDemand",
    "DemandModel",
    "SimResult",
    "SyntheticDemand",
    "TripRequest",
    "aggregate",
    "compute_kpis",
    "day_map",
    "fleet_sizing_plot",
    "kpis_json",
    "run_day",
    "simulate",
    "sweep",
    "write_outputs",
]
