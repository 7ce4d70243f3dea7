"""Same stream, two dispatchers: our ``InsertionDispatcher`` beside RidePy's C++ brute force.

The stream is drawn in the style of RidePy 2.10.1's ``RandomRequestGenerator``: requests
arrive as a Poisson process (10 requests per vehicle-hour), origin and destination uniform
in a 15 km x 15 km square, driven straight at 30 km/h; a request created at ``t`` must be
picked up by ``t + 900 s`` and delivered by ``t + direct * (1 + 1.9)`` (RidePy's
``max_pickup_delay=900, max_delivery_delay_rel=1.9``); every request carries one rider and
every van has 8 seats. Vehicles start at uniform random points. The same requests, as
floats, go to RidePy; ours get them in whole seconds (pickup from ``ceil(t)``, deadlines
rounded down, legs ``ceil(metres / speed)``: at most one second dearer per leg than RidePy's).

Ours: :class:`~ondemand.dispatch.InsertionDispatcher`, each request submitted at its
creation time, least added driving time (``cost="time"``, no delay or wait weights, the
objective of RidePy's ``BruteForceTotalTravelTimeMinimizingDispatcher``), the promise widened
(``promise_before = promise_after = 1 day``) so that it never binds, legs completed as
planned (``auto_complete``). Travel times come from the coordinates on demand (a dense
matrix over 40,000 points would not fit in memory). RidePy: ``SlowSimpleFleetState`` with its
Cython vehicle states, ``Euclidean2D`` space and ``BruteForceTotalTravelTimeMinimizingDispatcher``.
RidePy re-plans a vehicle from where it is (it may turn it around mid-leg); ours runs twice:
``ours`` commits the leg a vehicle drives (``DispatchOptions.divert_mid_leg=False``, the
default), ``ours+turn`` may divert it from its current point (``divert_mid_leg=True``; the
travel times place that point, :class:`~ondemand.routing.solver.model.Divertible`).

Reported per fleet: wall-clock seconds of the dispatching loop (the stream, the travel-time
set-up and loading the compiled insertion search are not timed), the process's CPU seconds
for it (what the code costs when the machine is shared), requests per second of wall clock,
share accepted, and km driven per delivered rider (ours: the legs each vehicle drove, stop to
stop and through the points where it turned; RidePy: the same sum over its pickups and
deliveries in time order, which understates RidePy's km a little when it turns a vehicle
mid-leg).

RidePy is an optional peer. Install it into the same environment with
``pip install ridepy==2.10.1`` (it builds C++ from source: a C++ compiler, CMake and the Boost
headers are needed, on Debian/Ubuntu ``apt-get install build-essential cmake libboost-dev``).
Without it, only our side runs and the table says so.

Run: ``python -m benchmarks.bench_same_stream [--fleets 50,200,500] [--requests 5000,20000,20000]
[--seed 0] [--ours-only] [--no-turn]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ondemand.dispatch import InsertionDispatcher
from ondemand.dispatch.base import DispatchOptions
from ondemand.dispatch.dispatcher import warm_up
from ondemand.routing.solver.insertion import InsertionOptions, Refusal, use_compiled
from ondemand.routing.solver.model import Request, Vehicle

SIDE_M = 15_000.0
SPEED_MPS = 30 / 3.6
SEATS = 8
MAX_PICKUP_DELAY_S = 900.0
MAX_DELIVERY_DELAY_REL = 1.9
REQUESTS_PER_VEHICLE_HOUR = 10.0
DAY_S = 86_400


@dataclass(frozen=True)
class Stream:
    """Requests in RidePy's style: creation times, origin and destination coordinates (metres)."""

    created: NDArray[np.float64]
    origin: NDArray[np.float64]
    destination: NDArray[np.float64]
    starts: NDArray[np.float64]

    def direct_s(self) -> NDArray[np.float64]:
        """Direct driving time of every request, seconds (float, as RidePy)."""
        return np.hypot(*(self.destination - self.origin).T) / SPEED_MPS


