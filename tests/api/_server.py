"""A small uvicorn runner of the API on a synthetic area, for the restart and browser tests.

``python -m tests.api._server --db URL --port P --t0 EPOCH`` serves until killed. The clock
reads 10:00 (Tokyo) on the day of ``t0`` at wall time ``t0`` and runs in real time, so a restarted server
continues the same timeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from zoneinfo import ZoneInfo

import uvicorn

from ondemand._cli._http import HttpLimits, uvicorn_options
from ondemand.api.app import create_app
from ondemand.api.settings import ApiSettings
from tests.api._synthetic import SyntheticArea, synthetic_service

TZ = ZoneInfo("Asia/Tokyo")


def main() -> None:
    """Parse the arguments and serve."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--t0", type=float, required=True)
    ap.add_argument("--stops", type=int, default=16)
    ap.add_argument("--vehicles", type=int, default=6)
    ap.add_argument("--seats", type=int, default=8)
    ap.add_argument("--reopt-interval", type=float, default=0.0)
    ap.add_argument("--head-timeout", type=float, default=HttpLimits().head_timeout_s)
    ap.add_argument("--max-connections", type=int, default=HttpLimits().max_connections)
    args = ap.parse_args()
    t0 = args.t0
    # the day of t0, not of now: a server restarted after midnight in Tokyo (15:00 UTC) must
    # continue the same timeline, not jump to the next day
    start = dt.datetime.combine(dt.datetime.fromtimestamp(t0, TZ).date(), dt.time(10, 0), tzinfo=TZ)

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=time.time() - t0)

    area = SyntheticArea.grid(args.stops)
    config = synthetic_service(
        area, n_vehicles=args.vehicles, seats=args.seats, start=9 * 3600, end=18 * 3600
    )
    app = create_app(
        area,
        config,
        settings=ApiSettings(database_url=args.db, reopt_interval_s=args.reopt_interval),
        clock=clock,
    )
    limits = HttpLimits(head_timeout_s=args.head_timeout, max_connections=args.max_connections)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", **uvicorn_options(limits))


if __name__ == "__main__":
    main()
