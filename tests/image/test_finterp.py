"""Fourier interpolation against plain references written here: DFT matrices from their
definition, a cosine basis that the mirror extension interpolates exactly, direct moments."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from dask.array.utils import assert_eq

from sofi_dask.errors import InputError
from sofi_dask.image._finterp import (
    average_image_with_finterp,
    fourier_interp,
    fourier_interp_array,
    fourier_interp_movie_to_tiff,
    fourier_interp_movie_to_zarr,
    ft_matrix2d,
    ift_matrix2d,
    interpolate_image,
    interpolate_movie,
    interpolate_movie_uint16,
    interpolated_grid_shape,
    moment_im_with_finterp,
    moments_with_finterp,
    rescale_to_uint16,
)


def plain_dft(n):
    return np.array([[np.exp(-2j * np.pi * r * c / n) for c in range(n)] for r in range(n)])


def plain_idft(n, f):
    """Inverse DFT at t = m / f with signed frequencies (+n/2 at Nyquist)."""
    rows = []
    for m in range((n - 1) * f + 1):
        t = m / f
        rows.append(
            [np.exp(2j * np.pi * (c if c <= n // 2 else c - n) * t / n) / n for c in range(n)]
        )
    return np.array(rows)


def reference_interp(im, f):
    """pysofi's route: DFT of the mirror extension, inverse DFT on the fine grid, crop."""
    h, w = im.shape
    ext = np.block([[im, im[:, ::-1]], [im[::-1], im[::-1, ::-1]]])
    spec = plain_dft(2 * h) @ ext @ plain_dft(2 * w)
    full = plain_idft(2 * h, f) @ spec @ plain_idft(2 * w, f).T
    assert np.abs(full.imag).max() < 1e-9 * max(1.0, np.abs(full).max())
    return full.real[: (h - 1) * f + 1, : (w - 1) * f + 1]


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.mark.parametrize(("shape", "factor"), [((5, 4), 3), ((6, 9), 2), ((1, 7), 4), ((8, 8), 1)])
def test_fourier_interp_matches_the_matrix_dft_route(rng, shape, factor):
    im = rng.random(shape) * 10
    got = fourier_interp(im, factor)
    assert got.shape == interpolated_grid_shape(shape, factor) and got.dtype == np.float64
    np.testing.assert_allclose(got, reference_interp(im, factor), atol=1e-11)


def test_reproduces_the_input_on_the_coarse_grid(rng):
    im = rng.random((17, 12)) * 1000
    for f in (2, 3, 5):
        np.testing.assert_allclose(fourier_interp(im, f)[::f, ::f], im, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(fourier_interp(im, 1), im, rtol=1e-12, atol=1e-10)


def test_mirror_cosines_are_interpolated_exactly():
    """cos(pi k (2t + 1) / 2H) is one component of the mirror extension: exact at every t."""
    h, w, f = 7, 6, 3
    ky, kx = 3, 2
    cy = lambda t: np.cos(np.pi * ky * (2 * t + 1) / (2 * h))  # noqa: E731
    cx = lambda t: np.cos(np.pi * kx * (2 * t + 1) / (2 * w))  # noqa: E731
    im = np.outer(cy(np.arange(h)), cx(np.arange(w))) + 2.0
    ty = np.arange((h - 1) * f + 1) / f
    tx = np.arange((w - 1) * f + 1) / f
    np.testing.assert_allclose(fourier_interp(im, f), np.outer(cy(ty), cx(tx)) + 2.0, atol=1e-12)
    np.testing.assert_allclose(fourier_interp(np.full((4, 5), 7.0), 4), 7.0, rtol=1e-13)


def test_signed_inputs_keep_their_sign(rng):
    """pysofi defect 8: it returns |result|. Here the real part: linear, odd in the input."""
    im = rng.random((6, 5)) - 0.5
    out = fourier_interp(im, 2)
    np.testing.assert_allclose(fourier_interp(-im, 2), -out, atol=1e-14)
    assert out.min() < 0
    np.testing.assert_allclose(out, reference_interp(im, 2), atol=1e-12)


def test_dft_matrices_match_their_definitions():
    fx, fy = ft_matrix2d(6, 8)
    np.testing.assert_allclose(fx, plain_dft(6), atol=1e-13)
    np.testing.assert_allclose(fy, plain_dft(8).T, atol=1e-13)
    ifx, ify = ift_matrix2d(6, 8, 3)
    np.testing.assert_allclose(ifx, plain_idft(6, 3), atol=1e-13)
    np.testing.assert_allclose(ify, plain_idft(8, 3).T, atol=1e-13)
    im = np.arange(12.0).reshape(3, 4) ** 1.5
    np.testing.assert_allclose(
        interpolate_image(im, *ft_matrix2d(6, 8), *ift_matrix2d(6, 8, 3), 3),
        fourier_interp(im, 3),
        atol=1e-11,
    )


def test_fourier_interp_array_and_stacks(rng):
    im = rng.random((5, 6))
    out = fourier_interp_array(im, [1, 2, 3])
    assert [a.shape for a in out] == [(5, 6), (9, 11), (13, 16)]
    np.testing.assert_allclose(out[2], reference_interp(im, 3), atol=1e-11)
    stack = rng.random((3, 5, 6))
    np.testing.assert_allclose(
        fourier_interp(stack, 2), np.stack([reference_interp(s, 2) for s in stack]), atol=1e-11
    )


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, float("nan"), None])
def test_bad_factor(bad):
    got = f"got {bad!r}".replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(InputError, match=f"parameter 'factor': expected an integer >= 1, {got}"):
        fourier_interp(np.ones((3, 3)), bad)
    with pytest.raises(InputError, match=f"parameter 'factor': expected an integer >= 1, {got}"):
        interpolate_movie(np.ones((2, 3, 3)), bad)
    with pytest.raises(InputError, match=rf"parameter 'factors\[1\]': .*, {got}"):
        fourier_interp_array(np.ones((3, 3)), [2, bad])


