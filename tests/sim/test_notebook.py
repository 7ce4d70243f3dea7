"""The planner's walk-through notebook runs top to bottom and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "planner_walkthrough.ipynb"


def test_notebook_is_stripped() -> None:
    """The stored notebook has no outputs or execution counts."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


def test_notebook_uses_only_the_public_api() -> None:
    """Code cells import nothing from ondemand but the package itself."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import ondemand\n" in src
    assert "from ondemand" not in src
    assert "ondemand._" not in src


@pytest.mark.slow
def test_notebook_executes(data_dir: Path) -> None:
    """Executing every cell with nbclient raises no error and shows a map and a figure."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert html
    assert images
