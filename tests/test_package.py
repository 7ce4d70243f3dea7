"""The package root: public names load lazily, the version comes from the package metadata."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ondemand

HEAVY = ("ortools", "simpy")


def _imported(cmd: list[str]) -> set[str]:
    """Top-level packages a command imports, from ``-X importtime`` on stderr."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=True)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "ondemand" in names  # the profile was read
    return names


def test_import_ondemand_loads_neither_ortools_nor_simpy() -> None:
    """`import ondemand` imports no OR-Tools and no SimPy."""
    names = _imported([sys.executable, "-c", "import ondemand"])
    assert not names & set(HEAVY)


def test_cli_help_loads_neither_ortools_nor_simpy() -> None:
    """`ondemand --help` (the installed console script) imports no OR-Tools and no SimPy."""
    script = Path(sys.executable).with_name("ondemand")
    if not script.is_file():
        pytest.skip(f"console script not installed next to {sys.executable}: pip install -e .")
    names = _imported([str(script), "--help"])
    assert not names & set(HEAVY)


def test_public_names_resolve_to_their_modules() -> None:
    """Every name in __all__ resolves, to the object its defining module holds."""
    assert set(ondemand.__all__) == set(ondemand._EXPORTS) | {"__version__"}
    for name, module in ondemand._EXPORTS.items():
        assert getattr(ondemand, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = ondemand.no_such_name  # type: ignore[attr-defined]


def test_version_is_the_package_metadata() -> None:
    """ondemand.__version__ is the installed distribution's version (pyproject.toml is the one source)."""
    assert ondemand.__version__ == importlib.metadata.version("ondemand")
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{ondemand.__version__}"' in text


def test_package_data_globs_match_files() -> None:
    """Every package-data pattern in pyproject.toml matches at least one file in ondemand/."""
    root = Path(__file__).parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["ondemand"]
    assert patterns
    for pattern in patterns:
        assert any(p.is_file() for p in (root / "ondemand").glob(pattern)), pattern
