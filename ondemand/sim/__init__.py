"""Simulation: demand, the SimPy engine, its events, KPIs and fleet-sizing sweeps.

The simulator emits typed events (:mod:`ondemand.sim.events`); KPIs are a pure function of
them (:mod:`ondemand.sim.kpis`). Files, maps and plots are drawn by :mod:`ondemand.viz`,
which this package never imports.
"""

from __future__ import annotations

from ondemand.sim.demand import CsvDemand, DemandModel, SyntheticDemand, TripRequest
from ondemand.sim.engine import SimResult, run_day, simulate
from ondemand.sim.kpis import KPI_KEYS, compute_kpis, kpis_json
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
    "kpis_json",
    "run_day",
    "simulate",
    "sweep",
]
