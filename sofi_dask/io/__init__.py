"""Movies in and out: TIFF and Zarr sources, ingest, the movie store, atomic output."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_info": ("movie_info",),
    "_movie_writer": (
        "MovieWriter",
        "create_movie",
    ),
    "_open": (
        "FrameStats",
        "Movie",
        "ingest",
        "open_movie",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
