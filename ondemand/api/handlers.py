"""Exception handlers of the API: clear messages and status codes, never a traceback.

Bad input (:class:`~ondemand.errors.OndemandError`) answers 422 or 400, a failed commit
or an unavailable database 503, anything unexpected 500 (logged, nothing changed).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from ondemand.errors import (
    CommitFailedError,
    InfeasibleRequestError,
    InvalidRequestError,
    OndemandError,
    OutsideServiceAreaError,
    UnknownStopError,
)

__all__ = ["install_exception_handlers"]

log = logging.getLogger("ondemand.api")


def _err(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _ondemand_error(_req: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnknownStopError | OutsideServiceAreaError | InvalidRequestError):
        return _err(422, str(exc))
    if isinstance(exc, InfeasibleRequestError):
        return _err(422, str(exc))
    return _err(400, str(exc))


async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error (nothing was committed): %s", type(exc).__name__)
    return _err(500, "internal error; nothing was changed. The operator's log has the details")


async def _commit_failed(_req: Request, exc: Exception) -> JSONResponse:
    log.error("commit failed: %s", exc)
    return _err(503, "the database could not store this change, so it was not made; retry shortly")


async def _db_error(_req: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", type(exc).__name__)
    return _err(503, "the database is unavailable; nothing was changed, retry shortly")


def install_exception_handlers(app: FastAPI) -> None:
    """Register the API's exception handlers on ``app``."""
    app.add_exception_handler(OndemandError, _ondemand_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(CommitFailedError, _commit_failed)
    app.add_exception_handler(SQLAlchemyError, _db_error)
