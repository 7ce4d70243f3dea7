"""The one data-file lookup: data folder (given, else ONDEMAND_DATA_DIR), then the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ondemand.routing.geo.data import data_folders, find_data_file


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A given folder, an ONDEMAND_DATA_DIR folder and a cache folder (ONDEMAND_CACHE_DIR)."""
    given, env, cache = tmp_path / "given", tmp_path / "env", tmp_path / "cache"
    for f in (given, env, cache / "osm"):
        f.mkdir(parents=True)
    monkeypatch.setenv("ONDEMAND_DATA_DIR", str(env))
    monkeypatch.setenv("ONDEMAND_CACHE_DIR", str(cache))
    return given, env, cache / "osm"


def test_folders_in_order(folders: tuple[Path, Path, Path]) -> None:
    """A given folder replaces ONDEMAND_DATA_DIR; the cache's osm folder is always searched last."""
    given, env, cache = folders
    assert data_folders(given) == [given, cache]
    assert data_folders() == [env, cache]


def test_first_folder_holding_the_file_wins(folders: tuple[Path, Path, Path]) -> None:
    """find_data_file returns {prefix}_{kind} from the first folder that has it, else None."""
    given, env, cache = folders
    assert find_data_file("x", "pois.geojson") is None
    (cache / "x_pois.geojson").write_text("{}")
    assert find_data_file("x", "pois.geojson") == cache / "x_pois.geojson"
    (env / "x_pois.geojson").write_text("{}")
    assert find_data_file("x", "pois.geojson") == env / "x_pois.geojson"
    assert find_data_file("x", "pois.geojson", given) == cache / "x_pois.geojson"
    (given / "x_pois.geojson").write_text("{}")
    assert find_data_file("x", "pois.geojson", given) == given / "x_pois.geojson"
    assert find_data_file("y", "pois.geojson", given) is None
