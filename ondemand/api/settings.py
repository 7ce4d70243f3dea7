"""Settings of the live dispatch API, read from arguments and ``ONDEMAND_*`` environment variables.

Precedence: explicit keyword arguments (the CLI's ``--db``) over environment variables
(``ONDEMAND_DATABASE_URL``, ``ONDEMAND_TIMEZONE``, ...) over the defaults below.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    """Everything the API process can be configured with.

    Parameters
    ----------
    database_url
        SQLAlchemy URL of the database (``ONDEMAND_DATABASE_URL``); a SQLite file
        ``./ondemand.db`` by default, ``postgresql+psycopg://...`` for PostgreSQL.
    timezone
        IANA time zone of the service; API times carry its offset.
    reopt_interval_s
        Seconds between background re-optimisations; 0 switches them off. Unset (the
        default): the scenario's ``service.reoptimise_every_s``.
    reopt_time_limit_s
        Wall-clock seconds of one re-optimisation (solved outside the dispatcher lock).
        Unset (the default): the scenario's ``service.reoptimise_time_limit_s``.
    max_body_bytes
        Largest accepted request body; larger bodies are answered with 413.
    cors_origins
        Origins allowed by CORS; empty (the default) means CORS is off.
    past_tolerance_s
        How far in the past a requested pickup time may be (clock skew) before it is refused.
    commit_timeout_s
        How long a change waits for the database before it is answered 503 (and not saved);
        also the bound on the writer's lock waits and statements.
    rider_retention_days
        Registered riders (personal data) without a booking or a change for this many days
        are erased, at start-up and every ``rider_purge_interval_s``; their ride requests stay
        for statistics, unlinked.
    rider_purge_interval_s
        Seconds between two runs of that erasure.
    """

    model_config = SettingsConfigDict(env_prefix="ONDEMAND_", extra="ignore", frozen=True)

    database_url: str = Field(default="sqlite:///./ondemand.db", min_length=1)
    timezone: str = "Asia/Tokyo"
    reopt_interval_s: float | None = Field(default=None, ge=0.0)
    reopt_time_limit_s: float | None = Field(default=None, gt=0.0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    cors_origins: tuple[str, ...] = ()
    past_tolerance_s: int = Field(default=120, ge=0)
    commit_timeout_s: float = Field(default=10.0, gt=0.0, le=300.0)
    rider_retention_days: int = Field(default=365, ge=1, le=3650)
    rider_purge_interval_s: float = Field(default=3600.0, gt=0.0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Asia/Tokyo'") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The service time zone."""
        return ZoneInfo(self.timezone)
