"""sofi_dask.visualization against independent checks: matplotlib's colormap lookup, files read
back by tifffile / matplotlib / Pillow, ImageJ metadata, atomic and refusing writes."""

from __future__ import annotations

import os
import shutil
import sys

import dask.array as da
import matplotlib
import matplotlib.image
import numpy as np
import pytest
import tifffile
from PIL import Image

from sofi_dask.viz._visualization import (
    apply_colormap,
    display_limits,
    get_colormap,
    list_colormaps,
    save_png,
    save_tiff,
    save_video,
    to_display_range,
)


@pytest.fixture
def image():
    rng = np.random.default_rng(42)
    return rng.gamma(2.0, 3.0, size=(24, 31)) - 1.5  # signed, like odd-order cumulants


@pytest.fixture
def stack():
    rng = np.random.default_rng(7)
    return rng.normal(10.0, 3.0, size=(5, 12, 17))


def _reference_rgb(values, cmap, low, high):
    """Independent lookup: min-max normalise, then matplotlib's own bytes lookup."""
    norm = np.clip((values - low) / (high - low), 0.0, 1.0)
    return matplotlib.colormaps[cmap](norm, bytes=True)[..., :3]


# --- colour mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize("cmap", ["pink", "gray", "magma", "viridis_r"])
def test_apply_colormap_equals_matplotlib_lookup(image, cmap):
    rgb = apply_colormap(image, cmap)
    assert rgb.shape == image.shape + (3,) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, _reference_rgb(image, cmap, image.min(), image.max()))


def test_pink_is_matplotlibs_pink_and_extremes():
    rgb = apply_colormap(np.array([[0.0, 0.5, 1.0]]), "pink")
    lut = (matplotlib.colormaps["pink"](np.linspace(0, 1, 256)) * 255).astype(np.uint8)[:, :3]
    assert rgb[0, 0].tolist() == lut[0].tolist()
    assert rgb[0, 2].tolist() == lut[255].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == lut[128].tolist()
    assert "pink" in list_colormaps()
    assert get_colormap("pink").name == "pink"


def test_apply_colormap_percentiles_and_explicit_limits(image):
    low, high = np.percentile(image, [2.0, 98.0])
    rgb = apply_colormap(image, "magma", percentiles=(2, 98))
    np.testing.assert_array_equal(rgb, _reference_rgb(image, "magma", low, high))
    rgb = apply_colormap(image, "gray", vmin=0.0, vmax=5.0)
    np.testing.assert_array_equal(rgb, _reference_rgb(image, "gray", 0.0, 5.0))


def test_stack_shares_one_range(stack):
    rgb = apply_colormap(stack, "pink")
    assert rgb.shape == stack.shape + (3,)
    np.testing.assert_array_equal(rgb, _reference_rgb(stack, "pink", stack.min(), stack.max()))


