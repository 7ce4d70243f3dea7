"""Logging of ``ondemand serve``: what an operator needs at start-up, and warnings; no library chatter.

At start-up the server says which scenario it runs, its fleet, its database (password hidden),
its re-optimisation cadence and the address it listens on (uvicorn's "Uvicorn running on"
line, reworded); then the API's own messages (INFO and above) and one line per HTTP request.
Libraries' INFO lines (Alembic's migration plugins and steps, uvicorn's process and
lifespan messages) are left out; their warnings and errors still show. Each line starts with its
time in ISO 8601 with the UTC offset (the machine's zone), so that it reads the same wherever the
server runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
from typing import Any

__all__ = ["SERVE_LOGGER", "StampedFormatter", "StartupFilter", "configure_serve_logging", "serve_log_config"]

SERVE_LOGGER = "ondemand.serve"
"""The logger of the start-up lines."""

_QUIET = ("alembic",)
"""Libraries whose INFO lines are set-up noise (Alembic: seven plugin lines and one per migration step)."""

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StampedFormatter(logging.Formatter):
    """Times as ISO 8601 with the UTC offset, to the millisecond (``2026-12-02T18:03:00.123+09:00``)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """The record's time in the machine's zone, with its offset."""
        return dt.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class StartupFilter(logging.Filter):
    """On ``uvicorn.error``: keep warnings and the listening address (as an ``ondemand.serve`` line), drop
    the other INFO lines (process started, waiting for the lifespan, startup complete, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is shown (the address line is reworded in place)."""
        if record.levelno >= logging.WARNING or record.name == SERVE_LOGGER:
            return True  # (the name: the logger may hold two of these filters, uvicorn configures it again)
        if str(record.msg).startswith("Uvicorn running on"):
            record.msg = "listening on %s://%s:%d (API docs /docs, live map /map; Ctrl+C stops)"
            record.name = SERVE_LOGGER
            return True
        return False


def serve_log_config() -> dict[str, Any]:
    """The :func:`logging.config.dictConfig` of ``ondemand serve`` (also uvicorn's ``log_config``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"()": StampedFormatter, "format": _FORMAT}},
        "filters": {"startup": {"()": StartupFilter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            **{name: {"level": "WARNING"} for name in _QUIET},
            "uvicorn": {"level": "INFO", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "INFO", "filters": ["startup"], "propagate": True},
            "uvicorn.access": {"level": "INFO", "propagate": True},
        },
    }


def configure_serve_logging() -> dict[str, Any]:
    """Apply :func:`serve_log_config` and return it (pass it on as uvicorn's ``log_config``)."""
    config = serve_log_config()
    logging.config.dictConfig(config)
    return config
