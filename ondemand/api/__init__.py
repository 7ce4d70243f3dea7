"""The live dispatch API (optional extra ``ondemand[api]``): FastAPI app, settings, persistence, live map.

Run it with ``ondemand serve SCENARIO``; create keys with ``ondemand keys create``.
"""

from __future__ import annotations

from ondemand.api.app import Principal, create_app
from ondemand.api.service import ServiceConfig, ServiceRules, service_config_from_scenario
from ondemand.api.settings import ApiSettings

__all__ = [
    "ApiSettings",
    "Principal",
    "ServiceConfig",
    "ServiceRules",
    "create_app",
    "service_config_from_scenario",
]
