"""Folium map of a simulated day: zone, stops, demand, each vehicle's driven route, and a replay slider.

Layers (toggle them with the layer control): the service zone and its named places, meeting points
and their names, trip origins and
destinations, one layer per vehicle with the roads it drove (from the service area's
road paths), optionally the road network itself, and a time slider
(``folium.plugins.TimestampedGeoJson``) replaying vehicle positions and pickups over the
day. :func:`write_map` writes one self-contained HTML file (Leaflet and the plugins
inlined); only the OpenStreetMap tiles need internet. Map data © OpenStreetMap
contributors (ODbL).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import TimestampedGeoJson
from jinja2 import Template

from ondemand.sim.events import (
    Event,
    RequestSubmitted,
    RiderPickedUp,
    SimulationStarted,
    VehicleDeparted,
    VehiclePosition,
)
from ondemand.viz._assets import save_offline

__all__ = ["ATTRIBUTION", "DEMAND_COLOURS", "VEHICLE_COLOURS", "day_map", "write_map"]

ATTRIBUTION = "© OpenStreetMap contributors"
VEHICLE_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#17becf",
    "#8c564b",
    "#e377c2",
)
"""Vehicles: saturated hues. Demand, stops and pickups use none of them (greys, black, white,
yellow), and the zone is a dashed dark outline, so a vehicle is never mistaken for demand."""
DEMAND_COLOURS = {"origin": "#444444", "destination": "#000000", "pickup": "#ffffff", "stop_used": "#ffd92f"}
ZONE_COLOUR = "#333333"


def _iso(date: str, t: int, tz: str = "Asia/Tokyo") -> str:
    """ISO 8601 time with the scenario's UTC offset on that day (``2024-01-15T09:00:00+09:00``)."""
    from zoneinfo import ZoneInfo

    day = _dt.date.fromisoformat(date) if date else _dt.date(2024, 1, 15)
    stamp = _dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)) + _dt.timedelta(seconds=int(t))
    return stamp.isoformat(timespec="seconds")