def test_to_display_range_hand_values():
    x = np.array([1.0, 2.0, 3.0, 5.0, np.nan])
    np.testing.assert_allclose(to_display_range(x), [0.0, 0.25, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(to_display_range(x, vmin=2.0, vmax=4.0), [0, 0, 0.5, 1, 0])
    # contrast 2 halves the range: high limit = 1 + 4 / 2 = 3
    np.testing.assert_allclose(to_display_range(x, contrast=2.0), [0.0, 0.5, 1.0, 1.0, 0.0])
    # a constant image is black, not NaN (pysofi divides 0 by 0)
    np.testing.assert_array_equal(to_display_range(np.full((3, 3), 7.0)), np.zeros((3, 3)))


def test_display_limits_numpy_and_dask_agree(stack):
    stack = stack.copy()
    stack[1, 2, 3] = np.nan
    stack[2, 0, 0] = np.inf
    finite = stack[np.isfinite(stack)]
    expected = (finite.min(), finite.max())
    assert display_limits(stack) == pytest.approx(expected)
    assert display_limits(da.from_array(stack, chunks=(2, 5, 5))) == pytest.approx(expected)
    lo, hi = display_limits(da.from_array(stack, chunks=2), percentiles=(5, 95))
    assert (lo, hi) == pytest.approx(tuple(np.percentile(finite, [5, 95])))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"percentiles": (50, 10)}, "percentiles"),
        ({"percentiles": (0, 101)}, "percentiles"),
        ({"vmin": 3.0, "vmax": 1.0}, "vmax"),
        ({"vmin": float("nan")}, "vmin"),
        ({"cmap": "no-such-map"}, "cmap"),
        ({"contrast": 0}, "contrast"),
    ],
)
def test_bad_display_arguments_name_the_parameter(image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_colormap(image, **kwargs)


# --- PNG ---------------------------------------------------------------------------------------


def test_save_png_reads_back_with_matplotlib(tmp_path, image):
    path = save_png(image, tmp_path / "sofi.png", cmap="pink", percentiles=(1, 99))
    back = matplotlib.image.imread(path)
    assert back.shape[:2] == image.shape and back.shape[2] in (3, 4)
    back8 = np.round(back[..., :3] * 255).astype(np.uint8)
    low, high = np.percentile(image, [1, 99])
    np.testing.assert_array_equal(back8, _reference_rgb(image, "pink", low, high))
    with Image.open(path) as im:
        assert im.text["sofi_dask:cmap"] == "pink"
        assert float(im.text["sofi_dask:vmax"]) == pytest.approx(high)
    # an RGB image is written as it is
    rgb = apply_colormap(image, "gray")
    path2 = save_png(rgb, tmp_path / "rgb.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path2).convert("RGB")), rgb)


def test_save_png_rejects_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="image"):
        save_png(np.zeros((2, 3, 4, 5)), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


# --- TIFF --------------------------------------------------------------------------------------


def test_save_tiff_float32_imagej_metadata(tmp_path, stack):
    path = save_tiff(stack, tmp_path / "video.tif", pixel_size=0.065)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        data = tif.asarray()
        meta = tif.imagej_metadata
        series_axes = tif.series[0].axes
        page = tif.pages[0]
        res = page.resolution
    assert data.dtype == np.float32 and data.shape == stack.shape
    np.testing.assert_array_equal(data, stack.astype(np.float32))
    assert series_axes == "TYX"
    assert meta["frames"] == stack.shape[0]
    assert meta["unit"] == "um"
    assert meta["min"] == pytest.approx(stack.min()) and meta["max"] == pytest.approx(stack.max())
    assert res == pytest.approx((1 / 0.065, 1 / 0.065), rel=1e-6)


def test_save_tiff_orders_as_channels_from_dask(tmp_path):
    rng = np.random.default_rng(3)
    orders = rng.random((4, 10, 9))
    lazy = da.from_array(orders, chunks=(1, 10, 9))
    path = save_tiff(lazy, tmp_path / "orders.tif", axes="CYX")
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "CYX"
        assert tif.imagej_metadata["channels"] == 4
        np.testing.assert_array_equal(tif.asarray(), orders.astype(np.float32))
    image_path = save_tiff(orders[0], tmp_path / "one.tif")
    with tifffile.TiffFile(image_path) as tif:
        assert tif.series[0].axes == "YX" and tif.asarray().shape == (10, 9)


def test_save_tiff_rgb(tmp_path, stack):
    path = save_tiff(stack, tmp_path / "rgb.tif", cmap="pink", pixel_size=0.1)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        data = tif.asarray()
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        assert tif.series[0].axes == "TYXS"
    assert data.dtype == np.uint8 and data.shape == stack.shape + (3,)
    np.testing.assert_array_equal(data, _reference_rgb(stack, "pink", stack.min(), stack.max()))


def test_save_tiff_bad_axes(tmp_path, stack):
    for axes in ("YXT", "TTX", "TY", "QYX"):
        with pytest.raises(ValueError, match="axes"):
            save_tiff(stack, tmp_path / "bad.tif", axes=axes)
    with pytest.raises(ValueError, match="pixel_size"):
        save_tiff(stack, tmp_path / "bad.tif", pixel_size=-1.0)
    assert list(tmp_path.iterdir()) == []


# --- video -------------------------------------------------------------------------------------


def test_save_video_gif_exact_colours(tmp_path, stack):
    path = save_video(stack, tmp_path / "video.gif", cmap="pink", fps=5)
    expected = _reference_rgb(stack, "pink", stack.min(), stack.max())
    with Image.open(path) as gif:
        assert gif.n_frames == stack.shape[0]
        assert gif.info["duration"] == 200
        for i in range(stack.shape[0]):
            gif.seek(i)
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), expected[i])


