"""``/healthz``: liveness and database readiness (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import ondemand
from ondemand.api.deps import Context
from ondemand.api.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=Health)
def healthz(ctx: Context) -> Health:
    """Liveness and database readiness (no key needed)."""
    try:
        with ctx.db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise HTTPException(503, "database unavailable") from exc
    return Health(status="ok", database="ok", version=ondemand.__version__)
