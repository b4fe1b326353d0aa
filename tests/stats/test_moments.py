"""One-pass central moments: hand-computed cases, numpy references, chunking invariance."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sofi_dask.errors import InputError
from sofi_dask.stats import (
    average_image,
    central_moments,
    merge_moment_stacks,
    minimum_image,
    moment_stack,
    moment_stacks,
    total_signal,
)
from sofi_dask.stats._moment_kernels import central_sums, central_sums_numpy


def reference_moments(x: np.ndarray, max_order: int) -> dict[int, np.ndarray]:
    """Two-pass float64 central moments, divided by the number of frames."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean(axis=0)
    return {p: (d**p).mean(axis=0) for p in range(1, max_order + 1)}


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.abs(b).max()
    return float(np.abs(np.asarray(a) - b).max() / (scale if scale > 0 else 1.0))


def blinking_movie(rng, n=64, shape=(6, 5), base=1000.0, drift=0.0, dtype=np.uint16):
    """Poisson background plus blinking emitters; mean scaled by (1 - drift * t / n)."""
    on = rng.random((n,) + shape) < 0.3
    bright = rng.uniform(200, 800, shape)
    scale = 1.0 - drift * np.arange(n)[:, None, None] / n
    lam = (base + on * bright) * scale
    return rng.poisson(lam).astype(dtype)


def test_hand_computed_2x2():
    # pixel (0,0): 1, 3, 5, 7 -> mean 4, d = -3 -1 1 3
    # pixel (0,1): 2, 2, 2, 2 -> all central moments 0
    # pixel (1,0): 0, 0, 0, 4 -> mean 1, d = -1 -1 -1 3
    # pixel (1,1): 10, 0, 10, 0 -> mean 5, d = +-5
    movie = np.array(
        [[[1, 2], [0, 10]], [[3, 2], [0, 0]], [[5, 2], [0, 10]], [[7, 2], [4, 0]]],
        dtype=np.uint16,
    )
    m = central_moments(movie, 4)
    assert isinstance(m[2], np.ndarray)
    np.testing.assert_array_equal(m[1], np.zeros((2, 2)))
    # m2: (9+1+1+9)/4 = 5; 0; (1+1+1+9)/4 = 3; 25
    np.testing.assert_allclose(m[2], [[5.0, 0.0], [3.0, 25.0]], rtol=1e-15)
    # m3: (-27-1+1+27)/4 = 0; 0; (-1-1-1+27)/4 = 6; 0
    np.testing.assert_allclose(m[3], [[0.0, 0.0], [6.0, 0.0]], atol=1e-13)
    # m4: (81+1+1+81)/4 = 41; 0; (1+1+1+81)/4 = 21; 625
    np.testing.assert_allclose(m[4], [[41.0, 0.0], [21.0, 625.0]], rtol=1e-15)
    stack = moment_stack(movie, 4)
    np.testing.assert_allclose(stack[0], [[4.0, 2.0], [1.0, 5.0]])


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64, np.uint8])
def test_matches_numpy_reference_dtypes(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(50, 20, (70, 9, 11)).clip(-100, 250).astype(dtype)
    if np.dtype(dtype).kind == "u":
        x = np.abs(x.astype(np.float64)).astype(dtype)
    ref = reference_moments(x, 6)
    got = central_moments(da.from_array(x, chunks=(16, 5, 6)), 6)
    computed = dask.compute(got)[0]
    for p in range(2, 7):
        assert computed[p].dtype == np.float64
        assert rel_err(computed[p], ref[p]) < 1e-12, p


def test_kernel_numba_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.poisson(300, (33, 7, 13)).astype(np.uint16)[:, ::2, 1:]  # non-contiguous view
    mean_a, sums_a = central_sums(x, 8)
    mean_b, sums_b = central_sums_numpy(x, 8)
    np.testing.assert_allclose(mean_a, mean_b, rtol=1e-15)
    np.testing.assert_allclose(sums_a, sums_b, rtol=1e-12)
    mean_1, sums_1 = central_sums(x, 1)
    assert sums_1.shape == (0, 4, 12)
    np.testing.assert_allclose(mean_1, mean_b, rtol=1e-15)
    # any layout with time first: the same sums as the numpy reference
    y = x.reshape(33, -1)
    mean_c, sums_c = central_sums(y, 5)
    mean_d, sums_d = central_sums_numpy(y, 5)
    np.testing.assert_allclose(mean_c, mean_d, rtol=1e-15)
    np.testing.assert_allclose(sums_c, sums_d, rtol=1e-12)


def test_offset_1e8_forced_tree_and_uneven_chunks():
    rng = np.random.default_rng(7)
    x = rng.random((97, 4, 5)) * 10 + 1e8
    d = da.from_array(x, chunks=((5, 17, 1, 30, 2, 42), (1, 3), (5,)))
    stack = moment_stack(d, 6, split_every=2)
    # more than two merge levels in the graph
    layers = [k for k in stack.dask.layers if "partial" in k]
    assert len(layers) >= 2
    got = stack.compute()
    ref = reference_moments(x, 6)
    np.testing.assert_allclose(got[0], x.mean(axis=0), rtol=1e-15)
    for p in range(2, 7):
        # x itself only holds ~8 significant digits of its fluctuation at 1e8
        assert rel_err(got[p], ref[p]) < 1e-6, p
    # and against the exact moments of the un-offset data (central moments are shift-free)
    exact = reference_moments(x - 1e8, 6)
    for p in (2, 4, 6):
        assert rel_err(got[p], exact[p]) < 1e-6, p


def test_drifting_mean_accuracy():
    rng = np.random.default_rng(11)
    x = blinking_movie(rng, n=400, shape=(8, 8), drift=0.5)
    ref = reference_moments(x, 6)
    got = central_moments(da.from_array(x, chunks=(37, 8, 3)), 6, split_every=3)
    got = dask.compute(got)[0]
    for p in range(2, 7):
        assert rel_err(got[p], ref[p]) <= 1e-9, p


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    t_cuts=st.lists(st.integers(1, 59), max_size=6, unique=True),
    y_chunk=st.integers(1, 5),
    x_chunk=st.integers(1, 4),
    max_order=st.integers(1, 6),
    split_every=st.sampled_from([None, 2, 3]),
)
def test_chunking_invariance(t_cuts, y_chunk, x_chunk, max_order, split_every):
    rng = np.random.default_rng(5)
    x = blinking_movie(rng, n=60, shape=(5, 4), drift=0.3)
    edges = [0, *sorted(t_cuts), 60]
    t_chunks = tuple(b - a for a, b in zip(edges[:-1], edges[1:], strict=True))
    d = da.from_array(x, chunks=(t_chunks, y_chunk, x_chunk))
    got = dask.compute(central_moments(d, max_order, split_every=split_every))[0]
    ref = reference_moments(x, max_order)
    np.testing.assert_array_equal(got[1], 0.0)
    for p in range(2, max_order + 1):
        assert rel_err(got[p], ref[p]) <= 1e-9, (p, t_chunks)


