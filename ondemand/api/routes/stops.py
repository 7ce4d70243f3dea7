"""``/v1/stops``: the meeting points of the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ondemand.api.deps import AUTH_ERRORS, Context, Who
from ondemand.api.schemas import ApiError, StopOut
from ondemand.api.views import stop_out
from ondemand.routing.geo.area import fold_name

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get(
    "/v1/stops",
    response_model=list[StopOut],
    responses={**AUTH_ERRORS, 422: {"model": ApiError, "description": "Invalid query (q too long)"}},
)
def list_stops(
    _who: Who,
    ctx: Context,
    q: Annotated[str | None, Query(max_length=100, description="Keep stops whose name contains this")] = None,
) -> list[StopOut]:
    """The meeting points (乗降ポイント); ``q=泉ケ丘`` keeps those whose name holds it (``01_泉ケ丘駅``)."""
    if not q:
        return [stop_out(ctx, i) for i in range(len(ctx.stops))]
    want = fold_name(q)
    return [stop_out(ctx, i) for i, s in enumerate(ctx.stops) if want in fold_name(str(s.name))]
