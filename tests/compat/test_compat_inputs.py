"""sofi_dask.compat takes every input pysofi takes (issue 13): short windows, array-likes,
one-page TIFFs; the native API keeps refusing short windows.

Expected values are direct numpy formulas (pysofi's documented semantics) or the same call
on a float64 numpy array; the pysofi values quoted come from pysofi v0.1.1-alpha itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from sofi_dask.compat import PysofiData
from sofi_dask.compat import deconvsk as cdeconv
from sofi_dask.compat import filtering as cfilt
from sofi_dask.compat import finterp as cfinterp
from sofi_dask.compat import ldrc as cldrc
from sofi_dask.compat import reconstruction as rec
from sofi_dask.compat import visualization as cvis
from sofi_dask.errors import InputError
from sofi_dask.stats import _bleaching as nb
from sofi_dask.stats import _moments as nm


def _moment(x: np.ndarray, p: int) -> np.ndarray:
    return ((x - x.mean(axis=0)) ** p).mean(axis=0)


@pytest.fixture
def short_blocks(tmp_path):
    """A bleaching movie whose pysofi blocks (fbc=0.2, kernel 3) are 2, 3, 3, 5 and 27 frames
    long."""
    rng = np.random.default_rng(5)
    t = np.arange(40)
    base = (200 * np.exp(-t / 8.0))[:, None, None]
    movie = rng.poisson(base + rng.uniform(0, 5, (1, 4, 5)) * np.ones((40, 4, 5)))
    tifffile.imwrite(tmp_path / "decay.tif", movie.astype(np.uint16), photometric="minisblack")
    return tmp_path, movie.astype(np.float64)


def _blocks_of(movie: np.ndarray) -> list[tuple[int, int]]:
    signal = movie.reshape(movie.shape[0], -1).sum(axis=1)
    return nb.bleaching_blocks(signal, fbc=0.2, kernel_size=3)


def test_block_averages_on_blocks_shorter_than_the_order(short_blocks):
    folder, movie = short_blocks
    blocks = _blocks_of(movie)
    assert [b - a for a, b in blocks] == [2, 3, 3, 5, 27]
    with pytest.warns(RuntimeWarning, match="fewer frames than the order 6") as caught:
        ave_m = rec.block_ave_moments(folder, "decay.tif", 6, smooth_kernel=3, fbc=0.2)
    assert len(caught) == 1  # once per call
    for p in range(1, 7):
        want = np.mean([_moment(movie[a:b], p) for a, b in blocks], axis=0)
        np.testing.assert_allclose(ave_m[p], want, rtol=1e-10, atol=1e-9)
    with pytest.warns(RuntimeWarning):
        ave_k = rec.block_ave_cumulants(folder, "decay.tif", 6, smooth_kernel=3, fbc=0.2)
        per_block = rec.moments_all_blocks(folder, "decay.tif", 6, smooth_kernel=3, fbc=0.2)
        d = PysofiData(folder, "decay.tif")
        bc = d.cumulants_images(6, bleach_correction=True, smooth_kernel=3, fbc=0.2)
    assert sorted(per_block) == list(range(5))
    k_blocks = rec.cumulants_all_blocks(per_block)
    for p in range(1, 7):
        want = np.mean([k_blocks[b][p] for b in k_blocks], axis=0)
        np.testing.assert_allclose(ave_k[p], want, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(bc[p], want, rtol=1e-9, atol=1e-6)
    # the 2-frame block: k_4 = m_4 - 3 m_2^2 = -2 (d/2)^4 for frames c +- d/2
    a, b = blocks[0]
    half = (movie[a + 1] - movie[a]) / 2
    np.testing.assert_allclose(k_blocks[0][4], -2 * half**4, rtol=1e-10, atol=1e-9)


def test_moment_images_of_windows_of_one_to_five_frames(short_blocks):
    folder, movie = short_blocks
    for n in range(1, 6):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = rec.calc_moments(folder, "decay.tif", 6, frames=[10, 10 + n])
            im = rec.calc_moment_im(folder, "decay.tif", 6, [10, 10 + n])
            block = rec.calc_block_moments(folder, "decay.tif", 6, [10, 10 + n])
            finterp = rec.moment_im_with_finterp(folder, "decay.tif", 4, 2, [10, 10 + n])
        assert any(issubclass(w.category, RuntimeWarning) for w in caught)
        for p in range(1, 7):
            want = _moment(movie[10 : 10 + n], p)
            np.testing.assert_allclose(m[p], want, rtol=1e-10, atol=1e-9)
            np.testing.assert_allclose(block[p], want, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(im, m[6], rtol=1e-12)
        assert finterp.shape == (7, 9) and np.isfinite(finterp).all()
    with pytest.warns(RuntimeWarning):
        assert np.all(rec.calc_moments(folder, "decay.tif", 6, frames=[3, 4])[6] == 0)


def test_native_api_still_refuses_short_windows(short_blocks):
    folder, movie = short_blocks
    with pytest.raises(ValueError, match="order 6"):
        nm.moment_stack(movie[:3], 6)
    with pytest.raises(ValueError, match="order 6"):
        nb.block_moments(movie, 6, _blocks_of(movie))


def test_cumulants_from_nested_lists_as_in_the_issue():
    m = {1: [[0, 0], [0, 0]], 2: [[0, 6], [6, 0]], 3: [[0, 6], [-6, 0]], 4: [[0, 42], [42, 0]]}
    k = rec.calc_cumulants_from_moments(m)
    assert {o: v.tolist() for o, v in k.items()} == {
        1: [[0, 0], [0, 0]],
        2: [[0, 6], [6, 0]],
        3: [[0, 6], [-6, 0]],
        4: [[0, -66], [-66, 0]],
    }
    assert all(v.dtype == np.float64 for v in k.values())
    blocks = rec.cumulants_all_blocks({0: m, 1: {o: tuple(map(tuple, v)) for o, v in m.items()}})
    assert blocks[1][4].tolist() == [[0, -66], [-66, 0]]
    lag = {2: {s: [[1, 2]] for s in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]}}
    lag.update({3: {(0, 1, 2): [[1, 1]]}, 4: {(0, 1, 2, 3): [[5, 6]]}})
    k_lag = rec.calc_cumulants_from_moments_with_lag(lag, (0, 1, 2, 3))
    # k_4 = m_0123 - m_01 m_23 - m_02 m_13 - m_03 m_12
    assert k_lag[4].tolist() == [[5 - 3 * 1, 6 - 3 * 4]]
    with pytest.raises(InputError, match="'moment_set\\[2\\]'"):
        rec.calc_cumulants_from_moments({1: [0, 0], 2: [1, "a"]})
    with pytest.raises(InputError, match="ragged"):
        rec.calc_cumulants_from_moments({1: [0, 0], 2: [[1], [1, 2]]})


def _variants(a: np.ndarray) -> dict[str, object]:
    ro = a.astype(np.float64)
    ro.setflags(write=False)
    big = np.zeros((2 * a.shape[0],) + a.shape[1:], dtype=np.float64)
    big[::2] = a
    out: dict[str, object] = {"list": a.tolist(), "readonly": ro, "strided": big[::2]}
    out["tuple"] = tuple(map(tuple, a.tolist())) if a.ndim == 2 else tuple(a.tolist())
    out["fortran"] = np.asfortranarray(a.astype(np.float64))
    for dtype in ("uint8", "int16", "int32", "int64", "float32"):
        out[dtype] = a.astype(dtype)
    return out


IMG = np.random.default_rng(0).integers(1, 60, (6, 7))
SIGNAL = np.round(np.linspace(100, 10, 40) + np.random.default_rng(1).integers(0, 3, 40))
CALLS = {
    "ldrc input": (lambda v: cldrc.ldrc(IMG, v, 1, [3, 3]), IMG[::-1]),
    "ldrc mask": (lambda v: cldrc.ldrc(v, IMG, 1, [3, 3]), IMG[::-1]),
    "deconvsk": (lambda v: cdeconv.deconvsk(np.ones((3, 3)), v, 1.5, 3), IMG),
    "deconvsk psf": (lambda v: cdeconv.deconvsk(v, IMG, 1.5, 3), np.array([[1, 2], [2, 4]])),
    "richardson_lucy": (lambda v: cdeconv.richardson_lucy(v, np.ones((3, 3)), 2), IMG),
    "zero_pad": (lambda v: cdeconv.zero_pad(v, (8, 9)), IMG),
    "fourier_interp_array": (lambda v: cfinterp.fourier_interp_array(v, (2, 3)), IMG),
    "filter1d_same": (lambda v: cfilt.filter1d_same(v, [0.25, 0.5, 0.25]), SIGNAL),
    "med_smooth": (lambda v: cfilt.med_smooth(v, 5), SIGNAL),
    "cut_frames": (lambda v: rec.cut_frames(v, 0.2), SIGNAL),
    "ind2cmap": (lambda v: cvis.ind2cmap(v), IMG),
    "set_range": (lambda v: cvis.set_range(v, [5, 40]), IMG),
    "add_transmap": (lambda v: cvis.add_transmap(IMG, v), IMG),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_array_likes_give_the_float64_result(name):
    call, base = CALLS[name]
    want = call(base.astype(np.float64))
    for kind, value in _variants(base).items():
        got = call(value)
        if isinstance(want, tuple) and not isinstance(want[0], np.ndarray | list):
            assert got == want, kind
            continue
        for g, w in (
            zip(got, want, strict=True) if isinstance(want, list | tuple) else [(got, want)]
        ):
            np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), err_msg=kind)


def test_one_page_tiff_is_a_one_frame_movie(tmp_path):
    image = np.arange(6, dtype=np.uint16).reshape(2, 3)
    tifffile.imwrite(tmp_path / "one.tif", image, metadata=None)
    # pysofi v0.1.1-alpha: average = the image, moments 0, total signal [15], dims (1, 2, 3)
    np.testing.assert_array_equal(rec.average_image(tmp_path, "one.tif"), image)
    with pytest.warns(RuntimeWarning):
        assert not rec.calc_moment_im(tmp_path, "one.tif", 2).any()
    assert rec.calc_total_signal(tmp_path, "one.tif").tolist() == [15.0]
    d = PysofiData(tmp_path, "one.tif")
    assert d.get_dims() == (1, 2, 3)
    np.testing.assert_array_equal(d.get_frame(0), image)
    with pytest.raises(ValueError, match="not a TIFF"):
        (tmp_path / "bad.tif").write_bytes(b"nope")
        rec.average_image(tmp_path, "bad.tif")
