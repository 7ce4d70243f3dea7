"""KPIs of a service day: a pure function of the event stream.

Definitions (all from :mod:`ondemand.sim.events`):

Three counts that are easy to confuse, kept apart:

- ``requests``: bookings submitted (one group, one one-way trip); ``served`` (dropped off),
  ``refused``, ``cancelled``, ``no_shows`` count requests too.
- ``riders_requested``: persons in the submitted requests (group sizes summed): the demand, in
  the unit of a scenario's ``demand.riders_per_day``.
- ``riders``: persons carried, each one-way ride counted (a round trip is two, a group of
  three is three): the unit pilots publish as riders a day (延べ利用者数).
  ``passengers`` is the same count under its older name (kept for existing readers of
  ``kpis.json``), and ``passengers_per_vehicle_hour`` is built on it.
- ``lost_bookings``, ``riders_lost``: bookings made while their channel was closed and lost
  (``service.outside_hours = "lost"``, or the channel opened too late for the ride); they never
  became requests, so they are not refusals.
- ``wait_*_s``: pickup (start of boarding) minus the requested pickup time, served requests.
- ``ride_mean_s``: drop-off (start of alighting) minus end of boarding.
- ``detour_mean``: ride time over the direct drive time between the two stops.
- ``vehicle_hours``: shift length summed over vehicles (shift start to the end of the shift
  back at the depot), the hours an operator pays for.
- ``vehicle_km``, ``empty_km``: metres driven, and those with nobody on board, / 1000.
- ``driving_speed_kmh``: the vans' mean speed while driving: metres driven over seconds driven
  (``VehicleDeparted`` distances and durations; dwell at stops and idle time excluded).
- ``passengers_per_vehicle_hour``: served passengers over vehicle-hours.
- ``shared_ride_share``: share of served requests that shared the vehicle with another
  request for part of their ride.
- ``fare_revenue_jpy``: fares of served requests; ``operating_cost_jpy``: vehicle-hours times
  the cost per vehicle-hour; ``subsidy_per_passenger_jpy``: (cost - revenue) / passengers
  (``null`` with no passenger).

:func:`kpis_json` gives canonical bytes (sorted keys, floats rounded to 3 decimals), so the
same event stream always gives the same file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ondemand.sim.events import (
    BookingLost,
    Event,
    NoShow,
    RequestAssigned,
    RequestCancelled,
    RequestRefused,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleDeparted,
)

__all__ = ["KPI_KEYS", "compute_kpis", "kpis_json", "request_outcomes"]

KPI_KEYS = (
    "requests",
    "riders_requested",
    "riders",
    "served",
    "refused",
    "cancelled",
    "no_shows",
    "wait_mean_s",
    "wait_p90_s",
    "ride_mean_s",
    "detour_mean",
    "vehicle_hours",
    "vehicle_km",
    "empty_km",
    "driving_speed_kmh",
    "passengers_per_vehicle_hour",
    "shared_ride_share",
    "fare_revenue_jpy",
    "operating_cost_jpy",
    "subsidy_per_passenger_jpy",
)
"""The keys every KPI dict has (more may follow)."""


def _r(x: float | None, nd: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    v = round(float(x), nd)
    return 0.0 if v == 0 else v


def request_outcomes(events: Iterable[Event]) -> dict[str, str]:
    """Final outcome of each submitted request: served, refused, cancelled, no_show or open."""
    out: dict[str, str] = {}
    for e in events:
        if isinstance(e, RequestSubmitted):
            out[e.request_id] = "open"
        elif isinstance(e, RiderDroppedOff):
            out[e.request_id] = "served"
        elif isinstance(e, RequestRefused):
            out[e.request_id] = "refused"
        elif isinstance(e, RequestCancelled):
            out[e.request_id] = "cancelled"
        elif isinstance(e, NoShow):
            out[e.request_id] = "no_show"
    return out


def compute_kpis(events: Iterable[Event]) -> dict[str, Any]:
    """The KPI dict of a day (keys :data:`KPI_KEYS` and a few more), floats rounded.

    Parameters
    ----------
    events
        The events of one simulated day, in time order.
    """
    evs = list(events)
    meta = next((e for e in evs if isinstance(e, SimulationStarted)), None)
    cost_rate = meta.cost_per_vehicle_hour_jpy if meta is not None else 0
    submitted = {e.request_id: e for e in evs if isinstance(e, RequestSubmitted)}
    pickups = {e.request_id: e for e in evs if isinstance(e, RiderPickedUp)}
    drops = {e.request_id: e for e in evs if isinstance(e, RiderDroppedOff)}
    refused = sum(1 for e in evs if isinstance(e, RequestRefused))
    cancelled = sum(1 for e in evs if isinstance(e, RequestCancelled))
    no_shows = sum(1 for e in evs if isinstance(e, NoShow))
    assigned = sum(1 for e in evs if isinstance(e, RequestAssigned))

    served_ids = sorted(r for r in drops if r in pickups and r in submitted)
    waits = np.array([pickups[r].t - submitted[r].requested_pickup for r in served_ids], dtype=np.float64)
    rides = np.array([drops[r].t - pickups[r].boarded_at for r in served_ids], dtype=np.float64)
    detours = [
        (drops[r].t - pickups[r].boarded_at) / submitted[r].direct_s
        for r in served_ids
        if submitted[r].direct_s > 0
    ]
    passengers = sum(submitted[r].passengers for r in served_ids)
    riders_requested = sum(e.passengers for e in submitted.values())
    revenue = sum(submitted[r].fare_jpy for r in served_ids)

    starts = {e.vehicle_id: e.t for e in evs if isinstance(e, ShiftStarted)}
    ends = {e.vehicle_id: e.t for e in evs if isinstance(e, ShiftEnded)}
    vehicle_s = sum(ends[v] - starts[v] for v in starts if v in ends)
    vehicle_h = vehicle_s / 3600.0
    metres = sum(e.distance_m for e in evs if isinstance(e, VehicleDeparted))
    driving_s = sum(e.duration_s for e in evs if isinstance(e, VehicleDeparted))
    empty = sum(e.distance_m for e in evs if isinstance(e, VehicleDeparted) and e.onboard == 0)
    cost = vehicle_h * cost_rate

    # Shared rides: a served request shares when another request is on board during its ride.
    shared: set[str] = set()
    onboard: dict[str, set[str]] = {}
    for e in evs:
        if isinstance(e, RiderPickedUp):
            cur = onboard.setdefault(e.vehicle_id, set())
            if cur:
                shared.add(e.request_id)
                shared.update(cur)
            cur.add(e.request_id)
        elif isinstance(e, RiderDroppedOff):
            onboard.setdefault(e.vehicle_id, set()).discard(e.request_id)
    n_served = len(served_ids)

    k: dict[str, Any] = {
        "requests": len(submitted),
        "assigned": assigned,
        "served": n_served,
        "refused": refused,
        "cancelled": cancelled,
        "no_shows": no_shows,
        "riders_requested": riders_requested,
        "lost_bookings": sum(1 for e in evs if isinstance(e, BookingLost)),
        "riders_lost": sum(e.passengers for e in evs if isinstance(e, BookingLost)),
        "riders": passengers,
        "passengers": passengers,
        "refused_share": _r(refused / len(submitted)) if submitted else None,
        "wait_mean_s": _r(float(waits.mean()), 1) if n_served else None,
        "wait_p90_s": _r(float(np.percentile(waits, 90)), 1) if n_served else None,
        "ride_mean_s": _r(float(rides.mean()), 1) if n_served else None,
        "detour_mean": _r(float(np.mean(detours))) if detours else None,
        "vehicle_hours": _r(vehicle_h),
        "vehicle_km": _r(metres / 1000.0),
        "empty_km": _r(empty / 1000.0),
        "driving_speed_kmh": _r(metres / driving_s * 3.6, 1) if driving_s > 0 else None,
        "passengers_per_vehicle_hour": _r(passengers / vehicle_h) if vehicle_h > 0 else None,
        "shared_ride_share": _r(len(shared & set(served_ids)) / n_served) if n_served else None,
        "fare_revenue_jpy": int(revenue),
        "operating_cost_jpy": round(cost),
        "subsidy_per_passenger_jpy": _r((cost - revenue) / passengers, 1) if passengers else None,
    }
    if meta is not None:
        k["scenario"] = meta.scenario
        k["seed"] = meta.seed
        k["fleet"] = meta.fleet
        k["date"] = meta.date
    return k


def kpis_json(kpis: dict[str, Any]) -> str:
    """Canonical JSON text of a KPI dict (sorted keys, two-space indent, trailing newline)."""
    return json.dumps(kpis, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
