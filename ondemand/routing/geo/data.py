"""Where the package finds its files: the data folder, the user cache, and the one data-file lookup.

An area's data files are named ``{prefix}_{kind}``: ``senboku_drive.graphml`` (the road graph),
``senboku_buildings.geojson``, ``senboku_pois.geojson``, ``senboku_landuse.geojson``,
``senboku_places.geojson``. The road network, the meeting points and the demand model all find
them with :func:`find_data_file`, which looks in the data folder (the one given, else
``ONDEMAND_DATA_DIR``) and then in the user cache's ``osm`` folder, where downloaded graphs land.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "DATA_ENV",
    "OFFLINE_ENV",
    "cache_dir",
    "data_dir_from_env",
    "data_folders",
    "find_data_file",
]

DATA_ENV = "ONDEMAND_DATA_DIR"
CACHE_ENV = "ONDEMAND_CACHE_DIR"
OFFLINE_ENV = "ONDEMAND_OFFLINE"


def data_dir_from_env() -> Path | None:
    """The data folder named by ``ONDEMAND_DATA_DIR``, or ``None`` when unset."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else None


def cache_dir() -> Path:
    """The user cache folder: ``ONDEMAND_CACHE_DIR`` or the platform's cache folder for ondemand."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ondemand"))


def data_folders(data_dir: Path | None = None) -> list[Path]:
    """The folders searched for data files, in order: ``data_dir`` (else ``ONDEMAND_DATA_DIR``), the cache."""
    folders = [data_dir] if data_dir is not None else []
    if data_dir is None and (env := data_dir_from_env()) is not None:
        folders.append(env)
    folders.append(cache_dir() / "osm")
    return folders


def find_data_file(prefix: str, kind: str, data_dir: Path | None = None) -> Path | None:
    """The first ``{prefix}_{kind}`` file in :func:`data_folders`, or ``None``.

    Parameters
    ----------
    prefix
        The area's file prefix (``AreaSpec.prefix``), e.g. ``"senboku"``.
    kind
        The rest of the file name, e.g. ``"drive.graphml"`` or ``"buildings.geojson"``.
    data_dir
        The data folder; ``None`` means ``ONDEMAND_DATA_DIR``.
    """
    for folder in data_folders(data_dir):
        path = folder / f"{prefix}_{kind}"
        if path.is_file():
            return path
    return None
