"""sofi_dask: out-of-core, distributed SOFI analysis on Dask and Zarr."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sofi_dask")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
