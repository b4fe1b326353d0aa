"""Argument checks shared by every subpackage: one message format, one exception type.

Every check raises :class:`sofi_dask.errors.InputError` (a ``ValueError``) with the message
``parameter 'name': expected ..., got ...`` and returns the value normalised (a Python ``int``,
a tuple, ...). The array checks of the statistics (``as_movie_array``, ``check_frames``) live
here too, so that a stage, the pipeline and ``compat`` all say the same thing. An order is a
positive integer: ``check_positive_int(max_order, "max_order")``.

Examples
--------
>>> check_positive_int(3, "window")
3
>>> check_positive_int(0, "window")
Traceback (most recent call last):
...
sofi_dask.errors.InputError: parameter 'window': expected an integer >= 1, got 0
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask.errors import InputError

__all__ = [
    "as_movie_array",
    "check_bool",
    "check_frames",
    "check_int",
    "check_positive_int",
    "check_real",
    "check_size_tuple",
    "fail",
    "shown",
]


def fail(name: str, expected: str, got: Any) -> InputError:
    """The error for parameter ``name``: ``parameter 'name': expected ..., got ...``.

    ``got`` is shown with ``repr``; wrap a description in :func:`shown` to show it as is.

    Examples
    --------
    >>> str(fail("order", "an integer >= 1", 0))
    "parameter 'order': expected an integer >= 1, got 0"
    """
    shown = got if isinstance(got, _Shown) else repr(got)
    return InputError(f"parameter {name!r}: expected {expected}, got {shown}")


class _Shown(str):
    """Text shown as is after ``got`` (e.g. ``shape (3, 4)``), not quoted."""


def shown(text: str) -> _Shown:
    """Mark ``text`` to be shown as is after ``got`` in :func:`fail`'s message.

    Examples
    --------
    >>> str(fail("data", "a 3-D (t, y, x) movie", shown("shape (4, 4)")))
    "parameter 'data': expected a 3-D (t, y, x) movie, got shape (4, 4)"
    """
    return _Shown(text)


def check_int(
    value: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    integral_float: bool = False,
) -> int:
    """``value`` as a Python int within ``[minimum, maximum]`` (bools are refused).

    With ``integral_float``, a float with an integral value (``2.0``) is accepted too.

    Examples
    --------
    >>> check_int(np.int64(4), "order", minimum=1, maximum=8)
    4
    >>> check_int(2.0, "factor", minimum=1, integral_float=True)
    2
    >>> check_int(2.5, "factor", minimum=1, integral_float=True)
    Traceback (most recent call last):
    ...
    sofi_dask.errors.InputError: parameter 'factor': expected an integer >= 1, got 2.5
    """
    bounds = _bounds_text(minimum, maximum)
    if (
        integral_float
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool | numbers.Integral)
    ):
        if not np.isfinite(float(value)) or float(value) != int(value):
            raise fail(name, f"an integer{bounds}", value)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(name, f"an integer{bounds}", value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise fail(name, f"an integer{bounds}", value)
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (``True``/``False``; no 0/1, no numpy bool).

    Examples
    --------
    >>> check_bool(True, "overwrite")
    True
    """
    if not isinstance(value, bool):
        raise fail(name, "True or False", value)
    return value


def check_positive_int(
    value: Any, name: str, *, allow_none: bool = False, integral_float: bool = False
) -> int | None:
    """``value`` as an int >= 1 (``None`` passes through when ``allow_none``).

    Orders, window lengths, factors, worker counts: every "positive integer" parameter.
    ``integral_float`` accepts floats with an integral value (``2.0``), see :func:`check_int`.

    Examples
    --------
    >>> check_positive_int(None, "workers", allow_none=True) is None
    True
    >>> check_positive_int(True, "max_order")
    Traceback (most recent call last):
    ...
    sofi_dask.errors.InputError: parameter 'max_order': expected an integer >= 1, got True
    """
    if value is None and allow_none:
        return None
    if allow_none:
        try:
            return check_int(value, name, minimum=1, integral_float=integral_float)
        except InputError:
            raise fail(name, "an integer >= 1 or None", value) from None
    return check_int(value, name, minimum=1, integral_float=integral_float)


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    inclusive: bool = True,
) -> float:
    """``value`` as a finite float within the bounds (``inclusive`` applies to both).

    Examples
    --------
    >>> check_real(1.5, "lam", minimum=1, inclusive=False)
    1.5
    """
    op_lo, op_hi = (">=", "<=") if inclusive else (">", "<")
    parts = []
    if minimum is not None:
        parts.append(f"{op_lo} {minimum:g}")
    if maximum is not None:
        parts.append(f"{op_hi} {maximum:g}")
    expected = "a finite number" + (" " + " and ".join(parts) if parts else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, expected, value)
    v = float(value)
    if not np.isfinite(v):
        raise fail(name, expected, value)
    if minimum is not None and (v < minimum if inclusive else v <= minimum):
        raise fail(name, expected, value)
    if maximum is not None and (v > maximum if inclusive else v >= maximum):
        raise fail(name, expected, value)
    return v