def test_bad_images():
    with pytest.raises(InputError, match=r"parameter 'image': .* \(y, x\), got shape \(4,\)"):
        fourier_interp(np.ones(4), 2)
    with pytest.raises(InputError, match="parameter 'factors': expected a list .*, got 2"):
        fourier_interp_array(np.ones((3, 3)), 2)
    for empty in [(0, 4), (3, 0), (2, 0, 4)]:
        with pytest.raises(InputError, match="parameter 'image': expected positive sizes"):
            fourier_interp(np.ones(empty), 2)
    assert fourier_interp(np.ones((3, 3)), 2.0).shape == (5, 5)  # integral float accepted


# ----------------------------------------------------------------- movies
def test_interpolate_movie_is_lazy_per_frame(rng):
    movie = rng.integers(0, 4000, size=(7, 9, 8)).astype(np.uint16)
    darr = da.from_array(movie, chunks=(3, 5, 4))  # spatial tiles are merged
    out = interpolate_movie(darr, 2)
    assert isinstance(out, da.Array) and out.dtype == np.float64
    assert out.chunks == ((3, 3, 1), (17,), (15,))
    expected = np.stack([reference_interp(f.astype(float), 2) for f in movie])
    assert_eq(out, expected, atol=1e-9)
    assert_eq(interpolate_movie(movie, 2, frames_per_chunk=2), expected, atol=1e-9)
    assert interpolate_movie(movie, 2, frames_per_chunk=2).chunks[0] == (2, 2, 2, 1)


def plain_rescale(frame, lo, hi):
    span = frame.max() - frame.min()
    unit = (frame - frame.min()) / span if span > 0 else np.zeros_like(frame)
    return np.uint16(np.around(unit * (hi - lo) + lo))


def test_rescale_to_uint16():
    frames = np.array([[[0.0, 0.25], [0.5, 1.0]], [[3.0, 3.0], [3.0, 3.0]]])
    got = rescale_to_uint16(frames, [100, 7], [300, 9])
    assert got.dtype == np.uint16
    assert got[0].tolist() == [[100, 150], [200, 300]]
    assert got[1].tolist() == [[7, 7], [7, 7]]  # a constant frame takes the original minimum
    assert rescale_to_uint16(np.array([[0.0, 1.0]]), 0, 5).tolist() == [[0, 5]]
    assert rescale_to_uint16(np.array([[[0.0, 0.5, 1.0]]]), [0], [1]).tolist() == [[[0, 0, 1]]]
    with pytest.raises(ValueError, match="original_min"):
        rescale_to_uint16(frames, [-1, 0], [3, 3])
    with pytest.raises(ValueError, match="original_min"):
        rescale_to_uint16(frames, [5, 0], [3, 3])


