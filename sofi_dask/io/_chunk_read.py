"""Read one whole chunk of a movie store straight from its file: no fresh pages per chunk.

zarr's own read of a chunk (``array[chunk]``) allocates a buffer for the file's bytes, a second
one for the decompressed chunk and the output array, and copies the chunk from the second into
the third; on 32 MB chunks each of these is a fresh ``mmap`` whose pages the kernel zeroes and
faults in one 4 KiB page at a time (more system time than the decompression itself, see
docs/benchmarks.md). :class:`ChunkFileReader` reads the stores :mod:`sofi_dask.io._store` writes
(codecs ``bytes`` [+ ``blosc``] + ``crc32c``, a local folder, no sharding or filters):

* the file into a per-thread buffer that is reused from chunk to chunk (for an uncompressed
  store straight into the output array);
* the ``crc32c`` of the bytes checked in place (the stored value is the last 4 bytes, little
  endian, as Zarr v3's ``crc32c`` codec writes it);
* Blosc decompressed straight into the output array (one allocation, numpy's, which asks for
  transparent huge pages at this size).

Any other layout (another codec, a remote store, a sharded array) returns ``None`` from
:meth:`ChunkFileReader.for_array` and the caller reads through zarr. A failure to read, check
or decode raises :class:`ChunkDecodeError`; the caller names the chunk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask._scratch import thread_buffer
from sofi_dask.io._fileio import pread_full

__all__ = ["ChunkDecodeError", "ChunkFileReader", "ChunkFiles", "chunk_layout"]

_TAIL = 4  # bytes of the crc32c checksum at the end of every chunk file


class ChunkDecodeError(ValueError):
    """A chunk file that is missing, truncated, fails its checksum or cannot be decoded."""


def _buffer(size: int) -> memoryview:
    """This thread's reusable byte buffer for chunk files (:mod:`sofi_dask._scratch`)."""
    return memoryview(thread_buffer("chunk-file", size))


def _read_into(path: Path, views: list[memoryview]) -> None:
    """Fill ``views``, one after the other, with the file's first bytes (raises when the
    file ends first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        for view in views:
            got = pread_full(fd, view, pos)
            if got < len(view):
                raise ChunkDecodeError(f"the file ends {len(view) - got} bytes early")
            pos += got
    finally:
        os.close(fd)


def chunk_layout(arr: Any) -> tuple[Path, Any] | None:
    """``(folder, blosc codec or None)`` when ``arr`` (a ``zarr.Array``) is a Zarr v3 array of
    a local store whose chunk files hold ``bytes`` (little endian) [+ ``blosc``] + ``crc32c``
    of whole chunks (no sharding, no other codec); None otherwise."""
    try:
        from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec
        from zarr.storage import LocalStore

        meta = arr.metadata
        if getattr(meta, "zarr_format", None) != 3 or not isinstance(arr.store, LocalStore):
            return None
        codecs = list(meta.codecs)
        if not codecs or not isinstance(codecs[0], BytesCodec):
            return None
        dtype = np.dtype(arr.dtype)
        endian = getattr(codecs[0].endian, "value", codecs[0].endian)
        if dtype.itemsize > 1 and endian != "little":
            return None
        if dtype.kind not in "biuf" or not isinstance(codecs[-1], Crc32cCodec):
            return None
        middle = codecs[1:-1]
        if middle and not (len(middle) == 1 and isinstance(middle[0], BloscCodec)):
            return None
        if tuple(meta.chunk_grid.chunk_shape) != tuple(arr.chunks):
            return None
        folder = Path(arr.store.root) / arr.path
    except (AttributeError, ImportError, TypeError):
        return None
    return folder, (middle[0] if middle else None)


class ChunkFiles:
    """The chunk files of one array of a local Zarr v3 store (the layout :func:`chunk_layout`
    accepts): their folder, chunk shape, little-endian dtype, bytes per chunk and paths. The
    base of :class:`ChunkFileReader` and :class:`~sofi_dask.io._chunk_write.ChunkFileWriter`."""

    def __init__(self, folder: Path, arr: Any) -> None:
        self.folder = Path(folder)
        self.arr = arr
        self.chunks = tuple(int(c) for c in arr.chunks)
        self.dtype = np.dtype(arr.dtype).newbyteorder("<")
        self.nbytes = int(np.prod(self.chunks)) * self.dtype.itemsize

    def path(self, coords: tuple[int, ...]) -> Path:
        """The file of chunk ``coords``."""
        return self.folder / str(self.arr.metadata.encode_chunk_key(coords))


class ChunkFileReader(ChunkFiles):
    """Reads whole chunks of one array of a local Zarr v3 store (see the module docstring)."""

    def __init__(self, folder: Path, arr: Any, blosc: bool) -> None:
        super().__init__(folder, arr)
        self.blosc = blosc

    @classmethod
    def for_array(cls, arr: Any) -> ChunkFileReader | None:
        """A reader for ``arr`` (a ``zarr.Array``), or None when its layout is not one it reads."""
        layout = chunk_layout(arr)
        return None if layout is None else cls(layout[0], arr, blosc=layout[1] is not None)

    def read(self, coords: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
        """Chunk ``coords`` as an array of the full chunk shape (edge chunks padded, as
        stored): a new one, or ``out`` (C-contiguous, of the chunk's shape and dtype) filled;
        raises :class:`ChunkDecodeError` (or ``OSError`` for an unreadable file)."""
        import google_crc32c

        path = self.path(coords)
        size = os.stat(path).st_size
        if out is None:
            out = np.empty(self.chunks, dtype=self.dtype)
        elif out.shape != self.chunks or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out: expected a C-contiguous {self.dtype} array {self.chunks}")
        if size < _TAIL:
            raise ChunkDecodeError(f"the file has {size} bytes, no checksum")
        if self.blosc:
            data = _buffer(size)
            _read_into(path, [data])
            payload, tail = data[: size - _TAIL], data[size - _TAIL :]
        else:  # uncompressed: the file straight into the output array, then its checksum
            if size != self.nbytes + _TAIL:
                raise ChunkDecodeError(f"the file has {size} bytes, expected {self.nbytes + 4}")
            payload = memoryview(out.reshape(-1).view(np.uint8))
            tail = memoryview(bytearray(_TAIL))
            _read_into(path, [payload, tail])
        if google_crc32c.value(np.frombuffer(payload, np.uint8)) != int.from_bytes(tail, "little"):
            raise ChunkDecodeError("stored and computed crc32c checksums differ")
        if self.blosc:
            self._decompress(payload, out)
        return out

    def _decompress(self, payload: memoryview, out: np.ndarray) -> None:
        from numcodecs import blosc

        if len(payload) < 16:
            raise ChunkDecodeError("the Blosc frame is shorter than its header")
        header = bytes(payload[:16])
        nbytes = int.from_bytes(header[4:8], "little")
        cbytes = int.from_bytes(header[12:16], "little")
        if nbytes != self.nbytes or cbytes != len(payload):
            raise ChunkDecodeError(
                f"the Blosc frame holds {nbytes} bytes in {cbytes}, expected {self.nbytes} "
                f"in {len(payload)}"
            )
        try:
            blosc.decompress(payload, out.reshape(-1).view(np.uint8))
        except (RuntimeError, ValueError) as exc:
            raise ChunkDecodeError(f"Blosc cannot decode it ({exc})") from exc
