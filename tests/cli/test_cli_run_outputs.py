"""``sofi-dask run``: the files it says it wrote exist (performance report, closing summary)."""

from __future__ import annotations

import pytest

from sofi_dask.cli._main import main
from sofi_dask.simulate import write_simulated_tiff

QUICK = ["--orders", "2", "--iterations", "2", "--ldrc-window", "9", "--bleaching", "off",
         "--quality", "off", "--no-figures", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_outputs") / "tiny.tif"
    write_simulated_tiff(path, n_frames=60, frame_shape=(16, 18), seed=3, pixel_size=0.1)
    return path


@pytest.mark.parametrize("scheduler", [["--scheduler", "processes"], ["--threads-per-worker", "1"]])
def test_performance_report_is_written_with_a_local_scheduler(tmp_path, movie, capsys, scheduler):
    """The command runs dask's local schedulers (threads by default) as a local cluster to
    write the report; that cluster takes the cluster options given with it."""
    report = tmp_path / "rep.html"
    args = ["run", str(movie), "-o", str(tmp_path / "out"), *QUICK, *scheduler,
            "--workers", "1", "--performance-report", str(report)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert report.is_file() and report.stat().st_size > 1000
    assert "<html" in report.read_text(errors="replace").lower()
    assert f"performance report: {report}" in printed


@pytest.mark.parametrize(
    ("flags", "listed"),
    [
        ([], ["results.zarr/ldrc_order2", "tiff/ldrc_order2.tif"]),
        (["--set", "outputs.zarr=false"], ["tiff/ldrc_order2.tif"]),
        (["--set", "outputs.tiff_float32=false"], ["results.zarr/ldrc_order2"]),
        (["--set", "outputs.zarr=false", "--set", "outputs.tiff_float32=false",
          "--set", "outputs.tiff_rgb=false"], ["png/ldrc_order2.png"]),
    ],
)  # fmt: skip
def test_the_summary_lists_only_files_that_exist(tmp_path, movie, capsys, flags, listed):
    out = tmp_path / "out"
    assert main(["run", str(movie), "-o", str(out), *QUICK, *flags]) == 0
    (line,) = [t for t in capsys.readouterr().out.splitlines() if "order 2:" in t]
    shown = line.split("(", 1)[1].rstrip(")").split(", ")
    assert shown == listed
    assert all((out / path).exists() for path in shown)


def _error(args, capsys):
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_config_file_that_is_not_utf8_is_named(tmp_path, movie, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[deconvolution]\nlam = '\xff\xfe'\n")
    line = _error(["run", str(movie), "-o", str(tmp_path / "out"), "--config", str(bad)], capsys)
    assert f"{bad}: expected a UTF-8 text file" in line and "0xff" in line


@pytest.mark.parametrize("name", ["notatiff.tif", "notanpy.npy"])
def test_a_psf_file_that_cannot_be_read_names_the_key_and_the_file(tmp_path, movie, capsys, name):
    psf = tmp_path / name
    psf.write_bytes(b"junk" * 8)
    args = ["run", str(movie), "-o", str(tmp_path / "out"), *QUICK, "--psf-file", str(psf)]
    line = _error(args, capsys)
    assert "deconvolution.psf.path: expected a PSF image" in line and str(psf) in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("frames", [[], ["--frames", "10,40"]])
def test_a_video_window_longer_than_the_movie_names_the_key(tmp_path, movie, capsys, frames):
    args = ["run", str(movie), "-o", str(tmp_path / "out"), *QUICK, "--video", "1000", *frames]
    line = _error(args, capsys)
    n = 30 if frames else 60
    assert f"video.window: expected at most the {n} frames of " in line and "got 1000" in line
    assert ("statistic.frames" in line) == bool(frames)