def test_save_video_gif_contrast_and_percentiles(tmp_path, stack):
    """GIF palette indices with a display gain and a percentile range: the colours of
    apply_colormap with the same settings."""
    path = save_video(stack, tmp_path / "v.gif", cmap="viridis", contrast=2.0, percentiles=(5, 95))
    expected = apply_colormap(stack, "viridis", percentiles=(5, 95), contrast=2.0)
    with Image.open(path) as gif:
        for i in range(stack.shape[0]):
            gif.seek(i)
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), expected[i])


def test_save_video_tiff_frame_interval(tmp_path, stack):
    path = save_video(da.from_array(stack, chunks=2), tmp_path / "video.tiff", fps=4, cmap="gray")
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == stack.shape[0]
        assert tif.imagej_metadata["finterval"] == pytest.approx(0.25)
        data = tif.asarray()
    np.testing.assert_array_equal(data, _reference_rgb(stack, "gray", stack.min(), stack.max()))


def test_save_video_mp4(tmp_path, stack):
    if shutil.which("ffmpeg") is not None:
        path = save_video(stack, tmp_path / "video.mp4", fps=5)
        assert path.stat().st_size > 0
        return
    with pytest.raises(RuntimeError, match="ffmpeg"):
        save_video(stack, tmp_path / "video.mp4")
    assert list(tmp_path.iterdir()) == []


def _fake_ffmpeg(tmp_path, exit_code):
    """A stand-in encoder: copies the raw RGB frames it receives to its output file."""
    script = tmp_path / "bin" / "fake-ffmpeg"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "data = sys.stdin.buffer.read()\n"
        "args = sys.argv[1:]\n"
        "open(args[-1], 'wb').write(data)\n"
        "sys.stderr.write(' '.join(args))\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return str(script)


def test_save_video_mp4_pipes_rgb_frames(tmp_path, stack):
    out = tmp_path / "out"
    out.mkdir()
    path = save_video(stack, out / "v.mp4", fps=5, cmap="pink", ffmpeg=_fake_ffmpeg(tmp_path, 0))
    expected = _reference_rgb(stack, "pink", stack.min(), stack.max())
    assert path.read_bytes() == expected.tobytes()
    with pytest.raises(RuntimeError, match="ffmpeg failed.*-s 17x12"):
        save_video(stack, out / "w.mp4", ffmpeg=_fake_ffmpeg(tmp_path, 1))
    assert sorted(p.name for p in out.iterdir()) == ["v.mp4"]


def test_save_video_bad_arguments(tmp_path, stack):
    with pytest.raises(ValueError, match="path"):
        save_video(stack, tmp_path / "video.avi")
    with pytest.raises(ValueError, match="stack"):
        save_video(stack[0], tmp_path / "video.gif")
    with pytest.raises(ValueError, match="fps"):
        save_video(stack, tmp_path / "video.gif", fps=0)


# --- atomic, refusing writes -------------------------------------------------------------------


