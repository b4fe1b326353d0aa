"""Small helpers shared by the image stages: dask detection and overlap depths.

The depths are the one place where a kernel size becomes a ``map_overlap`` depth:

* a *centred* kernel of ``size`` samples (a 1-D filter, a PSF) reaches ``size // 2`` samples on
  each side of an output sample (:func:`centred_depth`);
* a *sliding window* whose every position contributes to all the pixels it covers (LDRC) reaches
  ``size - 1`` samples on each side (:func:`window_depth`): the windows covering pixel ``p`` start
  anywhere in ``[p - size + 1, p]``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from sofi_dask.errors import InputError

__all__ = [
    "centred_depth",
    "is_dask_array",
    "overlap_depth",
    "window_depth",
]


def is_dask_array(x: Any) -> bool:
    """True when ``x`` is a ``dask.array.Array`` (without importing dask for numpy input)."""
    return type(x).__module__.startswith("dask.") and hasattr(x, "chunks") and hasattr(x, "dask")


def centred_depth(size: int | Sequence[int]) -> int | tuple[int, ...]:
    """Reach of a centred kernel of ``size`` samples on each side: ``size // 2`` per axis."""
    if isinstance(size, numbers.Integral):
        return int(size) // 2
    return tuple(int(s) // 2 for s in size)


def window_depth(size: int | Sequence[int]) -> int | tuple[int, ...]:
    """Reach of a sliding window of ``size`` whose positions all cover a pixel: ``size - 1``."""
    if isinstance(size, numbers.Integral):
        return max(int(size) - 1, 0)
    return tuple(max(int(s) - 1, 0) for s in size)


def overlap_depth(ndim: int, trailing: Sequence[int]) -> dict[int, int]:
    """``map_overlap`` depth dict: 0 on leading (stack) axes, ``trailing`` on the last axes."""
    lead = ndim - len(trailing)
    if lead < 0:
        raise InputError(f"array has {ndim} dimensions, fewer than the {len(trailing)} needed")
    depth = dict.fromkeys(range(lead), 0)
    depth.update({lead + i: int(d) for i, d in enumerate(trailing)})
    return depth
