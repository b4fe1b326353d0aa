"""Movies in and out: TIFF and Zarr sources, ingest, the movie store, atomic output."""

from __future__ import annotations

from sofi_dask.io._info import movie_info
from sofi_dask.io._movie_writer import (
    MovieWriter,
    create_movie,
)
from sofi_dask.io._open import (
    FrameStats,
    Movie,
    ingest,
    open_movie,
)

__all__ = [
    "movie_info",
    "FrameStats",
    "Movie",
    "MovieWriter",
    "create_movie",
    "ingest",
    "open_movie",
]
