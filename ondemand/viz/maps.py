"""Folium map of a simulated day: stops, demand, each vehicle's driven route, and a replay slider.

Layers (toggle them with the layer control): meeting points, trip origins and
destinations, one layer per vehicle with the roads it drove (from the service area's
road paths), optionally the road network itself, and a time slider
(``folium.plugins.TimestampedGeoJson``) replaying vehicle positions and pickups over the
day. :func:`write_map` writes one self-contained HTML file (Leaflet and the plugins
inlined); only the OpenStreetMap tiles need internet. Map data © OpenStreetMap
contributors (ODbL).
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import folium
from folium.plugins import TimestampedGeoJson

from ondemand.sim.events import (
    Event,
    RequestSubmitted,
    RiderPickedUp,
    SimulationStarted,
    VehicleDeparted,
    VehiclePosition,
)
from ondemand.viz._assets import save_offline

__all__ = ["ATTRIBUTION", "VEHICLE_COLOURS", "day_map", "write_map"]

ATTRIBUTION = "© OpenStreetMap contributors"
VEHICLE_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


def _iso(date: str, t: int, tz: str = "+09:00") -> str:
    day = _dt.date.fromisoformat(date) if date else _dt.date(2024, 1, 15)
    stamp = _dt.datetime(day.year, day.month, day.day) + _dt.timedelta(seconds=int(t))
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + tz


def _leg_coords(
    path: Callable[[int, int], Any] | None, stops: Sequence[Any], a: int, b: int
) -> list[list[float]]:
    if path is not None:
        p = path(a, b)
        lon, lat = getattr(p, "lon", None), getattr(p, "lat", None)
        if lon is not None and lat is not None and len(lon) >= 2:
            return [[float(y), float(x)] for x, y in zip(lon, lat, strict=True)]
    return [[float(stops[a].lat), float(stops[a].lon)], [float(stops[b].lat), float(stops[b].lon)]]


def _add_roads(m: folium.Map, network: Any) -> None:
    """A toggleable layer of the road network: main roads (≥ 40 km/h) darker and wider."""
    u, v, speed = network.edge_u.tolist(), network.edge_v.tolist(), network.edge_speed.tolist()
    pairs = set(zip(u, v, strict=True))
    minor: list[list[list[float]]] = []
    main: list[list[list[float]]] = []
    for edge, (a, b, sp) in enumerate(zip(u, v, speed, strict=True)):
        if a > b and (b, a) in pairs:
            continue  # two-way road: drawn once
        lon, lat = network.edge_coords(edge)
        line = [[round(float(y), 5), round(float(x), 5)] for x, y in zip(lon, lat, strict=True)]
        (main if sp >= 40 else minor).append(line)
    fg = folium.FeatureGroup(name="Roads")
    for lines, colour, weight in ((minor, "#c9c3b8", 1), (main, "#a39c8f", 2.5)):
        if lines:
            folium.PolyLine(  # type: ignore[no-untyped-call]
                lines, color=colour, weight=weight, opacity=1
            ).add_to(fg)
    fg.add_to(m)


def day_map(
    events: Sequence[Event],
    stops: Sequence[Any],
    *,
    path: Callable[[int, int], Any] | None = None,
    title: str = "",
    max_replay_points: int = 20_000,
    roads: Any = None,
) -> folium.Map:
    """Build the map of a day.

    Parameters
    ----------
    events
        The day's events.
    stops
        The service area's meeting points (``id``, ``name``, ``lon``, ``lat``), indexed as
        in the events.
    path
        ``path(i, j)`` giving the road path between stops (with ``lon``/``lat`` arrays),
        e.g. ``ServiceArea.path``; without it, legs are straight lines.
    title
        Shown in the top-left corner.
    max_replay_points
        Cap on position points in the time slider (positions are thinned evenly beyond it).
    roads
        The area's :class:`~ondemand.routing.geo.network.RoadNetwork` (e.g.
        ``ServiceArea.network``): its roads are drawn faintly under the routes, so the map
        still reads when the OpenStreetMap tiles cannot be loaded (offline, proxies).

    Returns
    -------
    folium.Map
    """
    lat0 = sum(float(s.lat) for s in stops) / max(1, len(stops))
    lon0 = sum(float(s.lon) for s in stops) / max(1, len(stops))
    m = folium.Map(location=[lat0, lon0], zoom_start=14, tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", attr=ATTRIBUTION, name="OpenStreetMap").add_to(m)
    if roads is not None:
        _add_roads(m, roads)
    meta = next((e for e in events if isinstance(e, SimulationStarted)), None)
    date = meta.date if meta is not None else ""

    used: dict[int, int] = defaultdict(int)
    for e in events:
        if isinstance(e, RiderPickedUp):
            used[e.stop] += e.passengers
    fg_stops = folium.FeatureGroup(name=f"Meeting points ({len(stops)})")
    for k, s in enumerate(stops):
        folium.CircleMarker(
            location=[float(s.lat), float(s.lon)],
            radius=4 + min(8, used.get(k, 0)),
            color="#333333",
            weight=1,
            fill=True,
            fill_color="#ffffff" if not used.get(k) else "#f0ad4e",
            fill_opacity=0.9,
            tooltip=f"{s.id} {s.name} — {used.get(k, 0)} boarded",
        ).add_to(fg_stops)
    fg_stops.add_to(m)

    fg_dem = folium.FeatureGroup(name="Demand (origins blue, destinations red)")
    for e in events:
        if isinstance(e, RequestSubmitted):
            folium.CircleMarker(
                [e.origin_lat, e.origin_lon],
                radius=2,
                color="#2f6db5",
                fill=True,
                tooltip=f"{e.request_id} origin",
            ).add_to(fg_dem)
            folium.CircleMarker(
                [e.dest_lat, e.dest_lon],
                radius=2,
                color="#d9534f",
                fill=True,
                tooltip=f"{e.request_id} destination",
            ).add_to(fg_dem)
    fg_dem.add_to(m)

    legs: dict[str, list[VehicleDeparted]] = defaultdict(list)
    for e in events:
        if isinstance(e, VehicleDeparted) and e.from_stop != e.to_stop:
            legs[e.vehicle_id].append(e)
    colour = {vid: VEHICLE_COLOURS[k % len(VEHICLE_COLOURS)] for k, vid in enumerate(sorted(legs))}
    for vid in sorted(legs):
        km = sum(leg.distance_m for leg in legs[vid]) / 1000
        fg = folium.FeatureGroup(name=f"Vehicle {vid} route ({km:.1f} km)")
        for leg in legs[vid]:
            folium.PolyLine(  # type: ignore[no-untyped-call]
                _leg_coords(path, stops, leg.from_stop, leg.to_stop),
                color=colour[vid],
                weight=3 if leg.onboard else 2,
                opacity=0.8 if leg.onboard else 0.45,
                dash_array=None if leg.onboard else "6 6",
                tooltip=f"{vid} {leg.onboard} on board",
            ).add_to(fg)
        fg.add_to(m)

    features: list[dict[str, Any]] = []
    positions = [e for e in events if isinstance(e, VehiclePosition)]
    step = max(1, len(positions) // max(1, max_replay_points))
    for e in positions[::step]:
        c = colour.get(e.vehicle_id, "#000000")
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [e.lon, e.lat]},
                "properties": {
                    "times": [_iso(date, e.t)],
                    "popup": f"{e.vehicle_id}: {e.onboard} on board",
                    "icon": "circle",
                    "iconstyle": {
                        "fillColor": c,
                        "fillOpacity": 0.9,
                        "stroke": "true",
                        "radius": 7,
                        "color": c,
                    },
                },
            }
        )
    for e in events:
        if isinstance(e, RiderPickedUp):
            s = stops[e.stop]
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [float(s.lon), float(s.lat)]},
                    "properties": {
                        "times": [_iso(date, e.t)],
                        "popup": f"pickup {e.request_id} ({e.passengers})",
                        "icon": "circle",
                        "iconstyle": {
                            "fillColor": "#5cb85c",
                            "fillOpacity": 1,
                            "radius": 5,
                            "color": "#2d6a2d",
                        },
                    },
                }
            )
    if features:
        TimestampedGeoJson(  # type: ignore[no-untyped-call]
            {"type": "FeatureCollection", "features": features},
            period="PT1M",
            duration="PT2M",
            add_last_point=False,
            auto_play=False,
            loop=False,
            max_speed=60,
            transition_time=100,
            date_options="HH:mm",
        ).add_to(m)

    if title:
        html = (
            f'<div style="position:fixed;top:10px;left:50px;z-index:9999;background:white;padding:4px 8px;'
            f'border-radius:4px;font:13px sans-serif;box-shadow:0 1px 4px #888">{title}</div>'
        )
        m.get_root().html.add_child(folium.Element(html))  # type: ignore[attr-defined]
    if stops:
        lats = [float(s.lat) for s in stops]
        lons = [float(s.lon) for s in stops]
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def write_map(file: str | Path, events: Sequence[Event], stops: Sequence[Any], **kwargs: Any) -> Path:
    """Build :func:`day_map` and save it as one self-contained HTML file.

    Leaflet and the plugins are inlined (:mod:`ondemand.viz._assets`), so the map opens
    offline and behind proxies; only the OpenStreetMap tiles need internet, and without
    them the routes and stops show on a plain background.
    """
    return save_offline(day_map(events, stops, **kwargs), file)
