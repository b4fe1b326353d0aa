"""Tests of the blinking-movie simulator against direct numpy/scipy references."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import stats

from sofi_dask.cli import _main as cli
from sofi_dask.errors import InputError
from sofi_dask.simulate._kernels import _poisson
from sofi_dask.simulate._simulate import (
    SimulationConfig,
    emitter_states,
    ground_truth,
    iter_simulated_batches,
    read_ground_truth,
    simulate_movie,
    write_simulated_tiff,
    write_simulated_zarr,
)

SMALL = SimulationConfig(
    n_frames=60,
    frame_shape=(32, 40),
    n_filaments=2,
    emitters_per_filament=15,
    n_isolated=5,
    bleach_lifetime=80.0,
    seed=11,
)


def test_shape_dtype_and_truth():
    sim = simulate_movie(SMALL)
    assert sim.data.shape == (60, 32, 40)
    assert sim.data.dtype == np.uint16
    assert sim.truth.n_emitters == 35 == SMALL.n_emitters
    assert (sim.truth.filament == -1).sum() == 5
    assert set(sim.truth.filament[:30]) == {0, 1}
    lo = SMALL.margin
    assert (sim.truth.x >= lo).all() and (sim.truth.x <= 40 - 1 - lo).all()
    assert (sim.truth.y >= lo).all() and (sim.truth.y <= 32 - 1 - lo).all()
    # truth's on-frame counts are the emitting states the movie used
    assert np.array_equal(sim.truth.on_frames, emitter_states(SMALL).sum(axis=0))


def test_deterministic_by_seed():
    a = simulate_movie(SMALL).data
    b = simulate_movie(SMALL).data
    c = simulate_movie(SMALL, seed=12).data
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(("batch", "threads"), [(1, 1), (7, 3), (13, 2), (1000, 4)])
def test_batch_size_and_threads_do_not_change_bytes(batch, threads):
    ref = simulate_movie(SMALL, threads=1).data
    got = np.concatenate(
        [f for _, f in iter_simulated_batches(SMALL, batch_frames=batch, threads=threads)]
    )
    assert got.tobytes() == ref.tobytes()


def test_emitter_states_window_matches_full_run():
    full = emitter_states(SMALL)
    assert np.array_equal(emitter_states(SMALL, frames=(17, 45)), full[17:45])


def test_on_ratio_and_durations_match_config():
    cfg = SimulationConfig(
        n_frames=3000, n_filaments=0, n_isolated=300, on_ratio=0.25, mean_on_frames=4.0, seed=3
    )
    states = emitter_states(cfg)
    assert abs(states.mean() - 0.25) < 0.01
    # complete on/off runs (not touching the first or last frame)
    on_runs, off_runs = [], []
    for col in states.T.astype(np.int8):
        edges = np.flatnonzero(np.diff(col)) + 1
        lengths = np.diff(edges)
        first_on = col[edges[0]] == 1
        on_runs.append(lengths[0 if first_on else 1 :: 2])
        off_runs.append(lengths[1 if first_on else 0 :: 2])
    on_runs, off_runs = np.concatenate(on_runs), np.concatenate(off_runs)
    assert abs(on_runs.mean() - 4.0) / 4.0 < 0.04
    assert abs(off_runs.mean() - 12.0) / 12.0 < 0.04  # 1 / p_on = 4 * 0.75 / 0.25
    # on durations are geometric: P(length = 1) = p_off
    assert abs((on_runs == 1).mean() - 0.25) < 0.02


def test_bleaching_decays_total_signal():
    base = dict(
        n_frames=600,
        frame_shape=(48, 48),
        n_filaments=0,
        n_isolated=400,
        seed=2,
        mean_on_frames=2.0,
        on_ratio=0.3,
    )
    cfg = SimulationConfig(**base, bleach_lifetime=200.0)
    data = simulate_movie(cfg).data.astype(np.float64)
    flat = simulate_movie(SimulationConfig(**base)).data.astype(np.float64)
    floor = 48 * 48 * (cfg.baseline + cfg.gain * cfg.background)

    def signal(movie):
        return movie.sum(axis=(1, 2)) - floor

    s, f = signal(data), signal(flat)
    ratio = s[400:600].mean() / s[0:200].mean()
    assert ratio == pytest.approx(np.exp(-400 / 200), rel=0.2)
    assert f[400:600].mean() / f[0:200].mean() == pytest.approx(1.0, rel=0.05)
    # decay rate from a log-linear fit of the 50-frame window means
    windows = s.reshape(12, 50).mean(axis=1)
    slope = np.polyfit(np.arange(12) * 50 + 24.5, np.log(windows), 1)[0]
    assert -1 / slope == pytest.approx(200.0, rel=0.2)
    # emitting at frame t iff t < bleach_frame, with P = exp(-t / lifetime)
    truth = ground_truth(cfg)
    assert (truth.bleach_frame > 0).all()
    assert np.mean(truth.bleach_frame > 200) == pytest.approx(np.exp(-1), abs=0.08)


def test_rendered_signal_matches_direct_psf_formula():
    cfg = SMALL.replace(poisson_noise=False, read_noise=0.0, background=0.0, baseline=0.0)
    sim = simulate_movie(cfg)
    on = emitter_states(cfg)
    yy = np.arange(32)[:, None]
    xx = np.arange(40)[None, :]
    s2 = cfg.psf_sigma
    ref = np.zeros((cfg.n_frames, 32, 40))
    for e in range(cfg.n_emitters):
        px = stats.norm.cdf(xx + 0.5, sim.truth.x[e], s2) - stats.norm.cdf(
            xx - 0.5, sim.truth.x[e], s2
        )
        py = stats.norm.cdf(yy + 0.5, sim.truth.y[e], s2) - stats.norm.cdf(
            yy - 0.5, sim.truth.y[e], s2
        )
        ref += on[:, e, None, None] * (cfg.photons * py * px)[None]
    diff = np.abs(sim.data - ref)
    assert diff.max() <= 0.5 + 1e-3  # rounding only (the 4-sigma patch loses < 1e-3 photon)
    # exact but for values within float error of a rounding boundary
    assert (sim.data != np.rint(ref)).mean() < 1e-4
    assert sim.data.sum() > 0.9 * cfg.photons * on.sum()


def test_noise_mean_and_variance():
    cfg = SimulationConfig(
        n_frames=200,
        frame_shape=(32, 32),
        n_filaments=0,
        n_isolated=0,
        background=50.0,
        gain=2.0,
        baseline=100.0,
        read_noise=3.0,
    )
    data = simulate_movie(cfg).data.astype(np.float64)
    assert data.mean() == pytest.approx(200.0, abs=0.1)
    # Poisson (gain^2 * mean) + read noise + rounding
    assert data.var() == pytest.approx(4 * 50 + 9 + 1 / 12, rel=0.03)
    # no pixel-to-pixel or frame-to-frame correlation from the hashing
    assert abs(np.corrcoef(data[:, :, :-1].ravel(), data[:, :, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(data[:-1].ravel(), data[1:].ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("lam", [0.3, 4.0, 12.0, 80.0, 2500.0])
def test_poisson_sampler_distribution(lam):
    n = 20000
    state = np.uint64(12345)
    draws = np.empty(n, dtype=np.int64)
    for i in range(n):
        draws[i], state = _poisson(lam, state)
        state = np.uint64(state)  # numba hands back a Python int
    assert draws.mean() == pytest.approx(lam, abs=5 * np.sqrt(lam / n))
    assert draws.var() == pytest.approx(lam, rel=0.06)
    # chi-square against the Poisson pmf on bins with expected count >= 20
    lo, hi = stats.poisson.ppf([1e-4, 1 - 1e-4], lam).astype(int)
    ks = np.arange(lo, hi + 1)
    expected = stats.poisson.pmf(ks, lam) * n
    keep = expected >= 20
    observed = np.array([(draws == k).sum() for k in ks[keep]])
    chi2 = ((observed - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4


def test_shot_noise_of_emitters_in_rendered_movie():
    """Signal photons are Poisson: the brightest pixel of one emitter, over its on frames."""
    cfg = SimulationConfig(
        n_frames=4000,
        frame_shape=(16, 16),
        n_filaments=0,
        n_isolated=1,
        photons=400.0,
        on_ratio=0.5,
        background=0.0,
        baseline=0.0,
        read_noise=0.0,
        psf_sigma=1.0,
        seed=9,
    )
    sim = simulate_movie(cfg)
    on = emitter_states(cfg)[:, 0]
    x, y = sim.truth.x[0], sim.truth.y[0]
    i, j = round(y), round(x)
    p = (stats.norm.cdf(i + 0.5, y, 1.0) - stats.norm.cdf(i - 0.5, y, 1.0)) * (
        stats.norm.cdf(j + 0.5, x, 1.0) - stats.norm.cdf(j - 0.5, x, 1.0)
    )
    lam = 400.0 * p
    values = sim.data[on, i, j].astype(np.float64)
    assert values.mean() == pytest.approx(lam, abs=5 * np.sqrt(lam / values.size))
    assert values.var() == pytest.approx(lam, rel=0.1)
    assert (sim.data[~on] == 0).all()
    # whole-frame photon counts: Poisson with the emitter's total (minus border losses)
    totals = sim.data[on].sum(axis=(1, 2)).astype(np.float64)
    assert totals.var() == pytest.approx(totals.mean(), rel=0.1)
    assert totals.mean() == pytest.approx(400.0, rel=0.01)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_frames", 0),
        ("n_frames", 2.5),
        ("frame_shape", (4, 64)),
        ("frame_shape", 64),
        ("on_ratio", 0.0),
        ("on_ratio", 1.2),
        ("mean_on_frames", 0.5),
        ("psf_sigma", -1.0),
        ("photons", float("nan")),
        ("bleach_lifetime", 0.0),
        ("poisson_noise", 1),
        ("seed", -1),
        ("n_isolated", True),
        ("read_noise", -0.1),
    ],
)
def test_bad_parameters_name_the_parameter(name, value):
    with pytest.raises(ValueError, match=name):
        SimulationConfig(**{name: value})


def test_impossible_blinking_and_unknown_keys():
    with pytest.raises(ValueError, match="on_ratio"):
        SimulationConfig(on_ratio=0.9, mean_on_frames=2.0)  # p_on would be 4.5
    with pytest.raises(ValueError, match="n_framez"):
        SimulationConfig.from_dict({"n_framez": 10})
    with pytest.raises(ValueError, match="batch_frames"):
        next(iter_simulated_batches(SMALL, batch_frames=0))


def test_config_dict_round_trip():
    d = SMALL.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert SimulationConfig.from_dict(d) == SMALL
    assert SimulationConfig.from_dict({}) == SimulationConfig()


def test_write_tiff_memmap_truth_and_refusals(tmp_path):
    path = tmp_path / "movie.tif"
    out = write_simulated_tiff(path, SMALL, batch_frames=7, threads=2)
    assert out == path
    ref = simulate_movie(SMALL)
    mm = tifffile.memmap(path, mode="r")
    assert mm.shape == (60, 32, 40) and mm.dtype == np.uint16
    assert np.array_equal(mm, ref.data)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 60 and not tif.is_bigtiff
        assert tif.series[0].dataoffset is not None  # one contiguous block
    truth = read_ground_truth(path)
    np.testing.assert_array_equal(truth.x, ref.truth.x)
    np.testing.assert_array_equal(truth.on_frames, ref.truth.on_frames)
    meta = json.loads((tmp_path / "movie.tif.simulation.json").read_text())
    assert SimulationConfig.from_dict(meta["config"]) == SMALL
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_simulated_tiff(path, SMALL.replace(seed=1))
    assert path.read_bytes() == before
    write_simulated_tiff(path, SMALL.replace(seed=1), overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(FileNotFoundError):
        write_simulated_tiff(tmp_path / "missing" / "m.tif", SMALL)


def test_interrupted_write_leaves_nothing(tmp_path):
    path = tmp_path / "movie.tif"

    def boom(done, total):
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_simulated_tiff(path, SMALL, batch_frames=10, progress=boom)
    assert list(tmp_path.iterdir()) == []


def test_write_zarr_matches_memory(tmp_path, ngff_validate):
    io = pytest.importorskip("sofi_dask.io")
    import zarr

    path = tmp_path / "movie.zarr"
    write_simulated_zarr(path, SMALL, chunks=(16, -1, -1))
    movie = io.open_movie(path)
    ref = simulate_movie(SMALL)
    np.testing.assert_array_equal(movie.data.compute(), ref.data)
    np.testing.assert_array_equal(
        movie.frame_stats.total, ref.data.sum(axis=(1, 2), dtype=np.float64)
    )
    group = zarr.open_group(str(path), mode="r")
    table = np.asarray(group["ground_truth"][...])
    np.testing.assert_array_equal(table[:, 0], ref.truth.x)
    np.testing.assert_array_equal(table[:, 5], ref.truth.on_frames)
    assert group.attrs["sofi_dask_simulation"]["config"] == SMALL.to_dict()
    assert read_ground_truth(path).n_emitters == SMALL.n_emitters
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "movie.zarr",
        "movie.zarr.simulation.json",
        "movie.zarr.truth.csv",
    ]
    # written directly (no temporary TIFF recorded as a source that no longer exists)
    info = group.attrs["sofi_dask"]
    assert info["complete"] is True
    assert info["source"] == [{"simulated": True, "seed": 11, "generator": "sofi_dask.simulate"}]
    assert group.attrs["ome"]["multiscales"][0]["name"] == "movie.zarr"
    ngff_validate(tmp_path / "movie.zarr")
    assert movie.pixel_size == pytest.approx(SMALL.pixel_size)


@pytest.mark.parametrize(("chunks", "batch"), [((7, 16, 16), 10), (25, None), (None, 1)])
def test_write_zarr_batches_follow_chunks(tmp_path, chunks, batch):
    """Any chunks / batch size give the same movie and statistics as the in-memory one."""
    io = pytest.importorskip("sofi_dask.io")
    path = write_simulated_zarr(
        tmp_path / "m.zarr", SMALL, chunks=chunks, batch_frames=batch, threads=2
    )
    movie = io.open_movie(path)
    ref = simulate_movie(SMALL).data
    np.testing.assert_array_equal(movie.data.compute(), ref)
    np.testing.assert_array_equal(movie.frame_stats.minimum, ref.min(axis=(1, 2)))
    np.testing.assert_allclose(movie.frame_stats.mean, ref.mean(axis=(1, 2)), rtol=1e-12)
    if chunks is not None:
        expected = (chunks, 32, 40) if isinstance(chunks, int) else chunks
        assert movie.data.chunksize == expected


def test_write_zarr_interrupted_or_refused_leaves_nothing(tmp_path):
    path = tmp_path / "movie.zarr"

    def boom(done, total):
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_simulated_zarr(path, SMALL, chunks=10, progress=boom)
    assert list(tmp_path.iterdir()) == []
    # overwrite replaces our own store, never a folder that is not one
    write_simulated_zarr(path, SMALL.replace(n_frames=12))
    write_simulated_zarr(path, SMALL.replace(n_frames=14), overwrite=True)
    assert json.loads((tmp_path / "movie.zarr.simulation.json").read_text())["shape"][0] == 14
    other = tmp_path / "results.zarr"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="parameter .path.: .*, got .*results.zarr, a non-empty"):
        write_simulated_zarr(other, SMALL, overwrite=True)
    assert (other / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "movie.zarr",
        "movie.zarr.simulation.json",
        "movie.zarr.truth.csv",
        "results.zarr",
    ]


def test_zarr_default_chunks_bound_memory():
    from sofi_dask.simulate._writers import ZARR_BATCH_BYTES, _zarr_chunks

    small = SimulationConfig(n_frames=5000, frame_shape=(256, 256))
    assert _zarr_chunks(small, None) == (256, 256, 256)  # ingest's default
    big = SimulationConfig(n_frames=5000, frame_shape=(2048, 2048))
    c = _zarr_chunks(big, None)
    assert c[0] * 2048 * 2048 * 2 <= ZARR_BATCH_BYTES and c[2] == 2048
    assert c[0] * c[1] * c[2] * 2 >= 16 << 20  # chunks stay tens of MB


def test_cli_round_trip(tmp_path, capsys):
    out = tmp_path / "cli.tif"
    argv = [
        "simulate",
        str(out),
        "--frames",
        "25",
        "--shape",
        "32x36",
        "--seed",
        "4",
        "--on-ratio",
        "0.3",
        "--bleach-lifetime",
        "40",
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    cfg = SimulationConfig(
        n_frames=25, frame_shape=(32, 36), seed=4, on_ratio=0.3, bleach_lifetime=40.0
    )
    np.testing.assert_array_equal(tifffile.imread(out), simulate_movie(cfg).data)
    # the parameters written beside the movie reproduce it
    again = tmp_path / "again.tif"
    side = tmp_path / "cli.tif.simulation.json"
    assert cli.main(["simulate", str(again), "--config", str(side), "--no-progress"]) == 0
    assert again.read_bytes() == out.read_bytes()
    # bad parameter: exit status 2 and a message naming it; existing output untouched
    assert cli.main(["simulate", str(out), "--on-ratio", "1.5", "--overwrite"]) == 2
    assert "on_ratio" in capsys.readouterr().err
    assert cli.main(["simulate", str(out), "--frames", "5", "--no-progress"]) == 2
    assert "exists" in capsys.readouterr().err
    np.testing.assert_array_equal(tifffile.imread(out), simulate_movie(cfg).data)
