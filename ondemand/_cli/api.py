"""CLI commands: ``ondemand serve`` (the live dispatch API) and ``ondemand keys create|list|revoke``."""

from __future__ import annotations

import datetime as _dt
import gc
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ondemand._cli._logging import SERVE_LOGGER, configure_serve_logging
from ondemand.errors import InvalidRequestError

if TYPE_CHECKING:
    from ondemand.api.booking import AreaLike, ServiceConfig
    from ondemand.api.routes.gofs import GofsInfo
    from ondemand.api.settings import ApiSettings
    from ondemand.routing.solver.model import Vehicle

keys_app = typer.Typer(help="API keys of the live dispatch API.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: ONDEMAND_DATABASE_URL, else sqlite:///./ondemand.db).",
        show_default=False,
    ),
]


def _settings(db: str | None, **over: str) -> ApiSettings:
    from ondemand.api.settings import ApiSettings

    settings = ApiSettings(database_url=db, **over) if db else ApiSettings(**over)  # type: ignore[arg-type]
    return settings


def serve(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file (see scenarios/).")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    db: DbOption = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="OSM data folder (default: ONDEMAND_DATA_DIR).", show_default=False)
    ] = None,
    fleet: Annotated[
        int | None,
        typer.Option(help="Override the scenario's number of vehicles.", min=1, show_default=False),
    ] = None,
    auto_complete: Annotated[
        bool,
        typer.Option(
            "--auto-complete/--no-auto-complete",
            help="Treat planned stops as done at their planned time (for vehicles without a driver app).",
        ),
    ] = False,
    clock: Annotated[
        str | None,
        typer.Option(
            help="Start the service clock at this local time today (HH:MM), then run in real time; "
            "for demos and load tests outside service hours.",
            show_default=False,
        ),
    ] = None,
    reopt_every: Annotated[
        float | None,
        typer.Option(
            help="Seconds between re-optimisations, 0 = off (default: ONDEMAND_REOPT_INTERVAL_S, "
            "else the scenario's service.reoptimise_every_s).",
            min=0.0,
            show_default=False,
        ),
    ] = None,
    reopt_time_limit: Annotated[
        float | None,
        typer.Option(
            help="Wall-clock seconds of one re-optimisation (default: ONDEMAND_REOPT_TIME_LIMIT_S, "
            "else the scenario's service.reoptimise_time_limit_s).",
            min=0.01,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the live dispatch API for SCENARIO (OpenAPI docs at /docs, live map at /map)."""
    from ondemand._cli._progress import spinner
    from ondemand.api.booking import service_config_from_scenario
    from ondemand.api.routes.gofs import GofsInfo
    from ondemand.scenario import load_scenario

    sc = load_scenario(scenario)
    settings = _settings(db, timezone=sc.timezone)
    names = ["ONDEMAND_REOPT_INTERVAL_S", "ONDEMAND_REOPT_TIME_LIMIT_S"]
    if reopt_every is not None or reopt_time_limit is not None:
        over: dict[str, float] = {}
        if reopt_every is not None:
            over["reopt_interval_s"], names[0] = reopt_every, "--reopt-every"
        if reopt_time_limit is not None:
            over["reopt_time_limit_s"], names[1] = reopt_time_limit, "--reopt-time-limit"
        settings = settings.model_copy(update=over)
    area = sc.service_area(data_dir=data_dir, status=spinner())
    config = service_config_from_scenario(sc, area, fleet=fleet, auto_complete=auto_complete)
    run_api(
        area,
        config,
        settings,
        scenario=f"{sc.name} ({scenario})",
        host=host,
        port=port,
        clock=None if clock is None else offset_clock(clock, settings.tz),
        gofs=GofsInfo.from_scenario(sc),  # operator, fare, booking channels for /gofs
        override_names=(names[0], names[1]),
    )


def run_api(
    area: AreaLike,
    config: ServiceConfig,
    settings: ApiSettings,
    *,
    scenario: str,
    host: str,
    port: int,
    clock: Callable[[], _dt.datetime] | None = None,
    gofs: GofsInfo | None = None,
    override_names: tuple[str, str] = ("ONDEMAND_REOPT_INTERVAL_S", "ONDEMAND_REOPT_TIME_LIMIT_S"),
) -> None:
    """Serve the API until stopped, logging the start-up lines of :mod:`ondemand._cli._logging`.

    Parameters
    ----------
    area, config, settings
        What :func:`ondemand.api.app.create_app` takes.
    scenario
        How the start-up log names the scenario (name and file).
    host, port
        Where to listen.
    clock
        The service clock (default: the wall clock).
    gofs
        The scenario's operator, fare and channels for ``/gofs``.
    override_names
        Names of the settings that override the scenario's re-optimisation (for the log line).
    """
    import uvicorn

    from ondemand._cli._http import uvicorn_options
    from ondemand.api.app import create_app
    from ondemand.api.reoptimise import Cadence

    log_config = configure_serve_logging()  # before create_app: its migrations log nothing at INFO
    app = create_app(area, config, settings=settings, clock=clock)
    if gofs is not None:
        app.state.gofs = gofs
    policy = config.policy
    vehicles = config.vehicles
    log = logging.getLogger(SERVE_LOGGER)
    log.info("scenario %s, time zone %s", scenario, settings.timezone)
    log.info(
        "fleet: %d vehicle%s (%s), service %s-%s",
        len(vehicles),
        "" if len(vehicles) == 1 else "s",
        _capacity(vehicles),
        _clock(policy.start),
        _clock(policy.end),
    )
    log.info("database: %s", app.state.db.shown_url)
    log.info("%s", Cadence.of(policy, settings, names=override_names).describe(policy))
    gc.freeze()  # the area and matrices live for the whole run: keep them out of garbage collection
    # limits on header size and read time, idle keep-alive and connections (ondemand/_cli/_http.py)
    uvicorn.run(app, host=host, port=port, log_config=log_config, log_level="info", **uvicorn_options())


def _capacity(vehicles: tuple[Vehicle, ...]) -> str:
    """Seats and wheelchair places per vehicle, e.g. ``8 seats, 1 wheelchair place each``."""
    kinds = sorted({(v.seats, v.wheelchair_places) for v in vehicles})
    parts = [
        f"{seats} seats, {chairs} wheelchair place{'' if chairs == 1 else 's'}" for seats, chairs in kinds
    ]
    return ("; ".join(parts) + " each") if len(parts) == 1 else " or ".join(parts)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def offset_clock(hhmm: str, tz: _dt.tzinfo) -> Callable[[], _dt.datetime]:
    """A clock that reads ``hhmm`` today now and then runs in real time."""
    import time

    try:
        t = _dt.datetime.strptime(hhmm, "%H:%M").time()
    except ValueError as exc:
        raise InvalidRequestError(f"--clock must be HH:MM (e.g. 10:00), got {hhmm!r}") from exc
    start = _dt.datetime.combine(_dt.datetime.now(tz).date(), t, tzinfo=tz)
    t0 = time.monotonic()

    def now() -> _dt.datetime:
        return start + _dt.timedelta(seconds=time.monotonic() - t0)

    return now


@keys_app.command("create")
def keys_create(
    operator: Annotated[str, typer.Option(help="Operator name (created when new).")],
    role: Annotated[
        str, typer.Option(help="operator (full access) or vehicle (reports for one vehicle).")
    ] = "operator",
    vehicle: Annotated[
        str | None, typer.Option(help="Vehicle id, for --role vehicle.", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """Create an API key, printed once as the last word of the output (only its hash is stored)."""
    from ondemand.api.db import create_api_key
    from ondemand.api.persistence import Database

    settings = _settings(db)
    database = Database(settings.database_url)
    try:
        with database.write() as session:
            key = create_api_key(session, operator, role=role, vehicle_id=vehicle)
            session.commit()
    finally:
        database.dispose()
    what = f"vehicle {vehicle!r} of operator {operator!r}" if role == "vehicle" else f"operator {operator!r}"
    typer.echo(f"New API key for {what} (shown once; store it safely): {key}")


@keys_app.command("list")
def keys_list(
    operator: Annotated[
        str | None, typer.Option(help="Only this operator's keys.", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """List API keys: id, prefix, operator, role, vehicle, created, revoked (never the keys themselves)."""
    from ondemand.api.db import list_api_keys
    from ondemand.api.persistence import Database

    database = Database(_settings(db).database_url)
    try:
        with database.read() as session:
            rows = list_api_keys(session, operator)
    finally:
        database.dispose()
    if not rows:
        typer.echo("no API keys" + (f" for operator {operator!r}" if operator else ""))
        return
    header = ("ID", "PREFIX", "OPERATOR", "ROLE", "VEHICLE", "CREATED (UTC)", "REVOKED")
    table = [header]
    for key, name in rows:
        created = key.created_at.astimezone(_dt.UTC) if key.created_at.tzinfo else key.created_at
        table.append(
            (
                str(key.id),
                f"{key.prefix}...",
                name,
                key.role,
                key.vehicle_id or "-",
                created.strftime("%Y-%m-%d %H:%M"),
                "yes" if key.revoked else "no",
            )
        )
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    for r in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or prefix (from 'ondemand keys list'), or the key.")],
    db: DbOption = None,
) -> None:
    """Revoke an API key. A running server refuses it (401) within 30 s (its key cache)."""
    from ondemand.api.db import revoke_api_key
    from ondemand.api.persistence import Database

    database = Database(_settings(db).database_url)
    try:
        with database.write() as session:
            row, name = revoke_api_key(session, key)
            session.commit()
    finally:
        database.dispose()
    typer.echo(
        f"Revoked key {row.id} ({row.prefix}..., {row.role} of operator {name!r}); "
        "running servers refuse it within 30 s."
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
