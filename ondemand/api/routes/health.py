"""``/healthz``: liveness, database readiness and whether the writer can write (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import ondemand
from ondemand.api.deps import Context
from ondemand.api.schemas import ApiError, Health

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get(
    "/healthz", response_model=Health, responses={503: {"model": ApiError, "description": "Not ready"}}
)
def healthz(ctx: Context) -> Health:
    """Liveness, database readiness and a writer that can write (no key needed); else 503 and why."""
    try:
        with ctx.db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise HTTPException(503, "database unavailable", headers={"Retry-After": "2"}) from exc
    problem = ctx.committer.health()
    if problem is not None:
        raise HTTPException(503, f"cannot write: {problem}", headers={"Retry-After": "2"})
    return Health(status="ok", database="ok", version=ondemand.__version__)
