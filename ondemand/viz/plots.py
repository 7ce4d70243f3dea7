"""Matplotlib plots of a simulated day and of fleet-sizing sweeps (Agg backend, no display).

Every function takes the event stream (or sweep rows) and returns a
:class:`matplotlib.figure.Figure`; :func:`figure_png` turns one into PNG bytes.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ondemand.sim.events import (
    Event,
    RequestSubmitted,
    RiderDroppedOff,
    RiderPickedUp,
    ShiftEnded,
    ShiftStarted,
    SimulationStarted,
    VehicleArrived,
    VehicleDeparted,
)

__all__ = ["figure_png", "occupancy_plot", "sweep_plot", "vehicle_timelines", "wait_histogram"]


def _hours(t: Any) -> Any:
    return t / 3600.0


def _hour_axis(ax: Any, start: int, end: int) -> None:
    lo, hi = int(start // 3600), int(-(-end // 3600))
    ax.set_xlim(lo, hi)
    ax.set_xticks(range(lo, hi + 1))
    ax.set_xticklabels([f"{h:02d}:00" for h in range(lo, hi + 1)], rotation=0, fontsize=8)


def _span(events: Sequence[Event]) -> tuple[int, int]:
    meta = next((e for e in events if isinstance(e, SimulationStarted)), None)
    ends = [e.t for e in events if isinstance(e, ShiftEnded)]
    start = meta.service_start if meta is not None else min((e.t for e in events), default=0)
    end = max([meta.service_end if meta is not None else 0, *ends]) if ends or meta else start + 3600
    return start, end


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """PNG bytes of a figure (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def wait_histogram(events: Sequence[Event]) -> Figure:
    """Histogram of riders' waits (pickup minus requested time) in minutes, served requests."""
    sub = {e.request_id: e for e in events if isinstance(e, RequestSubmitted)}
    waits = [(e.t - sub[e.request_id].requested_pickup) / 60 for e in events if isinstance(e, RiderPickedUp)]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    if waits:
        bins = [float(b) for b in np.arange(0, max(35.0, max(waits) + 5), 2.5)]
        ax.hist(waits, bins=bins, color="#2f6db5", edgecolor="white")
        ax.axvline(float(np.mean(waits)), color="#d9534f", ls="--", label=f"mean {np.mean(waits):.1f} min")
        ax.axvline(
            float(np.percentile(waits, 90)),
            color="#f0ad4e",
            ls=":",
            label=f"p90 {np.percentile(waits, 90):.1f} min",
        )
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no rider served", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("wait from requested pickup time (min)")
    ax.set_ylabel("riders (requests)")
    ax.set_title(f"Waits ({len(waits)} requests picked up)", fontsize=10)
    fig.tight_layout()
    return fig


def occupancy_plot(events: Sequence[Event]) -> Figure:
    """Passengers on board over the day: fleet total (filled) and each vehicle (lines)."""
    start, end = _span(events)
    steps: dict[str, list[tuple[int, int]]] = defaultdict(list)
    load: dict[str, int] = defaultdict(int)
    for e in events:
        if isinstance(e, ShiftStarted):
            steps[e.vehicle_id].append((e.t, 0))
        elif isinstance(e, RiderPickedUp | RiderDroppedOff):
            load[e.vehicle_id] = e.onboard
            steps[e.vehicle_id].append((e.t, e.onboard))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    grid = np.arange(start, end + 60, 60)
    total = np.zeros(len(grid))
    for vid in sorted(steps):
        pts = steps[vid]
        ts = np.array([p[0] for p in pts])
        vs = np.array([p[1] for p in pts])
        idx = np.searchsorted(ts, grid, side="right") - 1
        series = np.where(idx >= 0, vs[np.clip(idx, 0, None)], 0)
        total += series
        ax.step(_hours(grid), series, where="post", lw=1, label=vid)
    ax.fill_between(_hours(grid), total, step="post", alpha=0.2, color="grey", label="fleet total")
    _hour_axis(ax, start, end)
    ax.set_ylabel("passengers on board")
    ax.set_title("Occupancy over the day", fontsize=10)
    ax.legend(fontsize=7, ncol=min(6, len(steps) + 1), loc="upper right")
    fig.tight_layout()
    return fig


def vehicle_timelines(events: Sequence[Event]) -> Figure:
    """One row per vehicle: driving empty, driving with riders, boarding/alighting, idle."""
    start, end = _span(events)
    vids = sorted({e.vehicle_id for e in events if isinstance(e, ShiftStarted)})
    row = {v: k for k, v in enumerate(vids)}
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(1, len(vids))))
    for e in events:
        if isinstance(e, VehicleDeparted) and e.duration_s > 0:
            color = "#9e9e9e" if e.onboard == 0 else "#2f6db5"
            ax.broken_barh([(_hours(e.t), e.duration_s / 3600)], (row[e.vehicle_id] - 0.35, 0.7), color=color)
        elif isinstance(e, RiderPickedUp) and e.boarded_at > e.t:
            ax.broken_barh(
                [(_hours(e.t), (e.boarded_at - e.t) / 3600)], (row[e.vehicle_id] - 0.35, 0.7), color="#5cb85c"
            )
        elif isinstance(e, RiderDroppedOff) and e.alighted_at > e.t:
            ax.broken_barh(
                [(_hours(e.t), (e.alighted_at - e.t) / 3600)],
                (row[e.vehicle_id] - 0.35, 0.7),
                color="#f0ad4e",
            )
        elif isinstance(e, ShiftStarted | ShiftEnded):
            ax.plot(
                [_hours(e.t)] * 2, [row[e.vehicle_id] - 0.4, row[e.vehicle_id] + 0.4], color="black", lw=1
            )
        elif isinstance(e, VehicleArrived):
            pass
    ax.set_yticks(range(len(vids)))
    ax.set_yticklabels(vids, fontsize=8)
    ax.set_ylim(-0.6, len(vids) - 0.4)
    _hour_axis(ax, start, end)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color="#9e9e9e", label="driving empty"),
            Patch(color="#2f6db5", label="driving with riders"),
            Patch(color="#5cb85c", label="boarding"),
            Patch(color="#f0ad4e", label="alighting"),
        ],
        fontsize=7,
        ncol=4,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25 if len(vids) < 4 else -0.08),
    )
    ax.set_title("Vehicle timelines (white: idle or waiting)", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_plot(rows: Sequence[Mapping[str, Any]], *, title: str = "") -> Figure:
    """Fleet-sizing curves: wait, refused share, passengers per vehicle-hour and cost per passenger.

    Parameters
    ----------
    rows
        Aggregated sweep rows with ``fleet``, ``demand`` and the mean KPIs
        ``wait_mean_s``, ``refused_share``, ``passengers_per_vehicle_hour``,
        ``subsidy_per_passenger_jpy`` and ``cost_per_passenger_jpy``.
    """
    panels = [
        ("wait_mean_s", "mean wait (min)", 1 / 60),
        ("refused_share", "refused share (%)", 100.0),
        ("passengers_per_vehicle_hour", "passengers / vehicle-hour", 1.0),
        ("cost_per_passenger_jpy", "operating cost / passenger (JPY)", 1.0),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6))
    demands = sorted({r["demand"] for r in rows})
    for ax, (key, label, scale) in zip(axes.flat, panels, strict=True):
        for d in demands:
            pts = sorted((r["fleet"], r[key]) for r in rows if r["demand"] == d and r.get(key) is not None)
            if pts:
                ax.plot(
                    [p[0] for p in pts], [p[1] * scale for p in pts], marker="o", label=f"{d:g} requests/day"
                )
        ax.set_xlabel("fleet size (vehicles)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fleets = sorted({int(r["fleet"]) for r in rows})
        if fleets:
            ax.set_xticks(fleets)
    fig.suptitle(title or "Fleet sizing", fontsize=11)
    fig.tight_layout()
    return fig
