"""The in-memory face of a movie: :class:`Movie` (lazy frames, path, attributes, per-frame
statistics, chunk references) and :class:`FrameStats`, as :func:`sofi_dask.io.open_movie`
returns them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.errors import InputError
from sofi_dask.io import _store

__all__ = ["FrameStats", "Movie"]


@dataclass(frozen=True, eq=False)
class FrameStats:
    """Per-frame statistics of a movie, float64 arrays with one value per frame.

    Attributes
    ----------
    total, minimum, maximum, mean : numpy.ndarray
        Sum, minimum, maximum and mean of the pixels of each frame.
    """

    total: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray

    def __post_init__(self) -> None:
        n = {np.asarray(getattr(self, k)).shape for k in _store.STAT_NAMES}
        if len(n) != 1 or len(next(iter(n))) != 1:
            raise InputError(
                f"parameter 'FrameStats': expected four 1-D arrays of equal length, got {n}"
            )

    @property
    def n_frames(self) -> int:
        return int(self.total.shape[0])

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k)).tolist() for k in _store.STAT_NAMES}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrameStats:
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in _store.STAT_NAMES})


@dataclass(frozen=True, eq=False)
class Movie:
    """A movie (t, y, x) as a lazy dask array plus its metadata.

    Attributes
    ----------
    data : dask.array.Array
        The frames in their original dtype, chunked as stored.
    path : pathlib.Path
        The Zarr store, or the (first) TIFF file.
    attrs : dict
        Store / source attributes (``sofi_dask`` provenance, OME-NGFF ``ome``).
    frame_stats : FrameStats or None
        Per-frame statistics recorded at ingestion (None when read from a TIFF).
    chunk_refs : dask.array.Array or None
        ``data`` with chunk references as blocks (:mod:`sofi_dask.io._chunk_refs`); TIFF: None.
        They belong to the ``data`` they were made with: a copy with other ``data``
        (``dataclasses.replace(movie, data=...)``, e.g. corrected frames) has none, so that
        the statistics read its ``data``, not the stored frames.
    refs_for : str or None
        The dask name of the ``data`` that ``chunk_refs`` read (set when the movie is made).

    Examples
    --------
    >>> import dataclasses
    >>> frames = da.zeros((4, 2, 2), chunks=2)
    >>> movie = Movie(frames, Path("m.zarr"), chunk_refs=frames)
    >>> movie.chunk_refs is frames, dataclasses.replace(movie, data=frames + 1).chunk_refs
    (True, None)
    """

    data: da.Array
    path: Path
    attrs: dict[str, Any] = field(default_factory=dict)
    frame_stats: FrameStats | None = None
    chunk_refs: da.Array | None = field(default=None, repr=False)
    refs_for: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.chunk_refs is None:
            object.__setattr__(self, "refs_for", None)
        elif self.refs_for is None:  # made together with data
            object.__setattr__(self, "refs_for", getattr(self.data, "name", None))
        elif self.refs_for != getattr(self.data, "name", None):  # a copy with other data
            object.__setattr__(self, "chunk_refs", None)
            object.__setattr__(self, "refs_for", None)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def pixel_size(self) -> float | None:
        """Pixel size in micrometres, or None when the source did not record it."""
        value = self.attrs.get("sofi_dask", {}).get("pixel_size")
        return None if value is None else float(value)
