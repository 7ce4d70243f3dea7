"""The area a set of meeting points serves, when a scenario gives no zone polygon.

:func:`widened_hull` is the convex hull of the points widened by a walking distance, as a
GeoJSON polygon (published feeds: GTFS-Flex ``locations.geojson``, GOFS ``zones``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ondemand.routing.geo.geodesy import haversine_m

__all__ = ["widened_hull"]


def widened_hull(points: Iterable[tuple[float, float]], *, buffer_m: float) -> dict[str, object]:
    """The convex hull of ``(lon, lat)`` points widened by ``buffer_m`` metres, as a GeoJSON Polygon.

    Computed in a local equirectangular projection (metres) around the points' mean; the
    buffer keeps the result a polygon for one or two points. Rings are closed, the outer
    ring counter-clockwise (RFC 7946), coordinates rounded to 6 decimals (~0.1 m).

    Raises
    ------
    ValueError
        When there are no points.
    """
    from shapely.geometry import MultiPoint, mapping
    from shapely.geometry.polygon import orient

    pts = list(points)
    if not pts:
        raise ValueError("no points to draw a service area around")
    lon0 = sum(p[0] for p in pts) / len(pts)
    lat0 = sum(p[1] for p in pts) / len(pts)
    kx = haversine_m(lon0, lat0, lon0 + 0.01, lat0) / 0.01
    ky = haversine_m(lon0, lat0, lon0, lat0 + 0.01) / 0.01
    hull = MultiPoint([((lon - lon0) * kx, (lat - lat0) * ky) for lon, lat in pts]).convex_hull
    poly = orient(hull.buffer(max(buffer_m, 1.0), quad_segs=4), sign=1.0)
    rings = mapping(poly)["coordinates"]
    coords = [[[round(lon0 + x / kx, 6), round(lat0 + y / ky, 6)] for x, y in ring] for ring in rings]
    return {"type": "Polygon", "coordinates": coords}
