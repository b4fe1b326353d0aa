"""sofi_dask.figures: the artists each figure holds, and PNGs that read back non-empty."""

from __future__ import annotations

import subprocess
import sys

import dask.array as da
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from sofi_dask.viz import (
    before_after,
    image_montage,
    order_montage,
    plot_total_signal,
    plot_video_frames,
    save_figure,
)


@pytest.fixture
def bleaching_signal():
    frames = np.arange(600)
    rng = np.random.default_rng(0)
    signal = 1e5 * np.exp(-frames / 300) + rng.normal(0, 500, frames.size)
    smoothed = 1e5 * np.exp(-frames / 300)
    blocks = [(0, 120), (120, 300), (300, 600)]
    return signal, smoothed, blocks


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_total_signal_artists(bleaching_signal):
    signal, smoothed, blocks = bleaching_signal
    fig = plot_total_signal(signal, smoothed, blocks, bounds=[9e4, 6e4])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    by_label = {line.get_label(): line for line in ax.lines}
    np.testing.assert_array_equal(by_label["total signal"].get_ydata(), signal)
    np.testing.assert_array_equal(by_label["median-smoothed"].get_ydata(), smoothed)
    # one shaded span per block, covering exactly that block
    spans = ax.patches
    assert len(spans) == len(blocks)
    for span, (a, b) in zip(spans, blocks, strict=True):
        assert (span.get_x(), span.get_x() + span.get_width()) == pytest.approx((a, b))
    # boundaries at the inner block edges (120 and 300), two horizontal cut levels
    verticals = [ln for ln in ax.lines if np.ptp(ln.get_xdata()) == 0]
    assert sorted(ln.get_xdata()[0] for ln in verticals) == [120, 300]
    horizontals = [ln for ln in ax.lines if np.ptp(ln.get_ydata()) == 0 and ln not in verticals]
    assert sorted(ln.get_ydata()[0] for ln in horizontals) == [6e4, 9e4]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"total signal", "median-smoothed", "bleaching blocks", "block boundary"} <= set(legend)
    assert ax.get_xlabel() == "frame"


def test_total_signal_validation(bleaching_signal):
    signal, smoothed, _ = bleaching_signal
    with pytest.raises(ValueError, match="smoothed"):
        plot_total_signal(signal, smoothed[:-1])
    with pytest.raises(ValueError, match="blocks"):
        plot_total_signal(signal, blocks=[(0, 700)])
    with pytest.raises(ValueError, match="signal"):
        plot_total_signal(np.zeros((3, 3)))


def test_order_montage(tmp_path):
    rng = np.random.default_rng(1)
    images = {k: rng.gamma(k, 1.0, size=(20, 20)) for k in (4, 2, 6, 3)}
    fig = order_montage(images, title="cumulants", percentiles=(1, 99), ncols=2)
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["order 2", "order 3", "order 4", "order 6"]
    for ax, k in zip(axes, (2, 3, 4, 6), strict=True):
        artist = ax.images[0]
        np.testing.assert_array_equal(artist.get_array(), images[k])
        assert artist.get_clim() == pytest.approx(tuple(np.percentile(images[k], [1, 99])))
        assert artist.get_cmap().name == "pink"
    # 2 x 2 grid, a colour bar per panel
    assert len(fig.axes) == 8
    assert axes[2].get_subplotspec().rowspan.start == 1
    assert fig.get_suptitle() == "cumulants"
    path = save_figure(fig, tmp_path / "orders.png", dpi=50)
    back = matplotlib.image.imread(path)
    width, height = fig.get_size_inches() * 50
    assert back.shape[:2] == (round(height), round(width))
    assert back[..., :3].std() > 0  # something was drawn


def test_order_montage_rejects_bad_keys():
    with pytest.raises(ValueError, match="images"):
        order_montage({"two": np.eye(3)})
    with pytest.raises(ValueError, match="images"):
        order_montage({})
    with pytest.raises(ValueError, match=r"images\['order 2'\]"):
        order_montage({2: np.zeros((2, 3, 3))})


