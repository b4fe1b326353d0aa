"""`sofi-dask run` names each option given whose stage is off or that another option overrides:
one warning per setting on stderr (logging), and the run goes on."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from sofi_dask.cli._main import main
from sofi_dask.simulate import write_simulated_tiff

LOGGER = "sofi_dask.pipeline._config_checks"


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moot")
    path = folder / "movie.tif"
    write_simulated_tiff(path, n_frames=60, frame_shape=(32, 32), seed=3)
    y, x = np.mgrid[-3:4, -3:4]
    np.save(folder / "psf.npy", np.exp(-(x**2 + y**2) / 2.0))
    return path


def _run(movie, tmp_path, caplog, *options):
    common = ["--no-figures", "--no-progress", "--quality", "off", "--cache-dir", str(tmp_path)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        code = main(["run", str(movie), "-o", str(tmp_path / "out"), *common, *options])
    assert code == 0
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


CASES = [
    (
        ["--deconvolution", "off", "--lam", "2", "--iterations", "3", "--psf-sigma", "1.5"],
        {
            "deconvolution.lam = 2.0": "deconvolution.enabled = false",
            "deconvolution.iterations = 3": "deconvolution.enabled = false",
            "deconvolution.psf.sigma_px = 1.5": "deconvolution.enabled = false",
        },
    ),
    (
        ["--iterations", "2", "--ldrc", "off", "--ldrc-window", "9"],
        {"ldrc.window_size = [9, 9]": "ldrc.enabled = false"},
    ),
    (
        ["--iterations", "2", "--bleaching", "off", "--fbc", "0.1"],
        {"bleaching.fbc = 0.1": "bleaching.enabled = false"},
    ),
    (
        ["--iterations", "2", "--bleaching-method", "exp", "--iir-cutoff", "0.1"],
        {"bleaching.iir_cutoff = 0.1": "bleaching.method = 'exp'"},
    ),
    (["--iterations", "2", "--step", "5"], {"video.step = 5": "video.enabled = false"}),
    (
        ["--iterations", "2", "--psf-sigma", "1.5", "--psf-file", "PSF"],
        {"deconvolution.psf.sigma_px = 1.5": "deconvolution.psf.kind = 'file'"},
    ),
    (
        ["--iterations", "2", "--workers", "2", "--scheduler", "synchronous"],
        {"compute.n_workers = 2": "compute.scheduler = 'synchronous'"},
    ),
]


@pytest.mark.parametrize(("options", "expected"), CASES, ids=lambda v: " ".join(v)[:40])
def test_moot_option_warns_once(movie, tmp_path, caplog, options, expected):
    options = [str(movie.parent / "psf.npy") if o == "PSF" else o for o in options]
    messages = _run(movie, tmp_path, caplog, *options)
    assert len(messages) == len(expected), messages
    for setting, reason in expected.items():
        hits = [m for m in messages if m.startswith(f"{setting} has no effect: {reason}")]
        assert len(hits) == 1, (setting, messages)


@pytest.mark.parametrize(
    "options",
    [
        ["--iterations", "2"],
        "--lam 2 --psf-sigma 1.5 --ldrc-window 5 --fbc 0.5 --workers 2".split(),
        "--iterations 2 --video 20 --step 10 --bleaching-method iir --iir-cutoff 0.1 "
        "--scheduler synchronous --deconvolution on".split(),
    ],
    ids=["defaults", "used-options", "used-video-options"],
)
def test_no_warning_for_defaults_or_options_used(movie, tmp_path, caplog, options):
    assert _run(movie, tmp_path, caplog, *options) == []


def test_warning_reaches_stderr(movie, tmp_path, capsys):
    # the program's logging (main's basicConfig) writes the line on stderr; under pytest the
    # root logger already has handlers, so add one on stderr as the program has
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    try:
        options = "--quality off --ldrc off --ldrc-window 9 --iterations 2 --no-figures"
        code = main(
            ["run", str(movie), "-o", str(tmp_path / "out"), "--cache-dir", str(tmp_path)]
            + [*options.split(), "--no-progress"]
        )
    finally:
        logging.getLogger().removeHandler(handler)
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("ldrc.window_size = [9, 9] has no effect: ldrc.enabled = false") == 1
