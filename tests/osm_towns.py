"""A tiny OpenStreetMap extract of two municipalities, written by tests (no ../shared data needed).

:func:`write_two_towns` writes ``.osm`` XML: a grid of drivable streets across two towns,
西町 (west) and 東町 (east), whose ``boundary=administrative`` ``admin_level=7`` relations share
the border at :data:`BORDER_LON`; a prefecture (``admin_level=4``, テスト県) around both; a few
points of interest (a station, a hospital, a town hall, shops, clinics), ~40 buildings, a
residential landuse polygon and district place points. Ways that are not drivable (a footway, a
private service road) are there too and must be left out of the road graph.

Everything is made up (no real map data); the coordinates are in Osaka (lon 135.5, lat 34.5) so
that local projections behave as for the pilots.

Other tests reuse it::

    from tests.osm_towns import write_two_towns, prepare_two_towns, WEST, EAST
    osm = write_two_towns(tmp_path / "towns.osm")        # the .osm file
    spec = prepare_two_towns(tmp_path)                   # or the prepared area (an AreaSpec)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

__all__ = [
    "BBOX",
    "BORDER_LON",
    "COLS",
    "DRIVABLE_WAYS",
    "EAST",
    "LAT0",
    "LON0",
    "PREFECTURE",
    "ROWS",
    "TOWN_BOXES",
    "WEST",
    "grid_lonlat",
    "prepare_two_towns",
    "write_two_towns",
]

WEST = "西町"
"""The west town (admin_level 7); ``name:en`` Nishi."""
EAST = "東町"
"""The east town (admin_level 7); ``name:en`` Higashi."""
PREFECTURE = "テスト県"
"""The prefecture around both (admin_level 4)."""

LON0, LAT0 = 135.500, 34.500
DLON, DLAT = 0.002, 0.0018  # about 183 m x 200 m blocks
COLS, ROWS = 8, 6  # grid nodes: columns 0..7 (west to east), rows 0..5 (south to north)
BORDER_LON = LON0 + 3.5 * DLON  # 135.507: columns 0..3 are in 西町, 4..7 in 東町
_W, _S = LON0 - 0.001, LAT0 - 0.001
_E, _N = LON0 + (COLS - 1) * DLON + 0.001, LAT0 + (ROWS - 1) * DLAT + 0.001
BBOX = (_W, _S, _E, _N)
"""(west, south, east, north) of the two towns together."""
TOWN_BOXES = {WEST: (_W, _S, BORDER_LON, _N), EAST: (BORDER_LON, _S, _E, _N)}
"""Each town's boundary: a rectangle (west, south, east, north)."""

# rows split into 3 ways, columns into 2: 6 * 3 + 8 * 2 = 34 drivable ways
_ROW_SPLITS = ((0, 2), (2, 5), (5, 7))
_COL_SPLITS = ((0, 2), (2, 5))
DRIVABLE_WAYS = ROWS * len(_ROW_SPLITS) + COLS * len(_COL_SPLITS)
"""Number of drivable ways in the file."""


def grid_lonlat(i: int, j: int) -> tuple[float, float]:
    """Lon and lat of grid node column ``i``, row ``j``."""
    return round(LON0 + i * DLON, 7), round(LAT0 + j * DLAT, 7)


def _grid_id(i: int, j: int) -> int:
    return 1 + j * COLS + i


