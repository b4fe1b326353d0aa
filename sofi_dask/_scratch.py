"""Per-thread scratch buffers reused from task to task (numpy only; kernels may use it).

A task that allocates a large buffer each time gets fresh memory each time: glibc ``mmap``-s
it (the entry points keep its trim threshold low, :mod:`sofi_dask._memory`) and the kernel zeroes
and page-faults it in 4 KiB at a time. Chunk reads and writes and the fused interpolation kernels
instead take their work space from :func:`thread_buffer`: one byte buffer per thread and name,
grown when a larger one is asked for, never shrunk. It is a cache of scratch space, not state:
every caller writes what it then reads, and no result depends on what was there before.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["carve", "carve_bytes", "thread_buffer"]

_local = threading.local()


def thread_buffer(name: str, nbytes: int, *, limit: int | None = None) -> np.ndarray:
    """This thread's reusable uint8 buffer ``name``, ``nbytes`` long (uninitialised).

    Above ``limit`` bytes a fresh array is returned and nothing is kept.

    Examples
    --------
    >>> a = thread_buffer("example", 16)
    >>> b = thread_buffer("example", 8)
    >>> a.size, b.size, bool(np.shares_memory(a, b))
    (16, 8, True)
    """
    nbytes = int(nbytes)
    if limit is not None and nbytes > limit:
        return np.empty(nbytes, dtype=np.uint8)
    buffers = _local.__dict__.setdefault("buffers", {})
    buf = buffers.get(name)
    if buf is None or buf.size < nbytes:
        buffers[name] = None  # the old one is released before the new one is made
        buf = buffers[name] = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes]


def carve(raw: np.ndarray, shapes: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict:
    """Arrays of the given shapes and dtypes laid out one after the other (64-byte aligned
    offsets) in the byte buffer ``raw``; :func:`carve_bytes` of ``shapes`` is its least size.

    Examples
    --------
    >>> parts = carve(np.zeros(carve_bytes({"a": ((2,), np.float64)}), np.uint8),
    ...               {"a": ((2,), np.float64)})
    >>> parts["a"].shape, parts["a"].dtype.name
    ((2,), 'float64')
    """
    out, at = {}, 0
    for key, (shape, dtype) in shapes.items():
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        out[key] = raw[at : at + n].view(dtype).reshape(shape)
        at += -(-n // 64) * 64
    return out


def carve_bytes(shapes: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
    """Bytes :func:`carve` needs for ``shapes``.

    Examples
    --------
    >>> carve_bytes({"a": ((3,), np.uint8), "b": ((1,), np.float64)})
    128
    """
    return sum(-(-int(np.prod(s)) * np.dtype(d).itemsize // 64) * 64 for s, d in shapes.values())
