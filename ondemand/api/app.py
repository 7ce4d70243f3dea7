"""The app factory of the live dispatch API (``/v1``), the live map (``/map``) and ``/healthz``.

:func:`create_app` takes the service area, the service policy and fleet (:class:`ServiceConfig`),
and optionally a dispatcher factory and a clock; ``ondemand serve`` builds these from a
scenario, tests inject a small synthetic area. It wires the parts that live in their
own modules: settings, the database and group committer (:mod:`~ondemand.api.persistence`),
the registry of live dispatchers (:mod:`~ondemand.api.registry`), the background
re-optimisation (:mod:`~ondemand.api.reoptimise`), the exception handlers, the middleware,
and the routes (:mod:`ondemand.api.routes`, one module per resource).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import ondemand
from ondemand.api.booking import AreaLike, BookingDesk, DispatcherFactory, ServiceConfig
from ondemand.api.clock import Clock
from ondemand.api.deps import ApiContext, Principal
from ondemand.api.handlers import install_exception_handlers
from ondemand.api.leader import leadership_for
from ondemand.api.middleware import BodyLimit, SecurityHeaders
from ondemand.api.persistence import Database, GroupCommitter
from ondemand.api.registry import ServiceRegistry, restore_open_days
from ondemand.api.reoptimise import Cadence, Reoptimiser
from ondemand.api.riders import RiderJanitor
from ondemand.api.routes import desk as desk_routes
from ondemand.api.routes import gofs, health, live, pages, ride_requests, riders, stops, vehicles
from ondemand.api.settings import ApiSettings
from ondemand.dispatch.dispatcher import warm_up

__all__ = ["Principal", "create_app"]


def create_app(
    area: AreaLike,
    config: ServiceConfig,
    *,
    settings: ApiSettings | None = None,
    dispatcher_factory: DispatcherFactory | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    area
        The service area: meeting points, travel-time matrix, ``stop_index`` and ``snap``.
    config
        The service policy (every booking rule, shared with the simulator) and the fleet.
    settings
        Database URL, time zone, re-optimisation interval, limits; from the environment when omitted.
    dispatcher_factory
        ``(vehicles, travel_times) -> dispatcher``; by default the policy's
        (:meth:`~ondemand.dispatch.policy.ServicePolicy.dispatcher`).
    clock
        Returns the current aware datetime; the wall clock by default (tests inject a fixed one).

    Returns
    -------
    FastAPI
        The application; the database is migrated and the dispatchers are rebuilt from it at startup.
    """
    settings = settings or ApiSettings()
    tz = settings.tz
    if dispatcher_factory is None:
        dispatcher_factory = config.policy.dispatcher
    the_clock: Clock = clock or (lambda: _dt.datetime.now(tz))

    db = Database(settings.database_url)
    try:
        leadership = leadership_for(db.url)  # SQLite: refuses a second server on the same file
    except Exception:
        db.dispose()
        raise
    registry = ServiceRegistry(
        db, area, config, dispatcher_factory, tz=tz, clock=the_clock, leadership=leadership
    )
    committer = GroupCommitter(db, timeout=settings.commit_timeout_s, fence=leadership)
    registry.committer = committer
    reoptimiser = Reoptimiser(registry, committer, Cadence.of(config.policy, settings))
    desk = BookingDesk(area, config, tz=tz, past_tolerance_s=settings.past_tolerance_s)
    janitor = RiderJanitor(
        db,
        committer,
        the_clock,
        retention_days=settings.rider_retention_days,
        interval_s=settings.rider_purge_interval_s,
    )
    context = ApiContext(
        settings=settings, area=area, config=config, db=db, registry=registry, committer=committer, desk=desk
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # load (or, the first time on a machine, compile) the compiled insertion search before
        # serving: else the first booking after every start waits for it (1 s of CPU from Numba's
        # cache, 11 s to compile; 7 s and 77 s of wall time at load 10 on 2 cores)
        warm_up()
        leadership.start(
            on_gained=lambda op: restore_open_days(registry, op), on_lost=registry.drop_operators
        )
        restore_open_days(registry)
        reoptimiser.start()
        janitor.start()  # riders past their retention period are erased now and then hourly
        try:
            yield
        finally:
            janitor.stop()
            reoptimiser.stop()
            committer.close()
            leadership.close()
            db.dispose()

    app = FastAPI(
        title="ondemand live dispatch API",
        version=ondemand.__version__,
        description=(
            f"Live booking and dispatch for the on-demand service **{config.name}**. "
            "Every /v1 call needs `Authorization: Bearer KEY` (create keys with `ondemand keys create`). "
            f"Times are ISO 8601 with an offset; the service time zone is {settings.timezone}."
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs: Swagger UI served from the package (routes/pages.py), not a CDN
        redoc_url=None,  # ReDoc would load from a CDN too; /docs is the one documentation page
    )
    app.state.context = context
    app.state.registry = registry
    app.state.db = db
    app.state.committer = committer
    app.state.key_cache = {}
    app.state.reoptimise_now = reoptimiser.round
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(SecurityHeaders)  # added last: the outermost, so every answer gets the headers
    install_exception_handlers(app)
    for module in (health, stops, desk_routes, ride_requests, vehicles, live, gofs, riders):
        app.include_router(module.router)
    pages.mount_static(app)
    app.include_router(pages.router)
    # Build every route now, not at its first request (FastAPI >= 0.165 builds included
    # routers lazily: a slower first request, and two apps in one process, as in the
    # tests, would analyse the shared endpoint functions at the same time). Looking up
    # the last route's URL walks all of them.
    app.url_path_for("driver_service_worker")
    return app
