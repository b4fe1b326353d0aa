"""Deconvolution against plain references written here: circular convolutions as sums of
``np.roll`` over PSF offsets (no FFT), the MATLAB deconvblind update, closed forms."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask.array.utils import assert_eq

from sofi_dask.errors import InputError
from sofi_dask.image._deconv import (
    corelucy,
    deconvsk,
    otf2psf,
    psf2otf,
    richardson_lucy,
    tile_depth,
    zero_pad,
)

EPS = np.finfo(np.float64).eps


# ----------------------------------------------------------------- plain references
def offsets(shape):
    """PSF pixel (a, b) -> offset from the centre (a - ph // 2, b - pw // 2)."""
    ph, pw = shape
    for a in range(ph):
        for b in range(pw):
            yield a, b, (a - ph // 2, b - pw // 2)


def conv(x, k):
    """Circular convolution: out[p] = sum_q k[q] x[p - off(q)]."""
    out = np.zeros_like(x)
    for a, b, off in offsets(k.shape):
        out += k[a, b] * np.roll(x, off, axis=(0, 1))
    return out


def corr(x, k):
    """Circular correlation: out[p] = sum_q k[q] x[p + off(q)]."""
    out = np.zeros_like(x)
    for a, b, (oy, ox) in offsets(k.shape):
        out += k[a, b] * np.roll(x, (-oy, -ox), axis=(0, 1))
    return out


def floor_eps(x):
    x = np.array(x, dtype=float)
    x[x <= 0] = EPS
    return x


def ref_blind_rl(observed, psf, iterations):
    """MATLAB deconvblind without acceleration, damping, weights."""
    obs = floor_eps(observed)
    j = obs.copy()
    p = floor_eps(psf)
    p /= p.sum()
    for _ in range(iterations):
        y = np.maximum(j, 0)
        b = np.maximum(p, 0)
        b /= b.sum()
        reblur = conv(y, b)
        reblur[reblur <= 0] = EPS
        ratio = obs / reblur
        j_old = j
        j = np.maximum(y * corr(ratio, b) / (b.sum() + np.sqrt(EPS)), 0)
        xc = np.zeros_like(b)
        for a, c, (oy, ox) in offsets(b.shape):
            xc[a, c] = np.sum(j_old * np.roll(ratio, (-oy, -ox), axis=(0, 1)))
        p = np.maximum(b * xc / (j_old.sum() + np.sqrt(EPS)), 0)
        p /= p.sum()
    return p, j


def ref_deconvsk(image, psf, lam, iterations):
    h, w = image.shape
    x = np.block([[image, image[:, ::-1]], [image[::-1], image[::-1, ::-1]]]).astype(float)
    p0 = psf / psf.max()
    for i in range(iterations):
        kernel = p0 ** (lam ** (i + 1) / (lam - 1))
        _, x = ref_blind_rl(x, kernel, 1)
    return floor_eps(x[:h, :w])


def gauss_psf(half, sigma, shift=0.0):
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    return np.exp(-((x - shift) ** 2 + y**2) / (2 * sigma**2))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ----------------------------------------------------------------- psf2otf / otf2psf
@pytest.mark.parametrize("psf_shape", [(3, 3), (4, 5), (1, 1), (6, 2)])
def test_psf2otf_of_a_centred_delta_is_all_ones(psf_shape):
    psf = np.zeros(psf_shape)
    psf[psf_shape[0] // 2, psf_shape[1] // 2] = 1.0
    otf = psf2otf(psf, (7, 8))
    assert otf.shape == (7, 8)
    np.testing.assert_allclose(otf, np.ones((7, 8)), atol=1e-15)


def test_psf2otf_matches_the_dft_definition(rng):
    psf = rng.random((3, 4))
    shape = (5, 6)
    ky, kx = np.mgrid[0 : shape[0], 0 : shape[1]]
    expected = np.zeros(shape, dtype=complex)
    for a, b, (oy, ox) in offsets(psf.shape):
        expected += psf[a, b] * np.exp(-2j * np.pi * (ky * oy / shape[0] + kx * ox / shape[1]))
    np.testing.assert_allclose(psf2otf(psf, shape), expected, atol=1e-13)


@pytest.mark.parametrize(
    ("psf_shape", "shape"), [((3, 4), (9, 8)), ((5, 5), (5, 5)), ((2, 7), (3, 12))]
)
def test_otf2psf_inverts_psf2otf(rng, psf_shape, shape):
    psf = rng.random(psf_shape)
    np.testing.assert_allclose(otf2psf(psf2otf(psf, shape), psf_shape), psf, atol=1e-14)


def test_psf2otf_is_real_for_a_symmetric_psf_and_zero_for_zero():
    otf = psf2otf(gauss_psf(2, 1.0), (8, 9))
    assert not np.iscomplexobj(otf)
    assert np.all(psf2otf(np.zeros((3, 3)), (4, 4)) == 0)
    with pytest.raises(InputError, match=r"parameter 'shape': .*PSF shape \(5, 5\), got \(4, 6\)"):
        psf2otf(np.ones((5, 5)), (4, 6))
    with pytest.raises(InputError, match=r"parameter 'shape': .*OTF shape \(4, 4\), got \(5, 4\)"):
        otf2psf(np.ones((4, 4)), (5, 4))


def test_zero_pad():
    img = np.arange(6.0).reshape(2, 3)
    out = zero_pad(img, (4, 5), position="center")
    assert out[1:3, 1:4].tolist() == img.tolist() and out.sum() == img.sum()
    corner = zero_pad(img, (3, 4))
    assert corner[:2, :3].tolist() == img.tolist() and corner.sum() == img.sum()
    assert zero_pad(img, (2, 3)) is not None
    with pytest.raises(
        InputError, match=r"parameter 'shape': expected the parity .*, got \(3, 5\)"
    ):
        zero_pad(img, (3, 5), position="center")
    with pytest.raises(
        InputError, match=r"parameter 'shape': .*image shape \(2, 3\), got \(1, 5\)"
    ):
        zero_pad(img, (1, 5))
    with pytest.raises(InputError, match="parameter 'position': .*, got 'middle'"):
        zero_pad(img, (4, 5), position="middle")


def test_corelucy_is_the_spectrum_of_observed_over_reblurred(rng):
    est = rng.random((6, 5)) + 0.5
    obs = rng.random((6, 5)) + 0.5
    psf = rng.random((3, 3))
    psf /= psf.sum()
    got = corelucy(est, psf2otf(psf, est.shape), obs)
    np.testing.assert_allclose(got, np.fft.fft2(obs / conv(est, psf)), atol=1e-12)
    pysofi_style = corelucy(est, psf2otf(psf, est.shape))
    np.testing.assert_allclose(pysofi_style, np.fft.fft2(est / conv(est, psf)), atol=1e-12)


# ----------------------------------------------------------------- richardson_lucy
@pytest.mark.parametrize(("shape", "psf_shape"), [((9, 12), (3, 4)), ((10, 7), (5, 5))])
def test_richardson_lucy_matches_the_matlab_update(rng, shape, psf_shape):
    image = rng.random(shape) * 10
    image[0, 0] = 0.0  # floored at eps
    psf = rng.random(psf_shape) + 0.1
    p, j = richardson_lucy(image, psf, 4)
    p_ref, j_ref = ref_blind_rl(image, psf, 4)
    np.testing.assert_allclose(j, j_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p, p_ref, rtol=1e-10, atol=1e-14)
    assert p.shape == psf_shape and np.isclose(p.sum(), 1.0)


def test_richardson_lucy_bad_parameters():
    img = np.ones((8, 8))
    with pytest.raises(InputError, match="parameter 'iterations': expected an integer >= 1, got 0"):
        richardson_lucy(img, np.ones((3, 3)), 0)
    with pytest.raises(
        InputError, match=r"parameter 'psf': expected a 2-D array, got shape \(3,\)"
    ):
        richardson_lucy(img, np.ones(3), 2)
    with pytest.raises(InputError, match=r"parameter 'psf': .*\(8, 8\), got shape \(9, 3\)"):
        richardson_lucy(img, np.ones((9, 3)), 2)
    with pytest.raises(InputError, match=r"parameter 'image': .*, got shape \(2, 8, 8\)"):
        richardson_lucy(np.ones((2, 8, 8)), np.ones((3, 3)), 2)


# ----------------------------------------------------------------- deconvsk, one image
@pytest.mark.parametrize(
    ("shape", "psf", "lam", "iterations"),
    [
        ((9, 12), gauss_psf(3, 1.5), 1.5, 6),  # symmetric PSF (DCT path), odd x even
        ((10, 7), gauss_psf(2, 1.2, shift=0.4), 1.7, 4),  # asymmetric PSF (FFT path)
        ((8, 8), np.arange(1.0, 13.0).reshape(3, 4), 1.3, 3),  # even-sized PSF
    ],
)
def test_deconvsk_matches_the_plain_reference(rng, shape, psf, lam, iterations):
    image = rng.random(shape) * 100 + 1
    got = deconvsk(image, psf, lam=lam, iterations=iterations)
    np.testing.assert_allclose(got, ref_deconvsk(image, psf, lam, iterations), rtol=1e-10)
    assert got.dtype == np.float64 and got.shape == shape


def test_deconvsk_psf_larger_than_the_mirror_extension(rng):
    """pysofi defect 7: 2H or 2W smaller than the PSF. The PSF wraps onto the periodic grid."""
    image = rng.random((3, 5)) + 1
    psf = gauss_psf(6, 2.0)  # 13 x 13 > (6, 10)
    got = deconvsk(image, psf, lam=1.5, iterations=3)
    np.testing.assert_allclose(got, ref_deconvsk(image, psf, 1.5, 3), rtol=1e-10)


def test_deconvsk_delta_image_with_delta_psf_is_unchanged():
    image = np.zeros((7, 6))
    image[3, 2] = 5.0
    psf = np.zeros((3, 3))
    psf[1, 1] = 1.0
    got = deconvsk(image, psf, lam=1.5, iterations=20)
    # each step divides by (1 + sqrt(eps)); zeros become eps
    np.testing.assert_allclose(got, image, atol=1e-14, rtol=20 * np.sqrt(EPS))
    assert got.min() > 0


def test_deconvsk_conserves_flux_and_keeps_a_flat_field(rng):
    image = rng.random((11, 14)) * 50 + 5
    got = deconvsk(image, gauss_psf(3, 1.5), lam=1.5, iterations=10)
    loss = (1 + np.sqrt(EPS)) ** -10
    np.testing.assert_allclose(got.sum(), image.sum() * loss, rtol=1e-10)
    flat = deconvsk(np.full((6, 9), 3.0), gauss_psf(2, 1.0), iterations=10)
    np.testing.assert_allclose(flat, 3.0 * loss, rtol=1e-10)
    assert not np.allclose(got, image, rtol=1e-2)  # it does sharpen


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": 1.0}, "lam"),
        ({"lam": 0.5}, "lam"),
        ({"lam": float("nan")}, "lam"),
        ({"iterations": 0}, "iterations"),
        ({"iterations": 2.5}, "iterations"),
        ({"psf": np.ones(5)}, "psf"),
        ({"psf": np.ones((2, 3, 3))}, "psf"),
        ({"psf": np.zeros((3, 3))}, "psf"),
        ({"image": np.ones(5)}, "image"),
        ({"depth": -1}, "depth"),
        ({"depth": (3, -2)}, "depth"),
        ({"depth": (1, 2, 3)}, "depth"),
        ({"depth": 1.5}, "depth"),
        ({"depth": "4"}, "depth"),
        ({"image": da.ones((8, 8), chunks=4), "depth": -1}, "depth"),
    ],
)
def test_deconvsk_bad_parameters(kwargs, match):
    args = {"image": np.ones((8, 8)), "psf": np.ones((3, 3))}
    args.update(kwargs)
    image, psf = args.pop("image"), args.pop("psf")
    with pytest.raises(InputError, match=f"parameter '{match}': expected"):
        deconvsk(image, psf, **args)


# ----------------------------------------------------------------- stacks and tiles
def test_deconvsk_stack_every_image_independently(rng):
    stack = rng.random((5, 9, 8)) * 20 + 1
    psf = gauss_psf(2, 1.0, shift=0.3)
    expected = np.stack([ref_deconvsk(im, psf, 1.5, 3) for im in stack])
    got = deconvsk(stack, psf, iterations=3)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    lazy = deconvsk(da.from_array(stack, chunks=(2, -1, -1)), psf, iterations=3)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (2, 2, 1)
    assert_eq(lazy, expected, rtol=1e-10)
    one = deconvsk(da.from_array(stack[1]), psf, iterations=3)  # one image, one chunk
    assert isinstance(one, da.Array)
    assert_eq(one, expected[1], rtol=1e-10)


@pytest.mark.parametrize("psf", [gauss_psf(3, 1.2), gauss_psf(2, 1.0, shift=0.3)])
def test_fft_threads_of_whole_images_change_no_bit(rng, psf):
    """Whole images in dask tasks get FFT threads (a few big images, one per order, would leave
    cores idle): the numbers are those of one thread, to the bit (DCT and FFT plans)."""
    image = rng.random((96, 80)) * 50 + 1
    lazy = da.from_array(image, chunks=(32, 80))
    threaded = deconvsk(lazy, psf, iterations=4)  # default: FFT threads per image
    one = deconvsk(lazy, psf, iterations=4, workers=1)
    np.testing.assert_array_equal(threaded.compute(), one.compute())
    np.testing.assert_array_equal(deconvsk(image, psf, iterations=4, workers=2), one.compute())


def test_dct_steps_reusing_a_buffer_change_no_bit(rng):
    """deconvsk_stack's DCT steps reuse the previous step's array instead of a fresh one per
    step: the numbers of the plain loop (a new array per transform), to the bit."""
    from sofi_dask.image import _deconv_kernels as K

    stack = rng.random((2, 40, 36)) * 30 + 1
    plan = K.make_plan(K.shrinking_kernels(gauss_psf(3, 1.3), 1.5, 6), (40, 36))
    assert plan.method == "dct"
    x = stack.copy()
    for i in range(len(plan.kernels)):
        K._floor_eps(x)
        x = K._rl_step_dct(x, plan.spectrum(i), float(plan.scale[i]), 1)
    np.testing.assert_array_equal(K.deconvsk_stack(stack, plan), K._floor_eps(x))


def test_deconvsk_on_a_distributed_cluster(dask_client, rng):
    stack = rng.random((4, 12, 10)) * 20 + 1
    psf = gauss_psf(2, 1.3)
    lazy = deconvsk(da.from_array(stack, chunks=(1, -1, -1)), psf, iterations=4)
    got = dask_client.compute(lazy).result()
    np.testing.assert_allclose(got, deconvsk(stack, psf, iterations=4), rtol=1e-12)


def test_tiled_default_depth_equals_untiled_and_the_bound_is_tight(rng):
    """A flat 3x3 PSF spreads information the furthest: 2 * (3 // 2) pixels per step."""
    image = rng.random((40, 36)) * 10 + 1
    psf = np.ones((3, 3))
    whole = deconvsk(image, psf, iterations=5)
    assert tile_depth(psf.shape, 5) == (10, 10)
    tiles = da.from_array(image, chunks=(12, 10))
    tiled = deconvsk(tiles, psf, iterations=5, memory_budget=0)  # 0: the input's tiles
    assert len(tiled.__dask_graph__().layers) > 2  # really tiled (map_overlap)
    np.testing.assert_allclose(tiled.compute(), whole, rtol=1e-12)
    pair = deconvsk(tiles, psf, iterations=5, depth=[10, 10], memory_budget=0)
    np.testing.assert_allclose(pair.compute(), whole, rtol=1e-12)
    short = deconvsk(tiles, psf, iterations=5, depth=9, memory_budget=0)
    err = np.abs(short.compute() - whole).max() / whole.max()
    assert 1e-8 < err < 1e-3  # one pixel less than the bound is visibly approximate


def test_tiled_stack_with_spatial_chunks(rng):
    stack = rng.random((2, 24, 20)) + 1
    psf = gauss_psf(1, 0.8)
    got = deconvsk(da.from_array(stack, chunks=(1, 12, 10)), psf, iterations=3, memory_budget=0)
    assert got.numblocks == (2, 2, 2)
    np.testing.assert_allclose(got.compute(), deconvsk(stack, psf, iterations=3), rtol=1e-12)


@pytest.mark.parametrize("psf", [gauss_psf(2, 1.0), gauss_psf(2, 1.0, shift=0.3)])
def test_tiled_input_is_deconvolved_whole_when_it_fits_the_budget(rng, psf):
    """Strips of rows (the store's chunks) in, one task per image out: orders / video frames
    in parallel, nothing computed twice; the same numbers as the in-memory reference."""
    stack = rng.random((3, 40, 30)) * 10 + 1
    got = deconvsk(da.from_array(stack, chunks=(3, 8, 30)), psf, iterations=4)
    assert got.chunks == ((1, 1, 1), (40,), (30,))
    expected = np.stack([ref_deconvsk(im, psf, 1.5, 4) for im in stack])
    np.testing.assert_allclose(got.compute(), expected, rtol=1e-10)


@pytest.mark.parametrize("psf", [gauss_psf(3, 1.5), gauss_psf(2, 1.2, shift=0.4)])
def test_images_above_the_budget_are_tiled_with_fast_fft_lengths(rng, psf):
    from scipy.fft import next_fast_len

    from sofi_dask.image import _deconv_kernels as K

    image = rng.random((150, 140)) * 10 + 1
    method = K.plan_method(K.shrinking_kernels(psf, 1.5, 3), image.shape)
    budget = K.image_nbytes((90, 90), method)  # the whole image does not fit, 90 px tiles do
    got = deconvsk(da.from_array(image, chunks=(30, 140)), psf, iterations=3, memory_budget=budget)
    dy, dx = tile_depth(psf.shape, 3)
    for size, depth in ((got.chunks[0][0], dy), (got.chunks[1][0], dx)):
        assert next_fast_len(size + 2 * depth, True) == size + 2 * depth
        assert size + 2 * depth <= 90
    assert got.numblocks[0] > 1 and got.numblocks[1] > 1
    np.testing.assert_allclose(got.compute(), ref_deconvsk(image, psf, 1.5, 3), rtol=1e-10)


@pytest.mark.parametrize("shape", [(6, 5), (40, 33), (3, 2)])
def test_dct_spectrum_is_the_even_kernel_spectrum(rng, shape):
    """Against the FFT of the kernel placed on the (2H, 2W) grid (wrapping when larger)."""
    from sofi_dask.image import _deconv_kernels as K

    half = rng.random((4, 3))
    kernel = np.concatenate([half[:0:-1], half])  # even in y, 7 rows
    kernel = np.concatenate([kernel[:, :0:-1], kernel], axis=1)  # even in x, 5 columns
    grid = K.psf_to_origin(kernel, (2 * shape[0], 2 * shape[1]))
    ref = np.fft.rfft2(grid).real[: shape[0], : shape[1]]
    np.testing.assert_allclose(K.dct_spectrum(kernel, shape), ref, atol=1e-12 * ref.max())
    buf = np.full(shape, np.nan)  # written whole, the same numbers as a fresh array
    assert K.dct_spectrum(kernel, shape, out=buf) is buf
    np.testing.assert_array_equal(buf, K.dct_spectrum(kernel, shape))


def test_spectra_made_step_by_step_give_the_precomputed_plans_result(rng):
    """A plan too large to precompute makes each step's spectrum into one reused buffer: the
    deconvolution is the same to the bit as with the spectra precomputed."""
    from sofi_dask.image import _deconv_kernels as K

    y, x = np.mgrid[-4:5, -4:5]
    kernels = K.shrinking_kernels(np.exp(-(x**2 + y**2) / 4.0), 1.5, 6)
    images = rng.gamma(2.0, 10.0, (2, 24, 20))
    stepwise = K.make_plan(kernels, (24, 20), precompute=False)
    assert stepwise.method == "dct" and stepwise.spectra is None
    np.testing.assert_array_equal(
        K.deconvsk_stack(images, stepwise), K.deconvsk_stack(images, K.make_plan(kernels, (24, 20)))
    )


# ----------------------------------------------------------------- DCT/FFT plan choice
def full_grid_is_even(psf, shape):
    """Brute force: place the PSF on the whole periodic grid, compare g[o] with g[-o]."""
    grid = np.zeros(shape)
    for a, b, (oy, ox) in offsets(psf.shape):
        grid[oy % shape[0], ox % shape[1]] += psf[a, b]
    neg = grid[(-np.arange(shape[0])) % shape[0]][:, (-np.arange(shape[1])) % shape[1]]
    flip_y = grid[(-np.arange(shape[0])) % shape[0]]
    flip_x = grid[:, (-np.arange(shape[1])) % shape[1]]
    tol = 1e-12 * np.abs(grid).max()
    return bool(
        np.abs(flip_y - grid).max() <= tol
        and np.abs(flip_x - grid).max() <= tol
        and np.abs(neg - grid).max() <= tol
    )


@pytest.mark.parametrize(
    "psf",
    [
        gauss_psf(3, 1.5),  # even in both axes
        gauss_psf(2, 1.2, shift=0.4),  # odd in x
        np.pad(gauss_psf(2, 1.0), ((1, 0), (1, 0))),  # 6 x 6, zero first row/col: even
        np.pad(gauss_psf(2, 1.0), ((0, 1), (0, 1))),  # 6 x 6, zero last row/col: not even
        np.ones((4, 3)),  # even size, no zero row: not even on a big grid
        gauss_psf(6, 2.0),  # 13 x 13, wraps on small grids
    ],
)
@pytest.mark.parametrize("image_shape", [(40, 36), (3, 5), (2, 2), (6, 7)])
def test_plan_method_matches_a_full_grid_symmetry_check(psf, image_shape):
    from sofi_dask.image import _deconv_kernels as K

    kernels = K.shrinking_kernels(psf, 1.5, 3)
    ext = (2 * image_shape[0], 2 * image_shape[1])
    expected = all(full_grid_is_even(k, ext) for k in kernels)
    assert K.plan_method(kernels, image_shape) == ("dct" if expected else "fft")
