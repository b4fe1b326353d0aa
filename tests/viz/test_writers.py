"""Previews: block-mean downsampling and downsampled PNG previews (real files)."""

from __future__ import annotations

import numpy as np


def test_downsample_is_the_block_mean_and_keeps_small_images():
    from sofi_dask.viz._writers import downsample

    a = np.random.default_rng(3).random((10, 7))
    np.testing.assert_array_equal(downsample(a, 10), a)
    got = downsample(a, 4)  # factor 3: blocks of 3 x 3, the last row / column ragged
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got[0, 0], a[:3, :3].mean())
    np.testing.assert_allclose(got[3, 2], a[9:, 6:].mean())
    np.testing.assert_allclose(got[1, 2], a[3:6, 6:].mean())


def test_png_preview_is_downsampled_with_the_full_images_display_range(tmp_path):
    from PIL import Image

    from sofi_dask.viz._writers import save_png

    image = np.zeros((300, 200))
    image[0, 0] = 1000.0  # one hot pixel sets the full image's maximum
    image[100:, :] = 10.0
    path = save_png(image, tmp_path / "p.png", max_side=100)
    with Image.open(path) as im:
        assert im.size == (67, 100)  # (x, y): factor 3
        assert float(im.text["sofi_dask:vmax"]) == 1000.0  # limits of the full image
