"""Pages: the live map (``/map``) and its static files (``/static``, the vendored Leaflet)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["mount_static", "router"]

router = APIRouter(include_in_schema=False)

_STATIC = resources.files("ondemand.api").joinpath("static")


def mount_static(app: FastAPI) -> None:
    """Serve ``/static`` (the map's script and style) and ``/static/leaflet``."""
    # One vendored Leaflet for the whole package: the copy the offline folium maps inline.
    leaflet_dir = resources.files("ondemand.viz").joinpath("static", "leaflet-1.9.3")
    app.mount("/static/leaflet", StaticFiles(directory=str(leaflet_dir)), name="leaflet")
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")


@router.get("/map", response_class=HTMLResponse)
def live_map() -> HTMLResponse:
    """The live map page (it reads ``/v1/live`` with the key typed into it)."""
    html = _STATIC.joinpath("map.html").read_text(encoding="utf-8")
    # Content-Security-Policy, framing and referrer headers: ondemand.api.middleware.SecurityHeaders
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
