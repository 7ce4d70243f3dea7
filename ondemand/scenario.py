"""Scenarios: one TOML file per service (area, hours, fleet, fares, demand).

A scenario maps one-to-one onto frozen dataclasses; every field is validated on
load and every problem raises :class:`ondemand.errors.ScenarioError` naming the
file, the field (dotted path, e.g. ``service.fleet``) and the reason. Unknown keys
are errors too, so a typo never silently falls back to a default.

Layout of a scenario file::

    name = "senboku"
    area = "senboku"             # toyono | senboku | higashiosaka, or an [area] table: a built-in
                                 # graph's sub-box (graph = ...), or any town: place = "河内長野市,
                                 # 大阪府" | boundary = "town.geojson" | bbox = [W, S, E, N], with
                                 # osm = "extract.osm.pbf" (else Overpass; ondemand.routing.geo.osmdata)
    timezone = "Asia/Tokyo"
    description = "..."

    [network]                    # -> ondemand.routing.geo.network.NetworkParams (travel speeds by
                                 #    road class, junction delays, hour factors; ``hours`` defaults
                                 #    to the service hours)
    [stops]                      # -> ondemand.routing.geo.stops.StopParams
    [travel_times]               # -> ondemand.routing.geo.lazy.TravelTimesParams (optional: mode =
                                 #    "auto" | "matrix" | "on_demand", dense_limit_mb, cache_mb)
    [service]                    # -> ServiceParams
    [fares]                      # -> FareParams ([[fares.special]] -> SpecialFare)
    [demand]                     # -> DemandParams ([demand.destinations] weights)
    [agency]                     # -> AgencyParams (optional: who runs the service, for the
                                 #    published feeds: name, url, phone, email, booking_url, lang)
    [municipalities]             # -> MunicipalParams (optional: cross-municipal accounting:
                                 #    boundaries, cost_split, [municipalities.subsidy] ...)

Times of day are ``"HH:MM"`` strings in the file and integer seconds from midnight
in the dataclasses.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ondemand.errors import ScenarioError

if TYPE_CHECKING:
    from ondemand.routing.geo.area import ServiceArea

__all__ = [
    "BOOKING_CHANNELS",
    "CALENDARS",
    "COST_RULES",
    "DESTINATION_CLASSES",
    "OBSERVED_METRICS",
    "AgencyParams",
    "ChannelParams",
    "DemandParams",
    "FareParams",
    "MunicipalParams",
    "Observation",
    "Scenario",
    "ServiceParams",
    "SpecialFare",
    "load_scenario",
    "mean_group_size",
]

CALENDARS = ("weekdays", "every_day")
"""``weekdays``: Monday to Friday except public holidays; ``every_day``: all days."""
BOOKING_CHANNELS = ("app", "phone", "web", "line")
_REOPTIMISE_ITERATIONS = 20
"""Default ``service.reoptimise_iterations``: LNS iterations per simulated re-optimisation."""
_REOPTIMISE_VEHICLES = 4
"""Default ``service.reoptimise_vehicles``: vehicles re-planned per simulated re-optimisation."""
_REOPTIMISE_MOVES = 50
"""Default ``service.reoptimise_moves``: relocation searches per simulated re-optimisation."""
_DIVERT_MID_LEG = False
"""Default ``service.divert_mid_leg``: whether a booking may turn a van mid-leg."""
OBSERVED_METRICS = (
    "riders_per_day",
    "requests_per_day",
    "passengers_per_vehicle_hour",
    "refused_share",
    "wait_mean_min",
    "shared_ride_share",
)
"""Metrics an ``[observed]`` table may give (``ondemand validate`` compares them)."""
CHANNEL_DAYS = ("every_day", "weekdays", "service_days")
"""Days a booking channel takes bookings (see :mod:`ondemand.dispatch.calendar`)."""
OUTSIDE_HOURS = ("next_open", "lost")
DESTINATION_CLASSES = (
    "home",
    "hospital",
    "clinic",
    "pharmacy",
    "supermarket",
    "convenience",
    "rail_station",
    "rail_platform",
    "bus_station",
    "government",
    "community_centre",
    "post_office",
    "bank",
    "library",
    "park",
    "school",
    "place_of_worship",
    "food_drink",
    "shop_service",
)
"""Destination classes: ``home`` (buildings) and the ``key_class`` values of the OSM POI layer."""


# --------------------------------------------------------------------------- params


@dataclass(frozen=True, slots=True)
class ChannelParams:
    """A booking channel's hours (``[service.channels.NAME]``; rules in :mod:`ondemand.dispatch.calendar`).

    Parameters
    ----------
    name
        One of :data:`BOOKING_CHANNELS`.
    share
        Share of bookings made through it.
    opens, closes
        Daily hours, seconds from midnight (``hours = ["09:00", "17:00"]`` in the file).
    days
        One of :data:`CHANNEL_DAYS`.
    min_lead_s
        Bookings close this long before the ride.
    """

    name: str
    share: float
    opens: int = 0
    closes: int = 86_400
    days: str = "every_day"
    min_lead_s: int = 0


@dataclass(frozen=True, slots=True)
class ServiceParams:
    """Hours, calendar, fleet and the service promise.

    Parameters
    ----------
    start, end
        Service hours in seconds from midnight (vehicles' shift).
    calendar
        One of :data:`CALENDARS`.
    holidays
        Whether the service also runs on public holidays.
    fleet
        Number of vehicles.
    vehicle_kind
        ``"van"`` or ``"taxi"`` (descriptive).
    seats, wheelchair_places
        Capacity of each vehicle.
    boarding_s, alighting_s
        Seconds per passenger to board and to alight.
    wheelchair_boarding_s
        Extra seconds to board or alight a wheelchair.
    pickup_window_s
        Width of the pickup window promised to the rider.
    max_wait_s
        Latest pickup after the requested time (the rider's tolerance).
    max_detour
        Ride time may be at most this factor times the direct drive time.
    min_extra_ride_s
        Ride-time allowance added on top of ``max_detour * direct`` (short trips).
    booking_channels
        Subset of :data:`BOOKING_CHANNELS`.
    booking_horizon_days
        How many days ahead a trip can be booked.
    reoptimise_every_s
        Rolling-horizon re-optimisation period (0 = never).
    reoptimise_time_limit_s
        Live API: wall-clock seconds of solver time per re-optimisation (0 = never).
    reoptimise_iterations
        Simulator: work budget per re-optimisation, in LNS iterations (0 = never). A
        budget of work rather than time, so that a simulated day is reproducible on
        any machine and under any load.
    reoptimise_vehicles
        Simulator: at most this many vehicles are re-planned per re-optimisation (0 = the
        whole fleet): a vehicle with stops drawn from the seed and the time, and the
        vehicles nearest to it. Keeps the work of a round bounded however large the
        fleet; fleets this small or smaller are always re-planned whole.
    reoptimise_moves
        Simulator: before that search, each re-optimisation moves single requests to their
        cheapest feasible place in the whole fleet (largest saving first), with at most
        this many fleet-wide insertion searches (0 = none): a work budget, whole-fleet
        reach at a small fraction of a whole-fleet search's work.
    depot
        Where vehicles start and end: ``"centre"`` (the stop nearest the centroid of
        all stops) or a stop id.
    wait_weight, ride_weight
        How the dispatcher weighs a second of the new rider's wait and ride against a
        second of vehicle driving when it chooses a vehicle and position (1.0: a rider's
        time counts as much as the vehicle's).
    holiday_country
        Country of the public holidays (``holidays`` package), ``"JP"`` by default.
    closures
        Annual closures, ((month, day) first, (month, day) last) closed day, e.g. the
        year-end break ``closures = [["12-29", "01-03"]]`` in the file.
    closed_dates
        Further days without service (``["2024-01-15", ...]``).
    period
        The run the scenario models (``period = ["2023-10-01", "2024-01-31"]``, a pilot's first
        and last day): simulated days default to it and ``ondemand validate`` spreads its days
        over it. It closes no day: the live API books real dates, long after a pilot ended.
    channels
        Hours and shares of the booking channels (``[service.channels.NAME]`` tables); when
        absent every channel of ``booking_channels`` takes bookings all day, in equal shares.
    outside_hours
        A booking made while its channel is closed is taken when it next opens
        (``"next_open"``) or lost (``"lost"``).
    divert_mid_leg
        Whether a booking may turn a van before it reaches the stop it is driving to (at the
        next point of its road path where it can turn), when that serves the new rider better
        and every promise still holds. Turning points are named by travel times answered on
        demand, so ``true`` selects them (``[travel_times] mode = "auto"`` becomes
        ``"on_demand"``, the same answers as the matrix); ``mode = "matrix"`` is refused.
    """

    start: int
    end: int
    calendar: str
    holidays: bool
    fleet: int
    vehicle_kind: str
    seats: int
    wheelchair_places: int
    boarding_s: int
    alighting_s: int
    wheelchair_boarding_s: int
    pickup_window_s: int
    max_wait_s: int
    max_detour: float
    min_extra_ride_s: int
    booking_channels: tuple[str, ...]
    booking_horizon_days: int
    reoptimise_every_s: int
    reoptimise_time_limit_s: float
    depot: str
    wait_weight: float = 1.0
    ride_weight: float = 1.0
    reoptimise_iterations: int = _REOPTIMISE_ITERATIONS
    reoptimise_vehicles: int = _REOPTIMISE_VEHICLES
    reoptimise_moves: int = _REOPTIMISE_MOVES
    holiday_country: str = "JP"
    closures: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    closed_dates: tuple[_dt.date, ...] = ()
    period: tuple[_dt.date, _dt.date] | None = None
    channels: tuple[ChannelParams, ...] = ()
    outside_hours: str = "next_open"
    divert_mid_leg: bool = _DIVERT_MID_LEG

    @property
    def hours(self) -> float:
        """Length of the service day in hours."""
        return (self.end - self.start) / 3600.0


@dataclass(frozen=True, slots=True)
class SpecialFare:
    """A fare that applies when the trip starts or ends near a named place.

    Parameters
    ----------
    name
        Name of the place (e.g. a station).
    lon, lat
        Its position.
    radius_m
        A stop within this distance counts as "at" the place.
    fare_jpy
        The fare charged per passenger instead of the flat fare.
    """

    name: str
    lon: float
    lat: float
    radius_m: int
    fare_jpy: int


@dataclass(frozen=True, slots=True)
class FareParams:
    """Fares and costs.

    Parameters
    ----------
    flat_jpy
        Fare per passenger.
    special
        Special fares to/from named places; the highest applicable one wins.
    operating_cost_per_vehicle_hour_jpy
        Cost of one vehicle (with driver) per hour of service.
    """

    flat_jpy: int
    special: tuple[SpecialFare, ...]
    operating_cost_per_vehicle_hour_jpy: int


@dataclass(frozen=True, slots=True)
class DemandParams:
    """The synthetic demand of one service day.

    Parameters
    ----------
    riders_per_day
        Mean riders a day, the unit pilots publish: persons carried, each one-way ride
        counted (a rider who goes and comes back is two riders; a group of three, three).
        Requests follow from it: :attr:`requests_per_day` = riders / :attr:`mean_group_size`.
    target_riders_per_day
        The operator's target in riders a day, if any (reports and sweeps).
    hourly_profile
        Relative weights of trip requests, one per service hour.
    round_trip_share
        Share of outbound trips whose rider also books the return the same day.
    return_after_s
        Range (min, max) of the dwell before a return trip.
    group_sizes
        Probability of groups of 1, 2, 3... riders (sums to 1).
    wheelchair_share
        Share of requests with one wheelchair.
    booked_ahead_share
        Share booked ahead for a pickup time (the rest: as soon as possible).
    booking_lead_s
        Range (min, max) of how long before the pickup a booked-ahead trip is made.
    cancellation_rate, no_show_rate
        Share of accepted requests that cancel / do not show up.
    walking_speed_mps
        Riders' walking speed.
    max_walk_m
        Longest walk (walking metres) to or from a meeting point (homes further away
        generate no trips; the live API refuses places further away).
    destinations
        Weight of each destination class (:data:`DESTINATION_CLASSES`), per POI / building.
    bbox
        Optional (west, south, east, north) to which demand is restricted.
    walk_circuity
        Walking metres per straight-line (great-circle) metre: streets are not straight
        (default 1.25, an assumption typical of residential grids).
    population_mesh
        Optional census 500 m mesh CSV (地域メッシュ統計, :mod:`ondemand.routing.geo.mesh`): homes
        are weighted by the people of their grid square instead of one weight per building.
    """

    riders_per_day: float
    target_riders_per_day: float | None
    hourly_profile: tuple[float, ...]
    round_trip_share: float
    return_after_s: tuple[int, int]
    group_sizes: tuple[float, ...]
    wheelchair_share: float
    booked_ahead_share: float
    booking_lead_s: tuple[int, int]
    cancellation_rate: float
    no_show_rate: float
    walking_speed_mps: float
    max_walk_m: int
    destinations: Mapping[str, float]
    bbox: tuple[float, float, float, float] | None
    walk_circuity: float = 1.25
    population_mesh: Path | None = None

    @property
    def mean_group_size(self) -> float:
        """Mean riders per request (from :attr:`group_sizes`)."""
        return mean_group_size(self.group_sizes)

    @property
    def requests_per_day(self) -> float:
        """Mean requests (bookings) a day: :attr:`riders_per_day` / :attr:`mean_group_size`.

        Round trips need no correction: each leg is a request and its riders count again,
        as pilots count riders per one-way ride.
        """
        return self.riders_per_day / self.mean_group_size


def mean_group_size(group_sizes: tuple[float, ...]) -> float:
    """Mean group size of the probabilities of groups of 1, 2, 3... riders."""
    total = sum(group_sizes)
    return sum((k + 1) * p for k, p in enumerate(group_sizes)) / total


@dataclass(frozen=True, slots=True)
class Observation:
    """What a pilot was observed to do, with its source (the scenario's ``[observed]`` table).

    Parameters
    ----------
    value
        The observed figure.
    source
        Where it comes from (e.g. ``"PILOTS.md §2: 3,253 riders = 28 a day"``).
    fitted
        The scenario input that was set from this observation (e.g.
        ``"demand.riders_per_day"``): agreement on it is by construction.
    derived
        How the figure was derived from other published ones, when it was.
    """

    value: float
    source: str
    fitted: str | None = None
    derived: str | None = None


@dataclass(frozen=True, slots=True)
class AgencyParams:
    """Who runs the service, as published feeds (GTFS-Flex, GOFS) name it (``[agency]``, optional).

    Every field is optional; :attr:`defaulted` lists the ones the file left out, so that
    exporters can say which published values are placeholders.

    Parameters
    ----------
    name
        The operator's name (default: the scenario's ``name``).
    url
        The operator's or the service's web page (default: a placeholder,
        ``https://example.invalid/<scenario name>``, which says it is not a real page).
    phone
        The booking telephone number, as riders dial it (default: none published).
    email
        A contact address for the feed (default: none).
    booking_url
        Where riders book online (default: none).
    lang
        Language of names and messages (IETF tag, default ``"ja"``).
    """

    name: str | None = None
    url: str | None = None
    phone: str | None = None
    email: str | None = None
    booking_url: str | None = None
    lang: str = "ja"
    defaulted: tuple[str, ...] = ("name", "url", "phone", "email", "booking_url", "lang")


COST_RULES = ("by_riders", "by_vehicle_km_inside", "by_population", "fixed")
"""How a cross-municipal service's operating cost is shared among the towns (``municipalities.cost_split``).

``by_riders``: riders boarding plus riders alighting in each town (a trip across the border counts
half to each side); ``by_vehicle_km_inside``: vehicle-km driven inside each town, from the roads
driven; ``by_population``: people in the service zone in each town (the population mesh, else
residential buildings as a proxy); ``fixed``: the shares the scenario gives.
"""


@dataclass(frozen=True, slots=True)
class MunicipalParams:
    """Cross-municipal accounting (``[municipalities]``, optional): who pays what.

    Parameters
    ----------
    boundaries
        A GeoJSON file of municipality polygons with a name property; ``None``: the area's
        OpenStreetMap administrative boundaries.
    name_property
        The property of ``boundaries`` that holds the name.
    admin_level
        OSM ``admin_level`` of the borders when no file is given (7: 市町村, 8: wards).
    labels
        ``(name, lon, lat)``: a point inside each municipality, naming the OSM border faces.
    cost_split
        One of :data:`COST_RULES`.
    fixed_shares
        Name -> share (sum 1) for ``cost_split = "fixed"``.
    subsidy_rate
        The prefecture's subsidy as a share of the operating cost (at most 1/2).
    subsidy_cap_jpy_per_year
        The most the prefecture pays a year (``None``: no cap).
    service_days_per_year
        Days over which the yearly cap is spread (``None``: counted from the service calendar,
        365 days from the simulated day).
    """

    boundaries: Path | None = None
    name_property: str = "name"
    admin_level: int = 7
    labels: tuple[tuple[str, float, float], ...] = ()
    cost_split: str = "by_riders"
    fixed_shares: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    subsidy_rate: float = 0.0
    subsidy_cap_jpy_per_year: int | None = None
    service_days_per_year: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A service to simulate: area, network and stop parameters, service, fares, demand.

    ``area`` is the area's name; ``area_spec`` the routing layer's ``AreaSpec`` (a built-in
    area, or a custom ``[area]`` table: ``name``, ``graph`` = built-in area whose road graph
    it uses, ``bbox`` inside that graph's box (default: the whole graph), and the service zone:
    ``zone`` = a GeoJSON polygon file beside the scenario or ``districts`` = district names of
    the OSM place layer, ``zone_name``, and ``[[area.places]]`` = named destinations
    (``name``, ``lon``, ``lat``, ``kind``, ``stand``, ``radius_m``) that trips may reach even
    outside the zone; or an area anywhere: ``place``, ``boundary`` or ``bbox`` with ``osm``, see
    :mod:`ondemand.routing.geo.osmdata`). ``network`` and ``stops`` are the routing
    layer's ``NetworkParams`` and ``StopParams`` (built from the ``[network]`` and
    ``[stops]`` tables); ``travel_times`` its ``TravelTimesParams`` (``[travel_times]``:
    ``mode = "auto" | "matrix" | "on_demand"``, ``dense_limit_mb``, ``cache_mb``).
    """

    name: str
    area: str
    timezone: str
    description: str
    area_spec: Any
    network: Any
    stops: Any
    service: ServiceParams
    fares: FareParams
    demand: DemandParams
    path: Path | None = None
    observed: Mapping[str, Observation] = field(default_factory=lambda: MappingProxyType({}))
    not_reproduced: tuple[str, ...] = ()
    agency: AgencyParams = AgencyParams()
    network_table: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    stops_table: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    municipalities: MunicipalParams | None = None
    travel_times: Any = None

    def service_area(self, *, data_dir: Path | None = None, status: Any = None) -> ServiceArea:
        """The scenario's service area: its area, road speeds, meeting points and travel times.

        The one place a scenario becomes a :class:`~ondemand.routing.geo.area.ServiceArea`
        (cached on disk by :func:`~ondemand.routing.geo.area.build_service_area`), so the CLI,
        the simulator, the API and the benchmarks build the same area from the same tables.
        ``status`` is a progress callback for the long steps.
        """
        from ondemand.routing.geo.area import build_service_area

        return build_service_area(
            self.area_spec,
            network=self.network,
            stops=self.stops,
            data_dir=data_dir,
            status=status,
            travel_times=self.travel_times,
        )


# --------------------------------------------------------------------------- reading


class _Table:
    """A TOML table being consumed: typed getters that name the field in errors."""

    def __init__(self, file: str, prefix: str, data: Mapping[str, Any]) -> None:
        self.file = file
        self.prefix = prefix
        self.data = dict(data)
        self.used: set[str] = set()

    def err(self, key: str, reason: str) -> ScenarioError:
        name = f"{self.prefix}.{key}" if self.prefix else key
        return ScenarioError(f"{self.file}: field {name!r}: {reason}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.err(key, "is required but missing")
            return default
        return self.data[key]

    def string(self, key: str, default: Any = ..., choices: tuple[str, ...] | None = None) -> str:
        v = self.raw(key, default)
        if not isinstance(v, str) or not v:
            raise self.err(key, f"must be a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            raise self.err(key, f"must be one of {', '.join(choices)}; got {v!r}")
        return v

    def boolean(self, key: str, default: Any = ...) -> bool:
        v = self.raw(key, default)
        if not isinstance(v, bool):
            raise self.err(key, f"must be true or false, got {v!r}")
        return v

    def integer(self, key: str, default: Any = ..., lo: int | None = None, hi: int | None = None) -> int:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(key, f"must be an integer, got {v!r}")
        self._bounds(key, v, lo, hi)
        return v

    def number(self, key: str, default: Any = ..., lo: float | None = None, hi: float | None = None) -> float:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.err(key, f"must be a finite number, got {v!r}")
        self._bounds(key, v, lo, hi)
        return float(v)

    def share(self, key: str, default: Any = ...) -> float:
        return self.number(key, default, 0.0, 1.0)

    def clock(self, key: str, default: Any = ...) -> int:
        v = self.raw(key, default)
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                h, m = int(parts[0]), int(parts[1])
                if 0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60:
                    return h * 3600 + m * 60
        raise self.err(key, f"must be a time of day 'HH:MM' (00:00-24:00), got {v!r}")

    def numbers(self, key: str, default: Any = ..., lo: float = 0.0) -> tuple[float, ...]:
        v = self.raw(key, default)
        if not isinstance(v, list) or not v:
            raise self.err(key, f"must be a non-empty list of numbers, got {v!r}")
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < lo:
                raise self.err(key, f"must hold numbers >= {lo}, got {x!r}")
            out.append(float(x))
        return tuple(out)

    def int_range(self, key: str, default: Any = ...) -> tuple[int, int]:
        v = self.raw(key, default)
        ok = (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
            and v[0] <= v[1]
        )
        if not ok:
            raise self.err(key, f"must be [min, max] with 0 <= min <= max (integers), got {v!r}")
        return int(v[0]), int(v[1])

    def table(self, key: str, default: Any = ...) -> _Table:
        v = self.raw(key, default)
        if not isinstance(v, dict):
            raise self.err(key, f"must be a table, got {v!r}")
        return _Table(self.file, f"{self.prefix}.{key}" if self.prefix else key, v)

    def _bounds(self, key: str, v: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and v < lo:
            raise self.err(key, f"must be >= {lo}, got {v!r}")
        if hi is not None and v > hi:
            raise self.err(key, f"must be <= {hi}, got {v!r}")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.err(unknown[0], "unknown key (check the spelling; see ondemand.scenario docs)")


def _service(t: _Table) -> ServiceParams:
    start = t.clock("start")
    end = t.clock("end")
    if end <= start:
        raise t.err("end", f"must be after service.start ({start // 3600:02d}:{start % 3600 // 60:02d})")
    channels = t.raw("booking_channels")
    if not isinstance(channels, list) or not channels or any(c not in BOOKING_CHANNELS for c in channels):
        raise t.err("booking_channels", f"must be a non-empty list from {BOOKING_CHANNELS}, got {channels!r}")
    seats = t.integer("seats", lo=1, hi=60)
    closures = tuple(_closure(t, k, v) for k, v in enumerate(_list(t, "closures")))
    closed = tuple(_date(t, "closed_dates", v) for v in _list(t, "closed_dates"))
    period_raw = t.raw("period", None)
    period: tuple[_dt.date, _dt.date] | None = None
    if period_raw is not None:
        if not isinstance(period_raw, list) or len(period_raw) != 2:
            raise t.err("period", f"must be [first day, last day] as 'YYYY-MM-DD', got {period_raw!r}")
        period = (_date(t, "period", period_raw[0]), _date(t, "period", period_raw[1]))
        if period[1] < period[0]:
            raise t.err("period", "ends before it starts")
    s = ServiceParams(
        start=start,
        end=end,
        calendar=t.string("calendar", choices=CALENDARS),
        holidays=t.boolean("holidays"),
        fleet=t.integer("fleet", lo=1, hi=1000),
        vehicle_kind=t.string("vehicle_kind", choices=("van", "taxi", "bus")),
        seats=seats,
        wheelchair_places=t.integer("wheelchair_places", 0, lo=0, hi=10),
        boarding_s=t.integer("boarding_s", lo=0, hi=600),
        alighting_s=t.integer("alighting_s", lo=0, hi=600),
        wheelchair_boarding_s=t.integer("wheelchair_boarding_s", 0, lo=0, hi=1800),
        pickup_window_s=t.integer("pickup_window_s", lo=60, hi=7200),
        max_wait_s=t.integer("max_wait_s", lo=60, hi=4 * 3600),
        max_detour=t.number("max_detour", lo=1.0, hi=10.0),
        min_extra_ride_s=t.integer("min_extra_ride_s", 300, lo=0, hi=3600),
        booking_channels=tuple(channels),
        booking_horizon_days=t.integer("booking_horizon_days", lo=0, hi=60),
        reoptimise_every_s=t.integer("reoptimise_every_s", 900, lo=0, hi=24 * 3600),
        reoptimise_time_limit_s=t.number("reoptimise_time_limit_s", 1.0, lo=0.0, hi=600.0),
        depot=t.string("depot", "centre"),
        wait_weight=t.number("wait_weight", 1.0, lo=0.0, hi=100.0),
        ride_weight=t.number("ride_weight", 1.0, lo=0.0, hi=100.0),
        reoptimise_iterations=t.integer("reoptimise_iterations", _REOPTIMISE_ITERATIONS, lo=0, hi=1_000_000),
        reoptimise_vehicles=t.integer("reoptimise_vehicles", _REOPTIMISE_VEHICLES, lo=0, hi=1_000_000),
        reoptimise_moves=t.integer("reoptimise_moves", _REOPTIMISE_MOVES, lo=0, hi=1_000_000),
        holiday_country=t.string("holiday_country", "JP"),
        closures=closures,
        closed_dates=closed,
        period=period,
        channels=_channels(t, tuple(channels)),
        outside_hours=t.string("outside_hours", "next_open", choices=OUTSIDE_HOURS),
        divert_mid_leg=t.boolean("divert_mid_leg", _DIVERT_MID_LEG),
    )
    if s.pickup_window_s > s.max_wait_s:
        raise t.err("pickup_window_s", f"must not exceed service.max_wait_s ({s.max_wait_s})")
    t.done()
    return s


def _list(t: _Table, key: str) -> list[Any]:
    v = t.raw(key, [])
    if not isinstance(v, list):
        raise t.err(key, f"must be a list, got {v!r}")
    return v


def _date(t: _Table, key: str, v: Any) -> _dt.date:
    if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
        return v  # a TOML local date (2024-01-15 without quotes)
    try:
        return _dt.date.fromisoformat(v) if isinstance(v, str) else _dt.date.fromisoformat("?")
    except ValueError:
        raise t.err(key, f"must hold days as 'YYYY-MM-DD', got {v!r}") from None


def _closure(t: _Table, k: int, v: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    def md(x: Any) -> tuple[int, int]:
        parts = x.split("-") if isinstance(x, str) else []
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            m, d = int(parts[0]), int(parts[1])
            try:
                _dt.date(2024, m, d)  # a leap year: 02-29 is allowed
                return m, d
            except ValueError:
                pass
        raise t.err(f"closures[{k}]", f"must be ['MM-DD', 'MM-DD'] (first and last closed day), got {v!r}")

    if not isinstance(v, list) or len(v) != 2:
        raise t.err(f"closures[{k}]", f"must be ['MM-DD', 'MM-DD'] (first and last closed day), got {v!r}")
    return md(v[0]), md(v[1])


def _channels(t: _Table, names: tuple[str, ...]) -> tuple[ChannelParams, ...]:
    if not t.has("channels"):
        return tuple(ChannelParams(n, 1.0 / len(names)) for n in names)
    ct = t.table("channels")
    if set(ct.data) != set(names):
        raise t.err(
            "channels",
            f"must have one table per booking channel {list(names)} (service.booking_channels), "
            f"got {sorted(ct.data)}",
        )
    out = []
    for n in names:
        c = ct.table(n)
        hours = c.raw("hours", ["00:00", "24:00"])
        if not isinstance(hours, list) or len(hours) != 2:
            raise c.err("hours", f"must be ['HH:MM', 'HH:MM'], got {hours!r}")
        opens = _Table(c.file, f"{c.prefix}.hours", {"opens": hours[0], "closes": hours[1]})
        o, cl = opens.clock("opens"), opens.clock("closes")
        if cl <= o:
            raise c.err("hours", f"must close after it opens, got {hours!r}")
        out.append(
            ChannelParams(
                name=n,
                share=c.share("share"),
                opens=o,
                closes=cl,
                days=c.string("days", "every_day", choices=CHANNEL_DAYS),
                min_lead_s=c.integer("min_lead_s", 0, lo=0, hi=7 * 86400),
            )
        )
        c.done()
    if abs(sum(ch.share for ch in out) - 1.0) > 1e-6:
        raise ct.err(names[0], f"shares of the channels must sum to 1, got {sum(ch.share for ch in out):.4f}")
    ct.done()
    return tuple(out)


def _fares(t: _Table) -> FareParams:
    specials = []
    raw = t.raw("special", [])
    if not isinstance(raw, list):
        raise t.err("special", "must be an array of tables [[fares.special]]")
    for k, item in enumerate(raw):
        if not isinstance(item, dict):
            raise t.err(f"special[{k}]", "must be a table")
        st = _Table(t.file, f"fares.special[{k}]", item)
        specials.append(
            SpecialFare(
                name=st.string("name"),
                lon=st.number("lon", lo=-180, hi=180),
                lat=st.number("lat", lo=-90, hi=90),
                radius_m=st.integer("radius_m", lo=1, hi=5000),
                fare_jpy=st.integer("fare_jpy", lo=0, hi=100_000),
            )
        )
        st.done()
    f = FareParams(
        flat_jpy=t.integer("flat_jpy", lo=0, hi=100_000),
        special=tuple(specials),
        operating_cost_per_vehicle_hour_jpy=t.integer("operating_cost_per_vehicle_hour_jpy", lo=0, hi=10**6),
    )
    t.done()
    return f


def _demand(t: _Table, service: ServiceParams, svc: _Table) -> DemandParams:
    profile = t.numbers("hourly_profile")
    n_hours = math.ceil((service.end - service.start) / 3600)
    if len(profile) != n_hours:
        raise t.err("hourly_profile", f"needs one weight per service hour ({n_hours}), got {len(profile)}")
    if sum(profile) <= 0:
        raise t.err("hourly_profile", "needs at least one positive weight")
    groups = t.numbers("group_sizes")
    if abs(sum(groups) - 1.0) > 1e-6:
        raise t.err("group_sizes", f"probabilities must sum to 1, got {sum(groups):.4f}")
    if len(groups) > service.seats:
        raise t.err(
            "group_sizes", f"lists groups up to {len(groups)} but vehicles have {service.seats} seats"
        )
    dest = t.table("destinations")
    weights: dict[str, float] = {}
    for key in sorted(dest.data):
        if key not in DESTINATION_CLASSES:
            raise dest.err(key, f"unknown destination class; use one of {', '.join(DESTINATION_CLASSES)}")
        weights[key] = dest.number(key, lo=0.0)
    if not weights or sum(weights.values()) <= 0:
        raise t.err("destinations", "needs at least one positive weight")
    bbox_raw = t.raw("bbox", None)
    bbox: tuple[float, float, float, float] | None = None
    if bbox_raw is not None:
        ok = (
            isinstance(bbox_raw, list)
            and len(bbox_raw) == 4
            and all(isinstance(x, int | float) for x in bbox_raw)
        )
        if not ok or not (bbox_raw[0] < bbox_raw[2] and bbox_raw[1] < bbox_raw[3]):
            raise t.err(
                "bbox",
                f"must be [west, south, east, north] with west < east, south < north; got {bbox_raw!r}",
            )
        bbox = (float(bbox_raw[0]), float(bbox_raw[1]), float(bbox_raw[2]), float(bbox_raw[3]))
    for old in ("requests_per_day", "target_requests_per_day"):
        if t.has(old):
            raise _requests_migration(t, old, groups)
    target = t.raw("target_riders_per_day", None)
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or target <= 0
    ):
        raise t.err("target_riders_per_day", f"must be a positive number, got {target!r}")
    d = DemandParams(
        riders_per_day=t.number("riders_per_day", lo=0.0, hi=1e6),
        target_riders_per_day=None if target is None else float(target),
        hourly_profile=profile,
        round_trip_share=t.share("round_trip_share"),
        return_after_s=t.int_range("return_after_s", [3600, 3 * 3600]),
        group_sizes=groups,
        wheelchair_share=t.share("wheelchair_share"),
        booked_ahead_share=t.share("booked_ahead_share"),
        booking_lead_s=t.int_range("booking_lead_s", [1800, 24 * 3600]),
        cancellation_rate=t.share("cancellation_rate"),
        no_show_rate=t.share("no_show_rate"),
        walking_speed_mps=t.number("walking_speed_mps", lo=0.3, hi=3.0),
        max_walk_m=t.integer("max_walk_m", lo=10, hi=5000),
        walk_circuity=t.number("walk_circuity", 1.25, lo=1.0, hi=3.0),
        destinations=MappingProxyType(weights),
        bbox=bbox,
        population_mesh=_mesh_file(t),
    )
    horizon_s = service.booking_horizon_days * 86400 if service.booking_horizon_days else service.end
    if d.booking_lead_s[1] > horizon_s:  # 0 days = same-day bookings only
        raise t.err(
            "booking_lead_s",
            f"books up to {d.booking_lead_s[1]} s ahead, beyond service.booking_horizon_days "
            f"({service.booking_horizon_days} days)",
        )
    if d.wheelchair_share > 0 and service.wheelchair_places == 0:
        raise t.err(
            "wheelchair_share", "is > 0 but service.wheelchair_places is 0 (no vehicle can carry them)"
        )
    del svc
    t.done()
    return d


def _mesh_file(t: _Table) -> Path | None:
    if not t.has("population_mesh"):
        return None
    mesh = Path(t.string("population_mesh"))
    if not mesh.is_absolute():
        mesh = Path(t.file).parent / mesh  # beside the scenario
    if not mesh.is_file():
        raise t.err(
            "population_mesh",
            f"no such population mesh file {str(mesh)!r} (the census 500 m mesh CSV from e-Stat, "
            "地域メッシュ統計, beside the scenario)",
        )
    return mesh


def _requests_migration(t: _Table, old: str, groups: tuple[float, ...]) -> ScenarioError:
    """The error for a pre-riders scenario (``requests_per_day``): how to migrate, never a guess.

    Scenarios used to state requests a day; a published "28 riders a day" was then often
    written as 28 requests, which carries ~1.2x as many people. The file must say which it
    meant, so the old keys are refused with the two ways to migrate.
    """
    new = "riders_per_day" if old == "requests_per_day" else "target_riders_per_day"
    v = t.data.get(old)
    g = mean_group_size(groups)
    same = (
        f"{new} = {float(v) * g:.1f} keeps {v} requests a day (x mean group size {g:.2f})"
        if isinstance(v, int | float) and not isinstance(v, bool)
        else f"{new} = requests x mean group size ({g:.2f}) keeps the old demand"
    )
    return t.err(
        old,
        f"is no longer read: scenarios state riders a day (persons carried, each one-way ride "
        f"counted, as pilots publish) and requests follow as riders / mean group size. Rename it to "
        f"{new}: if the number was a published ridership write it unchanged; {same}",
    )


def _observed(t: _Table) -> tuple[dict[str, Observation], tuple[str, ...]]:
    """The ``[observed]`` table: ``metric = { value, source, fitted?, derived? }`` and ``not_reproduced``."""
    notes = t.raw("not_reproduced", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) and n for n in notes):
        raise t.err("not_reproduced", f"must be a list of sentences, got {notes!r}")
    out: dict[str, Observation] = {}
    for key in sorted(set(t.data) - {"not_reproduced"}):
        if key not in OBSERVED_METRICS:
            raise t.err(key, f"unknown observed metric; use one of {', '.join(OBSERVED_METRICS)}")
        o = t.table(key)
        out[key] = Observation(
            value=o.number("value", lo=0.0),
            source=o.string("source"),
            fitted=o.raw("fitted", None) and o.string("fitted"),
            derived=o.raw("derived", None) and o.string("derived"),
        )
        o.done()
    t.done()
    return out, tuple(notes)


def _municipalities(t: _Table) -> MunicipalParams:
    boundaries: Path | None = None
    if t.has("boundaries"):
        boundaries = Path(t.string("boundaries"))
        if not boundaries.is_absolute():
            boundaries = Path(t.file).parent / boundaries  # beside the scenario
        if not boundaries.is_file():
            raise t.err(
                "boundaries",
                f"no such boundary file {str(boundaries)!r} (a GeoJSON file of municipality polygons "
                "with a name property, beside the scenario)",
            )
    labels: list[tuple[str, float, float]] = []
    lt = t.table("labels", {})
    for name in lt.data:
        v = lt.raw(name)
        ok = (
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v)
            and -180 <= v[0] <= 180
            and -90 <= v[1] <= 90
        )
        if not ok:
            raise lt.err(name, f"must be [lon, lat] of a point inside the municipality, got {v!r}")
        labels.append((name, float(v[0]), float(v[1])))
    lt.done()
    rule = t.string("cost_split", "by_riders", choices=COST_RULES)
    shares: dict[str, float] = {}
    if t.has("fixed_shares"):
        ft = t.table("fixed_shares")
        for name in ft.data:
            shares[name] = ft.share(name)
        ft.done()
    if rule == "fixed":
        if not shares:
            raise t.err("fixed_shares", 'is required with cost_split = "fixed": a table NAME = share')
        if abs(sum(shares.values()) - 1.0) > 1e-9:
            raise t.err(
                "fixed_shares",
                f"shares must sum to 1, got {sum(shares.values()):.6f}; make them add up to 1",
            )
    elif shares:
        raise t.err("fixed_shares", f'is only read with cost_split = "fixed" (got {rule!r})')
    st = t.table("subsidy", {})
    rate = st.number("rate", 0.0, lo=0.0, hi=1.0)
    if rate > 0.5:
        raise st.err("rate", f"the prefecture's subsidy rate is at most 1/2 (PILOTS.md), got {rate}")
    cap_raw = st.raw("cap_jpy_per_year", None)
    cap = None if cap_raw is None else st.integer("cap_jpy_per_year", lo=0, hi=10**12)
    days_raw = st.raw("service_days_per_year", None)
    days = None if days_raw is None else st.integer("service_days_per_year", lo=1, hi=366)
    st.done()
    m = MunicipalParams(
        boundaries=boundaries,
        name_property=t.string("name_property", "name"),
        admin_level=t.integer("admin_level", 7, lo=2, hi=11),
        labels=tuple(labels),
        cost_split=rule,
        fixed_shares=MappingProxyType(shares),
        subsidy_rate=rate,
        subsidy_cap_jpy_per_year=cap,
        service_days_per_year=days,
    )
    t.done()
    return m


_AGENCY_FIELDS = ("name", "url", "phone", "email", "booking_url", "lang")


def _agency(t: _Table) -> AgencyParams:
    values: dict[str, str] = {}
    for key in _AGENCY_FIELDS:
        if t.has(key):
            values[key] = t.string(key)
    for key in ("url", "booking_url"):
        if key in values and not values[key].startswith(("https://", "http://")):
            raise t.err(key, f"must be a web address starting with https:// or http://, got {values[key]!r}")
    phone = values.get("phone")
    if phone is not None and not all(c.isdigit() or c in "+-() " for c in phone):
        raise t.err("phone", f"must be a telephone number (digits, +, -, spaces, brackets), got {phone!r}")
    t.done()
    return AgencyParams(
        name=values.get("name"),
        url=values.get("url"),
        phone=values.get("phone"),
        email=values.get("email"),
        booking_url=values.get("booking_url"),
        lang=values.get("lang", "ja"),
        defaulted=tuple(k for k in _AGENCY_FIELDS if k not in values),
    )


def _area(top: _Table) -> tuple[str, Any]:
    """The area name and the routing layer's AreaSpec (built-in name or custom table)."""
    from ondemand.errors import UnknownAreaError
    from ondemand.routing.geo.network import AreaSpec, get_area
    from ondemand.routing.geo.zone import NamedPlace

    raw = top.raw("area")
    if isinstance(raw, str):
        try:
            return raw, get_area(raw)
        except UnknownAreaError as exc:
            raise top.err("area", str(exc)) from exc
    t = top.table("area")
    if not t.has("graph") and any(t.has(k) for k in ("place", "boundary", "bbox")):
        return _anywhere_area(t)
    name = t.string("name")
    graph = t.string("graph")
    try:
        base = get_area(graph)
    except UnknownAreaError as exc:
        raise t.err("graph", str(exc)) from exc
    bbox = t.numbers("bbox", list(base.bbox), lo=-180.0)
    if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise t.err("bbox", f"must be [west, south, east, north], got {list(bbox)}")
    w, s, e, n = base.bbox
    if not (w <= bbox[0] and s <= bbox[1] and bbox[2] <= e and bbox[3] <= n):
        raise t.err("bbox", f"must lie inside the {graph} graph's box {list(base.bbox)}")
    default_stops = t.integer("default_stops", base.default_stops, lo=1, hi=5000)
    zone_name = t.string("zone_name", name)
    zone_file: Path | None = None
    if t.has("zone"):
        zone_file = Path(t.string("zone"))
        if not zone_file.is_absolute():
            zone_file = Path(t.file).parent / zone_file  # beside the scenario
        if not zone_file.is_file():
            raise t.err(
                "zone", f"no such zone file {str(zone_file)!r} (a GeoJSON polygon beside the scenario)"
            )
    districts: tuple[str, ...] = ()
    if t.has("districts"):
        raw = t.raw("districts")
        if not isinstance(raw, list) or not raw or not all(isinstance(d, str) and d for d in raw):
            raise t.err("districts", f"must be a non-empty list of district names, got {raw!r}")
        if zone_file is not None:
            raise t.err("districts", "give either zone (a polygon file) or districts, not both")
        districts = tuple(raw)
    places_raw = t.raw("places", [])
    if not isinstance(places_raw, list):
        raise t.err("places", "must be an array of tables [[area.places]] (name, lon, lat, kind)")
    places = []
    for k, item in enumerate(places_raw):
        try:
            places.append(NamedPlace.parse(item))
        except ValueError as exc:
            raise t.err(f"places[{k}]", str(exc)) from exc
    t.done()
    return name, AreaSpec(
        name,
        base.prefix,
        (bbox[0], bbox[1], bbox[2], bbox[3]),
        default_stops=default_stops,
        zone_name=zone_name,
        zone_file=zone_file,
        districts=districts,
        places=tuple(places),
    )


def _scenario_path(t: _Table, key: str, what: str) -> Path:
    """A file named by ``key``, relative to the scenario's folder."""
    path = Path(t.string(key))
    if not path.is_absolute():
        path = Path(t.file).parent / path
    if not path.is_file():
        raise t.err(key, f"no such file {str(path)!r} ({what})")
    return path


def _anywhere_area(t: _Table) -> tuple[str, Any]:
    """An ``[area]`` from anywhere: ``place``, ``boundary`` or ``bbox``, data from ``osm`` or Overpass.

    See :mod:`ondemand.routing.geo.osmdata`; files are relative to the scenario.
    """
    import dataclasses

    from ondemand.errors import OndemandError
    from ondemand.routing.geo.osmdata import AreaRequest, prepare_area
    from ondemand.routing.geo.zone import NamedPlace

    name = t.string("name")
    given = [k for k in ("place", "boundary", "bbox") if t.has(k)]
    if len(given) > 1:
        raise t.err(given[1], f"give one of place, boundary or bbox, not {' and '.join(given)}")
    place: tuple[str, ...] = ()
    boundary: Path | None = None
    bbox: tuple[float, float, float, float] | None = None
    if t.has("place"):
        raw = t.raw("place")
        names = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise t.err(
                "place", f'must be a place name ("河内長野市, 大阪府") or a list of them, got {raw!r}'
            )
        place = tuple(names)
    elif t.has("boundary"):
        boundary = _scenario_path(t, "boundary", "a GeoJSON Polygon or MultiPolygon beside the scenario")
    else:
        box = t.numbers("bbox", lo=-180.0)
        if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
            raise t.err("bbox", f"must be [west, south, east, north], got {list(box)}")
        bbox = (box[0], box[1], box[2], box[3])
    osm = _scenario_path(t, "osm", "an OpenStreetMap extract, .osm or .osm.pbf") if t.has("osm") else None
    default_stops = t.integer("default_stops", 0, lo=0, hi=5000) or None
    zone_name = t.string("zone_name", name)
    places_raw = t.raw("places", [])
    if not isinstance(places_raw, list):
        raise t.err("places", "must be an array of tables [[area.places]] (name, lon, lat, kind)")
    places = []
    for k, item in enumerate(places_raw):
        try:
            places.append(NamedPlace.parse(item))
        except ValueError as exc:
            raise t.err(f"places[{k}]", str(exc)) from exc
    t.done()
    request = AreaRequest(
        name, place=place, boundary=boundary, bbox=bbox, osm=osm, default_stops=default_stops
    )
    try:
        spec = prepare_area(request)
    except OndemandError as exc:
        raise ScenarioError(f"{t.file}: [area]: {exc}") from exc
    return name, dataclasses.replace(spec, zone_name=zone_name, places=tuple(places))


def _params_from_table(t: _Table, module: str, cls_name: str) -> Any:
    """Build the routing layer's parameter class from a TOML table (None if that layer is absent)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        return None
    kwargs = dict(t.data)
    for k, v in list(kwargs.items()):
        if isinstance(v, list):
            kwargs[k] = tuple(v)
        elif isinstance(v, dict):
            kwargs[k] = MappingProxyType(dict(v))
        if k.endswith("file") and isinstance(v, str):
            kwargs[k] = Path(v)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ScenarioError(f"{t.file}: table [{t.prefix}]: {exc} (fields of {cls_name})") from exc
    except ValueError as exc:
        raise ScenarioError(f"{t.file}: table [{t.prefix}]: {exc}") from exc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path
        The ``.toml`` file.

    Returns
    -------
    Scenario
        The frozen scenario.

    Raises
    ------
    ScenarioError
        When the file is missing, not valid TOML, or a field is missing, unknown or
        invalid; the message names the file, the field and the reason.
    """
    p = Path(path)
    file = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"{file}: no such scenario file (see scenarios/*.toml for examples)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file}: not valid TOML: {exc}") from exc
    top = _Table(file, "", data)
    name = top.string("name")
    area, area_spec = _area(top)
    timezone = top.string("timezone", "Asia/Tokyo")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise top.err("timezone", f"unknown time zone {timezone!r}") from exc
    description = top.string("description", "-")
    net_t = top.table("network", {})
    stops_t = top.table("stops", {})
    tt_t = top.table("travel_times", {})
    svc_t = top.table("service")
    service = _service(svc_t)
    fares = _fares(top.table("fares"))
    demand = _demand(top.table("demand"), service, svc_t)
    observed, not_reproduced = _observed(top.table("observed", {}))
    agency = _agency(top.table("agency", {}))
    municipalities = _municipalities(top.table("municipalities")) if top.has("municipalities") else None
    top.done()
    stop_file = stops_t.data.get("file")
    if isinstance(stop_file, str) and not Path(stop_file).is_absolute():
        stops_t.data["file"] = str(p.parent / stop_file)  # relative to the scenario file
    if "hours" not in net_t.data:  # travel times stand for the service hours unless the file says
        net_t.data["hours"] = [
            service.start // 3600,
            max(service.start // 3600 + 1, math.ceil(service.end / 3600)),
        ]
    network = _params_from_table(net_t, "ondemand.routing.geo.network", "NetworkParams")
    stops = _params_from_table(stops_t, "ondemand.routing.geo.stops", "StopParams")
    travel_times = _params_from_table(tt_t, "ondemand.routing.geo.lazy", "TravelTimesParams")
    if service.divert_mid_leg:
        # a van can turn only where the travel times name turning points: on demand, not a matrix
        if travel_times.mode == "matrix":
            raise svc_t.err(
                "divert_mid_leg",
                'needs travel times that name turning points: [travel_times] mode = "on_demand" or '
                '"auto" (a dense stop matrix keeps every leg committed)',
            )
        travel_times = dataclasses.replace(travel_times, mode="on_demand")
    return Scenario(
        name=name,
        area=area,
        area_spec=area_spec,
        timezone=timezone,
        description=description,
        network=network,
        stops=stops,
        service=service,
        fares=fares,
        demand=demand,
        path=p,
        observed=MappingProxyType(observed),
        not_reproduced=not_reproduced,
        agency=agency,
        network_table=MappingProxyType(dict(net_t.data)),
        stops_table=MappingProxyType(dict(stops_t.data)),
        municipalities=municipalities,
        travel_times=travel_times,
    )
