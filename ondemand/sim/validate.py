"""Hold a simulated pilot against what was observed: ``ondemand validate``.

:func:`validate` simulates a scenario over several seeds (one service day each, taken in turn
from the scenario's ``service.period`` when it has one) and sets the spread of a few KPIs
(mean, min–max over the seeds) beside the observations in the scenario's ``[observed]``
table, each with its source. A metric the pilot did not publish is reported as such; an
observation that was used to set an input (``fitted = "demand.riders_per_day"``) is flagged,
since agreement there is by construction, not a test of the model. Observations are never
copied into simulated figures.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ondemand.dispatch.policy import ServicePolicy
from ondemand.scenario import Observation, Scenario
from ondemand.sim.demand import DemandModel
from ondemand.sim.engine import SimArea, simulate
from ondemand.sim.kpis import compute_kpis

__all__ = ["METRICS", "MetricRow", "Validation", "fmt", "validate"]

METRICS: tuple[tuple[str, str, Callable[[dict[str, Any]], float | None]], ...] = (
    ("riders_per_day", "riders a day (persons carried)", lambda k: _num(k.get("riders"))),
    ("requests_per_day", "requests (bookings) a day", lambda k: _num(k.get("requests"))),
    (
        "passengers_per_vehicle_hour",
        "passengers per vehicle-hour",
        lambda k: _num(k.get("passengers_per_vehicle_hour")),
    ),
    ("refused_share", "refused bookings (share of requests)", lambda k: _num(k.get("refused_share"))),
    ("wait_mean_min", "mean wait (min)", lambda k: _scale(k.get("wait_mean_s"), 1 / 60)),
    ("shared_ride_share", "shared-ride share", lambda k: _num(k.get("shared_ride_share"))),
)
"""Metric key (as in ``[observed]``), label, and how a day's KPIs give it."""


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _scale(v: Any, f: float) -> float | None:
    return None if v is None else float(v) * f


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric: the simulated spread over seeds and the observation, if any.

    Parameters
    ----------
    key, label
        The metric (:data:`METRICS`).
    values
        The simulated value of each seed (``None`` where a day has none, e.g. no rider served).
    observed
        The observation from the scenario's ``[observed]`` table, or ``None`` (not published).
    """

    key: str
    label: str
    values: tuple[float | None, ...]
    observed: Observation | None

    @property
    def present(self) -> tuple[float, ...]:
        """The seeds' values that exist."""
        return tuple(v for v in self.values if v is not None)

    @property
    def mean(self) -> float | None:
        """Mean over the seeds (``None`` when no seed has a value)."""
        p = self.present
        return sum(p) / len(p) if p else None

    @property
    def low(self) -> float | None:
        """Smallest seed value."""
        return min(self.present) if self.present else None

    @property
    def high(self) -> float | None:
        """Largest seed value."""
        return max(self.present) if self.present else None


@dataclass(frozen=True, slots=True)
class Validation:
    """The result of :func:`validate`: rows, the days simulated and what is not reproduced."""

    scenario: str
    seeds: tuple[int, ...]
    dates: tuple[str, ...]
    rows: tuple[MetricRow, ...]
    kpis: tuple[dict[str, Any], ...]

    def caveats(self) -> list[str]:
        """Plain statements of what the comparison does not show."""
        out = []
        for r in self.rows:
            if r.observed is None:
                out.append(f"observed {r.label}: not published")
            elif r.observed.fitted:
                out.append(
                    f"{r.label}: the scenario's {r.observed.fitted} was set from this observation "
                    "(calibrated to it), so it tests only what refusals, cancellations and no-shows "
                    "take off the demand, not the demand level"
                )
            elif r.observed.derived:
                out.append(f"{r.label}: the observation is derived ({r.observed.derived})")
        out.append(
            "observed figures are averages over the whole run; simulated ones over "
            f"{len(self.seeds)} simulated service day(s)"
        )
        return out


def validate(
    scenario: Scenario,
    *,
    seeds: int = 5,
    area: SimArea | None = None,
    demand: DemandModel | None = None,
    reoptimise: bool = True,
    on_done: Callable[[int], None] | None = None,
) -> Validation:
    """Simulate ``seeds`` days of a scenario and set the KPIs beside its ``[observed]`` table.

    Parameters
    ----------
    scenario
        The scenario (:func:`ondemand.scenario.load_scenario`).
    seeds
        Number of simulated days (seeds ``0 .. seeds-1``).
    area
        The service area (default: built once from the scenario).
    demand
        Demand model (default: the scenario's synthetic demand).
    reoptimise
        Keep the scenario's rolling-horizon re-optimisation.
    on_done
        Called with each finished seed (the CLI's progress bar).

    Raises
    ------
    ValueError
        When ``seeds`` < 1.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if area is None:
        area = scenario.service_area()
    dates = _days(scenario, seeds)
    kpis: list[dict[str, Any]] = []
    for seed in range(seeds):
        res = simulate(
            scenario,
            seed=seed,
            area=area,
            demand=demand,
            date=dates[seed],
            position_every_s=0,
            reoptimise=reoptimise,
        )
        kpis.append(compute_kpis(res.events))
        if on_done is not None:
            on_done(seed)
    rows = tuple(
        MetricRow(
            key=key,
            label=label,
            values=tuple(get(k) for k in kpis),
            observed=scenario.observed.get(key),
        )
        for key, label, get in METRICS
    )
    return Validation(
        scenario=scenario.name,
        seeds=tuple(range(seeds)),
        dates=tuple(dates),
        rows=rows,
        kpis=tuple(kpis),
    )


def _days(scenario: Scenario, n: int) -> list[str]:
    """``n`` service days spread over the scenario's period (its weekdays as they come), else
    consecutive service days from 2024-01-15 on."""
    cal = ServicePolicy.from_scenario(scenario).rules.calendar
    period = scenario.service.period
    if period is not None:
        days = cal.service_days(period[0], period[1])
    else:
        start = cal.next_service_day(_dt.date(2024, 1, 15))
        days = [] if start is None else cal.service_days(start, start + _dt.timedelta(days=6 * n + 7))
    if not days:
        raise ValueError(f"{scenario.name}: no service day to simulate (check service.period and calendar)")
    step = max(1, len(days) // n)
    return [days[(k * step) % len(days)].isoformat() for k in range(n)]


def fmt(v: float | None, key: str) -> str:
    """A metric value as the table prints it."""
    if v is None or not math.isfinite(v):
        return "–"
    if key.endswith("_share"):
        return f"{100 * v:.0f} %"
    if key.endswith("_per_day"):
        return f"{v:.1f}"
    return f"{v:.2f}"
