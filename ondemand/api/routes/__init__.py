"""The API's routes, one module per resource (:func:`ondemand.api.app.create_app` includes them)."""

from __future__ import annotations

from ondemand.api.routes import health, live, pages, ride_requests, stops, vehicles

__all__ = ["health", "live", "pages", "ride_requests", "stops", "vehicles"]