def check_size_tuple(value: Any, ndim: int, name: str) -> tuple[int, ...]:
    """A size per axis: one int for every axis, or ``ndim`` positive ints.

    Examples
    --------
    >>> check_size_tuple(5, 2, "window")
    (5, 5)
    >>> check_size_tuple([3, 7], 2, "window")
    (3, 7)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values: Sequence[Any] = (value,) * ndim
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        values = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else value
    else:
        raise fail(name, f"an integer or {ndim} integers", value)
    if len(values) != ndim:
        raise fail(name, f"{ndim} entries", value)
    return tuple(check_positive_int(v, f"{name}[{i}]") for i, v in enumerate(values))


def check_frames(frames: Any, n_frames: int, name: str = "frames") -> tuple[int, int]:
    """``frames=(start, end)`` (end exclusive) inside a movie of ``n_frames``; None: all.

    Examples
    --------
    >>> check_frames(None, 10)
    (0, 10)
    >>> check_frames((2, 5), 10)
    (2, 5)
    """
    if frames is None:
        return 0, int(n_frames)
    expected = f"(start, end) with 0 <= start < end <= {n_frames} (the movie's frame count)"
    try:
        start, end = frames
    except (TypeError, ValueError):
        raise fail(name, expected, frames) from None
    for v in (start, end):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise fail(name, expected, frames)
    start, end = int(start), int(end)
    if not 0 <= start < end <= n_frames:
        raise fail(name, expected, frames)
    return start, end


def as_movie_array(data: Any, name: str = "data") -> tuple[da.Array | np.ndarray, bool]:
    """The movie as ``(array, is_lazy)``: dask stays dask, numpy stays numpy.

    Objects with a ``.data`` dask array (``sofi_dask.io.Movie``) give that array; other
    array-likes (zarr arrays) are wrapped lazily with ``da.asarray``. The movie must be 3-D
    ``(t, y, x)`` with frames of at least one pixel and an integer or float dtype.

    Examples
    --------
    >>> arr, lazy = as_movie_array(np.zeros((4, 2, 3), dtype=np.uint16))
    >>> arr.shape, lazy
    ((4, 2, 3), False)
    >>> as_movie_array(np.zeros((2, 3)))
    Traceback (most recent call last):
    ...
    sofi_dask.errors.InputError: parameter 'data': expected a 3-D (t, y, x) movie, got shape (2, 3)
    """
    if isinstance(data, da.Array):
        arr: da.Array | np.ndarray = data
        lazy = True
    elif isinstance(data, np.ndarray):
        arr, lazy = data, False
    elif isinstance(getattr(data, "data", None), da.Array):
        arr, lazy = data.data, True
    elif hasattr(data, "shape") and hasattr(data, "dtype"):
        arr, lazy = da.asarray(data), True
    else:
        raise fail(name, "a (t, y, x) numpy or dask array", shown(repr(type(data))))
    if arr.ndim != 3:
        raise fail(name, "a 3-D (t, y, x) movie", shown(f"shape {arr.shape}"))
    if 0 in arr.shape[1:]:
        raise fail(name, "frames of at least 1 x 1 pixel", shown(f"shape {arr.shape}"))
    if np.dtype(arr.dtype).kind not in "uif":
        raise fail(name, "an integer or float dtype", shown(f"dtype {arr.dtype}"))
    return arr, lazy


def _bounds_text(minimum: Any, maximum: Any) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