def make_stream(n_vehicles: int, n_requests: int, seed: int) -> Stream:
    """Poisson arrivals at 10 per vehicle-hour, uniform points, vehicles at uniform points."""
    rng = np.random.default_rng(seed)
    rate = REQUESTS_PER_VEHICLE_HOUR * n_vehicles / 3600.0
    created = np.cumsum(rng.exponential(1.0 / rate, size=n_requests))
    origin = rng.uniform(0.0, SIDE_M, size=(n_requests, 2))
    destination = rng.uniform(0.0, SIDE_M, size=(n_requests, 2))
    same = (origin == destination).all(axis=1)
    destination[same] += 1.0  # RidePy redraws equal points; with floats this never happens in practice
    starts = rng.uniform(0.0, SIDE_M, size=(n_vehicles, 2))
    return Stream(created, origin, destination, starts)


class _Euclidean:
    """A read-only ``(n, n)`` integer matrix computed from coordinates when indexed.

    Supports what the dispatcher does with ``TravelTimes`` matrices: ``shape`` and numpy
    indexing by integers and integer arrays (broadcast against each other).
    """

    def __init__(self, owner: _LazyTravelTimes, per_metre: float) -> None:
        self._owner = owner
        self._per_metre = per_metre
        self.ndim = 2
        self.dtype = np.dtype(np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)``: the stream's points and the turning points placed so far."""
        return (self._owner.n, self._owner.n)

    def __getitem__(self, key: tuple[Any, Any]) -> Any:
        a, b = key
        owner = self._owner
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            # one pair (most look-ups): plain floats, the same IEEE operations as the arrays below
            a, b = int(a), int(b)
            if not (0 <= a < owner.n and 0 <= b < owner.n):
                raise IndexError(f"point index out of range for {owner.n} points")
            xs, ys = owner.xs, owner.ys
            dx, dy = xs[a] - xs[b], ys[a] - ys[b]
            return np.int64(math.ceil(math.sqrt(dx * dx + dy * dy) * self._per_metre))
        if (
            _ceil_pairs is not None
            and type(a) is np.ndarray
            and type(b) is np.ndarray
            and a.ndim == 1
            and a.shape == b.shape
            and a.dtype == _INT64
            and b.dtype == _INT64
        ):  # the common case (legs along a route, look-ups per vehicle): one compiled call
            return _ceil_pairs(owner.xy, owner.n, a, b, self._per_metre)
        ai, bi = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if ai.shape != bi.shape:
            if not bi.ndim:  # an array against one point (the common case): no broadcasting machinery
                bi = np.full(ai.shape, bi, dtype=np.int64)
            elif not ai.ndim:
                ai = np.full(bi.shape, ai, dtype=np.int64)
            else:  # copies: the compiled loop must not be handed broadcast views
                ai, bi = (np.array(x) for x in np.broadcast_arrays(ai, bi))
        if _ceil_lengths is None:
            if ai.size and not (min(ai.min(), bi.min()) >= 0 and max(ai.max(), bi.max()) < owner.n):
                raise IndexError(f"point index out of range for {owner.n} points")
            xy = owner.xy
            d = xy[ai] - xy[bi]
            dx, dy = d[..., 0], d[..., 1]
            out = np.ceil(np.sqrt(dx * dx + dy * dy) * self._per_metre).astype(np.int64)
        else:  # compiled, like RidePy's C++ space: one call instead of a dozen array operations
            out = np.empty(ai.shape, dtype=np.int64)
            _ceil_lengths(owner.xy, owner.n, ai.ravel(), bi.ravel(), self._per_metre, out.reshape(-1))
        return out if out.ndim else np.int64(out)


