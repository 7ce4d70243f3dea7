"""CLI command ``ondemand init``: a starter scenario for any town (registered by :mod:`ondemand.cli`).

``ondemand init scenarios/NEW.toml --place "河内長野市, 大阪府" --osm kansai-latest.osm.pbf`` resolves
the area, reads its roads and map layers (:mod:`ondemand.routing.geo.osmdata`), places meeting
points with the same code the simulator uses, writes them to ``NEW_stops.csv`` beside the
scenario, and writes ``NEW.toml`` where every number is cited (``PILOTS.md``: the Osaka pilots'
public facts) or marked ``# assumption``. ``ondemand simulate scenarios/NEW.toml`` then runs.
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ondemand.errors import ScenarioError

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

# An older riders' day (senboku.toml, assumption): morning hospital/shopping peak, midday dip,
# afternoon return — by hour from 09:00.
_PROFILE_FROM_9 = (1.6, 1.5, 1.2, 0.8, 1.0, 1.1, 1.0, 0.7, 0.4)


def _parse_hours(text: str) -> tuple[int, int]:
    m = _HOURS.match(text)
    if m is None:
        raise ScenarioError(f"--hours {text!r}: give the service hours as HH:MM-HH:MM, e.g. 09:00-17:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if not (m1 < 60 and m2 < 60 and 0 <= start < end <= 86_400 and end - start >= 3600):
        raise ScenarioError(f"--hours {text!r}: the service must run at least an hour within 00:00-24:00")
    return start, end


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or not (parts[0] < parts[2] and parts[1] < parts[3]):
        raise ScenarioError(
            f"--bbox {text!r}: give west,south,east,north in degrees, e.g. 135.55,34.40,135.65,34.48"
        )
    if not (parts[0] >= -180 and parts[2] <= 180 and parts[1] >= -90 and parts[3] <= 90):
        raise ScenarioError(f"--bbox {text!r}: longitudes must be -180..180 and latitudes -90..90")
    return (parts[0], parts[1], parts[2], parts[3])


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rel(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when it can be, else absolute (as POSIX text)."""
    try:
        return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def _profile(start: int, end: int) -> tuple[list[float], str]:
    hours = math.ceil((end - start) / 3600)
    first = start // 3600
    if all(9 <= first + k < 9 + len(_PROFILE_FROM_9) for k in range(hours)):
        prof = [_PROFILE_FROM_9[first + k - 9] for k in range(hours)]
        return prof, "assumption: older riders' day as in senboku.toml (morning peak, midday dip)"
    return [1.0] * hours, "assumption: flat; replace with the town's own pattern when known"


