"""The package: its public API resolves, and the notebooks run top to bottom (small settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def _script(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    # a bare expression at the end of a cell is the cell's display; keep it as a statement
    return "\n\n".join(code)


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    code = tmp_path / "notebook_cells.py"
    code.write_text(_script(notebook))
    # Worker processes start with spawn and re-import __main__: run the cells behind a guard,
    # as a notebook kernel (which has no __main__ file) effectively does.
    script = tmp_path / "run_notebook.py"
    script.write_text(
        "import runpy\n"
        "if __name__ == '__main__':\n"
        f"    runpy.run_path({str(code)!r}, run_name='__notebook__')\n"
    )
    out = tmp_path / "out"
    env = dict(
        os.environ, SOFI_DASK_NOTEBOOK_SMALL="1", SOFI_DASK_NOTEBOOK_DIR=str(out), MPLBACKEND="Agg"
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in ("movie.tif", "movie.zarr", "final.tif", "final_rgb.tif", "final.png", "pipeline"):
        assert (out / name).exists(), name
