"""Exception handlers of the API: clear messages and status codes, never a traceback.

Bad input (:class:`~ondemand.errors.OndemandError`) answers 422 or 400, a failed commit,
an unavailable database or an operator led by another server 503 with ``Retry-After``
(nothing was saved), anything unexpected 500 (logged, nothing changed).
A request that fails validation answers 422 as :class:`~ondemand.api.schemas.ApiError`:
``detail`` says what is wrong in one line, ``errors`` lists at most
``MAX_LISTED_ERRORS`` problems (where, what, kind; the input is never echoed, so a
NaN, a huge value or 6,000 unknown keys give a small answer).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from ondemand.api.schemas import MAX_LISTED_ERRORS
from ondemand.errors import (
    CommitFailedError,
    InfeasibleRequestError,
    InvalidRequestError,
    OndemandError,
    OutsideServiceAreaError,
    ServiceUnavailableError,
    UnknownStopError,
)

__all__ = ["install_exception_handlers"]

log = logging.getLogger("ondemand.api")


def _err(status: int, detail: str, *, retry_after: int | None = None) -> JSONResponse:
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _ondemand_error(_req: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnknownStopError | OutsideServiceAreaError | InvalidRequestError):
        return _err(422, str(exc))
    if isinstance(exc, InfeasibleRequestError):
        return _err(422, str(exc))
    return _err(400, str(exc))


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else str(p)[:64] for p in error.get("loc", ())][:12]
    return {"loc": loc, "msg": str(error.get("msg", ""))[:200], "type": str(error.get("type", ""))[:64]}


async def _invalid(_req: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    listed = [_problem(e) for e in errors[:MAX_LISTED_ERRORS]]
    said = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in listed[:3]]
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:  # the body could not be parsed at all: say so, and where
        at = bad_json.get("loc", ())[-1:]
        why = str((bad_json.get("ctx") or {}).get("error", ""))[:200] or "cannot be parsed"
        where = f" at character {at[0]}" if at and isinstance(at[0], int) else ""
        detail = f"the request body is not valid JSON ({why}{where}); send a JSON object"
    elif (
        len(errors) == 1
        and tuple(errors[0].get("loc", ())) == ("body",)
        and errors[0].get("type") == "missing"
    ):
        detail = "the request has no body; send a JSON object"
    elif len(errors) <= 1:
        detail = said[0] if said else "invalid request"
    else:
        more = f"; and {len(errors) - len(said)} more" if len(errors) > len(said) else ""
        detail = f"{len(errors)} problems in the request: " + "; ".join(said) + more
    return JSONResponse({"detail": detail[:1000], "errors": listed}, status_code=422)


async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error (nothing was committed): %s", type(exc).__name__)
    return _err(500, "internal error; nothing was changed. The operator's log has the details")


async def _commit_failed(_req: Request, exc: Exception) -> JSONResponse:
    log.error("commit failed: %s", exc)
    return _err(
        503, "the database could not store this change, so it was not made; retry shortly", retry_after=2
    )


async def _unavailable(_req: Request, exc: Exception) -> JSONResponse:
    retry = exc.retry_after if isinstance(exc, ServiceUnavailableError) else 1
    return _err(503, str(exc), retry_after=retry)


async def _db_error(_req: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", type(exc).__name__)
    return _err(503, "the database is unavailable; nothing was changed, retry shortly", retry_after=2)


def install_exception_handlers(app: FastAPI) -> None:
    """Register the API's exception handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(OndemandError, _ondemand_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(CommitFailedError, _commit_failed)
    app.add_exception_handler(ServiceUnavailableError, _unavailable)
    app.add_exception_handler(SQLAlchemyError, _db_error)