def write_scenario(
    *,
    name: str,
    area_lines: list[str],
    stops_file: str,
    stop_count: int,
    fleet: int | None,
    hours: tuple[int, int] | None,
    towns: tuple[str, ...] = (),
) -> str:
    """The text of a starter scenario (every number cited or marked ``# assumption``).

    Parameters
    ----------
    name
        The scenario's and the area's name.
    area_lines
        The ``[area]`` table's lines.
    stops_file
        The meeting-point CSV, relative to the scenario.
    stop_count
        How many meeting points it holds.
    fleet, hours
        Given on the command line, or ``None`` for the cited defaults (2 vans, 09:00-18:00).
    towns
        The places the area joins (``--place``, repeated): with two or more, a
        ``[municipalities]`` table shares the cost among them (who pays what).
    """
    start, end = hours if hours is not None else (9 * 3600, 18 * 3600)
    hours_note = (
        "given with --hours" if hours is not None else "PILOTS.md §2: Senboku pilot 2 ran 09:00–18:00"
    )
    fleet_n = fleet if fleet is not None else 2
    fleet_note = "given with --fleet" if fleet is not None else "PILOTS.md §2: Senboku pilot 2 ran 2 vans"
    profile, profile_note = _profile(start, end)
    prof = ", ".join(f"{p:g}" for p in profile)
    description = (
        f"{name}: {fleet_n} vans, {_clock(start)}-{_clock(end)}, {stop_count} meeting points (starter)"
    )
    lines = [
        f"# {name}: a starter scenario written by `ondemand init`. Numbers are cited from",
        "# ../shared/PILOTS.md (the Osaka pilots' public facts) or marked `assumption`: replace them",
        "# with the town's own figures.",
        "# Map data © OpenStreetMap contributors (ODbL).",
        f"name = {_toml_str(name)}",
        'timezone = "Asia/Tokyo"',
        f"description = {_toml_str(description)}",
        "",
        "[area]",
        *area_lines,
        "",
        "[network]",
        "# Travel speeds, junction delays and hour factors: the routing layer's defaults",
        "# (ondemand.routing.geo.network.DEFAULT_SPEEDS_KMH, sources cited there); hours = service hours.",
        "",
        "[stops]",
        f"file = {_toml_str(stops_file)}  # placed by `ondemand init` to cover the buildings; edit freely",
        "max_walk_m = 300                 # assumption: a stop serves homes within 300 m (straight line)",
        "",
        "[service]",
        f'start = "{_clock(start)}"                # {hours_note}',
        f'end = "{_clock(end)}"                  # {hours_note}',
        'calendar = "weekdays"           # assumption: Monday to Friday',
        "holidays = false                # assumption: no service on public holidays",
        'outside_hours = "next_open"      # assumption',
        f"fleet = {fleet_n}                        # {fleet_note}",
        'vehicle_kind = "van"',
        "seats = 8                        # PILOTS.md §1, §2: eight-seat vans",
        "wheelchair_places = 1            # assumption",
        "boarding_s = 30                  # assumption",
        "alighting_s = 20                 # assumption",
        "wheelchair_boarding_s = 180      # assumption",
        "pickup_window_s = 600            # assumption: a 10-minute pickup window",
        "max_wait_s = 1800                # assumption",
        "max_detour = 2.0                 # assumption",
        "min_extra_ride_s = 300           # assumption",
        'booking_channels = ["app", "phone"]  # PILOTS.md "what operators expect": app and phone',
        'booking_horizon_days = 7         # PILOTS.md "what operators expect": up to about a week ahead',
        "reoptimise_every_s = 1800        # assumption: re-optimise every 30 min",
        "reoptimise_time_limit_s = 0.5     # live API: wall-clock seconds per re-optimisation (assumption)",
        "reoptimise_iterations = 20        # simulator: LNS iterations per re-optimisation (assumption)",
        'depot = "centre"                 # assumption',
        "",
        "[service.channels.app]",
        "share = 0.65                     # PILOTS.md §2: 65 % of Senboku pilot 2's bookings by app",
        'hours = ["00:00", "24:00"]       # assumption: the app takes bookings all day',
        "",
        "[service.channels.phone]",
        "share = 0.35                     # PILOTS.md §2: 35 % by phone",
        f'hours = ["{_clock(start)}", "{_clock(end)}"]  # assumption: the desk answers in service hours',
        'days = "service_days"            # assumption',
        "",
        "[fares]",
        "flat_jpy = 300                   # PILOTS.md §2: Senboku pilot 2's flat fare",
        "operating_cost_per_vehicle_hour_jpy = 4500  # assumption: van + driver + fuel, as the pilots'",
        "",
        "[demand]",
        "riders_per_day = 28              # PILOTS.md §2: Senboku's 28 riders a day (assumption: alike)",
        f"hourly_profile = [{prof}]  # {profile_note}",
        "round_trip_share = 0.5           # assumption",
        "return_after_s = [3600, 10800]   # assumption: 1-3 h at the destination",
        "group_sizes = [0.85, 0.12, 0.03] # assumption: groups of 1, 2, 3",
        "wheelchair_share = 0.02          # assumption",
        "booked_ahead_share = 0.6         # assumption",
        "booking_lead_s = [1800, 86400]   # assumption: 30 min to a day ahead",
        "cancellation_rate = 0.05         # assumption",
        "no_show_rate = 0.02              # assumption",
        "walking_speed_mps = 1.0          # assumption: older riders walk about 1 m/s",
        "max_walk_m = 500                 # assumption: homes within 500 m of a stop generate trips",
        "",
        "[demand.destinations]            # assumption: weight per POI (home: per building), as senboku.toml",
        "home = 0.005",
        "hospital = 3.0",
        "clinic = 1.0",
        "pharmacy = 0.3",
        "supermarket = 1.5",
        "rail_station = 4.0",
        "government = 1.5",
        "community_centre = 0.8",
        "post_office = 0.5",
        "bank = 0.3",
        "library = 0.5",
    ]
    if len(towns) >= 2:
        lines += [
            "",
            "[municipalities]",
            f"# Who pays: the area joins {len(towns)} places ({', '.join(towns)}); each town's borders are",
            "# the OpenStreetMap administrative boundaries of the area (they carry the names).",
            "admin_level = 7                  # ondemand init: 市町村, Japan's municipality level (8: wards)",
            'cost_split = "by_riders"         # assumption: by riders boarding and alighting in each town;',
            "                                 # by_vehicle_km_inside, by_population, fixed are the others",
            "",
            "[municipalities.subsidy]",
            "rate = 0.5                       # PILOTS.md intro: the prefecture's subsidy rate 1/2",
            "cap_jpy_per_year = 9_266_000     # PILOTS.md intro: FY2023 awards of ¥27.8M for three projects,",
            "                                 # ¥9.27M a project (assumption: one project's award caps it)",
        ]
    return "\n".join(lines) + "\n"


