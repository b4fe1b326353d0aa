"""Cumulant images from moment images (pysofi's recursion) and from a movie in one pass.

The recursion is ``k_n = m_n - sum_{i=1}^{n-1} C(n-1, i) k_{n-i} m_i`` with ``k_1 = m_1``
(pysofi's ``calc_cumulants_from_moments``). With central moments ``m_1 = 0``, so the recursion
gives the cumulants of order >= 2 exactly (``k_2 = m_2``, ``k_3 = m_3``,
``k_4 = m_4 - 3 m_2^2``, ...) and ``k_1 = 0``. pysofi reports that 0 (its central moments are
truncated to int64); the true first cumulant is the mean, so :func:`cumulants` reports the mean
image as order 1 (pass ``mean=`` to :func:`cumulants_from_moments` for the same). The mean is
never fed back into the recursion: with central moments that would be wrong from order 3 on.
"""

from __future__ import annotations

from math import comb
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask._validation import check_positive_int, fail, shown
from sofi_dask.stats._cumulant_kernels import cumulant_layers
from sofi_dask.stats._moments import moment_stack

__all__ = ["cumulant_stack", "cumulants", "cumulants_from_moments"]


def cumulants_from_moments(moments: dict[int, Any], *, mean: Any = None) -> dict[int, Any]:
    """Cumulants of orders 1..N from moments of orders 1..N by pysofi's recursion.

    Pure elementwise arithmetic: works on numpy arrays, dask arrays and scalars.

    Parameters
    ----------
    moments : dict[int, array]
        Order -> moment image, keys exactly 1..N (central moments as from
        :func:`sofi_dask.central_moments`, or moments about any origin).
    mean : array, optional
        Reported as the order-1 cumulant instead of ``moments[1]`` (not used by the recursion).

    Returns
    -------
    dict[int, array]
        Order -> cumulant image.

    Raises
    ------
    ValueError
        ``moments`` empty or its keys not 1..N.

    Examples
    --------
    >>> m = {1: 0.0, 2: 2.0, 3: 1.0, 4: 15.0}
    >>> cumulants_from_moments(m)
    {1: 0.0, 2: 2.0, 3: 1.0, 4: 3.0}
    """
    if not moments:
        raise fail("moments", "orders 1..N", shown("an empty dict"))
    keys = sorted(moments)
    if keys != list(range(1, len(keys) + 1)):
        raise fail("moments", "keys 1..N without gaps", keys)
    k: dict[int, Any] = {}
    for n in keys:
        acc = moments[n]
        for i in range(1, n):
            acc = acc - comb(n - 1, i) * k[n - i] * moments[i]
        k[n] = acc
    if mean is not None:
        k[1] = mean
    return k


def cumulant_stack(stack: Any) -> Any:
    """Cumulant stack ``(N + 1, y, x)`` from a moment stack (layer 0 and 1 = mean image).

    Lazy for dask input (one task per spatial tile).

    Examples
    --------
    >>> s = np.array([5.0, 0.0, 2.0, 1.0, 15.0]).reshape(5, 1, 1)
    >>> cumulant_stack(s)[:, 0, 0].tolist()
    [5.0, 5.0, 2.0, 1.0, 3.0]
    """
    if isinstance(stack, da.Array):
        if stack.numblocks[0] != 1:
            stack = stack.rechunk({0: -1})
        return stack.map_blocks(
            cumulant_layers, dtype=np.float64, meta=np.empty((0, 0, 0), dtype=np.float64)
        )
    return cumulant_layers(np.asarray(stack, dtype=np.float64))


def cumulants(
    data: Any,
    max_order: int,
    *,
    frames: tuple[int, int] | None = None,
    split_every: int | None = None,
) -> dict[int, Any]:
    """Cumulant images of orders 1..``max_order`` from one pass over the frames.

    Order 1 is the mean image; orders >= 2 follow pysofi's recursion on the central moments
    (divided by the number of frames), in float64.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``) of any integer or float dtype.
    max_order : int
        Highest order, >= 1.
    frames : (int, int), optional
        Frames ``start..end-1``; default all.
    split_every : int, optional
        Fan-in of the merge tree.

    Returns
    -------
    dict[int, Array]
        Order -> float64 image; for dask input all are slices of one lazy graph.

    Raises
    ------
    ValueError
        As :func:`sofi_dask.moment_stack`.

    Examples
    --------
    >>> movie = np.array([[[1.0]], [[3.0]], [[8.0]]])
    >>> {k: round(float(v[0, 0]), 6) for k, v in cumulants(movie, 3).items()}
    {1: 4.0, 2: 8.666667, 3: 12.0}
    """
    max_order = check_positive_int(max_order, "max_order")
    stack = cumulant_stack(moment_stack(data, max_order, frames=frames, split_every=split_every))
    return {p: stack[p] for p in range(1, max_order + 1)}