class _Script(MacroElement):  # type: ignore[misc]
    """A script run after the map's earlier children (``{map}`` stands for the map's JS name)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this.js.replace('{map}', this._parent.get_name()) }}"
        "{% endmacro %}"
    )

    def __init__(self, js: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OndemandScript"
        self.js = js


def _metric_scale() -> _Script:
    return _Script("L.control.scale({metric: true, imperial: false}).addTo({map});")


def _clock_in(tz: str) -> _Script:
    """The replay clock shows times in ``tz`` (the scenario's zone), whatever the viewer's zone."""
    options = "{timeZone: " + json.dumps(tz) + ", hour: '2-digit', minute: '2-digit', hourCycle: 'h23'}"
    fmt = f"new Intl.DateTimeFormat('en-GB', {options}).format(new Date(date))"
    control = "L.Control.TimeDimensionCustom"
    return _Script(
        f"if ({control}) {{ {control}.prototype._getDisplayDateFormat = function(date) {{ return {fmt}; }};"
        " if (window.timeDimensionControl && timeDimensionControl._update) {"
        " timeDimensionControl._update(); } }"
    )


def _add_zone(m: folium.Map, zone: Any) -> None:
    """The service zone (dashed outline) and its named places (labelled squares)."""
    fg = folium.FeatureGroup(name=f"Service zone: {zone.name}")
    folium.GeoJson(
        zone.to_geojson()["features"][0],
        style_function=lambda _f: {
            "color": ZONE_COLOUR,
            "weight": 2,
            "dashArray": "8 6",
            "fillColor": ZONE_COLOUR,
            "fillOpacity": 0.04,
        },
        tooltip=zone.name,
    ).add_to(fg)
    for p in zone.places:
        folium.Marker(  # a white square with a dark border (plain HTML: no extra Leaflet plugin)
            [p.lat, p.lon],
            icon=folium.DivIcon(
                icon_size=(12, 12),
                icon_anchor=(6, 6),
                html=(
                    '<div style="width:10px;height:10px;background:#fff;'
                    f'border:2px solid {ZONE_COLOUR}"></div>'
                ),
            ),
            tooltip=f"{p.label} ({p.kind})",
        ).add_to(fg)
    fg.add_to(m)


BORDER_COLOUR = "#555555"
"""Municipal borders: a grey dash-dot line (greys are never a vehicle's colour)."""


def _add_municipalities(
    m: folium.Map, municipalities: Mapping[str, Any], label_keys: Sequence[str] = ("cost share (JPY)",)
) -> None:
    """Municipal borders and, at a point inside each, its name and key numbers (all in the tooltip)."""
    from shapely.geometry import shape

    fg = folium.FeatureGroup(name="Municipalities (borders, riders, cost shares)")
    for f in municipalities.get("features", []):
        props = f.get("properties") or {}
        name = str(props.get("name", ""))
        lines = [f"<b>{html.escape(name)}</b>"] + [
            f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in props.items() if k != "name"
        ]
        text = "<br>".join(lines)
        folium.GeoJson(
            f,
            style_function=lambda _f: {
                "color": BORDER_COLOUR,
                "weight": 3,
                "dashArray": "10 4 2 4",
                "fill": False,
            },
            tooltip=folium.Tooltip(text),
        ).add_to(fg)
        pt = shape(f["geometry"]).representative_point()
        short = "<br>".join(
            [f"<b>{html.escape(name)}</b>"]
            + [f"{html.escape(str(k))}: {html.escape(str(props[k]))}" for k in label_keys if k in props]
        )
        folium.Marker(
            [pt.y, pt.x],
            icon=folium.DivIcon(
                icon_size=(1, 1),
                icon_anchor=(0, 0),
                html=(
                    f'<div style="font:12px sans-serif;color:#222;background:rgba(255,255,255,.85);'
                    f"border:1px solid {BORDER_COLOUR};padding:2px 5px;border-radius:3px;"
                    f'white-space:nowrap;display:inline-block;transform:translate(-50%,-50%)">{short}</div>'
                ),
            ),
            tooltip=folium.Tooltip(text),
        ).add_to(fg)
    fg.add_to(m)


def _add_stop_labels(m: folium.Map, stops: Sequence[Any]) -> None:
    fg = folium.FeatureGroup(name="Stop names")
    for s in stops:
        folium.Marker(
            [float(s.lat), float(s.lon)],
            icon=folium.DivIcon(
                icon_size=(160, 14),
                icon_anchor=(-7, 7),
                html=(
                    '<div style="font:11px sans-serif;color:#222;white-space:nowrap;'
                    f'text-shadow:0 0 2px #fff,0 0 2px #fff">{html.escape(str(s.name))}</div>'
                ),
            ),
        ).add_to(fg)
    fg.add_to(m)


def _leg_coords(
    path: Callable[[int, int], Any] | None, stops: Sequence[Any], a: int, b: int
) -> list[list[float]]:
    if path is not None:
        p = path(a, b)
        lon, lat = getattr(p, "lon", None), getattr(p, "lat", None)
        if lon is not None and lat is not None and len(lon) >= 2:
            return [[float(y), float(x)] for x, y in zip(lon, lat, strict=True)]
    # straight; a turning point of a diverted leg (past the stops) has no position without paths
    ends = [x for x in (a, b) if 0 <= x < len(stops)]
    return [[float(stops[x].lat), float(stops[x].lon)] for x in ends] if len(ends) == 2 else []


def _add_roads(m: folium.Map, network: Any) -> None:
    """A toggleable layer of the road network: main roads (secondary and above) darker and wider."""
    u, v = network.edge_u.tolist(), network.edge_v.tolist()
    major = {"motorway", "trunk", "primary", "secondary"}
    is_main = [str(c).removesuffix("_link") in major for c in network.edge_class.tolist()]
    pairs = set(zip(u, v, strict=True))
    minor: list[list[list[float]]] = []
    main: list[list[list[float]]] = []
    for edge, (a, b, big) in enumerate(zip(u, v, is_main, strict=True)):
        if a > b and (b, a) in pairs:
            continue  # two-way road: drawn once
        lon, lat = network.edge_coords(edge)
        line = [[round(float(y), 5), round(float(x), 5)] for x, y in zip(lon, lat, strict=True)]
        (main if big else minor).append(line)
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
    zone: Any = None,
    timezone: str = "Asia/Tokyo",
    municipalities: Mapping[str, Any] | None = None,
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
    zone
        The service zone (:class:`~ondemand.routing.geo.zone.ServiceZone`): drawn, with its named
        places, and the first view is fitted to it.
    timezone
        The scenario's time zone: the replay clock shows times there, whatever the viewer's.
    municipalities
        GeoJSON FeatureCollection of municipality polygons whose properties (``name`` and the
        day's numbers) are shown at each (cross-municipal accounting).

    Returns
    -------
    folium.Map
    """
    lat0 = sum(float(s.lat) for s in stops) / max(1, len(stops))
    lon0 = sum(float(s.lon) for s in stops) / max(1, len(stops))
    m = folium.Map(location=[lat0, lon0], zoom_start=14, tiles=None, control_scale=False)
    folium.TileLayer("OpenStreetMap", attr=ATTRIBUTION, name="OpenStreetMap").add_to(m)
    _metric_scale().add_to(m)
    if roads is not None:
        _add_roads(m, roads)
    if municipalities is not None:
        _add_municipalities(m, municipalities)
    if zone is not None:
        _add_zone(m, zone)
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
            fill_color="#ffffff" if not used.get(k) else DEMAND_COLOURS["stop_used"],
            fill_opacity=0.9,
            tooltip=f"{s.id} {s.name} — {used.get(k, 0)} boarded",
        ).add_to(fg_stops)
    fg_stops.add_to(m)
    _add_stop_labels(m, stops)

    fg_dem = folium.FeatureGroup(name="Demand (origins grey dots, destinations black rings)")
    for e in events:
        if isinstance(e, RequestSubmitted):
            folium.CircleMarker(
                [e.origin_lat, e.origin_lon],
                radius=2,
                color=DEMAND_COLOURS["origin"],
                fill=True,
                tooltip=f"{e.request_id} origin",
            ).add_to(fg_dem)
            folium.CircleMarker(
                [e.dest_lat, e.dest_lon],
                radius=3,
                color=DEMAND_COLOURS["destination"],
                weight=1,
                fill=False,
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
            coords = _leg_coords(path, stops, leg.from_stop, leg.to_stop)
            if not coords:
                continue
            folium.PolyLine(  # type: ignore[no-untyped-call]
                coords,
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
                    "times": [_iso(date, e.t, timezone)],
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
                        "times": [_iso(date, e.t, timezone)],
                        "popup": f"pickup {e.request_id} ({e.passengers})",
                        "icon": "circle",
                        "iconstyle": {
                            "fillColor": DEMAND_COLOURS["pickup"],
                            "fillOpacity": 1,
                            "radius": 5,
                            "color": "#000000",
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
        _clock_in(timezone).add_to(m)

    if title:
        html = (
            f'<div style="position:fixed;top:10px;left:50px;z-index:9999;background:white;padding:4px 8px;'
            f'border-radius:4px;font:13px sans-serif;box-shadow:0 1px 4px #888">{title}</div>'
        )
        m.get_root().html.add_child(folium.Element(html))  # type: ignore[attr-defined]
    if zone is not None:  # the first view: the zone (and its named places)
        w, s_, e_, n = zone.bounds
        m.fit_bounds([[s_, w], [n, e_]])
    elif stops:
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
