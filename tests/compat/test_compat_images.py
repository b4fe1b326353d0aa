"""sofi_dask.compat image stages, filtering, masks, visualization and pysofi's documented pipeline
through PysofiData, against the native API and direct numpy formulas."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
import scipy.signal
import tifffile

from sofi_dask.compat import PysofiData
from sofi_dask.compat import deconvsk as dk
from sofi_dask.compat import filtering as fl
from sofi_dask.compat import finterp as fi
from sofi_dask.compat import masks as mk
from sofi_dask.compat import visualization as vis
from sofi_dask.compat.ldrc import ldrc
from sofi_dask.image import _deconv as ndeconv
from sofi_dask.image import _finterp as nfinterp

RNG = np.random.default_rng(7)


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# --------------------------------------------------------------------------- masks / filtering
def test_masks_are_fspecial_gaussian():
    for shape, sigma in [((3, 3), 0.5), ((5, 4), 1.1), ((1, 21), 2.0)]:
        y = np.arange(shape[0]) - (shape[0] - 1) / 2
        x = np.arange(shape[1]) - (shape[1] - 1) / 2
        h = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
        h[h < np.finfo(float).eps * h.max()] = 0
        np.testing.assert_allclose(mk.gauss2d_mask(shape, sigma), h / h.sum(), rtol=1e-14)
    np.testing.assert_allclose(mk.gauss1d_mask((1, 21), 2), mk.gauss2d_mask((1, 21), 2)[0])
    assert mk.gauss2d_mask().shape == (3, 3) and mk.gauss1d_mask().shape == (3,)


@pytest.mark.parametrize("n, k", [(10, 3), (10, 4), (9, 4), (7, 7)])
def test_filter1d_same_is_pysofis_slice(n, k):
    series, kern = RNG.normal(size=n), RNG.random(k)
    full = np.convolve(series, kern, "full")
    c = len(full) // 2
    expected = full[int(c - np.floor(n / 2)) : int(c + np.ceil(n / 2))]
    np.testing.assert_allclose(fl.filter1d_same(series, kern), expected, rtol=1e-13)


def test_med_smooth_symmetric_padding():
    signal = RNG.normal(size=40).cumsum()
    for k in (3, 7, 251):
        padded = np.pad(signal, k, mode="symmetric")
        expected = scipy.signal.medfilt(padded, k)[k:-k]
        out = fl.med_smooth(signal, k)
        assert out.shape == signal.shape  # pysofi: wrong length when shorter than the kernel
        if k < len(signal):
            np.testing.assert_array_equal(out, expected)


class _Obj:
    def add_filtered(self, image, filter_name="noise filter"):
        self.filtered, self.filter_name = image, filter_name


def test_noise_filter1d_over_objects_and_return_types():
    names = [f"block{i}.tif" for i in range(6)]
    ims = {f: RNG.random((4, 5)) for f in names}
    dset = {f: _Obj() for f in names}
    kern = mk.gauss1d_mask((1, 3), 1.0)
    order = names[::-1]  # another order than im_set's: each image stays under its own name
    out = fl.noise_filter1d(dset, ims, kern, "nf", order, True, "dict")
    stack = np.stack([ims[f] for f in order])
    direct = np.apply_along_axis(lambda s: fl.filter1d_same(s, kern), 0, stack)
    for i, f in enumerate(order):
        np.testing.assert_allclose(out[f], direct[i], rtol=1e-13)
        assert dset[f].filter_name == "nf" and dset[f].filtered is not None
        np.testing.assert_allclose(dset[f].filtered, direct[i], rtol=1e-13)
    arr = fl.noise_filter1d(dset, ims, kern, return_option=True, return_type="ndarray")
    assert arr.shape == (6, 4, 5)
    assert fl.noise_filter1d(dset, ims) is None  # default kernel gauss1d_mask((1, 21), 2)
    with pytest.raises(ValueError, match="return_type"):
        fl.noise_filter1d(dset, ims, return_type="list")


# --------------------------------------------------------------------------- finterp
def test_fourier_interp_reproduces_band_limited_cosines():
    # the mirror extension of cos(pi k (n + 1/2) / H) is a pure cosine: its trigonometric
    # interpolation is that cosine at the fractional positions
    H, W, f = 6, 5, 3
    ky, kx = 2, 1
    n = np.arange(H)[:, None]
    m = np.arange(W)[None, :]
    image = np.cos(np.pi * ky * (n + 0.5) / H) * np.cos(np.pi * kx * (m + 0.5) / W)
    yy = np.arange((H - 1) * f + 1)[:, None] / f
    xx = np.arange((W - 1) * f + 1)[None, :] / f
    expected = np.cos(np.pi * ky * (yy + 0.5) / H) * np.cos(np.pi * kx * (xx + 0.5) / W)
    out = fi.fourier_interp_array(image, [f])[0]
    np.testing.assert_allclose(out, expected, atol=1e-12)  # signed values keep their sign
    fx, fy = fi.ft_matrix2d(2 * H, 2 * W)
    ifx, ify = fi.ift_matrix2d(2 * H, 2 * W, f)
    np.testing.assert_allclose(fi.interpolate_image(image, fx, fy, ifx, ify, f), out, atol=1e-12)
    np.testing.assert_allclose(nfinterp.fourier_interp(image, f), out, atol=1e-12)
    ones = fi.fourier_interp_array(np.ones((3, 4)), [1, 2])
    assert [a.shape for a in ones] == [(3, 4), (5, 7)]


def test_fourier_interp_tiff_names_and_rerun(tmp_path):
    movie = RNG.integers(100, 2000, size=(6, 5, 7)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "mv.tif", movie)
    for _ in range(2):  # pysofi appends on a re-run; here the output is replaced
        out = fi.fourier_interp_tiff(str(tmp_path), "mv", [2, 3], [1, 5], True, True)
        assert [a.shape for a in out] == [(4, 9, 13), (4, 13, 19)]
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "mv_InterpNum2.tif"), out[0])
    frame = fi.fourier_interp_array(movie[1], [2])[0]
    lo, hi = movie[1].min(), movie[1].max()
    scaled = (frame - frame.min()) / (frame.max() - frame.min()) * (hi - lo) + lo
    assert np.abs(out[0][0].astype(float) - np.round(scaled)).max() <= 1
    assert fi.fourier_interp_tiff(str(tmp_path), "mv", [2]) is None


# --------------------------------------------------------------------------- ldrc
def _ldrc_direct(mask, image, wy, wx):
    H, W = image.shape
    acc, cnt = np.zeros((H, W)), np.zeros((H, W))
    for i, j in itertools.product(range(H - wy + 1), range(W - wx + 1)):
        w = image[i : i + wy, j : j + wx]
        span = w.max() - w.min()
        norm = (w - w.min()) / span if span > 0 else np.zeros_like(w)
        acc[i : i + wy, j : j + wx] += norm * mask[i : i + wy, j : j + wx].max()
        cnt[i : i + wy, j : j + wx] += 1
    return acc / cnt


def test_ldrc_matches_direct_window_loop():
    image = RNG.random((11, 13)) ** 3
    mask = RNG.random((11, 13)) * 5
    out = ldrc(mask, image, 1, [4, 3])
    np.testing.assert_allclose(out, _ldrc_direct(mask, image, 4, 3), rtol=1e-12, atol=1e-13)
    small = RNG.random((6, 7))
    from sofi_dask.image import resample_mask

    big = RNG.random((11, 13))
    np.testing.assert_allclose(
        ldrc(small, big, 2, [5, 5]), _ldrc_direct(resample_mask(small, 2), big, 5, 5), atol=1e-12
    )
    assert np.isfinite(ldrc(mask, np.ones((11, 13)), 1, [3, 3])).all()  # pysofi: NaN


# --------------------------------------------------------------------------- deconvolution
def _otf(psf, shape):
    pad = np.zeros(shape)
    pad[: psf.shape[0], : psf.shape[1]] = psf
    pad = np.roll(pad, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), axis=(0, 1))
    return np.fft.fft2(pad)


def _deconvsk_direct(psf, image, lam, iters):
    eps = np.finfo(float).eps
    H, W = image.shape
    est = np.block([[image, image[:, ::-1]], [image[::-1, :], image[::-1, ::-1]]])
    psf0 = psf / psf.max()
    for i in range(iters):
        b = psf0 ** (lam ** (i + 1) / (lam - 1))
        b = np.where(b <= 0, eps, b)
        b = b / b.sum()
        y = np.where(est <= 0, eps, est)
        otf = _otf(b, y.shape)
        reblur = np.real(np.fft.ifft2(otf * np.fft.fft2(y)))
        reblur = np.where(reblur <= 0, eps, reblur)
        corr = np.real(np.fft.ifft2(np.conj(otf) * np.fft.fft2(y / reblur)))
        scale = np.real(np.fft.ifft2(np.conj(otf) * np.fft.fft2(np.ones_like(y)))) + np.sqrt(eps)
        est = np.maximum(y * corr / scale, 0)
    return est[:H, :W]


def test_deconvsk_matches_direct_rl_steps():
    image = RNG.random((12, 10)) * 50 + 1
    psf = mk.gauss2d_mask((7, 7), 1.2)
    out = dk.deconvsk(psf, image, 1.5, 4)
    assert _rel(out, _deconvsk_direct(psf, image, 1.5, 4)) < 1e-10
    assert _rel(out, ndeconv.deconvsk(image, psf, lam=1.5, iterations=4)) < 1e-12
    tiny = dk.deconvsk(mk.gauss2d_mask((15, 15), 2.0), RNG.random((3, 4)) + 1, 1.5, 2)
    assert tiny.shape == (3, 4)  # PSF larger than 2H x 2W: pysofi fails (defect 7)


def test_psf_otf_pad_and_core():
    psf = RNG.random((3, 5))
    otf = dk.psf2otf(psf, (8, 9))
    np.testing.assert_allclose(otf, _otf(psf, (8, 9)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk.otf2psf(otf, psf.shape), psf, rtol=1e-10)
    padded = dk.zero_pad(np.ones((2, 3)), (4, 7))
    expected = np.zeros((4, 7))
    expected[1:3, 2:5] = 1
    np.testing.assert_array_equal(padded, expected)
    np.testing.assert_array_equal(dk.zero_pad(np.ones((2, 3)), (4, 7), "corner")[:2, :3], 1)
    image = RNG.random((6, 6)) + 0.5
    h = _otf(np.array([[0.2, 0.6, 0.2]]), (6, 6))
    reblur = np.real(np.fft.ifftn(h * np.fft.fftn(image)))
    np.testing.assert_allclose(dk.corelucy(image, h), np.fft.fftn(image / reblur), atol=1e-12)
    p, j = dk.richardson_lucy(image, mk.gauss2d_mask((3, 3), 0.7), 3)
    p_n, j_n = ndeconv.richardson_lucy(image, mk.gauss2d_mask((3, 3), 0.7), 3)
    np.testing.assert_allclose(j, j_n)
    np.testing.assert_allclose(p, p_n)
    with pytest.raises(ValueError, match="unknown keyword"):
        dk.richardson_lucy(image, mk.gauss2d_mask((3, 3), 0.7), 3, damping=1)


# --------------------------------------------------------------------------- visualization
def test_colour_helpers_match_matplotlib():
    im = RNG.random((4, 5)) * 10 - 1
    norm = (im - im.min()) / (im.max() - im.min())
    np.testing.assert_allclose(vis.ind2cmap(im, "pink"), matplotlib.colormaps["pink"](norm))
    pos = vis.ensure_positive(im)
    assert pos.min() > 0 and (pos[im > 0] == im[im > 0]).all()
    rgba = vis.enhance_contrast(im, "gray")
    assert rgba.dtype == np.uint8 and rgba.shape == (4, 5, 4) and (rgba[..., 3] == 255).all()
    gray = (pos - pos.min()) / (pos.max() - pos.min())
    expected = matplotlib.colormaps["gray"](gray, bytes=True)[..., :3]
    np.testing.assert_array_equal(rgba[..., :3], expected)
    clipped = vis.set_range(im, [0, 2])
    assert clipped.min() >= 0 and clipped.max() <= 2 and im.min() < 0  # input untouched
    tm = vis.add_transmap(np.ones((2, 2)), np.array([[0.0, 1.0], [0.5, 1.0]]))
    assert tm[0, 0, :3].sum() == 0 and tm.shape == (2, 2, 4)


def test_save_png_and_video_files(tmp_path):
    p = vis.save_png(RNG.random((6, 7)), "pink", tmp_path / "a.png")
    assert p.exists()
    stack = RNG.random((3, 6, 7))
    v = vis.save_avi(stack, "pink", tmp_path / "v.tif")
    frames = tifffile.imread(v)
    assert frames.shape == (3, 6, 7, 3) and frames.dtype == np.uint8
    with pytest.raises(ValueError, match="OpenCV"):
        vis.save_avi(stack, filename=str(tmp_path / "v.avi"))
    fig = vis.bokeh_visualization_mult([stack[0], stack[1]], ["a", "b"])
    assert len(fig.axes) >= 2


# --------------------------------------------------------------------------- the pipeline
def test_pysofi_pipeline_through_pysofidata(tmp_path):
    """Fourier interpolation -> moments -> noise filter -> deconvsk -> noise filter -> LDRC ->
    colour-mapped TIFF video, over three movie blocks, equal to the native chain."""
    rng = np.random.default_rng(11)
    names = [f"Block{i}.tif" for i in range(1, 4)]
    movies = {}
    for n in names:
        movies[n] = rng.poisson(100 + 300 * (rng.random((30, 7, 8)) < 0.3)).astype(np.uint16)
        tifffile.imwrite(tmp_path / n, movies[n])
    dset = {n: PysofiData(str(tmp_path), n) for n in names}
    m4 = {n: dset[n].moment_image(order=4, finterp=True, interp_num=2) for n in names}
    kern = mk.gauss1d_mask((1, 3), 1.0)
    fl.noise_filter1d(dset, m4, kern, "nf1")
    psf = mk.gauss2d_mask((7, 7), 1.5)
    dec = {
        n: dset[n].deconvsk(est_psf=psf, input_im=dset[n].filtered, deconv_iter=4) for n in names
    }
    fl.noise_filter1d(dset, dec, kern, "nf2")
    out = np.stack(
        [
            dset[n].ldrc(
                order=2,
                window_size=[5, 5],
                mask_im=dset[n].average_image(),
                input_im=dset[n].filtered,
            )
            for n in names
        ]
    )
    video = vis.save_avi(out, "pink", tmp_path / "sofi.tif")
    rgb = tifffile.imread(video)
    assert rgb.shape == (3, 13, 15, 3) and rgb.dtype == np.uint8

    # the same chain written with the native API
    from sofi_dask.compat._common import to_numpy
    from sofi_dask.image import _filtering as nf
    from sofi_dask.image import ldrc as nldrc
    from sofi_dask.image import moments_with_finterp

    nat = np.stack([to_numpy(moments_with_finterp(movies[n], 4, 2)[4]) for n in names])
    nat = nf.noise_filter1d(nat, kern, convention="pysofi")
    nat = np.stack([ndeconv.deconvsk(im, psf, lam=1.5, iterations=4) for im in nat])
    nat = nf.noise_filter1d(nat, kern, convention="pysofi")
    nat = np.stack(
        [
            nldrc(im, movies[n].mean(0), order=2, window_size=(5, 5))
            for im, n in zip(nat, names, strict=True)
        ]
    )
    assert _rel(out, nat) < 1e-9
    assert dset[names[0]].filter_name == "nf2" and dset[names[0]].finterp_factor == 2


def test_migration_doc_cells_run_as_written(tmp_path, monkeypatch):
    """The compat and native cells of docs/pysofi-migration.md run unchanged (4 blocks instead
    of 20) and agree once the native LDRC uses each window's own average, as the doc says."""
    import re
    from pathlib import Path

    import sofi_dask as sd

    doc = (Path(__file__).parents[2] / "docs" / "pysofi-migration.md").read_text()
    cells = re.findall(r"```python\n(.*?)```", doc, re.S)
    compat_cell = next(
        c for c in cells if "from sofi_dask.compat import PysofiData" in c and "sofi.tif" in c
    )
    native_cell = next(c for c in cells if "sd.sofi_video" in c)
    rng = np.random.default_rng(0)
    (tmp_path / "data").mkdir()
    movies = []
    for i in range(1, 5):
        movies.append(rng.poisson(100 + 300 * (rng.random((40, 30, 32)) < 0.3)).astype(np.uint16))
        tifffile.imwrite(tmp_path / "data" / f"Block{i}.tif", movies[-1])
    monkeypatch.chdir(tmp_path)
    ns_compat: dict = {}
    exec("import numpy as np\n" + compat_cell.replace("range(1, 21)", "range(1, 5)"), ns_compat)
    compat_video = np.asarray(ns_compat["video"])
    assert tifffile.imread(tmp_path / "sofi.tif").shape == (4, 59, 63, 3)
    (tmp_path / "sofi.tif").unlink()  # the native writer refuses to replace it
    ns_native: dict = {}
    exec(native_cell.replace("// 20", "// 4"), ns_native)
    assert tifffile.imread(tmp_path / "sofi.tif").shape == (4, 59, 63, 3)
    native_video = np.asarray(ns_native["video"])
    assert native_video.shape == compat_video.shape == (4, 59, 63)
    # the native cell's chain, its LDRC against each window's own average instead
    from sofi_dask.image import gauss1d_mask, gauss2d_mask, interpolate_movie, noise_filter1d

    stack = np.stack(movies)
    v = sd.sofi_video(
        interpolate_movie(stack.reshape(160, 30, 32), 2), 6, window=40, statistic="moments"
    )[6]
    v = noise_filter1d(
        sd.deconvsk(noise_filter1d(v, gauss1d_mask(21, 2)), gauss2d_mask((51, 51), 2)),
        gauss1d_mask(21, 2),
    )
    v = np.asarray(v)
    per_window = np.stack([sd.ldrc(v[w], m.mean(0), order=2) for w, m in enumerate(movies)])
    assert _rel(per_window, compat_video) < 1e-9
