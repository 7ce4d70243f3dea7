"""Maps, plots and the report are built from the event stream and show what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ondemand.sim.events import RiderPickedUp, VehiclePosition
from ondemand.sim.kpis import compute_kpis
from ondemand.viz.maps import ATTRIBUTION, day_map, write_map
from ondemand.viz.plots import figure_png, occupancy_plot, sweep_plot, vehicle_timelines, wait_histogram
from ondemand.viz.report import report_html
from tests.sim.helpers import max_onboard
from tests.viz._day import AREA


def test_map_has_layers_routes_slider_and_attribution(events: list[Any]) -> None:
    """One layer per vehicle with its road legs, stops and demand layers, a time slider, OSM credit."""
    html = day_map(events, AREA.stops, path=AREA.path, title="grid").get_root().render()
    assert ATTRIBUTION in html.replace("\\u00a9", "©")
    for vid in ("v1", "v2"):
        assert f"Vehicle {vid} route" in html
    assert "Meeting points (25)" in html
    assert "Demand (origins grey" in html
    assert "timeDimension" in html or "TimeDimension" in html
    n_pos = sum(isinstance(e, VehiclePosition) for e in events)
    n_pick = sum(isinstance(e, RiderPickedUp) for e in events)
    assert len(re.findall(r'"times": \["2024-01-15T', html)) == n_pos + n_pick
    assert "+09:00" in html


def _plain(html: str) -> str:
    """The page with JSON unicode escapes decoded (folium escapes non-ASCII and markup in JSON)."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)


def test_map_draws_the_zone_names_stops_and_keeps_vehicles_apart_from_demand(
    events: list[Any], tmp_path: Path
) -> None:
    """Zone layer and first view on it, stop labels, metric-only scale, clock in the scenario's zone."""
    from shapely.geometry import box

    from ondemand.routing.geo.zone import NamedPlace, ServiceZone
    from ondemand.viz.maps import DEMAND_COLOURS, VEHICLE_COLOURS

    zone = ServiceZone(
        "テスト区域", box(135.479, 34.469, 135.490, 34.478), places=(NamedPlace("北駅", 135.485, 34.481),)
    )
    html = _plain(
        day_map(events, AREA.stops, path=AREA.path, zone=zone, timezone="Asia/Tokyo").get_root().render()
    )
    assert "Service zone: テスト区域" in html
    assert "北駅 (station)" in html
    for s in AREA.stops:  # every stop labelled with its name
        assert f">{s.name}</div>" in html
    assert "imperial: false" in html
    assert "L.control.scale()" not in html  # no feet and miles
    assert 'timeZone: "Asia/Tokyo"' in html
    assert not set(DEMAND_COLOURS.values()) & set(VEHICLE_COLOURS)
    # the first view is the zone with its named place (south-west, north-east corners)
    assert "[[34.469, 135.479], [34.481, 135.49]]" in html
    assert ATTRIBUTION in html
    # every asset the zone layer needs is vendored: writing the offline file raises no OfflineAssetWarning
    assert write_map(tmp_path / "map.html", events, AREA.stops, zone=zone).is_file()


def test_times_carry_the_scenario_offset_whatever_the_zone() -> None:
    """Replay times are ISO 8601 in the scenario's zone on that day (Tokyo +09:00, London +00:00/+01:00)."""
    from ondemand.viz.maps import _iso

    assert _iso("2024-01-15", 9 * 3600) == "2024-01-15T09:00:00+09:00"
    assert _iso("2024-01-15", 9 * 3600, "Europe/London") == "2024-01-15T09:00:00+00:00"
    assert _iso("2024-07-15", 9 * 3600, "Europe/London") == "2024-07-15T09:00:00+01:00"


def test_plots_show_the_stream(events: list[Any]) -> None:
    """The wait histogram counts every pickup; the occupancy peak is the true peak."""
    fig = wait_histogram(events)
    counts = sum(p.get_height() for p in fig.axes[0].patches)
    assert counts == sum(isinstance(e, RiderPickedUp) for e in events)
    fig = occupancy_plot(events)
    peak = max(max(line.get_ydata()) for line in fig.axes[0].get_lines())
    assert peak == max(p[0] for p in max_onboard(events).values())
    png = figure_png(vehicle_timelines(events))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_embeds_kpis_and_three_plots(events: list[Any]) -> None:
    """The report lists the KPIs and embeds three PNGs as base64."""
    k = compute_kpis(events)
    html = report_html(k, events, title="grid day", notes=["a note"])
    assert html.count("data:image/png;base64,") == 3
    assert f"<td>{k['served']:,}</td>" in html
    assert "Passengers per vehicle-hour" in html
    assert "© OpenStreetMap contributors" in html


def test_sweep_plot_has_four_panels() -> None:
    """The fleet-sizing figure has one curve per demand level in each of its four panels."""
    rows = [
        {
            "fleet": f,
            "demand": d,
            "wait_mean_s": 600.0 / f,
            "refused_share": 0.1 / f,
            "passengers_per_vehicle_hour": d / (9 * f),
            "cost_per_passenger_jpy": 4500 * 9 * f / d,
        }
        for f in (1, 2, 3)
        for d in (28.0, 51.0)
    ]
    fig = sweep_plot(rows, title="t")
    assert len(fig.axes) == 4
    assert all(len(ax.get_lines()) == 2 for ax in fig.axes)
