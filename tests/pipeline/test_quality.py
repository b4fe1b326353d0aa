"""The quality section and the drift stage of run_pipeline, end to end on simulated movies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from sofi_dask.image import deconvsk, ldrc
from sofi_dask.image._masks import gauss2d_mask
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.quality import frc, split_moment_stacks
from sofi_dask.simulate import SimulationConfig, write_simulated_tiff
from sofi_dask.stats import block_average, block_cumulants, cumulant_stack, cumulants

FAST = {
    "statistic.orders": [2, 3],
    "deconvolution.iterations": 2,
    "deconvolution.psf.size": 9,
    "ldrc.window_size": 7,
    "compute.progress": False,
    "quality.block_frames": 50,
}
SIM = SimulationConfig(
    n_frames=600, frame_shape=(48, 48), n_filaments=3, emitters_per_filament=40, seed=4
)


def _cfg(**extra):
    return apply_overrides(PipelineConfig(), {**FAST, **extra})


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("movie") / "m.tif"
    write_simulated_tiff(path, SIM)
    return path


def _floored(mask):
    """The default LDRC mask: less its 5th percentile, clipped at 0 (ldrc.mask_floor)."""
    return np.clip(mask - np.percentile(mask, 5), 0, None)


def test_quality_section_from_the_same_pass(tmp_path, movie_tif):
    cfg = _cfg(**{"bleaching.enabled": False, "quality.outputs": "all"})
    result = run_pipeline(movie_tif, tmp_path / "q", cfg)
    data = tifffile.imread(movie_tif).astype(np.float64)
    # the statistic from sub-window states equals the direct one-pass statistic
    direct = cumulants(data, 3)
    for k in (2, 3):
        np.testing.assert_allclose(result.load(f"cumulants_order{k}"), direct[k], rtol=1e-9)
    rec = json.loads((result.output / "run.json").read_text())
    q = rec["quality"]
    images = q["images"]
    # quality.outputs = "all": FRC of every output image, decorrelation and error maps of the
    # final ones
    assert set(images) == {
        "average",
        "cumulants_order2",
        "cumulants_order3",
        "deconvolution_order2",
        "deconvolution_order3",
        "ldrc_order2",
        "ldrc_order3",
    }
    # FRC of the halves as sofi_dask.frc on halves of blocks of 50 frames
    split = split_moment_stacks(data, 3, block_frames=50)
    a, b = cumulant_stack(split.half_a), cumulant_stack(split.half_b)
    expected = frc(np.abs(a[2]), np.abs(b[2]), pixel_size=SIM.pixel_size)
    assert images["cumulants_order2"]["frc_resolution"] == pytest.approx(expected.resolution)
    # each half through the run's deconvolution, then LDRC with that half's own mask (the
    # default ldrc.mask: the order-2 image)
    cfg = result.record["parameters"]
    # the order-3 image's PSF: a Gaussian of sigma / sqrt(3); the mask less its 5th percentile
    psf = gauss2d_mask((9, 9), cfg["deconvolution"]["psf"]["sigma_px"] / np.sqrt(3))
    halves = {}
    for name, half in (("a", a), ("b", b)):
        dec = deconvsk(np.abs(half[3]), psf, lam=cfg["deconvolution"]["lam"], iterations=2)
        halves[name] = (dec, ldrc(dec, _floored(np.abs(half[2])), window_size=7))
    for i, stage in enumerate(("deconvolution", "ldrc")):
        expected = frc(halves["a"][i], halves["b"][i], pixel_size=SIM.pixel_size)
        got = images[f"{stage}_order3"]["frc_resolution"]
        assert got == pytest.approx(expected.resolution, rel=1e-6)
    assert images["cumulants_order2"]["frc_resolution"] < images["average"]["frc_resolution"]
    assert images["ldrc_order2"]["rsp"] > 0.5 and images["ldrc_order2"]["rse"] > 0
    assert images["ldrc_order2"]["decorrelation_resolution_pixels"] is not None
    conv = q["convergence"]
    assert conv["frames"] == [50, 100, 200, 400, 600]
    assert set(conv["relative_change"]) == {"1", "2", "3"}
    assert conv["relative_change"]["2"][-1] < conv["relative_change"]["2"][0]
    assert {"figure:frc", "figure:convergence"} <= set(rec["figures"])
    assert (result.output / "figures" / "frc.png").is_file()
    assert "quality" in rec["timings"]["phases_s"]
    # the halves' tasks are the quality stage's, not "write" (every unclaimed task was)
    stages = rec["timings"]["stages"]
    assert stages["quality"]["tasks"] > stages.get("unattributed", {"tasks": 0})["tasks"]


def test_bleaching_blocks_keep_their_numbers_and_get_halves(tmp_path, movie_tif):
    on = run_pipeline(movie_tif, tmp_path / "on", _cfg(**{"outputs.figures": False}))
    off = run_pipeline(
        movie_tif,
        tmp_path / "off",
        _cfg(**{"outputs.figures": False, "quality.enabled": False}),
    )
    rec_on = json.loads((on.output / "run.json").read_text())
    rec_off = json.loads((off.output / "run.json").read_text())
    assert "quality" not in rec_off
    blocks = [tuple(b) for b in rec_on["bleaching_blocks"]]
    data = tifffile.imread(movie_tif).astype(np.float64)
    expected = block_average(block_cumulants(data, 3, blocks))
    for k in (2, 3):
        np.testing.assert_allclose(on.load(f"cumulants_order{k}"), expected[k], rtol=1e-9)
        np.testing.assert_allclose(
            on.load(f"cumulants_order{k}"), off.load(f"cumulants_order{k}"), rtol=1e-9
        )
    assert rec_on["quality"]["images"]["cumulants_order2"]["frc_resolution"] is not None
    # convergence over prefixes of whole blocks: the block average of the first 1, 2, 4... blocks
    conv = rec_on["quality"]["convergence"]
    sizes = [b - a for a, b in blocks]
    prefixes = [sum(sizes[:m]) for m in (1, 2, 4, 8, 16, 32) if m < len(blocks)]
    assert len(blocks) >= 2 and conv["frames"] == [*prefixes, data.shape[0]]
    first_two = block_average(block_cumulants(data, 3, blocks[:2]))[2]
    first_one = block_cumulants(data, 3, blocks[:1])[0][2]
    expected_change = np.linalg.norm(first_two - first_one) / np.linalg.norm(first_two)
    assert conv["relative_change"]["2"][0] == pytest.approx(expected_change, rel=1e-6)


def test_halves_take_their_own_average_as_ldrc_mask_and_outputs_statistic(tmp_path, movie_tif):
    base = {"bleaching.enabled": False, "outputs.figures": False, "deconvolution.enabled": False}
    cfg = _cfg(**base, **{"ldrc.mask": "average", "quality.outputs": "all"})
    run = run_pipeline(movie_tif, tmp_path / "all", cfg)
    images = json.loads((run.output / "run.json").read_text())["quality"]["images"]
    data = tifffile.imread(movie_tif).astype(np.float64)
    split = split_moment_stacks(data, 3, block_frames=50)
    a, b = cumulant_stack(split.half_a), cumulant_stack(split.half_b)
    expected = frc(
        ldrc(np.abs(a[2]), _floored(a[0]), window_size=7),
        ldrc(np.abs(b[2]), _floored(b[0]), window_size=7),
        pixel_size=SIM.pixel_size,
    )
    assert images["ldrc_order2"]["frc_resolution"] == pytest.approx(expected.resolution, rel=1e-6)
    only = run_pipeline(movie_tif, tmp_path / "statistic", _cfg(**base))  # the default
    images = json.loads((only.output / "run.json").read_text())["quality"]["images"]
    assert "frc_resolution" in images["cumulants_order2"]
    assert "frc_resolution" not in images["ldrc_order2"]  # measured, but no halves
    assert images["ldrc_order2"]["decorrelation_resolution_pixels"] is not None


def test_drift_stage_records_and_corrects(tmp_path):
    path = tmp_path / "drift.tif"
    sim = SIM.replace(n_frames=1000, drift=(1.0, -2.0))
    write_simulated_tiff(path, sim)
    cfg = _cfg(
        **{
            "bleaching.enabled": False,
            "drift.enabled": True,
            "drift.segment_frames": 100,
            "outputs.keep_stages": ["average", "statistic"],
        }
    )
    result = run_pipeline(path, tmp_path / "out", cfg)
    rec = json.loads((result.output / "run.json").read_text())
    drift = rec["drift"]
    trace = np.array(drift["trace_pixels"])
    truth = sim.drift_trajectory()[drift["trace_frames"]]
    assert np.sqrt(np.mean(np.sum((trace - truth) ** 2, axis=1))) < 0.15
    assert drift["max_drift"] == pytest.approx(drift["max_drift_pixels"] * sim.pixel_size)
    assert "figure:drift" in rec["figures"]
    assert rec["timings"]["stages"]["drift"]["tasks"] > 0
    # the average image is of the drift-corrected movie, as the statistic images are
    from sofi_dask.io import open_movie
    from sofi_dask.stats import correct_drift, estimate_drift

    movie = open_movie(path).data
    corrected = correct_drift(movie, estimate_drift(movie, segment_frames=100))
    corrected = corrected.astype(np.float64).mean(axis=0)
    average = result.load("average")
    np.testing.assert_allclose(average, corrected.compute(), rtol=1e-9, atol=1e-9)
    assert np.abs(average - movie.mean(axis=0).compute()).max() > 0.1 * average.max()


def test_halves_round_trip_and_older_runs_npz(tmp_path):
    from sofi_dask.pipeline._quality_files import load_halves, save_halves

    rng = np.random.default_rng(0)
    halves = {
        "average": tuple(rng.random((2, 12, 10))),
        "ldrc_order2": tuple(rng.random((2, 12, 10))),
    }
    halves["finer"] = tuple(rng.random((2, 23, 19)))
    save_halves(tmp_path / "new" / "quality_halves.zarr", halves)
    old = tmp_path / "old"
    old.mkdir()
    np.savez_compressed(
        old / "quality_halves.npz",
        **{f"{n}__half_{ab}": h[i] for n, h in halves.items() for i, ab in enumerate("ab")},
    )
    for folder in (tmp_path / "new", old):
        loaded = load_halves(folder)
        assert sorted(loaded) == sorted(halves)
        for name, (a, b) in halves.items():
            np.testing.assert_array_equal(loaded[name][0], a)
            np.testing.assert_array_equal(loaded[name][1], b)


def test_a_failing_quality_section_fails_the_run_and_leaves_no_output(
    tmp_path, movie_tif, monkeypatch
):
    """The section runs on a side thread beside the files and figures: its error still ends
    the run, and the output folder is never committed (no half-written result)."""
    import sofi_dask.pipeline._quality as Q

    seen = []

    def broken(*args):
        seen.append(len(args))
        raise RuntimeError("quality measure broke")

    monkeypatch.setattr(Q, "quality_section", broken)
    out = tmp_path / "q"
    with pytest.raises(RuntimeError, match="quality measure broke"):
        run_pipeline(movie_tif, out, _cfg(**{"bleaching.enabled": False}))
    assert seen and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "q" in p.name] == []  # no partial folder left


def test_quality_section_with_figures_off(tmp_path, movie_tif):
    """Without figures nothing waits for the side thread before the end: still recorded."""
    result = run_pipeline(
        movie_tif, tmp_path / "q", _cfg(**{"bleaching.enabled": False, "outputs.figures": False})
    )
    rec = json.loads((result.output / "run.json").read_text())
    assert rec["quality"]["images"]["cumulants_order2"]["frc_resolution"] > 0
    assert (result.output / rec["quality"]["halves_file"]).exists()


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"quality.block_frames": 100}, "the movie has 150 frames, fewer than 2 x quality.block"),
        (
            {"statistic.frames": [10, 110], "quality.block_frames": 60},
            "statistic.frames has 100 frames, fewer than 2 x quality.block_frames (60)",
        ),
        ({"statistic.kind": "xc_cumulants"}, "statistic.kind = 'xc_cumulants'"),
        ({"video.enabled": True, "video.window": 50}, "a SOFI video (video.enabled)"),
    ],
)
def test_run_json_says_why_quality_measured_nothing(tmp_path, extra, why, caplog):
    tif = tmp_path / "short.tif"
    write_simulated_tiff(tif, n_frames=150, frame_shape=(16, 16), seed=3)
    cfg = _cfg(**{"bleaching.enabled": False, "outputs.figures": False, **extra})
    with caplog.at_level("INFO", logger="sofi_dask"):
        result = run_pipeline(tif, tmp_path / "out", cfg)
    q = json.loads((result.output / "run.json").read_text())["quality"]
    assert list(q) == ["skipped"] and q["skipped"].startswith(why), q
    logged = [r for r in caplog.records if "quality measures skipped" in r.getMessage()]
    assert len(logged) == 1 and q["skipped"] in logged[0].getMessage()