def init_cmd(
    scenario: Annotated[
        Path, typer.Argument(help="The scenario file to write, e.g. scenarios/kawachinagano.toml.")
    ],
    place: Annotated[
        list[str] | None,
        typer.Option(help='A place name, e.g. "河内長野市, 大阪府" (repeat for an area of several towns).'),
    ] = None,
    boundary: Annotated[
        Path | None, typer.Option(help="A GeoJSON file of the area's Polygon or MultiPolygon.")
    ] = None,
    bbox: Annotated[str | None, typer.Option(help="A box west,south,east,north in degrees.")] = None,
    osm: Annotated[
        Path | None,
        typer.Option(help="A local OpenStreetMap extract (.osm or .osm.pbf); without it, Overpass (online)."),
    ] = None,
    fleet: Annotated[
        int | None, typer.Option(min=1, max=200, help="Vehicles (default 2, as Senboku).")
    ] = None,
    hours: Annotated[
        str | None, typer.Option(help="Service hours HH:MM-HH:MM (default 09:00-18:00, as Senboku).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The scenario's name (default: the file name).")] = None,
    stops: Annotated[
        int | None, typer.Option(min=1, max=5000, help="Meeting points to place (default: one per 0.22 km²).")
    ] = None,
    offline: Annotated[bool, typer.Option(help="Never download (needs --osm).")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing scenario file.")] = False,
) -> None:
    """Write a starter scenario for any town: area, meeting points, cited or assumed numbers."""
    from rich.console import Console
    from rich.table import Table

    from ondemand._cli._progress import spinner
    from ondemand.routing.geo.area import build_service_area
    from ondemand.routing.geo.osmdata import AreaRequest, prepare_area
    from ondemand.routing.geo.stops import StopParams
    from ondemand.scenario import load_scenario

    given = [opt for opt, v in (("--place", place), ("--boundary", boundary), ("--bbox", bbox)) if v]
    if len(given) != 1:
        raise ScenarioError(
            "give the area with exactly one of --place NAME, --boundary FILE or --bbox W,S,E,N"
            + (f" (got {' and '.join(given)})" if given else "")
        )
    if scenario.suffix.lower() != ".toml":
        raise ScenarioError(f"{scenario}: a scenario file ends in .toml")
    if scenario.exists() and not force:
        raise ScenarioError(f"{scenario} exists already; choose another name or pass --force to overwrite it")
    span = _parse_hours(hours) if hours is not None else None
    box = _parse_bbox(bbox) if bbox is not None else None
    area_name = name or scenario.stem
    folder = scenario.parent
    request = AreaRequest(
        area_name,
        place=tuple(place or ()),
        boundary=boundary,
        bbox=box,
        osm=osm,
        default_stops=stops,
    )
    err = Console(stderr=True)
    status = spinner(True)
    spec = prepare_area(request, offline=True if offline else None, status=status, notify=err.print)
    stop_params = StopParams(target_count=spec.default_stops, max_walk_m=300.0)
    area = build_service_area(spec, stops=stop_params, status=status)

    folder.mkdir(parents=True, exist_ok=True)
    stops_path = scenario.with_name(f"{scenario.stem}_stops.csv")
    with stops_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "lon", "lat"])
        for s in area.stops:
            w.writerow([s.id, s.name, f"{s.lon:.7f}", f"{s.lat:.7f}"])
    area_lines = [f"name = {_toml_str(area_name)}"]
    if place:
        names = [_toml_str(p) for p in place]
        area_lines.append(f"place = {names[0] if len(names) == 1 else '[' + ', '.join(names) + ']'}")
    elif boundary is not None:
        area_lines.append(f"boundary = {_toml_str(_rel(boundary, folder))}")
    else:
        assert box is not None
        area_lines.append(f"bbox = [{', '.join(repr(v) for v in box)}]  # west, south, east, north")
    if osm is not None:
        area_lines.append(f"osm = {_toml_str(_rel(osm, folder))}  # OpenStreetMap extract (ODbL)")
    else:
        area_lines.append(
            '# data: downloaded from OpenStreetMap (Overpass API), cached; osm = "FILE" uses an extract'
        )
    area_lines.append(
        f"default_stops = {spec.default_stops}  # "
        + (
            "given with --stops"
            if stops is not None
            else "assumption: one meeting point per 0.22 km² (a 300 m walk)"
        )
    )
    text = write_scenario(
        name=area_name,
        area_lines=area_lines,
        stops_file=stops_path.name,
        stop_count=len(area.stops),
        fleet=fleet,
        hours=span,
        towns=tuple(place or ()),
    )
    scenario.write_text(text, encoding="utf-8")
    try:
        load_scenario(scenario)  # what `ondemand simulate` reads: fail here, not there
    except ScenarioError:
        scenario.unlink(missing_ok=True)
        raise

    net = area.network
    table = Table(title=f"{area_name}: network and coverage")
    table.add_column("")
    table.add_column("value", justify="right")
    w_, s_, e_, n_ = spec.bbox
    rows: list[tuple[str, Any]] = [
        ("area box", f"lon {w_:.4f}..{e_:.4f}, lat {s_:.4f}..{n_:.4f}"),
        ("service zone", spec.zone_name if spec.zone_file is not None else "the box"),
        ("road nodes", f"{net.n_nodes:,}"),
        ("road edges", f"{net.n_edges:,}"),
        ("largest component", net.describe_component()),
        ("road km", f"{net.edge_length.sum() / 1000:,.1f}"),
        ("meeting points", f"{len(area.stops)} ({area.seeds} at key destinations)"),
    ]
    if area.coverage is not None and area.coverage.buildings:
        cov = area.coverage
        rows += [
            ("buildings", f"{cov.buildings:,}"),
            ("within 200 m", f"{cov.within_200m * 100:.1f} %"),
            ("within 300 m", f"{cov.within_300m * 100:.1f} %"),
        ]
    else:
        rows.append(("buildings", "none mapped: demand comes from land use and place points"))
    for label, value in rows:
        table.add_row(label, str(value))
    Console().print(table)
    err.print(f"scenario: {scenario}", highlight=False)
    err.print(f"meeting points: {stops_path}", highlight=False)
    err.print(f"next: ondemand simulate {scenario}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``init`` to ``app``."""
    app.command("init")(init_cmd)
