"""The command line's fixed start-up cost (issue 16): what a command imports, and its report.

Nothing here is timed (speed lives in bench/startup.py): a fresh interpreter runs the command and
lists which heavy libraries ended up in ``sys.modules``. Each library left out is a fixed cost
every run used to pay: ``distributed`` ~0.3 s, matplotlib's figure machinery ~0.4 s,
``scipy.interpolate`` ~0.3 s of CPU on the development machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

HEAVY = (
    "dask.array",
    "distributed",
    "matplotlib",
    "numba",
    "pydantic",
    "scipy",
    "tifffile",
    "zarr",
)


def _loaded_after(code: str, cwd) -> dict:
    """Run ``code`` in a fresh interpreter; which of ``HEAVY`` it imported, and its output."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print("LOADED=" + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
        print("MODULES=" + json.dumps(sorted(sys.modules)))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    loaded = json.loads(next(ln for ln in lines if ln.startswith("LOADED="))[7:])
    modules = json.loads(next(ln for ln in lines if ln.startswith("MODULES="))[8:])
    return {"loaded": loaded, "modules": set(modules), "stdout": proc.stdout}


def test_parsing_a_command_imports_no_heavy_library(tmp_path):
    """``--help`` and the argument parsing of every command: only the standard library."""
    got = _loaded_after(
        """
        import sofi_dask, sofi_dask.cli
        parser = sofi_dask.cli.build_parser()
        parser.parse_args(["run", "movie.tif", "-o", "out", "--finterp", "2"])
        parser.parse_args(["ingest", "movie.tif", "movie.zarr"])
        parser.parse_args(["info", "movie.zarr"])
        """,
        tmp_path,
    )
    assert got["loaded"] == []


def test_importing_a_subpackage_imports_only_what_is_used(tmp_path):
    """Subpackages export lazily: a private module pulls in its own imports, not its siblings'."""
    got = _loaded_after(
        """
        import sofi_dask.io, sofi_dask.stats, sofi_dask.image, sofi_dask.viz
        import sofi_dask.cluster, sofi_dask.quality, sofi_dask.pipeline, sofi_dask.simulate
        """,
        tmp_path,
    )
    assert got["loaded"] == []
    # and the names still resolve (to the functions, through their modules)
    got = _loaded_after(
        """
        import sofi_dask.image, sofi_dask.io
        assert sofi_dask.image.ldrc.__module__ == "sofi_dask.image._ldrc"
        assert "ldrc" in dir(sofi_dask.image)
        sofi_dask.io.open_movie
        """,
        tmp_path,
    )
    assert (
        "sofi_dask.image._ldrc" in got["modules"]
        and "sofi_dask.image._deconv" not in got["modules"]
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("startup") / "t.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.poisson(100, size=(64, 32, 32)).astype(np.uint16))
    return path


@pytest.mark.parametrize("figures", [True, False], ids=["figures", "no-figures"])
def test_local_run_imports_no_cluster_and_reports_startup(tmp_path, tiny, figures):
    """A run on the local threads never imports ``distributed`` (dask looks for a client by
    importing it when a scheduler is named by string), nor ``scipy.interpolate`` (only a
    resampled LDRC mask uses it), nor matplotlib's figures without figures; run.json and the
    final line report the start-up time."""
    out = tmp_path / "out"
    flags = [] if figures else ["--no-figures"]
    got = _loaded_after(
        f"""
        from sofi_dask.cli._main import main
        assert main(["run", {str(tiny)!r}, "-o", {str(out)!r}, "--no-progress", *{flags!r}]) == 0
        """,
        tmp_path,
    )
    assert "distributed" not in got["loaded"]
    assert "scipy.interpolate" not in got["modules"]
    assert ("matplotlib.figure" in got["modules"]) == figures
    phases = json.loads((out / "run.json").read_text())["timings"]["phases_s"]
    assert list(phases)[0] == "startup"
    assert phases["startup"] > 0  # the process's age when the pipeline started
    assert f"(start-up {phases['startup']:.2f} s)" in got["stdout"]


@pytest.fixture(scope="module")
def tiny_store(tiny):
    from sofi_dask.io import ingest

    return ingest(tiny, tiny.with_suffix(".zarr"))


def test_a_store_needs_no_tiff_reader_nor_ingest(tmp_path, tiny_store):
    """Opening an ingested store, and a whole run on one, import neither the TIFF reader nor
    the ingest (its tasks, numba kernels and source fingerprints): a store's movie is read
    through Zarr. tifffile itself comes with the TIFF outputs of a run, not before."""
    got = _loaded_after(
        f"""
        from sofi_dask.io import open_movie
        assert int(open_movie({str(tiny_store)!r}).data.sum().compute()) > 0
        """,
        tmp_path,
    )
    assert not {"tifffile", "numba"} & set(got["loaded"])
    out = tmp_path / "out"
    got = _loaded_after(
        f"""
        from sofi_dask.cli._main import main
        assert main(["run", {str(tiny_store)!r}, "-o", {str(out)!r}, "--no-progress",
                     "--no-figures"]) == 0
        """,
        tmp_path,
    )
    reader = {"sofi_dask.io._tiff", "sofi_dask.io._ingest", "sofi_dask.io._source_digests"}
    assert not reader & got["modules"]
    assert (out / "run.json").is_file()


def test_the_program_loads_its_libraries_then_collects_garbage_again(tmp_path, tiny):
    """The program loads the libraries a run uses without cyclic garbage collection, then
    freezes what they made and collects again for the run itself (a long run's cycles are
    freed)."""
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import gc, sys
        from sofi_dask.cli._main import main
        import sofi_dask.pipeline._run as run_module

        seen = []
        real = run_module.run_pipeline

        def run_pipeline(*args, **kwargs):
            from sofi_dask.stats._cumulant_kernels import _kernel

            seen.append((gc.isenabled(), gc.get_freeze_count() > 0))
            libraries = ("zarr", "numba", "tifffile", "scipy.ndimage", "matplotlib.figure")
            print("LOADED", [m for m in libraries if m in sys.modules], len(_kernel.signatures))
            return real(*args, **kwargs)

        run_module.run_pipeline = run_pipeline
        sys.argv = ["sofi-dask", "run", {str(tiny)!r}, "-o", {str(out)!r}, "--no-progress",
                    "--no-figures"]
        assert main() == 0
        print("SEEN", seen, gc.isenabled())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "SEEN [(True, True)] True" in proc.stdout
    # the whole fixed cost is the reported start-up: the libraries a run uses are loaded and a
    # numba kernel (with numba's target context) before the pipeline starts; no figures asked,
    # so no matplotlib figure machinery
    assert "LOADED ['zarr', 'numba', 'tifffile', 'scipy.ndimage'] 1" in proc.stdout


def test_startup_is_checked(tmp_path, tiny):
    from sofi_dask.errors import InputError
    from sofi_dask.pipeline import run_pipeline

    with pytest.raises(InputError, match="parameter 'startup_s'"):
        run_pipeline(tiny, tmp_path / "out", startup_s=-1.0)
    assert not (tmp_path / "out").exists()