def test_before_after_shapes_may_differ(tmp_path):
    before = np.random.default_rng(2).random((16, 16))
    after = np.random.default_rng(3).random((31, 31))
    fig = before_after(before, after, ("moments", "deconvolved"), title="deconvolution")
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["moments", "deconvolved"]
    assert axes[0].images[0].get_array().shape == (16, 16)
    assert axes[1].images[0].get_array().shape == (31, 31)
    assert fig.get_suptitle() == "deconvolution"
    with pytest.raises(ValueError, match="titles"):
        before_after(before, after, ("same", "same"))
    assert save_figure(fig, tmp_path / "deconv.svg").stat().st_size > 0


def test_image_montage_stages():
    stages = {"moments": np.eye(8), "ldrc": np.eye(8) * 3, "deconvolution": np.ones((8, 8))}
    fig = image_montage(stages, colorbar=False)
    assert [ax.get_title() for ax in fig.axes] == list(stages)
    assert len(fig.axes) == 3


def test_video_frames_from_dask():
    stack = np.stack([np.full((6, 6), float(i)) for i in range(10)])
    fig = plot_video_frames(da.from_array(stack, chunks=3), max_frames=4, ncols=2)
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["frame 0", "frame 3", "frame 6", "frame 9"]
    for ax in axes:
        assert ax.images[0].get_clim() == (0.0, 9.0)  # one range for all frames
    labels = ["0-99", "100-199"]
    fig = plot_video_frames(stack, frames=[0, -1], frame_labels=labels, common_range=False)
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == labels
    np.testing.assert_array_equal(axes[1].images[0].get_array(), stack[9])
    with pytest.raises(ValueError, match="frames"):
        plot_video_frames(stack, frames=[10])
    with pytest.raises(ValueError, match="stack"):
        plot_video_frames(stack[0])


