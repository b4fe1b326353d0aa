"""sofi_dask._scratch: one reusable scratch buffer per thread and name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sofi_dask._scratch import carve, carve_bytes, thread_buffer


def test_a_thread_gets_its_buffer_back_and_other_threads_their_own():
    a = thread_buffer("t", 64)
    assert np.shares_memory(thread_buffer("t", 32), a)  # reused, not a fresh allocation
    assert not np.shares_memory(thread_buffer("other", 64), a)  # names are separate
    with ThreadPoolExecutor(1) as pool:
        b = pool.submit(thread_buffer, "t", 64).result()
    assert not np.shares_memory(a, b)
    bigger = thread_buffer("t", 128)  # grown: a new buffer of the larger size
    assert bigger.size == 128 and thread_buffer("t", 16).base is bigger.base


def test_above_the_limit_nothing_is_kept():
    kept = thread_buffer("lim", 8)
    fresh = thread_buffer("lim", 1000, limit=100)
    assert fresh.size == 1000 and not np.shares_memory(fresh, kept)
    assert np.shares_memory(thread_buffer("lim", 8), kept)


def test_carved_arrays_do_not_overlap_and_are_aligned():
    shapes = {"a": ((3, 5), np.float32), "b": ((7,), np.float64), "c": ((2, 2), np.uint16)}
    raw = np.zeros(carve_bytes(shapes), np.uint8)
    parts = carve(raw, shapes)
    for key, (shape, dtype) in shapes.items():
        assert parts[key].shape == shape and parts[key].dtype == dtype
        assert parts[key].ctypes.data % 64 == raw.ctypes.data % 64
    parts["a"][...] = 1.0
    parts["b"][...] = 2.0
    parts["c"][...] = 3
    assert (parts["a"] == 1.0).all() and (parts["b"] == 2.0).all() and (parts["c"] == 3).all()
