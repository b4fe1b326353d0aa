"""Signed images (cumulants of order >= 3): the structure shows, the sign reads, nothing lies.

The synthetic image is what a short movie's order-3/4 cumulant looks like: background noise of
both signs, a weak filament (a few % of the range) and a few emitters with heavy tails (here
0.2 % of the pixels at +-2000, so the 99.9th percentile of |x| sits in the tails). On the old
display (a linear range +-p99.9 |x| on 'berlin', which is L* < 7 over the first 10 % of each
half) the filament was invisible; ``stretch='linear'`` is that display, kept as an option.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sofi_dask.errors import InputError
from sofi_dask.viz import image_montage, save_png
from sofi_dask.viz._signed import Display, signed_display


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* (0 black .. 100 white) of uint8 sRGB, the perceived brightness."""
    c = np.asarray(rgb, dtype=np.float64)[..., :3] / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > 216 / 24389, 116 * np.cbrt(y) - 16, y * 24389 / 27)


@pytest.fixture
def heavy_tailed():
    """(image, filament mask, negative-filament mask, background mask)."""
    rng = np.random.default_rng(7)
    n = 128
    image = rng.normal(0.0, 3.0, size=(n, n))
    rows = np.arange(n)
    filament = np.zeros((n, n), bool)
    filament[rows, (0.6 * rows + 20).astype(int)] = True
    filament[rows, (0.6 * rows + 21).astype(int)] = True
    negative = np.zeros((n, n), bool)
    negative[rows[10:-10], 100] = True
    image[filament] += 40.0  # 2 % of the range below
    image[negative] -= 40.0
    tails = rng.choice(n * n, size=int(0.002 * n * n), replace=False)
    image.flat[tails] = rng.choice([-1.0, 1.0], tails.size) * rng.uniform(1500, 2500, tails.size)
    background = ~(filament | negative)
    background.flat[tails] = False
    return image, filament, negative, background


def _contrast(rgb, structure, background) -> float:
    light = _lightness(rgb)
    return float(np.median(light[structure]) - np.median(light[background]))


def test_weak_structure_shows_beside_heavy_tails(heavy_tailed):
    image, filament, negative, background = heavy_tailed
    asinh = signed_display(image, percentiles=(0, 99.9))
    linear = signed_display(image, percentiles=(0, 99.9), stretch="linear")
    v = np.percentile(np.abs(image), 99.9)
    assert v > 1000  # the range is set by the tails, as on the real short-movie cumulants
    for d in (asinh, linear):  # the same honest range either way: ±p99.9 |x|, 0 the centre
        assert (d.cmap.name, d.signed) == ("berlin", True)
        assert (d.low, d.high) == pytest.approx((-v, v))
    assert asinh.linear_width == pytest.approx(np.median(np.abs(image)))
    # the old display: the filaments (40 on ±2000) are as dark as the noise
    assert _contrast(linear.rgb(image), filament, background) < 3
    assert _contrast(linear.rgb(image), negative, background) < 3
    # asinh: both filaments stand out by > 20 L* (measured 23 / 33; the old code: 0.06 / 0.05)
    assert _contrast(asinh.rgb(image), filament, background) > 20
    assert _contrast(asinh.rgb(image), negative, background) > 20
    # and the tails stay brighter still: the order of the magnitudes is kept
    light = _lightness(asinh.rgb(image))
    tails = np.abs(image) > 1000
    assert np.median(light[tails]) > np.median(light[filament]) + 15


def test_signs_are_on_their_side_of_the_map(heavy_tailed):
    image = heavy_tailed[0]
    for stretch in ("asinh", "linear"):
        d = signed_display(image, percentiles=(0, 99.9), stretch=stretch)
        index = d.indices(image)
        centre = d.cmap.N // 2
        assert (index[image < 0] < centre).all() and (index[image > 0] >= centre).all()
        # blue below 0, orange above ('berlin'; its centre 10 % is near-black on both sides)
        rgb = d.rgb(image).astype(int)
        neg, pos = rgb[index < centre - 26], rgb[index >= centre + 26]
        assert len(neg) and len(pos)
        assert (neg[:, 2] > neg[:, 0]).all() and (pos[:, 0] > pos[:, 2]).all()
    # odd: -x gets the mirror colour of x (index N - 1 - i, or N - i on a LUT boundary)
    d = signed_display(image, percentiles=(0, 99.9))
    x = np.array([1.0, 5.0, 40.0, 300.0, 2000.0])
    mirrored = d.indices(x).astype(int) + d.indices(-x)
    assert set(mirrored.tolist()) <= {d.cmap.N - 1, d.cmap.N}


def test_figure_says_what_it_shows_and_files_show_the_same(heavy_tailed, tmp_path):
    image = heavy_tailed[0]
    fig = image_montage({"order 3": image}, percentiles=(0, 99.9))
    ax, bar_ax = fig.axes
    assert ax.get_title() == "order 3 (signed, asinh)"
    d = signed_display(image, percentiles=(0, 99.9))
    label = bar_ax.get_ylabel()
    assert label.startswith("asinh, linear within ±") and label.endswith("= p99.9 of |x|")
    ticks = bar_ax.get_yticks()
    assert 0.0 in ticks and ticks.max() == pytest.approx(d.high)
    assert ticks.min() == pytest.approx(d.low)
    # the drawn colours are the figure norm's: the PNG writer gives the same ones
    artist = ax.images[0]
    assert artist.get_clim() == pytest.approx((d.low, d.high))
    drawn = artist.cmap(artist.norm(image), bytes=True)[..., :3]
    path = save_png(image, tmp_path / "k3.png", display=d)
    written = np.asarray(Image.open(path).convert("RGB"))
    assert np.mean(np.any(drawn != written, axis=-1)) < 1e-3
    meta = Image.open(path).text
    assert meta["sofi_dask:cmap"] == "berlin" and meta["sofi_dask:stretch"] == "asinh"
    assert float(meta["sofi_dask:linear_width"]) == pytest.approx(d.linear_width)
    # the linear option: a plain linear colour bar and title
    fig = image_montage({"order 3": image}, percentiles=(0, 99.9), stretch="linear")
    assert fig.axes[0].get_title() == "order 3 (signed)"
    assert fig.axes[1].get_ylabel().startswith("linear, ±")


def test_unsigned_images_are_unchanged_and_bad_stretch_is_refused():
    rng = np.random.default_rng(3)
    positive = rng.gamma(2.0, 1.0, size=(16, 16))
    d = signed_display(positive, percentiles=(0, 99.9))
    assert (d.cmap.name, d.signed, d.linear_width, d.stretch) == ("pink", False, None, "linear")
    assert d.low == positive.min()
    assert d.high == pytest.approx(np.percentile(positive, 99.9))
    with pytest.raises(InputError, match="stretch"):
        signed_display(positive, stretch="log")
    with pytest.raises(InputError, match="display"):
        save_png(positive, "unused.png", display=(0, 1))
    # a signed image whose magnitudes are mostly 0: the stretch stays finite
    sparse = np.zeros((8, 8))
    sparse[0, 0], sparse[1, 1] = 5.0, -5.0
    d = signed_display(sparse)
    assert d.linear_width == pytest.approx(5e-3)
    assert np.isfinite(d.rgb(sparse).astype(float)).all()
    assert Display(d.cmap, 0.0, 0.0, True, None).ticks() == ([], [])
