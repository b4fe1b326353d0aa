"""run_pipeline end to end on small simulated movies, against the stage functions directly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

from sofi_dask.image import deconvsk, gauss1d_mask, gauss2d_mask, ldrc, noise_filter1d
from sofi_dask.io import ingest
from sofi_dask.pipeline import PipelineConfig, apply_overrides, run_pipeline
from sofi_dask.simulate import simulate_movie, write_simulated_tiff
from sofi_dask.stats import _moments as moments
from sofi_dask.stats import cumulants as stage_cumulants
from sofi_dask.stats import sofi_video

FAST = {
    "bleaching.enabled": False,
    "statistic.orders": [2, 3],
    "deconvolution.iterations": 2,
    "deconvolution.psf.size": 9,
    "ldrc.window_size": 7,
    "outputs.figures": False,
    "compute.progress": False,
}


def _cfg(**extra):
    return apply_overrides(PipelineConfig(), {**FAST, **extra})


def _floored(mask):
    """The default LDRC mask: less its 5th percentile, clipped at 0 (ldrc.mask_floor)."""
    return np.clip(mask - np.percentile(mask, 5), 0, None)


def _psf(order, size=9, sigma=2.0):
    """The default deconvolution PSF of an order-k image: a Gaussian of sigma / sqrt(k)."""
    return gauss2d_mask((size, size), sigma / np.sqrt(order))


@pytest.fixture(scope="module")
def movie_tif(tmp_path_factory):
    path = tmp_path_factory.mktemp("movie") / "m.tif"
    write_simulated_tiff(
        path, n_frames=240, frame_shape=(24, 28), seed=5, bleach_lifetime=4000.0, pixel_size=0.1
    )
    return path


@pytest.mark.parametrize("mask", ["order2", "average"])
def test_whole_movie_chain_matches_the_stages(tmp_path, movie_tif, mask, ngff_validate):
    result = run_pipeline(movie_tif, tmp_path / "out", _cfg(**{"ldrc.mask": mask}))
    _validate_every_image(result, ngff_validate, n_axes=2)
    data = tifffile.imread(movie_tif).astype(np.float64)
    expected_cum = stage_cumulants(data, 3)
    avg = data.mean(axis=0)
    mask_image = _floored(avg if mask == "average" else expected_cum[2])
    for k in (2, 3):
        np.testing.assert_allclose(
            result.load(f"cumulants_order{k}"), expected_cum[k], rtol=1e-9, atol=1e-9
        )
        dec = deconvsk(np.abs(expected_cum[k]), _psf(k), lam=1.5, iterations=2)  # |cumulant|
        np.testing.assert_allclose(result.load(f"deconvolution_order{k}"), dec, rtol=1e-7)
        np.testing.assert_allclose(
            result.load(f"ldrc_order{k}"),
            ldrc(dec, mask_image, window_size=(7, 7)),
            rtol=1e-7,
            atol=1e-9,
        )
    np.testing.assert_allclose(result.load("average"), avg, rtol=1e-12)
    assert result.final_images() == {2: "ldrc_order2", 3: "ldrc_order3"}
    rec = json.loads((result.output / "run.json").read_text())
    paths = {"input.path": str(movie_tif), "outputs.path": str(tmp_path / "out")}
    assert rec["parameters"] == _cfg(**{"ldrc.mask": mask, **paths}).to_dict()
    assert rec["input"]["shape"] == [240, 24, 28] and rec["input"]["dtype"] == "uint16"
    # the first parametrisation ingests the module's movie, the second reuses the store
    assert rec["input"]["ingestion"] == ("ingested" if mask == "order2" else "reused")
    assert rec["input"]["size"] == movie_tif.stat().st_size
    assert {"ingest", "compute", "write_files"} <= set(rec["timings"]["phases_s"])
    assert rec["timings"]["stages"]["statistic"]["tasks"] > 0
    assert "numpy" in rec["versions"]


def _validate_every_image(result, ngff_validate, n_axes):
    """Every image group of the run's results.zarr is a valid OME-NGFF 0.5 image."""
    names = sorted(zarr.open_group(result.zarr_path, mode="r").group_keys())
    assert names and "average" in names
    for name in names:
        group = ngff_validate(result.zarr_path / name)
        assert len(group.attrs["ome"]["multiscales"][0]["axes"]) == (
            2 if name == "average" else n_axes
        )