def test_frames_window_and_lazy_types():
    rng = np.random.default_rng(2)
    x = blinking_movie(rng, n=50)
    d = da.from_array(x, chunks=(8, 3, 5))
    m = central_moments(d, 3, frames=(5, 40))
    assert all(isinstance(v, da.Array) for v in m.values())
    ref = reference_moments(x[5:40], 3)
    got = dask.compute(m)[0]
    for p in (2, 3):
        assert rel_err(got[p], ref[p]) < 1e-12
    np.testing.assert_allclose(average_image(d, frames=(5, 40)).compute(), x[5:40].mean(0))
    np.testing.assert_array_equal(minimum_image(d, frames=(5, 40)).compute(), x[5:40].min(0))
    np.testing.assert_allclose(average_image(x), x.mean(0, dtype=np.float64))


def test_all_orders_read_each_chunk_once():
    rng = np.random.default_rng(4)
    x = blinking_movie(rng, n=40, shape=(6, 6))
    reads = []
    lock = threading.Lock()

    class CountingSource:
        shape, dtype, ndim = x.shape, x.dtype, x.ndim

        def __getitem__(self, key):
            if all(k.stop > k.start for k in key):  # skip dask's empty meta probe
                with lock:
                    reads.append(key)
            return x[key]

    d = da.from_array(CountingSource(), chunks=(10, 3, 6), asarray=True)
    m = central_moments(d, 6)
    got = dask.compute(*m.values(), scheduler="threads")
    assert len(reads) == d.npartitions  # 8 chunks, each read once for all six orders
    assert rel_err(got[5], reference_moments(x, 6)[6]) < 1e-12
    # several windows (overlapping, cutting chunks) in one graph: still one read per chunk
    reads.clear()
    stacks = moment_stacks(d, 4, [(0, 13), (13, 40), (5, 27)])
    got = dask.compute(*stacks, scheduler="threads")
    assert len(reads) == d.npartitions
    assert rel_err(got[2][4], reference_moments(x[5:27], 4)[4]) < 1e-12


