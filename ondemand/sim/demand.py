"""Demand: the ride requests of one service day, synthetic (seeded) or replayed from a CSV.

A demand model turns a scenario and the service area's meeting points into a list of
:class:`TripRequest` — where and when riders want to go, how they booked, and whether they
will later cancel or not show up. The simulator feeds them to the dispatcher at their
booking time.

Synthetic demand (:class:`SyntheticDemand`): the scenario states riders a day
(``demand.riders_per_day``, persons carried per one-way ride, as pilots count them); the day's
number of requests is Poisson around riders / mean group size (``demand.group_sizes``), so the
expected riders of the day's requests is the scenario's figure. A return leg is a request of
its own, with the same riders, and counts towards the day's requests like any other.
Outbound trips start at homes (OSM buildings, one weight each; with ``demand.population_mesh``
the people of each census 500 m square shared among its buildings) at a time drawn from the hourly
profile and go to a destination drawn by class weight (OSM POIs by ``key_class``, and homes); a
share of riders book the return the same day. Riders walk to the nearest meeting point; walking
metres and seconds follow the service policy's :class:`~ondemand.dispatch.policy.Walking` rule
(great-circle distance times ``demand.walk_circuity``, at the scenario's walking speed), the
rule the live API snaps by.
Homes or destinations further than ``demand.max_walk_m`` from every stop generate no trips;
only points inside the area's box (and ``demand.bbox`` when given) count.
Everything is drawn from one ``numpy.random.Generator`` seeded by the caller, so the same
seed gives the same day.

Replay (:class:`CsvDemand`): a CSV of real requests with the columns documented on the class.

Map data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from ondemand.dispatch.policy import ServicePolicy, Walking
from ondemand.errors import DataNotFoundError, ScenarioError
from ondemand.routing.geo.data import data_folders, find_data_file
from ondemand.routing.geo.mesh import PopulationMesh
from ondemand.routing.geo.stops import StopLike
from ondemand.routing.geo.zone import zone_of
from ondemand.routing.solver.model import BookingKind
from ondemand.scenario import Scenario

__all__ = [
    "CsvDemand",
    "DemandModel",
    "StopLike",
    "SyntheticDemand",
    "TripRequest",
    "nearest_stops",
]


@dataclass(frozen=True, slots=True)
class TripRequest:
    """One rider's trip as the demand model produced it (before the dispatcher saw it).

    Parameters
    ----------
    id
        Unique id (sortable within the day).
    booked_at
        When the request is made (simulation seconds; may be before service start).
    kind
        ``ASAP`` (pickup as soon as possible), ``LEAVE_AT`` (booked ahead for a pickup
        time) or ``ARRIVE_BY`` (booked ahead for an arrival time, ``dropoff_by``).
    requested_pickup
        Earliest time the rider can be picked up at the meeting point (for ``ASAP`` the
        booking time plus the walk to the stop; for ``ARRIVE_BY`` the booking time).
    origin, destination
        (lon, lat) of the rider's true origin and destination.
    pickup_stop, dropoff_stop
        Indices of the meeting points (into the service area's stops).
    walk_to_m, walk_from_m
        Walking metres to the pickup stop and from the drop-off stop.
    walk_to_s, walk_from_s
        Walking seconds.
    passengers, wheelchair
        Group size and wheelchair places.
    cancel_at
        When the rider cancels (None: never).
    no_show
        Whether the rider does not turn up.
    purpose
        Destination class (``home`` for return trips).
    return_of
        For a return leg, the id of the outbound trip.
    dropoff_by
        The latest arrival at the drop-off stop (``ARRIVE_BY`` trips; optional for ``LEAVE_AT``).
    channel
        The booking channel (``app``, ``phone`` ...; ``""``: none, no channel rule applies).
    older
        How many of the group are 65 or over: drawn from the home square's share of people 65+
        when the scenario gives a population mesh (the return leg carries the same people), else 0.
    """

    id: str
    booked_at: int
    kind: BookingKind
    requested_pickup: int
    origin: tuple[float, float]
    destination: tuple[float, float]
    pickup_stop: int
    dropoff_stop: int
    walk_to_m: int
    walk_from_m: int
    walk_to_s: int
    walk_from_s: int
    passengers: int = 1
    wheelchair: int = 0
    cancel_at: int | None = None
    no_show: bool = False
    purpose: str = "other"
    return_of: str | None = None
    dropoff_by: int | None = None
    channel: str = ""
    older: int = 0


class DemandModel(Protocol):
    """Produces the requests of one day for a set of meeting points."""

    def trips(self, stops: Sequence[StopLike], *, seed: int) -> list[TripRequest]:
        """The day's trips, sorted by booking time, reproducible from ``seed``."""
        ...


# --------------------------------------------------------------------------- geometry


def nearest_stops(
    stops: Sequence[StopLike], lon: NDArray[np.float64], lat: NDArray[np.float64], walking: Walking
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Nearest meeting point of each point and the walking metres to it (:meth:`Walking.nearest`)."""
    return walking.nearest(stops, lon, lat)


@dataclass(frozen=True)
class _Points:
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    cls: tuple[str, ...]


@lru_cache(maxsize=8)
def _load_points(buildings: Path, pois: Path) -> tuple[_Points, _Points]:
    """Buildings (homes) and POIs of an area from their GeoJSON files."""
    out = []
    for layer, path in (("buildings", buildings), ("pois", pois)):
        feats = json.loads(path.read_text(encoding="utf-8"))["features"]
        lon, lat, cls = [], [], []
        for f in feats:
            geom = f.get("geometry") or {}
            if geom.get("type") != "Point":
                continue
            x, y = geom["coordinates"][:2]
            lon.append(float(x))
            lat.append(float(y))
            cls.append("home" if layer == "buildings" else str(f["properties"].get("key_class") or "other"))
        out.append(_Points(np.array(lon), np.array(lat), tuple(cls)))
    return out[0], out[1]


def _mesh_homes(homes: _Points, mesh: PopulationMesh) -> tuple[_Points, NDArray[np.float64]]:
    """Homes weighted by the census mesh: a square's people shared among its buildings.

    A square with people and no mapped building (OSM building coverage is patchy, PROVENANCE.md)
    gets one home at its centre carrying them; buildings in squares without people weigh 0.
    """
    sq = mesh.locate(homes.lon, homes.lat)
    n_sq = len(mesh.codes)
    count = np.bincount(sq[sq >= 0], minlength=n_sq)
    pop = mesh.population.astype(np.float64)
    weight = np.where(sq >= 0, pop[np.maximum(sq, 0)] / np.maximum(count[np.maximum(sq, 0)], 1), 0.0)
    empty = np.flatnonzero((count == 0) & (pop > 0))
    b = mesh.boxes()[empty]
    lon = np.concatenate([homes.lon, (b[:, 0] + b[:, 2]) / 2.0])
    lat = np.concatenate([homes.lat, (b[:, 1] + b[:, 3]) / 2.0])
    cls = homes.cls + ("home",) * len(empty)
    return _Points(lon, lat, cls), np.concatenate([weight, pop[empty]])


# --------------------------------------------------------------------------- synthetic


class _Weighted:
    """Draws an index with probabilities ``p``: the same draws as ``rng.choice(len(p), p=p)``.

    ``Generator.choice`` with ``p`` validates ``p`` and builds its cumulative sum on every call,
    O(len(p)) per draw over thousands of homes; this builds it once and draws exactly as numpy
    does (one ``rng.random()``, ``searchsorted(..., side="right")`` on the normalised cumulative
    sum), so a seed gives the same day as before.
    """

    __slots__ = ("_cdf",)

    def __init__(self, p: NDArray[np.float64]) -> None:
        cdf = np.asarray(p, dtype=np.float64).cumsum()
        cdf /= cdf[-1]
        self._cdf = cdf

    def draw(self, rng: np.random.Generator) -> int:
        """One index, consuming one uniform draw from ``rng``."""
        return int(self._cdf.searchsorted(rng.random(), side="right"))


class SyntheticDemand:
    """Seeded synthetic demand for a scenario (see the module docstring).

    Parameters
    ----------
    scenario
        The scenario (its ``demand``, ``service`` and ``area``).
    data_dir
        Folder with ``{prefix}_buildings.geojson`` and ``{prefix}_pois.geojson``; default:
        ``ONDEMAND_DATA_DIR`` (then the user cache; see
        :func:`~ondemand.routing.geo.data.find_data_file`).
    riders_per_day
        Override of ``scenario.demand.riders_per_day`` (for sweeps).
    """

    def __init__(
        self, scenario: Scenario, *, data_dir: Path | None = None, riders_per_day: float | None = None
    ) -> None:
        from ondemand.routing.geo.network import get_area

        self.scenario = scenario
        self.prefix = get_area(scenario.area_spec).prefix
        buildings = find_data_file(self.prefix, "buildings.geojson", data_dir)
        pois = find_data_file(self.prefix, "pois.geojson", data_dir)
        if buildings is None or pois is None:
            missing = [
                f"{self.prefix}_{k}.geojson"
                for k, p in (("buildings", buildings), ("pois", pois))
                if p is None
            ]
            looked = ", ".join(str(f) for f in data_folders(data_dir))
            raise DataNotFoundError(
                f"{' and '.join(missing)} not found (looked in {looked}): set ONDEMAND_DATA_DIR to the "
                "folder with the OSM layers (e.g. ../shared/data/osm)"
            )
        self._files = (buildings, pois)
        self.riders_per_day = (
            scenario.demand.riders_per_day if riders_per_day is None else float(riders_per_day)
        )
        self.requests_per_day = self.riders_per_day / scenario.demand.mean_group_size
        self.walking = ServicePolicy.from_scenario(scenario).walking
        self.zone = zone_of(scenario.area_spec, data_dir)
        self.mesh = None
        if scenario.demand.population_mesh is not None:
            from ondemand.routing.geo.mesh import load_population_mesh

            self.mesh = load_population_mesh(scenario.demand.population_mesh)

    def _candidates(
        self, stops: Sequence[StopLike]
    ) -> tuple[
        _Points,
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.float64],
        _Points,
        NDArray[np.float64],
        NDArray[np.int64],
        NDArray[np.int64],
    ]:
        d = self.scenario.demand
        homes, pois = _load_points(*self._files)

        boxes = [tuple(self.scenario.area_spec.bbox)] + ([d.bbox] if d.bbox is not None else [])

        def keep(p: _Points) -> NDArray[np.bool_]:
            m = np.ones(len(p.lon), dtype=bool)
            for w, s, e, n in boxes:
                m &= (p.lon >= w) & (p.lon <= e) & (p.lat >= s) & (p.lat <= n)
            if self.zone is not None:  # trips start and end in the zone or at a listed destination
                m[m] = self.zone.admits(p.lon[m], p.lat[m])
            return m

        # Destinations: POIs of weighted classes and homes.
        dest_lon = np.concatenate([pois.lon, homes.lon])
        dest_lat = np.concatenate([pois.lat, homes.lat])
        dest_cls = pois.cls + homes.cls
        w = np.array([d.destinations.get(c, 0.0) for c in dest_cls], dtype=np.float64)
        m = np.concatenate([keep(pois), keep(homes)]) & (w > 0)
        d_idx, d_walk = nearest_stops(stops, dest_lon, dest_lat, self.walking)
        m &= d_walk <= d.max_walk_m
        dest = _Points(dest_lon, dest_lat, dest_cls)
        dw = np.where(m, w, 0.0)
        # Origins: homes (one weight per building, or the people of their mesh square).
        weight = np.ones(len(homes.lon), dtype=np.float64)
        if self.mesh is not None:
            homes, weight = _mesh_homes(homes, self.mesh)
        h_idx, h_walk = nearest_stops(stops, homes.lon, homes.lat, self.walking)
        hm = keep(homes) & (h_walk <= d.max_walk_m)
        hw = np.where(hm, weight, 0.0)
        return homes, h_idx, h_walk, hw, dest, dw, d_idx, d_walk

    def trips(self, stops: Sequence[StopLike], *, seed: int) -> list[TripRequest]:
        """The day's trips, sorted by booking time, reproducible from ``seed``.

        Raises
        ------
        ScenarioError
            When no home or no destination lies within walking distance of a stop.
        """
        sc = self.scenario
        d, svc = sc.demand, sc.service
        where = f"{sc.path or sc.name}"
        homes, h_idx, h_walk, hw, dest, dw, d_idx, d_walk = self._candidates(stops)
        if hw.sum() <= 0:
            raise ScenarioError(
                f"{where}: field 'demand.max_walk_m': no home within {d.max_walk_m} m of a stop"
            )
        if dw.sum() <= 0:
            raise ScenarioError(
                f"{where}: field 'demand.destinations': no destination within walking distance"
            )
        rng = np.random.default_rng(seed)
        n_trips = int(rng.poisson(self.requests_per_day))
        profile = np.array(d.hourly_profile, dtype=np.float64)
        profile /= profile.sum()
        hp = hw / hw.sum()
        dp = dw / dw.sum()
        groups = np.array(d.group_sizes, dtype=np.float64)
        groups /= groups.sum()
        last_pickup = svc.end - 1800  # no trip requested in the last half hour (assumption)

        home_of, dest_of = _Weighted(hp), _Weighted(dp)
        hour_of, size_of = _Weighted(profile), _Weighted(groups)
        out: list[TripRequest] = []
        chain = 0
        while len(out) < n_trips:
            chain += 1
            # Outbound: home -> destination (different stops).
            h = home_of.draw(rng)
            for _ in range(20):
                j = dest_of.draw(rng)
                if d_idx[j] != h_idx[h]:
                    break
            else:
                continue
            hour = hour_of.draw(rng)
            t = svc.start + hour * 3600 + int(rng.integers(0, 3600))
            t = min(t, last_pickup)
            size = size_of.draw(rng) + 1
            wheel = int(rng.random() < d.wheelchair_share)
            round_trip = rng.random() < d.round_trip_share
            home_pt = (float(homes.lon[h]), float(homes.lat[h]))
            dest_pt = (float(dest.lon[j]), float(dest.lat[j]))
            legs = [
                (
                    t,
                    home_pt,
                    dest_pt,
                    int(h_idx[h]),
                    int(d_idx[j]),
                    int(h_walk[h]),
                    int(d_walk[j]),
                    dest.cls[j],
                )
            ]
            if round_trip and len(out) + 1 < n_trips:
                back = t + int(rng.integers(d.return_after_s[0], d.return_after_s[1] + 1))
                if back <= last_pickup:
                    legs.append(
                        (
                            back,
                            dest_pt,
                            home_pt,
                            int(d_idx[j]),
                            int(h_idx[h]),
                            int(d_walk[j]),
                            int(h_walk[h]),
                            "home",
                        )
                    )
            first_id: str | None = None
            for k, (when, o, de, ps, ds, wt, wf, purpose) in enumerate(legs):
                rid = f"r{chain:04d}{'ab'[k]}"
                walk_to_s = self.walking.seconds(wt)
                walk_from_s = self.walking.seconds(wf)
                ahead = rng.random() < d.booked_ahead_share
                if ahead:
                    lead = int(rng.integers(d.booking_lead_s[0], d.booking_lead_s[1] + 1))
                    booked = when - lead
                    kind = BookingKind.LEAVE_AT
                    pickup = when
                else:
                    booked = when - walk_to_s
                    kind = BookingKind.ASAP
                    pickup = when
                cancel_at: int | None = None
                if rng.random() < d.cancellation_rate:
                    cancel_at = booked + int(rng.integers(0, max(1, pickup - booked) + 1))
                no_show = bool(rng.random() < d.no_show_rate)
                out.append(
                    TripRequest(
                        id=rid,
                        booked_at=booked,
                        kind=kind,
                        requested_pickup=pickup,
                        origin=o,
                        destination=de,
                        pickup_stop=ps,
                        dropoff_stop=ds,
                        walk_to_m=wt,
                        walk_from_m=wf,
                        walk_to_s=walk_to_s,
                        walk_from_s=walk_from_s,
                        passengers=size,
                        wheelchair=wheel,
                        cancel_at=cancel_at,
                        no_show=no_show and cancel_at is None,
                        purpose=purpose,
                        return_of=first_id,
                    )
                )
                first_id = first_id or rid
        out.sort(key=lambda r: (r.booked_at, r.id))
        return self._older(self._channels(out, seed), seed)

    def _older(self, trips: list[TripRequest], seed: int) -> list[TripRequest]:
        """Riders aged 65+ per trip, from the home square's 65+ share (mesh only), from their own stream."""
        if self.mesh is None or not self.mesh.has_older:
            return trips
        rng = np.random.default_rng([seed, 0x65])
        pop, old = self.mesh.population.astype(np.float64), self.mesh.older.astype(np.float64)
        share = np.divide(old, pop, out=np.zeros_like(pop), where=pop > 0)
        outbound = sorted((t for t in trips if t.return_of is None), key=lambda t: t.id)
        sq = self.mesh.locate(
            np.array([t.origin[0] for t in outbound]), np.array([t.origin[1] for t in outbound])
        )
        older = {
            t.id: int(rng.binomial(t.passengers, float(share[k]))) if k >= 0 else 0
            for t, k in zip(outbound, sq, strict=True)
        }
        return [
            dataclasses.replace(t, older=older.get(t.return_of or t.id, 0))
            if older.get(t.return_of or t.id)
            else t
            for t in trips
        ]

    def _channels(self, trips: list[TripRequest], seed: int) -> list[TripRequest]:
        """Each booking's channel, drawn by the channels' shares from its own stream (so the
        trips themselves are the same whatever the channels)."""
        rules = ServicePolicy.from_scenario(self.scenario).rules
        names, p = rules.names, np.array(rules.shares(), dtype=np.float64)
        rng = np.random.default_rng([seed, 0xC4A7])
        picks = rng.choice(len(names), size=len(trips), p=p)
        return [dataclasses.replace(t, channel=names[int(k)]) for t, k in zip(trips, picks, strict=True)]


# --------------------------------------------------------------------------- replay


class CsvDemand:
    """Replay of real requests from a CSV file.

    Columns (header row required; times ``HH:MM`` or ``HH:MM:SS`` of the service day,
    or integer seconds from midnight):

    ``id``
        Unique request id.
    ``booked_at``
        When the request was made.
    ``pickup_time``
        Requested pickup time (empty: as soon as possible, i.e. at booking).
    ``arrive_by``
        Latest arrival at the destination (optional): with an empty ``pickup_time`` the
        ride is booked to arrive by this time, otherwise it bounds the leave-at ride.
    ``origin_lon``, ``origin_lat``, ``dest_lon``, ``dest_lat``
        Where the rider starts and wants to go (each is snapped to the nearest stop).
    ``passengers``
        Group size (optional, default 1).
    ``wheelchair``
        0 or 1 (optional, default 0).
    ``cancel_at``
        When the rider cancelled (optional, empty = never).
    ``no_show``
        0 or 1 (optional, default 0).
    ``channel``
        How it was booked (optional: ``app``, ``phone``, ``web``, ``line``); channel hours apply.

    Parameters
    ----------
    path
        The CSV file.
    walking
        The service's walking rule (``ServicePolicy.walking``): walking metres and seconds,
        and the longest walk to a stop (farther points are an error). Default: walks up to
        1,000 m at 1 m/s.
    """

    REQUIRED = ("id", "booked_at", "origin_lon", "origin_lat", "dest_lon", "dest_lat")

    def __init__(self, path: str | Path, *, walking: Walking | None = None) -> None:
        self.path = Path(path)
        self.walking = walking if walking is not None else Walking(max_walk_m=1000, speed_mps=1.0)

    def _err(self, line: int, col: str, why: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: line {line}: column {col!r}: {why}")

    @staticmethod
    def _time(v: str) -> int:
        v = v.strip()
        if v.isdigit():
            return int(v)
        parts = v.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError(v)
        nums = [int(p) for p in parts] + [0]
        return nums[0] * 3600 + nums[1] * 60 + nums[2]

    def trips(self, stops: Sequence[StopLike], *, seed: int = 0) -> list[TripRequest]:
        """The file's trips snapped to ``stops``, sorted by booking time (``seed`` is unused).

        Raises
        ------
        ScenarioError
            For a missing file or column, a bad value, a duplicate id or a point too far
            from every stop; the message names the file, the line and the column.
        """
        del seed
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ScenarioError(f"{self.path}: no such request file") from exc
        reader = csv.DictReader(text.splitlines())
        cols = reader.fieldnames or []
        for c in self.REQUIRED:
            if c not in cols:
                raise self._err(1, c, f"required column missing (columns: {', '.join(self.REQUIRED)}, ...)")
        rows = list(reader)
        pts: list[tuple[float, float, float, float]] = []
        seen: set[str] = set()
        for k, row in enumerate(rows):
            line = k + 2
            rid = (row.get("id") or "").strip()
            if not rid or rid in seen:
                raise self._err(line, "id", f"empty or duplicate id {rid!r}")
            seen.add(rid)
            vals = []
            for c in ("origin_lon", "origin_lat", "dest_lon", "dest_lat"):
                try:
                    x = float(row[c])
                except (TypeError, ValueError):
                    raise self._err(line, c, f"not a number: {row.get(c)!r}") from None
                if not math.isfinite(x) or abs(x) > 180:
                    raise self._err(line, c, f"not a coordinate: {x!r}")
                vals.append(x)
            pts.append((vals[0], vals[1], vals[2], vals[3]))
        if not rows:
            return []
        arr = np.array(pts, dtype=np.float64)
        o_idx, o_walk = nearest_stops(stops, arr[:, 0], arr[:, 1], self.walking)
        d_idx, d_walk = nearest_stops(stops, arr[:, 2], arr[:, 3], self.walking)
        out: list[TripRequest] = []
        for k, row in enumerate(rows):
            line = k + 2

            def get_time(col: str, *, row: dict[str, str] = row, line: int = line) -> int | None:
                v = (row.get(col) or "").strip()
                if not v:
                    return None
                try:
                    return self._time(v)
                except ValueError:
                    raise self._err(line, col, f"not a time (HH:MM[:SS] or seconds): {v!r}") from None

            def get_int(
                col: str, default: int, lo: int, *, row: dict[str, str] = row, line: int = line
            ) -> int:
                v = (row.get(col) or "").strip()
                if not v:
                    return default
                try:
                    x = int(v)
                except ValueError:
                    raise self._err(line, col, f"not an integer: {v!r}") from None
                if x < lo:
                    raise self._err(line, col, f"must be >= {lo}, got {x}")
                return x

            booked = get_time("booked_at")
            if booked is None:
                raise self._err(line, "booked_at", "is required")
            pickup_t = get_time("pickup_time")
            arrive_t = get_time("arrive_by")
            limit = self.walking.max_walk_m
            for col, walk in (("origin_lon", o_walk[k]), ("dest_lon", d_walk[k])):
                if walk > limit:
                    raise self._err(
                        line, col, f"point is a {walk} m walk from the nearest stop (max {limit})"
                    )
            if o_idx[k] == d_idx[k]:
                raise self._err(line, "dest_lon", "origin and destination snap to the same stop")
            walk_to_s = self.walking.seconds(int(o_walk[k]))
            if pickup_t is not None:
                kind, requested = BookingKind.LEAVE_AT, pickup_t
            elif arrive_t is not None:
                kind, requested = BookingKind.ARRIVE_BY, booked
            else:
                kind, requested = BookingKind.ASAP, booked + walk_to_s
            if requested < booked:
                raise self._err(line, "pickup_time", "is before booked_at")
            if arrive_t is not None and arrive_t <= max(booked, requested):
                raise self._err(line, "arrive_by", "is not after booked_at and pickup_time")
            out.append(
                TripRequest(
                    id=row["id"].strip(),
                    booked_at=booked,
                    kind=kind,
                    requested_pickup=requested,
                    origin=(float(arr[k, 0]), float(arr[k, 1])),
                    destination=(float(arr[k, 2]), float(arr[k, 3])),
                    pickup_stop=int(o_idx[k]),
                    dropoff_stop=int(d_idx[k]),
                    walk_to_m=int(o_walk[k]),
                    walk_from_m=int(d_walk[k]),
                    walk_to_s=walk_to_s,
                    walk_from_s=self.walking.seconds(int(d_walk[k])),
                    passengers=get_int("passengers", 1, 1),
                    wheelchair=get_int("wheelchair", 0, 0),
                    cancel_at=get_time("cancel_at"),
                    no_show=bool(get_int("no_show", 0, 0)),
                    purpose="replay",
                    dropoff_by=arrive_t,
                    channel=(row.get("channel") or "").strip(),
                )
            )
        out.sort(key=lambda r: (r.booked_at, r.id))
        return out
