"""Every notebook runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), as a user
opens it, with its small default parameters; figure cells must display images.

Running the cells as a plain script hid a notebook that crashed in Jupyter (no ipywidgets for
distributed's progress widget) and figures that showed as ``<Figure size ...>`` text: only a
kernel shows those.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

# outputs a notebook must leave in SOFI_DASK_NOTEBOOK_DIR
EXPECTED_FILES = {
    "sofi_walkthrough.ipynb": [
        "movie.tif",
        "movie.zarr",
        "final.tif",
        "final_rgb.tif",
        "final.png",
        "pipeline",
    ],
}


def execute(notebook: Path, workdir: Path, *, prelude: str | None = None):
    """Execute ``notebook`` in a fresh python3 kernel in ``workdir``; return the notebook."""
    nb = nbformat.read(notebook, as_version=4)
    if prelude is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(prelude))
    env = dict(
        os.environ, SOFI_DASK_NOTEBOOK_SMALL="1", SOFI_DASK_NOTEBOOK_DIR=str(workdir / "out")
    )
    env.pop("MPLBACKEND", None)  # as a user's kernel: matplotlib picks its own backend
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    # the kernel inherits this process's environment (PYTHONPATH, the source tree)
    old = dict(os.environ)
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def _outputs(nb, kind: str) -> list:
    return [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if kind in o.get("data", {})
    ]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs_in_a_kernel(notebook, tmp_path):
    nb = execute(notebook, tmp_path)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    figure_text = [
        o
        for o in _outputs(nb, "text/plain")
        if str(o["data"]["text/plain"]).startswith("<Figure size") and "image/png" not in o["data"]
    ]
    assert not figure_text, "figures shown as text, not images"
    assert _outputs(nb, "image/png"), "the notebook displayed no image"
    for name in EXPECTED_FILES.get(notebook.name, []):
        assert (tmp_path / "out" / name).exists(), name


def test_walkthrough_without_ipywidgets(tmp_path):
    """ipywidgets missing (it is the ``notebook`` extra): progress falls back to text."""
    notebook = next(n for n in NOTEBOOKS if n.name == "sofi_walkthrough.ipynb")
    # an import of ipywidgets fails in this kernel, as where it is not installed
    nb = execute(notebook, tmp_path, prelude="import sys\nsys.modules['ipywidgets'] = None")
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
