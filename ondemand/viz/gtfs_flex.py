"""The service as a GTFS feed with Flex (demand-responsive service, adopted into GTFS in March 2024).

:func:`write_gtfs_flex` writes one zip that journey planners read to show the service: who
runs it (``agency.txt``), its meeting points (``stops.txt``, grouped in ``location_groups.txt``
and ``location_group_stops.txt``), the area it serves (``locations.geojson``), one route of
route type 715 (*demand and response bus service*), one trip whose two ``stop_times`` rows say
"board at any meeting point, alight at any meeting point, between the service hours"
(``start_pickup_drop_off_window``/``end_pickup_drop_off_window``), the days it runs
(``calendar.txt`` plus ``calendar_dates.txt`` removals from the policy's calendar: public
holidays, annual closures, closed dates), how to book (``booking_rules.txt``: channels and
their hours, phone number, shortest notice, booking horizon), the fare (GTFS fares v2:
``fare_products.txt``, ``fare_leg_rules.txt``, and ``areas.txt``/``stop_areas.txt`` for
special fares to and from named places) and ``feed_info.txt``.

Every rule comes from the scenario and its :class:`~ondemand.dispatch.policy.ServicePolicy`
(the same calendar the simulator and the live API use); nothing is decided here.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ondemand.dispatch.policy import ServicePolicy
from ondemand.errors import OutputError
from ondemand.routing.geo.geodesy import haversine_m
from ondemand.routing.geo.hull import widened_hull
from ondemand.routing.geo.stops import StopLike
from ondemand.scenario import Scenario

__all__ = ["FeedSummary", "gtfs_flex_files", "write_gtfs_flex"]

ROUTE_TYPE_DEMAND_RESPONSIVE = 715
"""Extended GTFS route type "Demand and Response Bus Service"."""
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
_DEFAULT_DAYS = 365
_AGENCY_ID = "A1"
_ROUTE_ID = "R1"
_TRIP_ID = "T1"
_SERVICE_ID = "S1"
_GROUP_ID = "G1"
_ZONE_ID = "Z1"
_RULE_ID = "B1"
_NETWORK_ID = "N1"


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """What :func:`write_gtfs_flex` wrote.

    Attributes
    ----------
    path
        The zip file.
    files
        Names of the files in it.
    first, last
        The calendar's first and last day.
    service_days
        Days in that span on which the service runs.
    removed_days
        Days the weekly pattern includes but the service does not run (holidays, closures).
    notes
        What the feed had to assume (placeholders, the zone's origin), one line each.
    """

    path: Path
    files: tuple[str, ...]
    first: _dt.date
    last: _dt.date
    service_days: int
    removed_days: int
    notes: tuple[str, ...]


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _ymd(d: _dt.date) -> str:
    return d.strftime("%Y%m%d")


def _span(first: _dt.date | None, last: _dt.date | None, today: _dt.date) -> tuple[_dt.date, _dt.date]:
    # service.period is the pilot run a scenario models, not a rule of the live service (the
    # policy's calendar leaves it out too): a published feed starts today unless told otherwise.
    if first is None:
        first = today
    if last is None:
        last = first + _dt.timedelta(days=_DEFAULT_DAYS - 1)
    if last < first:
        raise ValueError(
            f"the feed's last day ({last.isoformat()}) is before its first ({first.isoformat()})"
        )
    return first, last


def gtfs_flex_files(
    scenario: Scenario,
    stops: Sequence[StopLike],
    *,
    first: _dt.date | None = None,
    last: _dt.date | None = None,
    today: _dt.date | None = None,
    zone: dict[str, Any] | None = None,
    osm_geometry: bool = True,
) -> tuple[dict[str, str], FeedSummary]:
    """The feed's files (name -> text) and a summary (its ``path`` is empty).

    Parameters
    ----------
    scenario
        The service.
    stops
        Its meeting points (id, name, lon, lat), as the service area placed them.
    first, last
        The calendar's span (default: a year from ``today``).
    today
        The day the feed is made (default: today in the scenario's time zone).
    zone
        The service zone as a GeoJSON Polygon or MultiPolygon geometry; default: the convex
        hull of the stops widened by the walk to a stop (said in the zone's description).
    osm_geometry
        Whether the stops' positions come from OpenStreetMap (adds its attribution).

    Raises
    ------
    ValueError
        No stops, or ``last`` before ``first``.
    """
    import zoneinfo

    if not stops:
        raise ValueError("the service has no meeting points to publish")
    tz = zoneinfo.ZoneInfo(scenario.timezone)
    today = today or _dt.datetime.now(tz).date()
    first, last = _span(first, last, today)
    policy = ServicePolicy.from_scenario(scenario)
    rules = policy.rules
    svc = scenario.service
    ag = scenario.agency
    notes: list[str] = []
    agency_name = ag.name or scenario.name
    agency_url = ag.url or f"https://example.invalid/{scenario.name}"
    if ag.url is None:
        notes.append(f"agency url: placeholder {agency_url} (set [agency] url in the scenario)")
    if ag.name is None:
        notes.append(f"agency name: the scenario's name {agency_name!r} (set [agency] name)")
    if ag.phone is None:
        notes.append("booking phone: none published (set [agency] phone in the scenario)")
    files: dict[str, str] = {}

    files["agency.txt"] = _csv(
        [
            "agency_id",
            "agency_name",
            "agency_url",
            "agency_timezone",
            "agency_lang",
            "agency_phone",
            "agency_email",
        ],
        [[_AGENCY_ID, agency_name, agency_url, scenario.timezone, ag.lang, ag.phone, ag.email]],
    )
    files["stops.txt"] = _csv(
        ["stop_id", "stop_name", "stop_lat", "stop_lon", "location_type"],
        [[s.id, s.name or s.id, f"{s.lat:.6f}", f"{s.lon:.6f}", 0] for s in stops],
    )
    files["location_groups.txt"] = _csv(
        ["location_group_id", "location_group_name"], [[_GROUP_ID, f"{scenario.name} meeting points"]]
    )
    files["location_group_stops.txt"] = _csv(
        ["location_group_id", "stop_id"], [[_GROUP_ID, s.id] for s in stops]
    )

    if zone is None:
        walk = scenario.demand.max_walk_m / scenario.demand.walk_circuity
        geometry: dict[str, Any] = widened_hull(((s.lon, s.lat) for s in stops), buffer_m=walk)
        desc = (
            f"Service area: convex hull of the {len(stops)} meeting points widened by {walk:.0f} m "
            "(the scenario has no zone polygon). Board and alight at the meeting points only."
        )
        notes.append(f"zone: convex hull of the {len(stops)} meeting points + {walk:.0f} m (no zone polygon)")
    else:
        geometry = zone
        desc = "Service area of the scenario. Board and alight at the meeting points only."
    files["locations.geojson"] = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": _ZONE_ID,
                    "properties": {"stop_name": f"{scenario.name} service area", "stop_desc": desc},
                    "geometry": geometry,
                }
            ],
        },
        ensure_ascii=False,
        indent=1,
    )

    files["routes.txt"] = _csv(
        [
            "route_id",
            "agency_id",
            "route_short_name",
            "route_long_name",
            "route_desc",
            "route_type",
            "network_id",
        ],
        [
            [
                _ROUTE_ID,
                _AGENCY_ID,
                scenario.name,
                f"{scenario.name} on-demand",
                scenario.description,
                ROUTE_TYPE_DEMAND_RESPONSIVE,
                _NETWORK_ID,
            ]
        ],
    )
    files["trips.txt"] = _csv(
        ["route_id", "service_id", "trip_id", "trip_headsign", "wheelchair_accessible"],
        [[_ROUTE_ID, _SERVICE_ID, _TRIP_ID, "On demand", 1 if svc.wheelchair_places > 0 else 2]],
    )
    # Two rows on the group of meeting points: board at any, alight at any later in the
    # window. Flex forbids arrival/departure times and pickup/drop-off type 0 with windows;
    # 2 = "must phone/book with the agency".
    header = [
        "trip_id",
        "stop_sequence",
        "location_group_id",
        "start_pickup_drop_off_window",
        "end_pickup_drop_off_window",
        "pickup_type",
        "drop_off_type",
        "pickup_booking_rule_id",
        "drop_off_booking_rule_id",
        "timepoint",
    ]
    window = (_hms(svc.start), _hms(svc.end))
    files["stop_times.txt"] = _csv(
        header,
        [
            [_TRIP_ID, 1, _GROUP_ID, *window, 2, 1, _RULE_ID, None, 0],
            [_TRIP_ID, 2, _GROUP_ID, *window, 1, 2, None, _RULE_ID, 0],
        ],
    )

    cal = rules.calendar
    weekly = [1] * 7 if cal.days == "every_day" else [1, 1, 1, 1, 1, 0, 0]
    files["calendar.txt"] = _csv(
        [
            "service_id",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "start_date",
            "end_date",
        ],
        [[_SERVICE_ID, *weekly, _ymd(first), _ymd(last)]],
    )
    days = [first + _dt.timedelta(days=k) for k in range((last - first).days + 1)]
    removed = [d for d in days if weekly[d.weekday()] and not cal.runs_on(d)]
    files["calendar_dates.txt"] = _csv(
        ["service_id", "date", "exception_type"], [[_SERVICE_ID, _ymd(d), 2] for d in removed]
    )
    n_service = sum(1 for d in days if cal.runs_on(d))

    lead_s = min(c.min_lead_s for c in rules.channels)
    horizon = int(svc.booking_horizon_days)
    channels = "; ".join(c.describe() for c in rules.channels)
    ahead = "same day only" if horizon == 0 else f"up to {horizon} days ahead"
    message = (
        f"Book by {channels}; {ahead}, at least {math.ceil(lead_s / 60)} min before the ride. "
        f"Pickup window {svc.pickup_window_s // 60} min."
    )
    if lead_s == 0 and horizon == 0:
        rule = [_RULE_ID, 0, None, None]
    else:
        rule = [_RULE_ID, 1, math.ceil(lead_s / 60), horizon * 1440 if horizon > 0 else None]
    files["booking_rules.txt"] = _csv(
        [
            "booking_rule_id",
            "booking_type",
            "prior_notice_duration_min",
            "prior_notice_duration_max",
            "message",
            "phone_number",
            "booking_url",
            "info_url",
        ],
        [[*rule, message, ag.phone, ag.booking_url, ag.url]],
    )

    fares = scenario.fares
    products = [["flat", "Flat fare", f"{fares.flat_jpy}", "JPY"]]
    leg_rules: list[list[Any]] = [["flat", _NETWORK_ID, None, None, "flat", 0]]
    areas: list[list[Any]] = []
    stop_areas: list[list[Any]] = []
    for k, sp in enumerate(fares.special, start=1):
        area_id = f"near{k}"
        members = [s.id for s in stops if haversine_m(s.lon, s.lat, sp.lon, sp.lat) <= sp.radius_m]
        if not members:
            notes.append(f"special fare {sp.name}: no meeting point within {sp.radius_m} m; left out")
            continue
        areas.append([area_id, sp.name])
        stop_areas += [[area_id, m] for m in members]
        products.append([f"special{k}", f"To or from {sp.name}", f"{sp.fare_jpy}", "JPY"])
        leg_rules.append([f"special{k}", _NETWORK_ID, area_id, None, f"special{k}", 1])
        leg_rules.append([f"special{k}", _NETWORK_ID, None, area_id, f"special{k}", 1])
    files["fare_products.txt"] = _csv(
        ["fare_product_id", "fare_product_name", "amount", "currency"], products
    )
    files["fare_leg_rules.txt"] = _csv(
        ["leg_group_id", "network_id", "from_area_id", "to_area_id", "fare_product_id", "rule_priority"],
        leg_rules,
    )
    if areas:
        files["areas.txt"] = _csv(["area_id", "area_name"], areas)
        files["stop_areas.txt"] = _csv(["area_id", "stop_id"], stop_areas)

    publisher = agency_name + (f" (geometry {OSM_ATTRIBUTION})" if osm_geometry else "")
    files["feed_info.txt"] = _csv(
        [
            "feed_publisher_name",
            "feed_publisher_url",
            "feed_lang",
            "feed_start_date",
            "feed_end_date",
            "feed_version",
            "feed_contact_email",
        ],
        [
            [
                publisher,
                agency_url,
                ag.lang,
                _ymd(first),
                _ymd(last),
                f"{scenario.name}-{_ymd(today)}",
                ag.email,
            ]
        ],
    )
    if osm_geometry:
        files["attributions.txt"] = _csv(
            [
                "attribution_id",
                "organization_name",
                "is_producer",
                "is_operator",
                "is_authority",
                "attribution_url",
            ],
            [["osm", OSM_ATTRIBUTION, 0, 0, 0, "https://www.openstreetmap.org/copyright"]],
        )
    summary = FeedSummary(
        path=Path(),
        files=tuple(sorted(files)),
        first=first,
        last=last,
        service_days=n_service,
        removed_days=len(removed),
        notes=tuple(notes),
    )
    return files, summary


def write_gtfs_flex(
    scenario: Scenario,
    stops: Sequence[StopLike],
    out: str | Path,
    *,
    first: _dt.date | None = None,
    last: _dt.date | None = None,
    today: _dt.date | None = None,
    zone: dict[str, Any] | None = None,
    osm_geometry: bool = True,
) -> FeedSummary:
    """Write the service as a GTFS-Flex zip (see :func:`gtfs_flex_files` for the parameters).

    The zip is written beside ``out`` and renamed into place, so a failed export leaves no
    half-written feed.

    Raises
    ------
    OutputError
        When ``out`` cannot be written (missing folder, no permission, a directory).
    ValueError
        See :func:`gtfs_flex_files`.
    """
    import os

    files, summary = gtfs_flex_files(
        scenario, stops, first=first, last=last, today=today, zone=zone, osm_geometry=osm_geometry
    )
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(files):
                zf.writestr(name, files[name].encode("utf-8"))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise OutputError(f"{path}: cannot write the feed ({reason}); choose a writable --out file") from exc
    return FeedSummary(
        path=path,
        files=summary.files,
        first=summary.first,
        last=summary.last,
        service_days=summary.service_days,
        removed_days=summary.removed_days,
        notes=summary.notes,
    )
