"""``import ondemand.api`` loads neither OR-Tools nor SimPy (the solver is imported where it runs)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("ortools", "simpy")


def test_import_ondemand_api_loads_neither_ortools_nor_simpy() -> None:
    """``python -X importtime -c "import ondemand.api"`` lists no ortools and no simpy module."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ondemand.api"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert {"ondemand.api.app", "ondemand.api.reoptimise", "fastapi"} <= names  # the profile was read
    assert sorted(n for n in names if n.split(".")[0] in HEAVY) == []
