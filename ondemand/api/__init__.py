"""The live dispatch API (optional extra ``ondemand[api]``): FastAPI app, settings, persistence, live map.

Run it with ``ondemand serve SCENARIO``; create keys with ``ondemand keys create``.

Layout: :mod:`~ondemand.api.app` (the app factory), :mod:`~ondemand.api.routes` (one
module per resource), :mod:`~ondemand.api.deps` (the caller and the app's context),
:mod:`~ondemand.api.persistence` (database, group commit; the tables are in
:mod:`~ondemand.api.db`), :mod:`~ondemand.api.registry` (the live dispatchers),
:mod:`~ondemand.api.reoptimise` (background re-optimisation and the solver process),
:mod:`~ondemand.api.booking` (the booking rules), :mod:`~ondemand.api.schemas`.
Importing this package loads neither OR-Tools nor SimPy.
"""

from __future__ import annotations

from ondemand.api.app import create_app
from ondemand.api.booking import ServiceConfig, service_config_from_scenario
from ondemand.api.deps import Principal
from ondemand.api.settings import ApiSettings

__all__ = [
    "ApiSettings",
    "Principal",
    "ServiceConfig",
    "create_app",
    "service_config_from_scenario",
]