def write_two_towns(path: Path) -> Path:
    """Write the two-town ``.osm`` XML extract to ``path`` (returned)."""
    nodes: list[str] = []
    ways: list[str] = []
    relations: list[str] = []

    def tags(t: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in t.items())

    def node(nid: int, lon: float, lat: float, t: dict[str, str] | None = None) -> None:
        body = tags(t) if t else ""
        nodes.append(
            f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
            + (f">{body}</node>" if body else "/>")
        )

    def way(wid: int, refs: list[int], t: dict[str, str]) -> None:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        ways.append(f'<way id="{wid}" version="1">{nds}{tags(t)}</way>')

    for j in range(ROWS):
        for i in range(COLS):
            node(_grid_id(i, j), *grid_lonlat(i, j))
    wid = 1
    for j in range(ROWS):  # east-west streets; row 2 is the main road, row 5's east part one-way
        for a, b in _ROW_SPLITS:
            t = {"highway": "tertiary" if j == 2 else "residential"}
            if j == 5 and a == 5:
                t["oneway"] = "yes"
            way(wid, [_grid_id(i, j) for i in range(a, b + 1)], t)
            wid += 1
    for i in range(COLS):  # north-south streets; column 4 is a secondary road
        for a, b in _COL_SPLITS:
            t = {"highway": "secondary" if i == 4 else "residential"}
            way(wid, [_grid_id(i, j) for j in range(a, b + 1)], t)
            wid += 1
    # not drivable: a footway and a private service road, each with its own nodes
    nid = 500
    for t in ({"highway": "footway"}, {"highway": "service", "access": "private"}):
        lon, lat = grid_lonlat(1, 0)
        node(nid, lon + 0.0005, lat + 0.0004)
        node(nid + 1, lon + 0.0012, lat + 0.0004)
        way(wid, [_grid_id(1, 0), nid, nid + 1], t)
        nid += 2
        wid += 1

    # buildings: a small square in each block but the main road's, as closed ways
    nid, bwid = 1000, 1000
    for j in range(ROWS - 1):
        for i in range(COLS - 1):
            if j == 2:
                continue
            cx, cy = LON0 + (i + 0.5) * DLON, LAT0 + (j + 0.5) * DLAT
            for dx, dy in ((-1, 1), (0, 0)):  # two houses per block
                x0, y0 = cx + dx * 0.0004, cy + dy * 0.0004
                ring = []
                for ox, oy in ((0, 0), (0.00015, 0), (0.00015, 0.0001), (0, 0.0001)):
                    node(nid, x0 + ox, y0 + oy)
                    ring.append(nid)
                    nid += 1
                way(bwid, [*ring, ring[0]], {"building": "house"})
                bwid += 1
    # a school as a building polygon with a name (a POI from an area)
    sx, sy = LON0 + 5.5 * DLON, LAT0 + 2.5 * DLAT
    ring = []
    for ox, oy in ((0, 0), (0.0006, 0), (0.0006, 0.0004), (0, 0.0004)):
        node(nid, sx + ox, sy + oy)
        ring.append(nid)
        nid += 1
    way(bwid, [*ring, ring[0]], {"building": "school", "amenity": "school", "name": "東町小学校"})
    bwid += 1
    # residential landuse over the east town's north half
    ring = []
    for x, y in ((BORDER_LON, LAT0 + 3 * DLAT), (_E, LAT0 + 3 * DLAT), (_E, _N), (BORDER_LON, _N)):
        node(nid, x, y)
        ring.append(nid)
        nid += 1
    way(bwid, [*ring, ring[0]], {"landuse": "residential"})
    bwid += 1

    # points of interest and place points, near grid nodes
    pois = [
        ((1, 2), {"railway": "station", "name": "西町", "name:en": "Nishimachi"}),
        ((6, 3), {"amenity": "hospital", "name": "東町病院"}),
        ((1, 1), {"amenity": "townhall", "name": "西町役場"}),
        ((5, 1), {"amenity": "townhall", "name": "東町役場"}),
        ((2, 4), {"shop": "supermarket", "name": "西スーパー"}),
        ((5, 4), {"shop": "convenience", "name": "東コンビニ"}),
        ((3, 1), {"amenity": "clinic", "name": "西クリニック"}),
        ((6, 1), {"amenity": "pharmacy"}),
        ((0, 4), {"amenity": "community_centre", "name": "西公民館"}),
        ((1, 0), {"place": "neighbourhood", "name": "西一丁目"}),
        ((2, 3), {"place": "neighbourhood", "name": "西二丁目"}),
        ((5, 0), {"place": "neighbourhood", "name": "東一丁目"}),
        ((6, 4), {"place": "neighbourhood", "name": "東二丁目"}),
        ((1, 3), {"place": "town", "name": WEST}),
        ((5, 3), {"place": "town", "name": EAST}),
    ]
    for (i, j), t in pois:
        lon, lat = grid_lonlat(i, j)
        node(nid, lon + 0.0003, lat + 0.0003, t)
        nid += 1

    # boundaries: the shared border, the west and east outer parts (closed rings when joined)
    # corners shared by the ways must be the same nodes: build them once
    corner = {}
    for key, (x, y) in {
        "bs": (BORDER_LON, _S),
        "bn": (BORDER_LON, _N),
        "sw": (_W, _S),
        "nw": (_W, _N),
        "se": (_E, _S),
        "ne": (_E, _N),
    }.items():
        node(nid, x, y)
        corner[key] = nid
        nid += 1
    b_tags = {"boundary": "administrative", "admin_level": "7"}
    way(2001, [corner["bs"], corner["bn"]], b_tags)  # the border
    way(2002, [corner["bn"], corner["nw"], corner["sw"], corner["bs"]], b_tags)  # west outer part
    way(2003, [corner["bs"], corner["se"], corner["ne"], corner["bn"]], b_tags)  # east outer part

    def relation(rid: int, members: list[int], t: dict[str, str]) -> None:
        mem = "".join(f'<member type="way" ref="{m}" role="outer"/>' for m in members)
        relations.append(f'<relation id="{rid}" version="1">{mem}{tags(t)}</relation>')

    admin = {"type": "boundary", "boundary": "administrative"}
    relation(1, [2001, 2002], {**admin, "admin_level": "7", "name": WEST, "name:en": "Nishi"})
    relation(2, [2001, 2003], {**admin, "admin_level": "7", "name": EAST, "name:en": "Higashi"})
    relation(3, [2002, 2003], {**admin, "admin_level": "4", "name": PREFECTURE, "name:en": "Test"})

    bounds = (
        f'<bounds minlat="{_S - 0.001:.7f}" minlon="{_W - 0.001:.7f}" '
        f'maxlat="{_N + 0.001:.7f}" maxlon="{_E + 0.001:.7f}"/>'
    )
    text = "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<osm version="0.6" generator="ondemand tests">',
            bounds,
            *nodes,
            *ways,
            *relations,
            "</osm>",
        ]
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path


def prepare_two_towns(folder: Path, *, place: tuple[str, ...] = (WEST, EAST), name: str = "twotowns") -> Any:
    """Write the extract into ``folder`` and prepare it as an area (offline): its ``AreaSpec``.

    The layers land in the user cache: set ``ONDEMAND_CACHE_DIR`` to a temporary folder first
    (``monkeypatch.setenv``). ``place`` picks the towns (both by default: a cross-border area).
    """
    from ondemand.routing.geo.osmdata import AreaRequest, prepare_area

    osm = write_two_towns(folder / "towns.osm")
    return prepare_area(AreaRequest(name, place=tuple(place), osm=osm), offline=True)
