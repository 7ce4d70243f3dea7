"""``/v1/stops``: the meeting points of the service."""

from __future__ import annotations

from fastapi import APIRouter

from ondemand.api.deps import AUTH_ERRORS, Context, Who
from ondemand.api.schemas import StopOut
from ondemand.api.views import stop_out

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/v1/stops", response_model=list[StopOut], responses=AUTH_ERRORS)
def list_stops(_who: Who, ctx: Context) -> list[StopOut]:
    """The meeting points (乗降ポイント) of the service."""
    return [stop_out(ctx, i) for i in range(len(ctx.stops))]
