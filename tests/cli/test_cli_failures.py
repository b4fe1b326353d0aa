"""Failure paths of the command line: Ctrl-C, `~` in paths, what is not a movie, NaN pixels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from sofi_dask.cli import main
from sofi_dask.errors import IncompleteStoreError, InputError
from sofi_dask.io import ingest, open_movie
from sofi_dask.io._verify import verify_store

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_ctrl_c_prints_one_line_exits_130_and_resumes(tmp_path):
    tif = tmp_path / "long.tif"
    # long enough that the interrupt lands mid-ingest even on a loaded machine
    movie = np.random.default_rng(2).integers(0, 3000, (4000, 64, 64), dtype=np.uint16)
    tifffile.imwrite(tif, movie)
    dest = tmp_path / "long.zarr"
    cmd = [sys.executable, "-m", "sofi_dask.cli", "ingest", str(tif), str(dest)]
    proc = subprocess.Popen(
        [*cmd, "--chunks", "20", "--workers", "2"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (dest / "_ingest").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    err = proc.stderr.read()
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[")]
    assert lines == ["sofi-dask ingest: interrupted; run it again to resume"], err
    with pytest.raises(IncompleteStoreError):
        open_movie(dest)
    assert main(["ingest", str(tif), str(dest), "--chunks", "20", "--no-progress"]) == 0
    assert verify_store(dest).ok


def test_tilde_expanded_in_simulate_and_config_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["config", "-o", "~/run.toml"]) == 0
    assert (tmp_path / "run.toml").is_file()
    argv = ["simulate", "~/sim.tif", "--frames", "20", "--shape", "16x16"]
    assert main([*argv, "--no-progress"]) == 0, capsys.readouterr().err
    assert tifffile.imread(tmp_path / "sim.tif").shape == (20, 16, 16)
    assert not (Path.cwd() / "~").exists()


def test_info_on_empty_folder_and_dev_null(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "no TIFF files" in err and "not a Zarr store" in err
    assert main(["info", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert "/dev/null: not a regular file" in err and "no such file" not in err


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_pixels_refused_naming_file_frame_and_pixel(tmp_path, value):
    movie = np.random.default_rng(1).normal(100, 5, (30, 12, 10)).astype(np.float32)
    movie[17, 3, 4] = value
    movie[19, 0, 0] = np.nan  # same time chunk (task) as frame 17
    tif = tmp_path / "f.tif"
    tifffile.imwrite(tif, movie)
    dest = tmp_path / "f.zarr"
    for _ in range(2):  # the same clear error on every rerun
        with pytest.raises(InputError) as err:
            ingest(tif, dest, chunks=10)
        msg = str(err.value)
        assert str(tif) in msg and "frame 17" in msg and "(y=3, x=4)" in msg
        assert ("nan" if np.isnan(value) else "inf") in msg and "also frames 19" in msg
    if dest.exists():  # nothing that looks complete (removed, or left incomplete)
        with pytest.raises(IncompleteStoreError):
            open_movie(dest)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    tif = folder / "s.tif"
    tifffile.imwrite(tif, np.random.default_rng(3).integers(0, 900, (60, 24, 24), np.uint16))
    return ingest(tif, folder / "s.zarr")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--frames", "0,61"], "statistic.frames: expected [start, end) within the 60 frames"),
        (["--frames", "70,80"], "statistic.frames: expected [start, end) within the 60 frames"),
        (["--set", "deconvolution.psf.size=100001"], "deconvolution.psf.size: expected an odd"),
        (["--ldrc-window", "40"], "ldrc.window_size: expected at most the image's size (24, 24)"),
        (["--orders", "1"], "ldrc.mask: expected 'average' or 'order<k>'"),
        (["--psf-file", "/no/such/psf.npy"], "deconvolution.psf.path: /no/such/psf.npy"),
        (["--set", "deconvolution.psf.path=/x.npy"], "deconvolution.psf.kind: expected 'file'"),
    ],
)
def test_misleading_options_are_errors_naming_the_key(
    small_store, tmp_path, capsys, options, message
):
    out = tmp_path / "out"
    argv = ["run", str(small_store), "-o", str(out), "--no-progress", "--no-figures", *options]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == []


def test_psf_file_alone_selects_the_file_psf(tmp_path):
    from sofi_dask.cli._main import build_parser
    from sofi_dask.cli._run import build_config

    psf = tmp_path / "psf.npy"
    np.save(psf, np.ones((5, 5)))
    args = build_parser().parse_args(["run", "in.zarr", "-o", "out", "--psf-file", str(psf)])
    config = build_config(args)
    assert config.deconvolution.psf.kind == "file"
    assert config.deconvolution.psf.path == str(psf)


def test_imagej_stack_with_time_as_channels_needs_axes(tmp_path, capsys):
    movie = np.random.default_rng(4).integers(0, 900, (50, 16, 16), dtype=np.uint16)
    tif = tmp_path / "ij.tif"
    tifffile.imwrite(tif, movie, imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(ValueError, match=r"50 channels .*axes='TYX' \(--axes\)"):
        ingest(tif, tmp_path / "a.zarr")
    with pytest.raises(InputError, match=r"parameter 'axes': expected 3 distinct letters ending"):
        ingest(tif, tmp_path / "b.zarr", axes="TX")
    assert main(["ingest", str(tif), str(tmp_path / "c.zarr"), "--axes", "TYX"]) == 0
    np.testing.assert_array_equal(open_movie(tmp_path / "c.zarr").data.compute(), movie)
    np.testing.assert_array_equal(open_movie(tif, axes="tyx").data.compute(), movie)