def test_refuses_to_overwrite_unless_asked(tmp_path, image):
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    for write in (
        lambda **kw: save_png(image, target, **kw),
        lambda **kw: save_tiff(image, target, **kw),
    ):
        with pytest.raises(FileExistsError, match="overwrite"):
            write()
        assert target.read_bytes() == b"keep me"
    save_png(image, target, overwrite=True)
    assert matplotlib.image.imread(target).shape[:2] == image.shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_never_writes_over_an_input(tmp_path, image):
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, np.zeros((3, 4, 4), np.uint16))
    before = movie.read_bytes()
    with pytest.raises(ValueError, match="input"):
        save_tiff(image, movie, overwrite=True, protected=[movie])
    folder_input = tmp_path / "store.zarr"
    folder_input.mkdir()
    with pytest.raises(ValueError, match="input"):
        save_png(image, folder_input / "x.png", overwrite=True, protected=[folder_input])
    assert movie.read_bytes() == before
    assert list(folder_input.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path):
    def boom(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 2:
            raise RuntimeError("disk on fire")
        return block

    lazy = da.ones((6, 8, 8), chunks=(1, 8, 8)).map_blocks(boom, dtype=float, meta=np.array(()))
    target = tmp_path / "stack.tif"
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_tiff(lazy, target, vmin=0.0, vmax=1.0)
    assert list(tmp_path.iterdir()) == []
    # an existing file survives a failed overwrite
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_tiff(lazy, target, vmin=0.0, vmax=1.0, overwrite=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["stack.tif"]


def test_missing_output_folder(tmp_path, image):
    with pytest.raises(FileNotFoundError, match="folder"):
        save_png(image, tmp_path / "nope" / "x.png")
    assert not os.path.exists(tmp_path / "nope")


@pytest.mark.parametrize(
    "values",
    [
        np.array([[np.nan, np.inf, -np.inf, 1.0, 2.0, 1.5]]),
        np.full((3, 4), 2.0),
        np.arange(-5, 5).reshape(2, 5),
        np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000,
        np.linspace(0, 1, 24, dtype=np.float32).reshape(2, 3, 4),
        np.array([[True, False]]),
    ],
)
@pytest.mark.parametrize("contrast", [1.0, 2.5])
def test_fused_colour_mapping_equals_the_numpy_steps(values, contrast):
    """apply_colormap maps in one numba pass; it must equal the documented numpy steps
    (to_display_range, then colormap_indices into the LUT) for NaN, infinities, constant,
    integer, float32, boolean and stacked images."""
    from sofi_dask.viz._display import colormap_indices, colormap_lut, to_display_range

    for cmap in ("pink", "viridis"):
        norm = to_display_range(values, contrast=contrast)
        expected = colormap_lut(cmap)[colormap_indices(norm, get_colormap(cmap).N)]
        np.testing.assert_array_equal(apply_colormap(values, cmap, contrast=contrast), expected)


@pytest.mark.parametrize("contrast", [1.0, 2.5])
@pytest.mark.parametrize("n_colors", [256, 7])
def test_palette_indices_equal_the_numpy_steps(contrast, n_colors):
    """The GIF writer's palette indices (lut_indices, one numba pass per frame) equal
    colormap_indices(to_display_range(...)) for NaN, infinities, out-of-range and integers."""
    from sofi_dask.viz._colormap_kernels import lut_indices
    from sofi_dask.viz._display import colormap_indices, display_limits, to_display_range

    rng = np.random.default_rng(3)
    for values in (
        np.concatenate([rng.normal(0, 3, 200), [np.nan, np.inf, -np.inf, 0.0]]).reshape(17, 12),
        rng.integers(0, 5000, (4, 9), dtype=np.uint16),
        np.full((3, 4), 2.0),
    ):
        low, high = display_limits(values, None, None, (1.0, 99.0))
        norm = to_display_range(values, contrast=contrast, limits=(low, high))
        expected = colormap_indices(norm, n_colors)
        got = lut_indices(values, low, low + (high - low) / contrast, n_colors)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="n_colors"):
        lut_indices(np.zeros(3), 0.0, 1.0, 300)
