"""Pages: the live map (``/map``), the phone desk (``/desk``), the driver's page (``/driver``), the API
docs (``/docs``), their static files (``/static``) and icon (``/favicon.ico``).

Everything a page loads is served from the package (``/static``: vendored Leaflet and
Swagger UI), so the pages work offline and behind proxies.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["mount_static", "router"]

router = APIRouter(include_in_schema=False)

_STATIC = resources.files("ondemand.api").joinpath("static")

SWAGGER_UI = "swagger-ui-5.35.0"
"""The vendored Swagger UI (``ondemand/api/static/swagger-ui-5.35.0``, from npm ``swagger-ui-dist``)."""


def mount_static(app: FastAPI) -> None:
    """Serve ``/static`` (the map's script and style) and ``/static/leaflet``."""
    # One vendored Leaflet for the whole package: the copy the offline folium maps inline.
    leaflet_dir = resources.files("ondemand.viz").joinpath("static", "leaflet-1.9.3")
    app.mount("/static/leaflet", StaticFiles(directory=str(leaflet_dir)), name="leaflet")
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")


@router.get("/desk", response_class=HTMLResponse)
def phone_desk() -> HTMLResponse:
    """The phone-desk booking screen (find or register a caller, book, cancel; operator key typed into it)."""
    html = _STATIC.joinpath("desk.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/map", response_class=HTMLResponse)
def live_map() -> HTMLResponse:
    """The live map page (it reads ``/v1/live`` with the key typed into it)."""
    html = _STATIC.joinpath("map.html").read_text(encoding="utf-8")
    # Content-Security-Policy, framing and referrer headers: ondemand.api.middleware.SecurityHeaders
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI of the API, with its script and style served from the package (works offline)."""
    static = f"/static/{SWAGGER_UI}"
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge from the online validator
    )


@router.get("/driver", response_class=HTMLResponse)
def driver_page() -> HTMLResponse:
    """The driver's tablet page (it reads ``/v1/driver`` and reports events with the vehicle key)."""
    html = _STATIC.joinpath("driver.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico")
def favicon() -> Response:
    """The pages' icon (an SVG: a van), also what browsers ask for by default."""
    svg = _STATIC.joinpath("icon.svg").read_bytes()
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/driver-sw.js")
def driver_service_worker() -> Response:
    """The driver page's service worker (at the top level: its scope must cover ``/driver``)."""
    js = _STATIC.joinpath("driver-sw.js").read_text(encoding="utf-8")
    return Response(js, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
