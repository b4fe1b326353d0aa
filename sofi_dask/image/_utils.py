"""Small helpers shared by the image stages: parameter checks and overlap depths.

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

import numpy as np

__all__ = [
    "as_positive_int",
    "as_size_tuple",
    "centred_depth",
    "is_dask_array",
    "overlap_depth",
    "window_depth",
]


def is_dask_array(x: Any) -> bool:
    """True when ``x`` is a ``dask.array.Array`` (without importing dask for numpy input)."""
    return type(x).__module__.startswith("dask.") and hasattr(x, "chunks") and hasattr(x, "dask")


def as_positive_int(value: Any, name: str) -> int:
    """``value`` as a positive ``int``, or ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_size_tuple(value: Any, ndim: int, name: str) -> tuple[int, ...]:
    """A size per axis: an int (same for every axis) or a sequence of ``ndim`` positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values: Sequence[Any] = (value,) * ndim
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else value
    else:
        raise ValueError(f"{name} must be an int or {ndim} ints, got {value!r}")
    if len(values) != ndim:
        raise ValueError(f"{name} must have {ndim} entries, got {value!r}")
    return tuple(as_positive_int(v, f"{name}[{i}]") for i, v in enumerate(values))


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
        raise ValueError(f"array has {ndim} dimensions, fewer than the {len(trailing)} needed")
    depth = dict.fromkeys(range(lead), 0)
    depth.update({lead + i: int(d) for i, d in enumerate(trailing)})
    return depth