def test_uint16_movie_rescales_each_frame_to_its_range(rng):
    movie = rng.integers(100, 3000, size=(5, 6, 7)).astype(np.uint16)
    movie[2] = 42  # constant frame
    got = interpolate_movie_uint16(da.from_array(movie, chunks=(2, -1, -1)), 3).compute()
    expected = [
        plain_rescale(reference_interp(f.astype(float), 3), f.min(), f.max()) for f in movie
    ]
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, np.stack(expected))


def test_write_zarr_and_tiff(tmp_path, rng):
    movie = rng.integers(0, 60000, size=(6, 5, 4)).astype(np.uint16)
    expected = interpolate_movie_uint16(movie, 2).compute()
    zpath = fourier_interp_movie_to_zarr(movie, tmp_path / "interp.zarr", 2, frames_per_chunk=4)
    arr = zarr.open_array(str(zpath), mode="r")
    assert arr.chunks == (4, 9, 7) and arr.dtype == np.uint16
    np.testing.assert_array_equal(arr[...], expected)
    assert arr.attrs["sofi_dask"]["complete"] is True and arr.attrs["sofi_dask"]["factor"] == 2
    with pytest.raises(FileExistsError):
        fourier_interp_movie_to_zarr(movie, zpath, 2)
    fourier_interp_movie_to_zarr(movie, zpath, 3, rescale=False, overwrite=True)
    again = zarr.open_array(str(zpath), mode="r")
    np.testing.assert_allclose(again[...], interpolate_movie(movie, 3).compute())

    tpath = fourier_interp_movie_to_tiff(
        da.from_array(movie, chunks=(2, -1, -1)), tmp_path / "interp.tif", 2
    )
    np.testing.assert_array_equal(tifffile.imread(tpath), expected)
    with pytest.raises(FileExistsError):
        fourier_interp_movie_to_tiff(movie, tpath, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["interp.tif", "interp.zarr"]
    # overwrite replaces only an array this writer made, never another folder
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="parameter 'dest': .*, got .*other, a non-empty folder"):
        fourier_interp_movie_to_zarr(movie, other, 2, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"
    other.joinpath("keep.txt").unlink()
    other.rmdir()
    # a zarr array as input stays lazy
    lazy = interpolate_movie(zarr.open_array(str(zpath), mode="r"), 2)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), fourier_interp(again[...], 2), atol=1e-8)


def test_failed_write_leaves_nothing(tmp_path):
    signed = np.full((3, 4, 4), -5, dtype=np.int16)  # uint16 output impossible
    with pytest.raises(ValueError, match="original_min"):
        fourier_interp_movie_to_tiff(signed, tmp_path / "x.tif", 2)
    with pytest.raises(ValueError, match="original_min"):
        fourier_interp_movie_to_zarr(signed, tmp_path / "x.zarr", 2)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- moments on the fly
def plain_moment(frames, order):
    mean = frames.mean(axis=0)
    return ((frames - mean) ** order).mean(axis=0)


def test_moments_of_interpolated_frames(rng):
    movie = rng.random((30, 6, 5)) * 100 + 1e4
    interp = np.stack([reference_interp(f, 2) for f in movie])
    got = moments_with_finterp(movie, 4, 2)
    for p in (2, 3, 4):
        np.testing.assert_allclose(got[p], plain_moment(interp, p), rtol=1e-7, atol=1e-6)
    window = moment_im_with_finterp(movie, 3, 2, frames=(5, 25))
    np.testing.assert_allclose(window, plain_moment(interp[5:25], 3), rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(average_image_with_finterp(movie, 2), interp.mean(0), rtol=1e-12)


def test_moments_of_interpolated_frames_on_a_distributed_cluster(dask_client, rng):
    movie = rng.random((24, 7, 6)).astype(np.float32)
    lazy = moments_with_finterp(da.from_array(movie, chunks=(5, 4, 6)), 3, 3)
    assert isinstance(lazy[2], da.Array)
    got = dask_client.compute(lazy[2]).result()
    interp = np.stack([reference_interp(f.astype(float), 3) for f in movie])
    np.testing.assert_allclose(got, plain_moment(interp, 2), rtol=1e-9, atol=1e-12)
    with pytest.raises(InputError, match="parameter 'factor': expected an integer >= 1, got 0"):
        moments_with_finterp(movie, 2, 0)


def test_tiff_writer_reads_each_input_chunk_once(tmp_path, rng):
    """Output batches smaller than the input chunks must not re-read (re-decode) the chunk."""
    import threading

    movie = rng.integers(0, 5000, size=(40, 6, 5)).astype(np.uint16)
    reads, lock = [], threading.Lock()

    def counted(block):
        if block.size:  # dask probes with empty arrays
            with lock:
                reads.append(block.shape[0])
        return block

    src = da.from_array(movie, chunks=(16, 3, 5)).map_blocks(counted, dtype=movie.dtype)
    path = fourier_interp_movie_to_tiff(
        src, tmp_path / "once.tif", 3, frames_per_chunk=3, chunks_in_flight=2
    )
    assert sorted(reads) == [8, 8, 16, 16, 16, 16]  # 3 frame chunks x 2 spatial tiles, once each
    expected = [
        plain_rescale(reference_interp(f.astype(float), 3), f.min(), f.max()) for f in movie
    ]
    np.testing.assert_array_equal(tifffile.imread(path), np.stack(expected))


@pytest.mark.parametrize("lazy", [False, True])
def test_tiff_writer_with_input_blocks_capped(tmp_path, rng, monkeypatch, lazy):
    from sofi_dask.image import _finterp_writers as _finterp_io

    monkeypatch.setattr(_finterp_io, "TIFF_INPUT_BLOCK_BYTES", 3 * 4 * 5 * 8)  # 3 frames
    movie = rng.random((11, 4, 5)) * 100
    data = da.from_array(movie, chunks=(7, 4, 5)) if lazy else movie
    path = fourier_interp_movie_to_tiff(
        data, tmp_path / "f.tif", 2, rescale=False, frames_per_chunk=2, chunks_in_flight=3
    )
    got = tifffile.imread(path)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.stack([reference_interp(f, 2) for f in movie]), atol=1e-11)