def test_video_chain_with_filters_and_finterp(tmp_path, movie_tif, ngff_validate):
    cfg = _cfg(
        **{
            "video.enabled": True,
            "video.window": 60,
            "video.step": 30,
            "statistic.kind": "moments",
            "noise_filter_1.enabled": True,
            "noise_filter_1.kernel_size": 5,
            "noise_filter_2.enabled": True,
            "finterp.enabled": True,
            "finterp.factor": 2,
            "ldrc.enabled": False,
            "outputs.tiff_rgb": False,
            "outputs.png": False,
            "outputs.figures": True,
        }
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    n_windows = (240 - 60) // 30 + 1
    grid = (47, 55)
    from sofi_dask.image import interpolate_movie

    data = tifffile.imread(movie_tif)
    ref = sofi_video(
        np.asarray(interpolate_movie(data, 2)), 3, window=60, step=30, statistic="moments"
    )
    f1 = noise_filter1d(ref[3], gauss1d_mask(5, 2.0), axis=0)
    stored = result.load("noise_filter_1_order3")
    assert stored.shape == (n_windows, *grid)
    np.testing.assert_allclose(stored, f1, rtol=1e-8, atol=1e-6)
    assert result.load("noise_filter_2_order3").shape == (n_windows, *grid)
    _validate_every_image(result, ngff_validate, n_axes=3)
    attrs = zarr.open_group(result.zarr_path / "noise_filter_2_order3", mode="r").attrs
    ms = attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["t", "y", "x"]
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [30.0, 0.05, 0.05]
    assert (result.output / "video" / "noise_filter_2_order3.gif").stat().st_size > 0
    assert not (result.output / "png").exists()
    # the video figure names each shown window by its frames (windows 0, 1, ... of 60, step 30)
    video_axes = [ax for ax in result.figures["video"].axes if ax.images]
    shown = np.linspace(0, n_windows - 1, min(n_windows, 8)).round().astype(int)
    assert [ax.get_title() for ax in video_axes] == [
        f"frames {30 * w}-{30 * w + 59}" for w in sorted(set(shown))
    ]
    np.testing.assert_allclose(
        video_axes[-1].images[0].get_array(), result.load("noise_filter_2_order3")[-1]
    )


def test_finterp_ldrc_with_the_average_mask_resampled(tmp_path, movie_tif):
    cfg = _cfg(
        **{
            "finterp.enabled": True,
            "finterp.factor": 2,
            "statistic.orders": [2],
            "deconvolution.enabled": False,
            "ldrc.mask": "average",
            "outputs.keep_stages": ["average", "statistic", "ldrc"],
        }
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    from sofi_dask.image import interpolate_movie, resample_mask

    data = tifffile.imread(movie_tif)
    avg = data.astype(np.float64).mean(axis=0)
    cum2 = stage_cumulants(np.asarray(interpolate_movie(data, 2)), 2)[2]
    np.testing.assert_allclose(result.load("average"), avg, rtol=1e-12)
    expected = ldrc(cum2, resample_mask(_floored(avg), 2), window_size=(7, 7))
    np.testing.assert_allclose(result.load("ldrc_order2"), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("quality", [True, False])
@pytest.mark.parametrize("bleaching", [True, False])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_finterp_average_image_from_the_statistics_pass(
    tmp_path, movie_tif, quality, bleaching, precision
):
    """With --finterp the average image is the input-grid samples of the fused stacks' mean
    (no reduction of its own): the movie's mean to rounding, in float32 arithmetic too."""
    cfg = _cfg(
        **{
            "finterp.enabled": True,
            "finterp.precision": precision,
            "quality.enabled": quality,
            "quality.block_frames": 40,
            "bleaching.enabled": bleaching,
            "bleaching.min_block_frames": 60,
            "deconvolution.enabled": False,
            "ldrc.enabled": False,
            "outputs.keep_stages": ["average", "statistic"],
        }
    )
    from sofi_dask.io import open_movie
    from sofi_dask.pipeline._graph import build_graph

    g = build_graph(open_movie(movie_tif), cfg)
    own = [name for name, stage in g.stage_of_layer.items() if stage == "average"]
    assert not any(name.startswith("mean") for name in own), own  # no reduction of its own
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    avg = tifffile.imread(movie_tif).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(result.load("average"), avg, rtol=1e-12)


def test_finterp_in_float32_within_its_documented_error(tmp_path, movie_tif):
    cfg = _cfg(
        **{
            "finterp.enabled": True,
            "finterp.precision": "float32",
            "statistic.orders": [2, 3, 4],
            "deconvolution.enabled": False,
            "ldrc.enabled": False,
            "quality.enabled": False,
            "outputs.keep_stages": ["statistic"],
        }
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    assert result.record["parameters"]["finterp"]["precision"] == "float32"
    from sofi_dask.image import interpolate_movie

    data = tifffile.imread(movie_tif)
    expected = stage_cumulants(np.asarray(interpolate_movie(data, 2)), 4)  # float64
    for k in (2, 3, 4):
        got = result.load(f"cumulants_order{k}")
        scale = np.abs(expected[k]).max()
        np.testing.assert_allclose(got, expected[k], rtol=0, atol=1e-5 * scale)
        assert not np.array_equal(got, expected[k])  # float32 arithmetic was used


def test_short_bleaching_blocks_are_merged_by_default(tmp_path):
    sim = simulate_movie(
        n_frames=400, frame_shape=(16, 16), seed=4, bleach_lifetime=150.0, photons=3000.0
    )
    tif = tmp_path / "s.tif"
    tifffile.imwrite(tif, sim.data, photometric="minisblack")
    cfg = _cfg(
        **{
            "bleaching.enabled": True,
            "statistic.orders": [2, 4],
            "deconvolution.enabled": False,
            "ldrc.enabled": False,
        }
    )
    result = run_pipeline(tif, tmp_path / "out", cfg)  # pysofi's fbc=0.04 blocks are too short
    blocks = [
        tuple(b) for b in json.loads((result.output / "run.json").read_text())["bleaching_blocks"]
    ]
    assert blocks[0][0] == 0 and blocks[-1][1] == 400 and min(b - a for a, b in blocks) >= 50
    from sofi_dask.stats import block_average

    per_block = [stage_cumulants(sim.data[a:b].astype(np.float64), 4) for a, b in blocks]
    np.testing.assert_allclose(
        result.load("cumulants_order4"), block_average(per_block)[4], rtol=1e-9, atol=1e-6
    )


def test_bleaching_blocks_on_an_ingested_store(tmp_path):
    sim = simulate_movie(
        n_frames=600, frame_shape=(20, 20), seed=2, bleach_lifetime=300.0, photons=2000.0
    )
    tif = tmp_path / "b.tif"
    tifffile.imwrite(tif, sim.data, photometric="minisblack")
    store = ingest(tif, tmp_path / "b.zarr")
    cfg = _cfg(
        **{
            "bleaching.enabled": True,
            "bleaching.fbc": 0.25,
            "bleaching.smooth_kernel": 51,
            "deconvolution.enabled": False,
            "ldrc.enabled": False,
            "outputs.keep_stages": ["statistic"],
        }
    )
    result = run_pipeline(store, tmp_path / "out", cfg)
    from sofi_dask.stats import bleaching_blocks

    signal = sim.data.reshape(600, -1).sum(axis=1, dtype=np.float64)
    blocks = bleaching_blocks(signal, fbc=0.25, kernel_size=51)
    assert len(blocks) > 2
    assert result.record["bleaching_blocks"] == [list(b) for b in blocks]
    per_block = [stage_cumulants(sim.data[a:b].astype(np.float64), 3)[3] for a, b in blocks]
    np.testing.assert_allclose(
        result.load("cumulants_order3"), np.mean(per_block, axis=0), rtol=1e-8, atol=1e-8
    )
    assert sorted(result.images) == ["cumulants_order2", "cumulants_order3"]
    assert result.record["input"]["ingestion"] == "none"


def test_ingestion_is_reused_and_input_untouched(tmp_path, movie_tif):
    import shutil

    tif = tmp_path / "copy.tif"
    shutil.copy(movie_tif, tif)
    before = (tif.stat().st_mtime_ns, tif.read_bytes())
    r1 = run_pipeline(tif, tmp_path / "o1", _cfg(**{"ldrc.enabled": False}))
    store = tmp_path / "copy.tif.zarr"
    stamp = (store / "zarr.json").stat().st_mtime_ns
    r2 = run_pipeline(tif, tmp_path / "o2", _cfg(**{"ldrc.enabled": False}))
    assert r1.record["input"]["ingestion"] == "ingested"
    assert r2.record["input"]["ingestion"] == "reused"
    assert (store / "zarr.json").stat().st_mtime_ns == stamp
    assert (tif.stat().st_mtime_ns, tif.read_bytes()) == before
    np.testing.assert_array_equal(r1.load("deconvolution_order2"), r2.load("deconvolution_order2"))
    # a cache folder instead of beside the input
    r3 = run_pipeline(tif, tmp_path / "o3", _cfg(), cache_dir=tmp_path / "cache")
    assert (tmp_path / "cache" / "copy.tif.zarr" / "zarr.json").is_file()
    assert r3.record["input"]["store"] == str(tmp_path / "cache" / "copy.tif.zarr")


def test_refusals(tmp_path, movie_tif):
    out = tmp_path / "out"
    run_pipeline(movie_tif, out, _cfg(**{"ldrc.enabled": False}))
    with pytest.raises(FileExistsError, match="already exists"):
        run_pipeline(movie_tif, out, _cfg())
    assert json.loads((out / "run.json").read_text())["parameters"]["ldrc"]["enabled"] is False
    result = run_pipeline(movie_tif, out, _cfg(), overwrite=True)
    assert "ldrc_order2" in result.images
    with pytest.raises(ValueError, match="input"):
        run_pipeline(movie_tif, movie_tif.parent / "m.tif.zarr", _cfg(), overwrite=True)
    with pytest.raises(ValueError, match="bleaching.min_block_frames"):
        run_pipeline(
            movie_tif,
            tmp_path / "o2",
            _cfg(
                **{
                    "bleaching.enabled": True,
                    "bleaching.fbc": 0.01,
                    "bleaching.min_block_frames": 1,
                    "statistic.orders": [2, 6],
                }
            ),
        )
    assert not (tmp_path / "o2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_distributed_client_gives_the_same_result(tmp_path, movie_tif, dask_client):
    local = run_pipeline(movie_tif, tmp_path / "local", _cfg())
    dist = run_pipeline(movie_tif, tmp_path / "dist", _cfg(), client=dask_client)
    for name in local.images:
        np.testing.assert_allclose(dist.load(name), local.load(name), rtol=1e-12, atol=1e-12)
    assert dist.record["scheduler"] == "distributed"
    assert dist.record["timings"]["stages"]["statistic"]["task_seconds"] > 0


def test_average_of_the_zarr_input_matches_numpy(tmp_path, movie_tif):
    data = tifffile.imread(movie_tif)
    result = run_pipeline(
        movie_tif,
        tmp_path / "o",
        _cfg(**{"statistic.frames": [20, 200], "outputs.keep_stages": ["average"]}),
    )
    np.testing.assert_allclose(result.load("average"), data[20:200].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(moments.average_image(data, frames=(20, 200))), result.load("average")
    )


def test_signed_statistic_option(tmp_path, movie_tif):
    """statistic.absolute (default) deconvolves |cumulant|; false keeps pysofi's signed input."""
    data = tifffile.imread(movie_tif).astype(np.float64)
    k3 = stage_cumulants(data, 3)[3]
    assert (k3 < 0).any() and (k3 > 0).any()  # a signed order: the option matters here
    psf = _psf(3)
    for absolute, image in ((True, np.abs(k3)), (False, k3)):
        cfg = _cfg(
            **{"statistic.orders": [3], "statistic.absolute": absolute, "ldrc.enabled": False}
        )
        result = run_pipeline(movie_tif, tmp_path / f"out-{absolute}", cfg)
        np.testing.assert_allclose(result.load("cumulants_order3"), k3, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(
            result.load("deconvolution_order3"),
            deconvsk(image, psf, lam=1.5, iterations=2),
            rtol=1e-7,
        )


@pytest.mark.parametrize("quality", [True, False])
@pytest.mark.parametrize("kind", ["cumulants", "moments"])
@pytest.mark.parametrize("bleach", [True, False])
def test_average_comes_from_the_statistic_reduction(movie_tif, kind, bleach, quality):
    """One pass: the average image is the frame-weighted mean of the moment stacks' mean
    layers (bleaching blocks or the whole movie), not a reduction of its own."""
    import dask

    from sofi_dask.io import open_movie
    from sofi_dask.pipeline._graph import build_graph

    cfg = _cfg(
        **{
            "bleaching.enabled": bleach,
            "bleaching.min_block_frames": 50,
            "statistic.kind": kind,
            "quality.enabled": quality,
            "quality.block_frames": 20,
        }
    )
    g = build_graph(open_movie(movie_tif), cfg)
    assert not bleach or len(g.blocks) > 1
    assert (g.quality is not None) == quality
    average = g.arrays["average"]
    statistic = g.arrays[f"{kind}_order2"]
    # every layer of the average that touches the movie is shared with the statistic
    own = set(average.__dask_graph__().layers) - set(statistic.__dask_graph__().layers)
    assert not any("mean" in name or "sum" in name for name in own), own
    avg, _ = dask.compute(average, statistic, scheduler="threads")
    data = tifffile.imread(movie_tif).astype(np.float64)
    np.testing.assert_allclose(avg, data.mean(axis=0), rtol=1e-12)


def test_video_average_comes_from_the_bleaching_correction(movie_tif):
    """A SOFI video with bleaching correction: the average image is the frame-weighted mean of
    the correction's block means (the same first pass over the movie), not a reduction of
    its own, and equals the numpy mean."""
    import dask

    from sofi_dask.io import open_movie
    from sofi_dask.pipeline._graph import build_graph

    cfg = _cfg(
        **{
            "bleaching.enabled": True,
            "bleaching.fbc": 0.005,
            "bleaching.min_block_frames": 20,
            "video.enabled": True,
            "video.window": 60,
            "video.step": 30,
        }
    )
    g = build_graph(open_movie(movie_tif), cfg)
    assert len(g.blocks) > 1
    graph = g.arrays["average"].__dask_graph__()
    assert any(name.startswith("bleach-stats") for name in graph.layers)
    # no layer of its own reads the movie: those that do are the statistic's too
    own = set(graph.layers) - set(g.arrays["cumulants_order2"].__dask_graph__().layers)
    assert own and not any(
        dep.startswith("read-") for name in own for dep in graph.dependencies[name]
    )
    old = moments.average_image(open_movie(movie_tif).data).__dask_graph__()  # the reduction
    assert any(dep.startswith("read-") for deps in old.dependencies.values() for dep in deps)
    avg = dask.compute(g.arrays["average"], scheduler="threads")[0]
    data = tifffile.imread(movie_tif).astype(np.float64)
    np.testing.assert_allclose(avg, data.mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("quality", [True, False])
def test_bleaching_blocks_are_summed_in_a_tree(tmp_path, quality):
    """Flat memory in the number of bleaching blocks: the block average (statistic, halves,
    prefixes, average image) is one sum tree, so no task takes every block's stack as input
    (a Python ``sum`` of lazy arrays is fused into one such task: every block's stack then
    stayed in memory until the last block was done, linear in the number of frames)."""
    import dask

    from sofi_dask.io import open_movie
    from sofi_dask.pipeline._graph import build_graph
    from sofi_dask.pipeline._quality import lazy_arrays
    from sofi_dask.stats import cumulants

    movie_tif = tmp_path / "bleaching.tif"  # a steep decay: many bleaching blocks
    rng = np.random.default_rng(3)
    decay = 400.0 * np.exp(-np.arange(400) / 100.0)[:, None, None] + 20.0
    tifffile.imwrite(
        movie_tif, rng.poisson(decay * rng.uniform(0.5, 1.5, (1, 12, 14))).astype(np.uint16)
    )
    cfg = _cfg(
        **{
            "bleaching.enabled": True,
            "bleaching.min_block_frames": 10,
            "quality.enabled": quality,
            "quality.block_frames": 5,
        }
    )
    g = build_graph(open_movie(movie_tif), cfg)
    n = len(g.blocks)
    assert n >= 6
    outs = [*g.arrays.values(), *(lazy_arrays(g.quality) if quality else [])]
    graph = dict(dask.base.collections_to_expr(outs, optimize_graph=True).__dask_graph__())
    widest = max(len(task.dependencies) for task in graph.values())
    assert widest < n, (widest, n)
    sums = [k for k in graph if "sum-tree" in str(k)]
    assert sums and all(len(graph[k].dependencies) <= 2 for k in sums)
    stat = dask.compute(g.arrays["cumulants_order2"], scheduler="threads")[0]
    data = tifffile.imread(movie_tif).astype(np.float64)
    direct = np.mean([cumulants(data[a:b], 2)[2] for a, b in g.blocks], axis=0)
    np.testing.assert_allclose(stat, direct, rtol=1e-9, atol=1e-9)
    if quality:  # half A / half B: the mean over the blocks of their even / odd sub-windows
        from sofi_dask.pipeline._quality import _windows

        movie = open_movie(movie_tif).data
        edges = np.cumsum((0, *movie.chunks[0]))
        subs = _windows(g.blocks, 5, 3, edges)
        got = dask.compute(*g.quality.halves["cumulants_order2"], scheduler="threads")
        flat = [w for block in subs for w in block]
        for parity, half in enumerate(got):
            parts = []
            for block in subs:
                mine = [(a, b) for a, b in block if flat.index((a, b)) % 2 == parity]
                frames = np.concatenate([data[a:b] for a, b in mine]) if mine else data[:0]
                if len(frames) >= 3:
                    parts.append(cumulants(frames, 2)[2])
            np.testing.assert_allclose(half, np.abs(np.mean(parts, axis=0)), rtol=1e-9, atol=1e-9)


def test_figure_panels_show_the_colours_of_the_images_files(tmp_path, movie_tif, monkeypatch):
    """Every result panel of the figures is drawn with the display range of that image's PNG
    and RGB TIFF (recorded in results.zarr as the OME-NGFF window), signed or not, although
    the panel shows a preview (block means narrow the range: previews here of at most 8 px a
    side, as a 2048^2 image's are of 1024)."""
    from PIL import Image

    from sofi_dask.pipeline import _outputs
    from sofi_dask.viz._signed import signed_display

    monkeypatch.setattr(_outputs, "PREVIEW_SIDE", 8)

    pct = (0.5, 99.5)
    cfg = _cfg(
        **{"outputs.figures": True, "outputs.percentiles": list(pct), "quality.enabled": False}
    )
    result = run_pipeline(movie_tif, tmp_path / "out", cfg)
    panels = {
        ax.get_title().split(" (")[0]: ax for ax in result.figures["orders"].axes if ax.images
    }
    assert set(panels) == {"order 2", "order 3"}
    for order, ax in panels.items():
        name = f"cumulants_order{order.split()[1]}"
        image = result.load(name)
        expected = signed_display(image, cfg.outputs.cmap, pct, stretch=cfg.outputs.signed_stretch)
        norm = ax.images[0].norm
        assert ax.images[0].get_array().shape[0] <= 8  # a preview
        assert (norm.vmin, norm.vmax) == (expected.low, expected.high)
        window = zarr.open_group(result.zarr_path / name, mode="r").attrs["ome"]["omero"]
        assert window["channels"][0]["window"]["end"] == expected.high
        png = Image.open(result.output / "png" / f"{name}.png")
        assert float(png.text["sofi_dask:vmax"]) == expected.high
    before, after = (ax for ax in result.figures["ldrc_before_after"].axes if ax.images)
    assert (
        after.images[0].norm.vmax
        == signed_display(
            result.load("ldrc_order3"), cfg.outputs.cmap, pct, stretch=cfg.outputs.signed_stretch
        ).high
    )