def _ceil_lengths_py(
    xy: NDArray[np.float64],
    n: int,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    scale: float,
    out: NDArray[np.int64],
) -> None:
    """``out[i] = ceil(|xy[a[i]] - xy[b[i]]| * scale)``, the same IEEE operations as the one-pair path."""
    for i in range(a.size):
        p, q = a[i], b[i]
        if p < 0 or p >= n or q < 0 or q >= n:
            raise IndexError("point index out of range")
        dx = xy[p, 0] - xy[q, 0]
        dy = xy[p, 1] - xy[q, 1]
        out[i] = math.ceil(math.sqrt(dx * dx + dy * dy) * scale)


def _ceil_pairs_py(
    xy: NDArray[np.float64], n: int, a: NDArray[np.int64], b: NDArray[np.int64], scale: float
) -> NDArray[np.int64]:
    """:func:`_ceil_lengths_py` of two equal-length 1-d index arrays, into a new array (compiled only:
    it calls the compiled :data:`_ceil_lengths`)."""
    out = np.empty(a.size, dtype=np.int64)
    _ceil_lengths(xy, n, a, b, scale, out)  # type: ignore[misc]
    return out


_INT64 = np.dtype(np.int64)

try:
    from numba import njit
except ImportError:  # without Numba, numpy operations
    _ceil_lengths = None
    _ceil_pairs = None
else:
    _ceil_lengths = njit(cache=True, nogil=True)(_ceil_lengths_py)
    _ceil_pairs = njit(cache=True, nogil=True)(_ceil_pairs_py)


class _LazyTravelTimes:
    """Travel times over the stream's points, 30 km/h straight lines, never a dense matrix.

    A vehicle can turn where it is (:meth:`turn_point` adds that point), as in RidePy's
    ``Euclidean2D`` space.
    """

    def __init__(self, xy: NDArray[np.float64]) -> None:
        self.xy = np.array(xy, dtype=np.float64)
        self.n = len(xy)
        self.xs: list[float] = self.xy[:, 0].tolist()  # the same points as Python floats (one pair)
        self.ys: list[float] = self.xy[:, 1].tolist()
        self.durations = _Euclidean(self, 1.0 / SPEED_MPS)
        self.distances = _Euclidean(self, 1.0)

    def turn_point(self, origin: int, target: int, elapsed: int) -> tuple[int, int] | None:
        """The point reached ``elapsed`` s after leaving ``origin`` for ``target`` (turn there now)."""
        drive = int(self.durations[origin, target])
        if elapsed >= drive:
            return None
        if self.n == len(self.xy):
            self.xy = np.concatenate([self.xy, np.empty_like(self.xy)])
        xs, ys, share = self.xs, self.ys, elapsed / drive
        # plain floats: the same IEEE operations as numpy's on the two coordinates, without its calls
        x = xs[origin] + (xs[target] - xs[origin]) * share
        y = ys[origin] + (ys[target] - ys[origin]) * share
        self.xy[self.n] = (x, y)
        xs.append(x)
        ys.append(y)
        self.n += 1
        return self.n - 1, 0


class _Recording(InsertionDispatcher):
    """The dispatcher, noting where each vehicle served each stop (to sum the km driven)."""

    trail: dict[str, list[int]]

    def _divert(self, vs: Any, stops: Any, turn: tuple[int, int], requests: Any) -> None:
        super()._divert(vs, stops, turn, requests)
        if vs.leg is None:  # it turned: its path now runs through the turning point
            self.trail[vs.base.id].append(turn[0])

    def record_pickup(self, request_id: str, *, at: int) -> None:
        vid = self.vehicle_of(request_id)
        super().record_pickup(request_id, at=at)
        if vid is not None:
            self.trail[vid].append(self.request(request_id).pickup)

    def record_dropoff(self, request_id: str, *, at: int) -> None:
        vid = self.vehicle_of(request_id)
        super().record_dropoff(request_id, at=at)
        if vid is not None:
            self.trail[vid].append(self.request(request_id).dropoff)


