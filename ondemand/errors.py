"""All errors raised by ondemand.

Every error subclasses a builtin so callers can catch it generically, and every
message says what was wrong and what to do about it. The CLI and the API turn
these into a one-line message (CLI) or a 4xx answer (API); users never see a
traceback.

Add new errors here (one module for all of them), keep them small.
"""

from __future__ import annotations

__all__ = [
    "BoundaryError",
    "CommitFailedError",
    "DataNotFoundError",
    "DatabaseCorruptError",
    "DatabaseInUseError",
    "DatabaseUrlError",
    "EventOrderError",
    "ExtractError",
    "InfeasiblePlanError",
    "InfeasibleRequestError",
    "InstanceFormatError",
    "InvalidRequestError",
    "MunicipalityError",
    "OndemandError",
    "OutputError",
    "OutsideServiceAreaError",
    "OutsideServiceZoneError",
    "PlaceNotFoundError",
    "PopulationMeshError",
    "ScenarioError",
    "ServiceUnavailableError",
    "StopFileError",
    "UnknownAreaError",
    "UnknownStopError",
    "ZoneError",
]


class OndemandError(Exception):
    """Base class of every error this package raises on purpose."""


class DataNotFoundError(OndemandError, FileNotFoundError):
    """A data file (road graph, POIs, stops) is neither in the data folder nor downloadable."""


class UnknownAreaError(OndemandError, LookupError):
    """An area name that is neither built in nor defined by the scenario."""


class PlaceNotFoundError(UnknownAreaError):
    """A place name that neither the OSM extract's boundaries nor the geocoder know."""


class ExtractError(OndemandError, ValueError):
    """An OpenStreetMap extract that cannot be read, or that does not cover the area asked for."""


class BoundaryError(OndemandError, ValueError):
    """A boundary file that is not a GeoJSON Polygon or MultiPolygon."""


class OutsideServiceAreaError(OndemandError, ValueError):
    """A point (lon/lat) that lies outside the service area's road network."""


class OutsideServiceZoneError(OutsideServiceAreaError):
    """A point inside the road network but outside the service's zone (the message names the zone)."""


class ZoneError(OndemandError, ValueError):
    """A service zone that cannot be built: missing or malformed zone file, unknown district."""


class MunicipalityError(OndemandError, ValueError):
    """Municipal boundaries that cannot be used (not polygons, no names, no data for the area)."""


class PopulationMeshError(OndemandError, ValueError):
    """A population mesh file (地域メッシュ統計 CSV) that cannot be read; the message names the file."""


class UnknownStopError(OndemandError, LookupError):
    """A meeting-point id that the service does not have."""


class InvalidRequestError(OndemandError, ValueError):
    """A ride request whose fields contradict each other (reversed window, passengers < 1, ...)."""


class InfeasibleRequestError(OndemandError, ValueError):
    """A request that no vehicle can serve within its windows, capacity and ride-time limit."""


class InfeasiblePlanError(OndemandError, ValueError):
    """A plan (routes with stop times) that breaks a constraint; the message names the first one."""


class InstanceFormatError(OndemandError, ValueError):
    """A benchmark instance file that cannot be read; the message names the file and line."""


class ScenarioError(OndemandError, ValueError):
    """A scenario file with a missing or invalid field; the message names file, field and reason."""


class StopFileError(OndemandError, ValueError):
    """A meeting-point file (CSV or GeoJSON) that cannot be read; the message names the file and row."""


class CommitFailedError(OndemandError, RuntimeError):
    """The database did not store a change (the API answers 503 and the change is not made)."""


class DatabaseCorruptError(OndemandError, RuntimeError):
    """A database file or its write-ahead log is damaged; the message says what to do (restore a backup)."""


class DatabaseUrlError(OndemandError, ValueError):
    """A database URL that cannot be used (malformed, no driver installed, or unreachable)."""


class EventOrderError(OndemandError, ValueError):
    """A vehicle event whose time contradicts the ride's story so far.

    A no-show before the pickup window opens, a pick-up before the ride was booked, a
    drop-off before the pick-up. The message names the times; nothing is changed.
    """


class OutputError(OndemandError, OSError):
    """An output file (a feed, a report) cannot be written where the user asked."""


class ServiceUnavailableError(OndemandError, RuntimeError):
    """The change cannot be decided now (another server leads the operator, or its dispatcher is being
    rebuilt after a failed write); nothing was changed. The API answers 503 with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseInUseError(OndemandError, RuntimeError):
    """Another server already serves this SQLite database (SQLite serves one server at a time)."""
