"""pysofi-compatible API on sofi_dask's lazy engine: change one import, keep the notebook.

``from sofi_dask.compat import PysofiData, reconstruction, deconvsk, filtering, finterp, ldrc,
masks, visualization`` gives every function, method and attribute of pysofi v0.1.1-alpha with
the same names, parameters, defaults and return types (dicts keyed by order, numpy arrays,
lists). Movies are TIFF files or Zarr stores named by ``(filepath, filename)``, read lazily in
frame batches; each call is at most one streaming pass (all orders at once), computed where
pysofi returns arrays, on the current dask scheduler (a ``distributed.Client`` if one is
active). pysofi's defects are not reproduced: each docstring says what differs, and
docs/pysofi-migration.md maps every function to its native equivalent.

Examples
--------
>>> from sofi_dask.compat import PysofiData  # instead of: from pysofi.pysofi import PysofiData
>>> d = PysofiData("data", "movie.tif")  # doctest: +SKIP
>>> m_set = d.calc_moments_set(highest_order=6)  # doctest: +SKIP
"""

from sofi_dask.compat import (
    deconvsk,
    filtering,
    finterp,
    ldrc,
    masks,
    pysofi,
    reconstruction,
    visualization,
)
from sofi_dask.compat.pysofi import PysofiData

__all__ = [
    "PysofiData",
    "deconvsk",
    "filtering",
    "finterp",
    "ldrc",
    "masks",
    "pysofi",
    "reconstruction",
    "visualization",
]