def test_save_figure_refuses_overwrite_and_bad_format(tmp_path):
    fig = order_montage({2: np.eye(5)})
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        save_figure(fig, target)
    assert target.read_bytes() == b"old"
    save_figure(fig, target, overwrite=True)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="format"):
        save_figure(fig, tmp_path / "fig.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_no_pyplot_global_state():
    code = (
        "import numpy as np, sys\n"
        "import sofi_dask.viz._figures as f, sofi_dask.viz as v\n"
        "f.order_montage({2: np.eye(4)}); v.apply_colormap(np.eye(4))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_signed_images_get_a_diverging_map_centred_on_zero():
    rng = np.random.default_rng(4)
    positive = rng.gamma(2.0, 1.0, size=(12, 12))  # order 2: never negative
    signed = rng.normal(0.0, 1.0, size=(12, 12))  # order 4 of emitters with on-ratio ~ 0.5
    signed[3, 4] = -7.0
    noisy = positive.copy()
    noisy[0, 0] = -1e-4 * positive.max()  # rounding below 0: not a signed image
    fig = order_montage({2: positive, 3: noisy, 4: signed})
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["order 2", "order 3", "order 4 (signed, asinh)"]
    plain, _, diverging = (ax.images[0] for ax in axes)
    assert plain.get_cmap().name == "pink"
    assert plain.get_clim() == pytest.approx((positive.min(), positive.max()))
    assert diverging.get_cmap().name == "berlin"
    assert diverging.get_clim() == pytest.approx((-7.0, 7.0))  # symmetric: 0 is the centre
    # with percentiles, the limit is the magnitudes' high percentile (the outlier -7 saturates)
    fig = before_after(positive, signed, percentiles=(5, 95))
    low, high = _image_axes(fig)[1].images[0].get_clim()
    expected = np.percentile(np.abs(signed), 95)
    assert expected < 3
    assert (low, high) == pytest.approx((-expected, expected))
    # forced either way; an all-negative image is signed too
    fig = image_montage({"a": signed, "b": -positive}, signed=False, colorbar=False)
    assert [ax.images[0].get_cmap().name for ax in fig.axes] == ["pink", "pink"]
    fig = image_montage({"a": positive, "b": -positive}, colorbar=False)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b (signed, asinh)"]
    # a video: one symmetric range over the shown frames
    stack = np.stack([signed * (i + 1) for i in range(3)])
    fig = plot_video_frames(stack)
    for ax in _image_axes(fig):
        assert ax.images[0].get_clim() == pytest.approx((-21.0, 21.0))
        assert ax.get_title().endswith("(signed, asinh)")


def _panel_pixels(fig: Figure, ax) -> np.ndarray:
    """The grey level (0-255) of the inside of ``ax`` as rendered on the figure's canvas."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    box = ax.get_window_extent()
    height = rgba.shape[0]
    y0, y1 = int(height - box.y1) + 3, int(height - box.y0) - 3
    x0, x1 = int(box.x0) + 3, int(box.x1) - 3
    return rgba[y0:y1, x0:x1, 0].astype(np.float64)


@pytest.mark.parametrize("side", [2048, 1000])
def test_big_images_are_drawn_as_a_screen_sees_them(side):
    """A 2048-px image in a ~250-px panel: nearest-neighbour drawing showed one pixel in ~70
    (single-pixel peaks lost, moire). Alternating 0/1 columns must look an even mid grey."""
    image = np.zeros((side, side))
    image[:, 1::2] = 1.0
    for fig in (
        image_montage({"stripes": image}, cmap="gray", percentiles=(0, 100), colorbar=False),
        plot_video_frames(image[None], cmap="gray", percentiles=(0, 100)),
    ):
        panel = _panel_pixels(fig, next(ax for ax in fig.axes if ax.images))
        assert abs(panel.mean() - 127.5) < 20, panel.mean()
        assert panel.std() < 15, panel.std()


def test_small_images_keep_their_pixels_big_ones_are_filtered():
    """An image smaller than its panel is drawn with nearest pixels (a SOFI user counts them);
    one larger than the panel through the antialiasing filter."""
    fig = image_montage({"small": np.eye(16), "big": np.eye(2048)}, colorbar=False)
    small, big = (ax.images[0] for ax in _image_axes(fig))
    assert small.get_interpolation() == "nearest" and small.get_array().shape == (16, 16)
    assert big.get_interpolation() == "antialiased" and max(big.get_array().shape) < 2048


def test_montages_take_displays_made_elsewhere():
    """A panel given a display (e.g. the full-size image's, its panel being a preview) is drawn
    with it, range and colour bar label included; the others get their own; titles checked."""
    from sofi_dask.errors import InputError
    from sofi_dask.viz._signed import signed_display

    rng = np.random.default_rng(3)
    full = rng.normal(0.0, 1.0, (64, 64))
    given = signed_display(full, "pink", (0.0, 99.0))
    preview = full[::2, ::2]
    fig = order_montage({3: preview, 2: np.abs(preview)}, displays={3: given})
    norms = {ax.get_title(): ax.images[0].norm for ax in fig.axes if ax.images}
    assert (norms["order 3 (signed, asinh)"].vmin, norms["order 3 (signed, asinh)"].vmax) == (
        given.low,
        given.high,
    )
    own = signed_display(np.abs(preview), "pink")
    assert (norms["order 2"].vmin, norms["order 2"].vmax) == (own.low, own.high)
    fig = before_after(preview, np.abs(preview), displays=(None, own))
    assert [ax.images[0].norm.vmax for ax in fig.axes if ax.images][1] == own.high
    with pytest.raises(InputError, match="parameter 'displays'"):
        image_montage({"a": preview}, displays={"b": given})
    for bad, got in (((0.0, 1.0), "tuple"), (None, "NoneType")):
        with pytest.raises(InputError, match=rf"parameter 'displays\['a'\]'.*got {got}$"):
            image_montage({"a": preview}, displays={"a": bad})
