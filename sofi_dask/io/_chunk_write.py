"""Write whole chunks of a movie store straight to their files: no fresh pages per chunk.

zarr's write of a chunk (``array[selection] = block``) encodes it into a fresh ``bytes`` object
(numcodecs' Blosc), copies that into a second fresh buffer with the ``crc32c`` appended, then
writes it to a temporary file renamed over the chunk's file. On 32 MB chunks each fresh buffer
is an ``mmap`` whose pages the kernel zeroes and faults in 4 KiB at a time: the ingest of 2048 x
2048 frames spent more system time than user time (docs/benchmarks.md). :class:`ChunkFileWriter`
writes the layout :mod:`sofi_dask.io._store` creates and :class:`~sofi_dask.io._chunk_read.
ChunkFileReader` reads (codecs ``bytes`` [+ ``blosc``] + ``crc32c``, a local folder, no
sharding), the same bytes as zarr:

* Blosc compresses the chunk into a per-thread buffer reused from chunk to chunk, with the
  ``blosc_compress_ctx`` call numcodecs makes off the main thread (same compressor, level,
  shuffle, type size and block size: the same bytes), through ``ctypes`` on numcodecs' own
  extension (the library zarr's codec uses; the GIL is released during the call);
* the ``crc32c`` of the compressed bytes is appended in the same buffer (little endian, as
  Zarr v3's codec writes it);
* the buffer goes to ``<chunk>.<hex>.partial`` with one ``write`` and is renamed over the
  chunk's file, as zarr's ``LocalStore`` does (a killed writer leaves only ``*.partial`` files,
  which :func:`~sofi_dask.io._store.remove_partials` deletes).

Whole chunks take this path, and edge chunks whose part inside the array is written whole
(padded with the fill value in a reused per-thread array, as zarr pads them); a part of a
chunk, other layouts, or a numcodecs without the symbol go through zarr.
"""

from __future__ import annotations

import ctypes
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask._scratch import thread_buffer
from sofi_dask.io._chunk_read import _TAIL, ChunkFiles, _buffer, chunk_layout
from sofi_dask.io._fileio import write_full

__all__ = ["ChunkFileWriter"]

_BLOSC_MAX_OVERHEAD = 16
_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _blosc_compress_ctx() -> Any:
    """numcodecs' ``blosc_compress_ctx`` (c-blosc 1.x), or None when it is not exported."""
    try:
        from numcodecs import blosc

        fn = ctypes.CDLL(blosc.__file__).blosc_compress_ctx
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [
        ctypes.c_int,  # clevel
        ctypes.c_int,  # doshuffle
        ctypes.c_size_t,  # typesize
        ctypes.c_size_t,  # nbytes
        ctypes.c_void_p,  # src
        ctypes.c_void_p,  # dest
        ctypes.c_size_t,  # destsize
        ctypes.c_char_p,  # compressor
        ctypes.c_size_t,  # blocksize
        ctypes.c_int,  # numinternalthreads
    ]
    return fn