@dataclass(frozen=True)
class Outcome:
    """One dispatcher on one stream."""

    seconds: float
    cpu: float
    requests: int
    accepted: int
    delivered: int
    km: float

    @property
    def per_second(self) -> float:
        """Requests dispatched per second of wall clock."""
        return self.requests / self.seconds if self.seconds > 0 else math.inf

    @property
    def km_per_rider(self) -> float:
        """Kilometres driven per delivered rider."""
        return self.km / self.delivered if self.delivered else math.nan


def run_ours(stream: Stream, *, divert: bool = False) -> Outcome:
    """Feed the stream to our ``InsertionDispatcher`` (``divert``: mid-leg diversion) and measure it."""
    n_veh, n_req = len(stream.starts), len(stream.created)
    # locations: vehicle starts, then each request's origin and destination
    xy = np.concatenate([stream.starts, np.stack([stream.origin, stream.destination], axis=1).reshape(-1, 2)])
    tt = _LazyTravelTimes(xy)
    direct = stream.direct_s()
    requests = []
    for i in range(n_req):
        t = float(stream.created[i])
        e = math.ceil(t)
        lp = math.floor(t + MAX_PICKUP_DELAY_S)
        ld = math.floor(t + direct[i] * (1.0 + MAX_DELIVERY_DELAY_REL))
        requests.append(Request(f"r{i}", n_veh + 2 * i, n_veh + 2 * i + 1, e, lp, ld, max(0, ld - e)))
    big = DAY_S
    options = DispatchOptions(
        insertion=InsertionOptions(
            promise_before=big,
            promise_after=big,
            cost="time",
            delay_weight=0.0,
            wait_weight=0.0,
            ride_weight=0.0,
        ),
        auto_complete=True,
        divert_mid_leg=divert,
    )
    end = int(stream.created[-1] + 10 * DAY_S)
    vehicles = [Vehicle(f"v{k}", SEATS, k, 0, end) for k in range(n_veh)]
    warm_up()  # load the compiled search and turn filter (set-up, like the stream: not timed)
    tt.durations[np.arange(2), np.arange(2)]  # and the compiled travel times
    t0, c0 = time.perf_counter(), time.process_time()
    disp = _Recording(vehicles, tt, options=options)  # type: ignore[arg-type]
    disp.trail = {v.id: [v.start] for v in vehicles}
    accepted = 0
    for req in requests:
        accepted += not isinstance(disp.submit(req, now=req.earliest_pickup), Refusal)
    disp.advance(end)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    metres = 0
    for trail in disp.trail.values():
        if len(trail) > 1:
            idx = np.asarray(trail)
            metres += int(tt.distances[idx[:-1], idx[1:]].sum())
    return Outcome(seconds, cpu, n_req, accepted, disp.counts().completed, metres / 1000.0)


def ridepy_version() -> str | None:
    """RidePy's version, or ``None`` when it is not installed."""
    try:
        from importlib.metadata import version

        import ridepy  # noqa: F401
    except ImportError:
        return None
    return version("ridepy")


