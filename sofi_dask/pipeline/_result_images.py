"""A run's stored images, read from its results group once for its files, figures and quality
section (``results.zarr/<name>/0``; :func:`read_image` is the one reader of that layout)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sofi_dask.pipeline._outputs import IN_MEMORY_BYTES

__all__ = ["HELD_BYTES", "ResultImages", "read_image"]

#: a run keeps the images it read for its files, up to this much in all, for its figures and
#: quality section (each would otherwise read and decompress them again)
HELD_BYTES = 1024 * 2**20


def read_image(store: str | os.PathLike[str], name: str) -> np.ndarray:
    """One stored result of a results group (``store/<name>/0``) as a numpy array.

    Examples
    --------
    >>> import tempfile, zarr
    >>> store = Path(tempfile.mkdtemp()) / "results.zarr"
    >>> group = zarr.open_group(store / "x", mode="w")
    >>> _ = group.create_array("0", data=np.arange(4.0).reshape(2, 2))
    >>> read_image(store, "x").tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    import zarr

    return np.asarray(zarr.open_array(Path(store) / name / "0", mode="r")[...])


class ResultImages:
    """The stored images of a run, each read from its results group once: the files, the
    figures and the quality section get the same read-only arrays. Images of at most
    :data:`IN_MEMORY_BYTES` are kept, :data:`HELD_BYTES` in all (2048^2 images: 32 MB each,
    ~0.07 s of CPU and ~15 k page faults per read); larger ones are read again when asked for.

    Examples
    --------
    >>> import tempfile, zarr
    >>> store = Path(tempfile.mkdtemp()) / "results.zarr"
    >>> _ = zarr.open_group(store / "x", mode="w").create_array("0", data=np.ones((2, 2)))
    >>> images = ResultImages(store)
    >>> images.load("x") is images.load("x")
    True
    """

    def __init__(self, store: str | os.PathLike[str], held_bytes: int = HELD_BYTES) -> None:
        self.store = Path(store)
        self._held: dict[str, np.ndarray] = {}
        self._room = int(held_bytes)
        self._lock = threading.Lock()

    def load(self, name: str) -> np.ndarray:
        """The image ``name`` as a read-only numpy array (kept when it fits)."""
        with self._lock:
            held = self._held.get(name)
        if held is not None:
            return held
        arr = read_image(self.store, name)
        arr.setflags(write=False)
        with self._lock:
            if name not in self._held and arr.nbytes <= min(IN_MEMORY_BYTES, self._room):
                self._held[name] = arr
                self._room -= arr.nbytes
        return arr

    def display(self, name: str) -> Any:
        """The display the image's PNG and RGB TIFF use, as its group records it
        (:func:`~sofi_dask.pipeline._outputs.stored_display`), or None when none is recorded."""
        import zarr

        from sofi_dask.pipeline._outputs import stored_display

        return stored_display(zarr.open_group(self.store / name, mode="r"))

    def for_files(self, name: str) -> Any:
        """:meth:`load` when the image fits in memory, else a lazy dask array of its chunks (a
        long SOFI video is written block by block)."""
        import dask.array as da
        import zarr

        arr = zarr.open_array(self.store / name / "0", mode="r")
        if int(np.prod(arr.shape)) * arr.dtype.itemsize <= IN_MEMORY_BYTES:
            return self.load(name)
        return da.from_zarr(arr)