class ChunkFileWriter(ChunkFiles):
    """Writes whole chunks of one array of a local Zarr v3 store (see the module docstring);
    ``writer[selection] = block`` writes like ``arr[selection] = block`` (slices of step 1).

    Examples
    --------
    >>> import tempfile, zarr
    >>> from sofi_dask.io._store import make_codecs
    >>> arr = zarr.create_array(tempfile.mkdtemp(), shape=(6, 4), chunks=(4, 4), dtype="uint16",
    ...                         compressors=make_codecs("lz4", 5, np.dtype("uint16")))
    >>> writer = ChunkFileWriter.for_array(arr)
    >>> writer[0:6, :] = np.arange(24, dtype=np.uint16).reshape(6, 4)  # two chunk files
    >>> int(arr[...].sum())
    276
    """

    def __init__(self, folder: Path, arr: Any, blosc: Any, compress: Any) -> None:
        super().__init__(folder, arr)
        self.shape = tuple(int(s) for s in arr.shape)
        self._compress = compress
        self._blosc = None
        if blosc is not None:
            self._blosc = (
                int(blosc.clevel),
                _SHUFFLE[getattr(blosc.shuffle, "value", blosc.shuffle)],
                int(blosc.typesize or self.dtype.itemsize),
                getattr(blosc.cname, "value", blosc.cname).encode("ascii"),
                int(blosc.blocksize),
            )
        self.fill_value = arr.metadata.fill_value
        self._folders: set[Path] = set()

    @classmethod
    def for_array(cls, arr: Any) -> ChunkFileWriter | None:
        """A writer for ``arr`` (a ``zarr.Array``), or None when its layout is not one it writes."""
        layout = chunk_layout(arr)
        if layout is None:
            return None
        compress = None
        if layout[1] is not None:
            compress = _blosc_compress_ctx()
            if compress is None:
                return None
        return cls(layout[0], arr, layout[1], compress)

    def _selection(self, key: Any, value: Any) -> tuple[list, np.ndarray] | None:
        """``key`` (ints and slices of step 1) as ``[(start, stop, 1), ...]`` per axis and
        ``value`` broadcast to that box (an axis per int); None for other keys."""
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > len(self.shape):
            return None
        key = key + (slice(None),) * (len(self.shape) - len(key))
        sel, squeezed = [], []
        for k, n in zip(key, self.shape, strict=True):
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and -n <= k < n:
                sel.append((int(k) % n, int(k) % n + 1, 1))
            elif isinstance(k, slice) and k.step in (None, 1):
                sel.append(k.indices(n))
                squeezed.append(sel[-1][1] - sel[-1][0])
            else:
                return None
        try:
            data = np.broadcast_to(np.asarray(value, dtype=self.arr.dtype), tuple(squeezed))
        except ValueError:
            return None
        return sel, data.reshape(tuple(b - a for a, b, _ in sel))

    def __setitem__(self, key: Any, value: Any) -> None:
        parsed = self._selection(key, value)
        if parsed is None or any(b <= a for a, b, _ in parsed[0]):
            self.arr[key] = value
            return
        sel, value = parsed
        ranges = [range(a // c, -(-b // c)) for (a, b, _), c in zip(sel, self.chunks, strict=True)]
        for coords in np.ndindex(*(len(r) for r in ranges)):
            chunk = tuple(r[k] for r, k in zip(ranges, coords, strict=True))
            lo = [k * c for k, c in zip(chunk, self.chunks, strict=True)]
            hi = [min(a + c, n) for a, c, n in zip(lo, self.chunks, self.shape, strict=True)]
            part = tuple(
                slice(max(a, s) - s, min(b, e) - s)
                for a, b, (s, e, _) in zip(lo, hi, sel, strict=True)
            )
            covered = all(
                max(a, s) == a and min(b, e) == b
                for a, b, (s, e, _) in zip(lo, hi, sel, strict=True)
            )
            if covered:  # the whole chunk, or all of an edge chunk that lies in the array
                self.write_chunk(chunk, value[part])
            else:  # a part of a chunk: zarr reads, merges and writes it
                where = tuple(
                    slice(max(a, s), min(b, e)) for a, b, (s, e, _) in zip(lo, hi, sel, strict=True)
                )
                self.arr[where] = value[part]

    def write_chunk(self, coords: tuple[int, ...], chunk: np.ndarray) -> None:
        """Encode and write chunk ``coords`` (an array of the chunk's shape)."""
        import google_crc32c

        if chunk.shape != self.chunks:  # an edge chunk: padded with the fill value, as zarr does
            data = self._padded(chunk)
        else:
            data = np.ascontiguousarray(chunk, dtype=self.dtype)  # no copy when it already is
        if self._blosc is None:
            size = self.nbytes
            buf = _buffer(size + _TAIL)
            np.frombuffer(buf, np.uint8, size)[:] = data.reshape(-1).view(np.uint8)
        else:
            clevel, shuffle, typesize, cname, blocksize = self._blosc
            room = self.nbytes + _BLOSC_MAX_OVERHEAD
            buf = _buffer(room + _TAIL)
            dest = np.frombuffer(buf, np.uint8)
            size = self._compress(
                clevel,
                shuffle,
                typesize,
                self.nbytes,
                data.ctypes.data,
                dest.ctypes.data,
                room,
                cname,
                blocksize,
                1,
            )
            if size <= 0:
                raise RuntimeError(f"error during blosc compression: {size}")
        crc = google_crc32c.value(np.frombuffer(buf, np.uint8, size))
        buf[size : size + _TAIL] = crc.to_bytes(_TAIL, "little")
        self._write(self.path(coords), buf[: size + _TAIL])

    def _padded(self, chunk: np.ndarray) -> np.ndarray:
        """``chunk`` in this thread's reused chunk-shaped array, the rest the fill value."""
        raw = thread_buffer("chunk-pad", self.nbytes)  # not the file buffer: both in use
        pad = raw.view(self.dtype).reshape(self.chunks)
        pad[...] = self.fill_value
        pad[tuple(slice(0, n) for n in chunk.shape)] = chunk
        return pad

    def _write(self, path: Path, data: memoryview) -> None:
        folder = path.parent
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(16)}.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            try:
                write_full(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
