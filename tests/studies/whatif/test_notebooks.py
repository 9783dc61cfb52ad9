"""The committed notebooks still run from top to bottom against today's code (nbclient)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[3] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_and_draws(path):
    nb = nbformat.read(path, as_version=4)
    committed_images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert committed_images, f"{path.name} is committed without its plots"
    # Executes a copy in memory (the committed file is not rewritten); a failing cell raises.
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images == committed_images


def test_there_are_notebooks():
    assert any(p.name == "palm540b_whatif.ipynb" for p in NOTEBOOKS)
