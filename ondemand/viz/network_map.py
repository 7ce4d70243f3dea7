"""A folium map of a road network (coloured by speed) and its meeting points.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ondemand.routing.geo.network import RoadNetwork
from ondemand.routing.geo.stops import MeetingPoint
from ondemand.viz._assets import save_offline

__all__ = ["ATTRIBUTION", "SPEED_COLOURS", "network_map", "write_network_map"]

ATTRIBUTION = "© OpenStreetMap contributors"

SPEED_COLOURS: tuple[tuple[float, str], ...] = (
    (23.0, "#9e9e9e"),
    (29.0, "#2b83ba"),
    (36.0, "#1a9641"),
    (45.0, "#fdae61"),
    (65.0, "#d7191c"),
    (float("inf"), "#7b3294"),
)
"""Upper running-speed bound (km/h, inclusive) -> line colour. The bands follow the default travel
speeds (minor 22, tertiary 28, secondary/primary 32-35, trunk 40, motorway 60 km/h)."""


def _colour(speed: float) -> str:
    for bound, colour in SPEED_COLOURS:
        if speed <= bound:
            return colour
    return SPEED_COLOURS[-1][1]


def network_map(network: RoadNetwork, stops: Sequence[MeetingPoint] = ()) -> Any:
    """A :class:`folium.Map` of the roads (one line per road, coloured by speed) and the stops.

    Two-way roads are drawn once. Roads of equal speed share one layer, which can be toggled.
    """
    import folium

    w, s, e, n = network.bbox
    from ondemand.viz.maps import _metric_scale

    fmap = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=14, tiles=None, control_scale=False)
    _metric_scale().add_to(fmap)  # metres and kilometres only
    folium.TileLayer("OpenStreetMap", attr=ATTRIBUTION, name="OpenStreetMap").add_to(fmap)
    # one direction of each two-way road
    u, v = network.edge_u, network.edge_v
    pairs = set(zip(u.tolist(), v.tolist(), strict=True))
    draw = np.array(
        [a < b or (b, a) not in pairs for a, b in zip(u.tolist(), v.tolist(), strict=True)], dtype=bool
    )
    speeds = sorted(set(network.edge_speed[draw].tolist()))
    for speed in speeds:
        lines = []
        for edge in np.flatnonzero(draw & (network.edge_speed == speed)):
            lon, lat = network.edge_coords(int(edge))
            lines.append([[round(float(y), 6), round(float(x), 6)] for x, y in zip(lon, lat, strict=True)])
        layer = folium.FeatureGroup(name=f"roads {speed:g} km/h ({len(lines)})")
        folium.PolyLine(  # type: ignore[no-untyped-call]
            lines, color=_colour(speed), weight=2 if speed <= 30 else 3, opacity=0.8
        ).add_to(layer)
        layer.add_to(fmap)
    if stops:
        layer = folium.FeatureGroup(name=f"meeting points ({len(stops)})")
        for stop in stops:
            folium.CircleMarker(
                location=[stop.lat, stop.lon],
                radius=5,
                color="#000000",
                weight=1,
                fill=True,
                fill_color="#ffeb3b",
                fill_opacity=0.95,
                tooltip=html.escape(f"{stop.id} {stop.name}"),
            ).add_to(layer)
        layer.add_to(fmap)
    items = "".join(
        f'<div><span style="display:inline-block;width:18px;height:4px;background:{_colour(sp)};'
        f'vertical-align:middle;margin-right:4px"></span>{sp:g} km/h</div>'
        for sp in speeds
    )
    legend = (
        '<div style="position:fixed;bottom:60px;left:10px;z-index:1000;background:white;padding:6px 8px;'
        f'font:12px sans-serif;border:1px solid #999;border-radius:4px">{items}'
        '<div><span style="display:inline-block;width:10px;height:10px;border-radius:5px;background:#ffeb3b;'
        'border:1px solid #000;margin:0 8px 0 4px"></span>meeting point</div></div>'
    )
    fmap.get_root().html.add_child(folium.Element(legend))  # type: ignore[attr-defined]
    folium.LayerControl(collapsed=True).add_to(fmap)
    fmap.fit_bounds(
        [
            [float(network.lat.min()), float(network.lon.min())],
            [float(network.lat.max()), float(network.lon.max())],
        ]
    )
    return fmap


def write_network_map(network: RoadNetwork, stops: Sequence[MeetingPoint], path: Path) -> Path:
    """Write :func:`network_map` to one self-contained HTML file and return its path.

    Leaflet is inlined (:mod:`ondemand.viz._assets`); only the OpenStreetMap tiles need
    internet, and without them the roads show on a plain background.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_offline(network_map(network, stops), path)