def test_tiff_writer_refuses_an_empty_movie(tmp_path):
    with pytest.raises(
        InputError, match=r"parameter .data.: expected at least one frame, got shape \(0, 4, 4\)"
    ):
        fourier_interp_movie_to_tiff(np.zeros((0, 4, 4), np.uint16), tmp_path / "e.tif", 2)
    with pytest.raises(InputError, match="parameter 'factor': expected an integer >= 1, got 0"):
        fourier_interp_movie_to_tiff(np.zeros((2, 4, 4), np.uint16), tmp_path / "e.tif", 0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("shape", "factor"),
    [((3, 6, 5), 2), ((2, 5, 7), 3), ((4, 1, 6), 2), ((2, 6, 1), 4), ((1, 1, 1), 2), ((9, 8), 5)],
)
def test_phase_kernel_equals_the_two_full_products(rng, shape, factor):
    """apply_operators multiplies only the new phases; it must equal lx @ x @ ly.T (the two
    dense products of the operators, computed here directly) and copy the samples exactly."""
    from sofi_dask.image._finterp_kernels import apply_operators, interp_operator

    x = rng.normal(size=shape) * 100 + 50
    lx, ly = interp_operator(shape[-2], factor), interp_operator(shape[-1], factor)
    dense = np.einsum("mh,...hw,nw->...mn", lx, x, ly)
    got = apply_operators(x, lx, ly)
    assert got.shape == dense.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, dense, rtol=0, atol=1e-11)
    assert np.array_equal(got[..., ::factor, ::factor], x)  # exactly, not to rounding
    single = apply_operators(x.astype(np.uint16), lx, ly, dtype=np.float32)
    assert single.dtype == np.float32
    ref = np.einsum("mh,...hw,nw->...mn", lx, x.astype(np.uint16).astype(float), ly)
    np.testing.assert_allclose(single, ref, rtol=0, atol=2e-6 * np.abs(ref).max())


def test_float32_moments_of_interpolated_frames_within_the_documented_error(rng):
    """float32 interpolation: moments of orders 1-6 within 1e-5 of the largest value of each
    float64 image (docs/benchmarks.md reports ~1e-6..6e-6 on a simulated movie)."""
    movie = (rng.poisson(40.0, (300, 24, 20)) + 100).astype(np.uint16)
    interp64 = interpolate_movie(movie, 2).compute()
    interp32 = interpolate_movie(movie, 2, dtype=np.float32)
    assert interp32.dtype == np.float32
    from sofi_dask.stats import central_moments

    ref = central_moments(interp64, 6)
    got = central_moments(interp32, 6)
    for p in range(2, 7):
        scale = np.abs(ref[p]).max()
        np.testing.assert_allclose(got[p].compute(), ref[p], rtol=0, atol=1e-5 * scale)
    with pytest.raises(InputError, match="dtype"):
        interpolate_movie(movie, 2, dtype=np.int32)