def run_ridepy(stream: Stream) -> Outcome:
    """Feed the same stream to RidePy's Cython fleet with its C++ brute-force dispatcher."""
    from ridepy.data_structures_cython import TransportationRequest as CyRequest
    from ridepy.fleet_state import SlowSimpleFleetState
    from ridepy.util.dispatchers_cython import BruteForceTotalTravelTimeMinimizingDispatcher
    from ridepy.util.spaces_cython import Euclidean2D
    from ridepy.vehicle_state_cython import VehicleState

    space = Euclidean2D(coord_range=[(0.0, SIDE_M), (0.0, SIDE_M)], velocity=SPEED_MPS)
    direct = stream.direct_s()
    reqs = []
    for i in range(len(stream.created)):
        t = float(stream.created[i])
        reqs.append(
            CyRequest(
                request_id=i,
                creation_timestamp=t,
                origin=tuple(map(float, stream.origin[i])),
                destination=tuple(map(float, stream.destination[i])),
                pickup_timewindow_min=t,
                pickup_timewindow_max=t + MAX_PICKUP_DELAY_S,
                delivery_timewindow_min=t,
                delivery_timewindow_max=t + direct[i] * (1.0 + MAX_DELIVERY_DELAY_REL),
            )
        )
    t0, c0 = time.perf_counter(), time.process_time()
    fleet = SlowSimpleFleetState(
        initial_locations={k: tuple(map(float, p)) for k, p in enumerate(stream.starts)},
        seat_capacities=SEATS,
        space=space,
        dispatcher=BruteForceTotalTravelTimeMinimizingDispatcher(space.loc_type),
        vehicle_state_class=VehicleState,
    )
    events = list(fleet.simulate(reqs))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    accepted = delivered = 0
    served: dict[int, list[tuple[float, int, NDArray[np.float64]]]] = {}
    for ev in events:
        d = ev if isinstance(ev, dict) else ev.asdict() if hasattr(ev, "asdict") else vars(ev)
        kind = d.get("event_type", type(ev).__name__)
        if kind == "RequestAcceptanceEvent":
            accepted += 1
        elif kind in ("PickupEvent", "DeliveryEvent"):
            rid = int(d["request_id"])
            point = stream.origin[rid] if kind == "PickupEvent" else stream.destination[rid]
            served.setdefault(int(d["vehicle_id"]), []).append((float(d["timestamp"]), len(served), point))
            delivered += kind == "DeliveryEvent"
    metres = 0.0
    for vid, stops in served.items():
        stops.sort(key=lambda s: (s[0], s[1]))
        pts = np.array([stream.starts[vid], *(p for _, _, p in stops)])
        metres += float(np.hypot(*np.diff(pts, axis=0).T).sum())
    return Outcome(seconds, cpu, len(reqs), accepted, delivered, metres / 1000.0)


def _row(n_veh: int, n_req: int, name: str, out: Outcome) -> str:
    return (
        f"{n_veh:>7} {n_req:>8} {name:>9} {out.seconds:>8.1f} {out.cpu:>8.1f} {out.per_second:>8.0f} "
        f"{100.0 * out.accepted / out.requests:>8.1f} {out.km_per_rider:>8.2f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Print one row per fleet and dispatcher."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleets", default="50,200,500", help="fleet sizes, comma separated")
    ap.add_argument("--requests", default="5000,20000,20000", help="requests per fleet, comma separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ours-only", action="store_true", help="do not run RidePy even when installed")
    ap.add_argument("--no-turn", action="store_true", help="do not run ours+turn (mid-leg diversion)")
    args = ap.parse_args(argv)
    fleets = [int(x) for x in args.fleets.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(counts) != len(fleets):
        ap.error(f"give one request count per fleet: {len(fleets)} fleets, {len(counts)} counts")
    peer = None if args.ours_only else ridepy_version()
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}, {os.cpu_count()} cores (shared)")
    if peer is None:
        why = "--ours-only" if args.ours_only else "RidePy is not installed (pip install ridepy==2.10.1)"
        print(f"RidePy: not run ({why}); our side only")
    else:
        print(f"RidePy {peer}: C++ BruteForceTotalTravelTimeMinimizingDispatcher, Cython vehicle states")
    print(f"ours: insertion search {'compiled (Numba)' if use_compiled() else 'numpy (Numba not installed)'}")
    heads = ("fleet", "requests", "who", "seconds", "cpu_s", "req/s", "accept%", "km/rider")
    print(" ".join(f"{h:>{7 if i < 1 else 9 if i == 2 else 8}}" for i, h in enumerate(heads)))
    for n_veh, n_req in zip(fleets, counts, strict=True):
        stream = make_stream(n_veh, n_req, args.seed)
        if peer is not None:
            print(_row(n_veh, n_req, "RidePy", run_ridepy(stream)), flush=True)
        print(_row(n_veh, n_req, "ours", run_ours(stream)), flush=True)
        if not args.no_turn:
            print(_row(n_veh, n_req, "ours+turn", run_ours(stream, divert=True)), flush=True)


if __name__ == "__main__":
    main()