def test_merge_moment_stacks_matches_whole():
    rng = np.random.default_rng(8)
    x = blinking_movie(rng, n=45, drift=0.4)
    d = da.from_array(x, chunks=(9, 3, 5))
    parts = moment_stacks(d, 6, [(0, 7), (7, 30), (30, 45)])
    merged = merge_moment_stacks(parts, [7, 23, 15]).compute()
    whole = moment_stack(x, 6)
    np.testing.assert_allclose(merged, whole, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(
        merge_moment_stacks([p.compute() for p in parts], [7, 23, 15]), whole, rtol=1e-11
    )


def test_zarr_store_spatial_tiles(tmp_path):
    rng = np.random.default_rng(9)
    x = blinking_movie(rng, n=48, shape=(16, 20))
    z = zarr.create_array(tmp_path / "m.zarr", shape=x.shape, chunks=(16, 8, 8), dtype=x.dtype)
    z[:] = x
    d = da.from_zarr(str(tmp_path / "m.zarr"))
    got = dask.compute(central_moments(d, 6))[0]
    ref = reference_moments(x, 6)
    for p in range(2, 7):
        assert rel_err(got[p], ref[p]) < 1e-12


def test_total_signal_no_wrap_and_frame_stats():
    x = np.full((3, 256, 256), 65535, dtype=np.uint16)
    x[1] = 7
    expected = x.reshape(3, -1).sum(axis=1, dtype=np.float64)
    np.testing.assert_array_equal(total_signal(x), expected)
    d = da.from_array(x, chunks=(1, 128, 256))
    np.testing.assert_array_equal(total_signal(d).compute(), expected)
    stats = SimpleNamespace(total=np.array([1.0, 2.0, 3.0]))
    movie = SimpleNamespace(data=d, frame_stats=stats)
    ts = total_signal(movie)
    assert isinstance(ts, da.Array)
    np.testing.assert_array_equal(ts.compute(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        total_signal(SimpleNamespace(data=d, frame_stats=None)).compute(), expected
    )
    with pytest.raises(InputError, match=r"parameter 'data.frame_stats.total': .*got shape \(2,\)"):
        total_signal(SimpleNamespace(data=d, frame_stats=SimpleNamespace(total=np.ones(2))))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_order": 0}, "'max_order': expected an integer >= 1, got 0"),
        ({"max_order": 2.0}, "'max_order': expected an integer >= 1, got 2.0"),
        ({"max_order": 2, "frames": (5, 5)}, r"'frames': .* <= 10 .*, got \(5, 5\)"),
        ({"max_order": 2, "frames": (-1, 4)}, r"'frames': .*, got \(-1, 4\)"),
        ({"max_order": 2, "frames": (0, 11)}, r"'frames': .*, got \(0, 11\)"),
        ({"max_order": 2, "frames": (3,)}, r"'frames': .*, got \(3,\)"),
        (
            {"max_order": 6, "frames": (0, 5)},
            "'frames': expected at least 6 frames.*, got 5 frames",
        ),
        ({"max_order": 11}, "'frames': expected at least 11 frames for order 11, got 10 frames"),
    ],
)
def test_bad_parameters(kwargs, match):
    x = np.zeros((10, 2, 2), dtype=np.uint16)
    with pytest.raises(InputError, match="parameter " + match):
        central_moments(x, **kwargs)


def test_bad_data():
    with pytest.raises(InputError, match=r"'data': expected a 3-D .*, got shape \(4, 4\)"):
        central_moments(np.zeros((4, 4)), 2)
    with pytest.raises(InputError, match="parameter 'data': .* float dtype, got dtype complex128"):
        central_moments(np.zeros((4, 2, 2), dtype=complex), 2)
    with pytest.raises(InputError, match=r"parameter 'windows\[1\]': .*, got \(3, 9\)"):
        moment_stacks(np.zeros((4, 2, 2)), 2, [(0, 4), (3, 9)])


def test_threaded_and_distributed_identical(dask_client):
    rng = np.random.default_rng(12)
    x = blinking_movie(rng, n=90, shape=(10, 12), drift=0.5)
    d = da.from_array(x, chunks=(16, 5, 12))
    threaded = dask.compute(moment_stack(d, 6, split_every=2), scheduler="threads")[0]
    distributed = dask_client.compute(moment_stack(d, 6, split_every=2)).result()
    np.testing.assert_array_equal(threaded, distributed)
    ref = reference_moments(x, 6)
    assert rel_err(distributed[6], ref[6]) <= 1e-9


@pytest.mark.parametrize("shape", [(10, 0, 3), (10, 4, 0)])
def test_empty_frames_are_refused(shape):
    from sofi_dask.stats import moments_with_lag

    for data in (np.zeros(shape), da.zeros(shape, chunks=(5, 2, 2))):
        with pytest.raises(InputError, match="'data': expected frames of at least 1 x 1 pixel"):
            central_moments(data, 2)
        with pytest.raises(InputError, match="'data': expected frames of at least 1 x 1 pixel"):
            moments_with_lag(data, [0, 1])
