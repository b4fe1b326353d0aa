"""Convergence of the SOFI statistics with the number of frames, from prefix merges.

The prefixes of 1, 2, 4, ... blocks of frames come from the per-block moment states of one pass
(:func:`sofi_dask.split_moment_stacks`); for each order ``k`` and each doubling of the frames
the relative change

    c_k(n_i) = || I_k(n_i) - I_k(n_{i-1}) ||_F / || I_k(n_i) ||_F

(Frobenius norms over the image) tells whether the image still changes when more frames are
used: a movie is long enough when the last changes are small (for a noise-limited estimate they
fall as ``1 / sqrt(n)``, about 0.7 per doubling).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from sofi_dask._validation import fail
from sofi_dask.stats._cumulants import cumulant_stack

__all__ = ["ConvergenceResult", "convergence", "convergence_from_stacks"]

_STATISTICS = ("cumulants", "moments")


@dataclasses.dataclass(frozen=True)
class ConvergenceResult:
    """Relative change of each statistic image per doubling of the frames.

    Attributes
    ----------
    frames : numpy.ndarray
        Frames used at each point (1, 2, 4, ... blocks, then all frames).
    relative_change : dict[int, numpy.ndarray]
        Order -> change between consecutive points (one value per ``frames[1:]``); order 1 is
        the average image.
    statistic : str
        ``"cumulants"`` or ``"moments"``.
    """

    frames: np.ndarray
    relative_change: dict[int, np.ndarray]
    statistic: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        Examples
        --------
        >>> r = ConvergenceResult(np.array([10, 20]), {2: np.array([0.5])}, "cumulants")
        >>> r.to_dict()["relative_change"]
        {'2': [0.5]}
        """
        return {
            "statistic": self.statistic,
            "frames": [int(f) for f in self.frames],
            "relative_change": {
                str(k): [float(v) for v in c] for k, c in self.relative_change.items()
            },
        }


def _images(stack: np.ndarray, statistic: str) -> np.ndarray:
    stack = np.asarray(stack, dtype=np.float64)
    if statistic == "cumulants":
        return cumulant_stack(stack)
    out = stack.copy()
    out[1] = stack[0]  # order 1: the average image, as for cumulants
    return out


def convergence_from_stacks(
    prefixes: Sequence[tuple[int, Any]], *, statistic: str = "cumulants"
) -> ConvergenceResult:
    """Convergence from computed prefix moment stacks ``(n_frames, stack)``.

    Examples
    --------
    >>> movie = np.random.default_rng(0).poisson(9.0, (80, 8, 8))
    >>> from sofi_dask.quality import split_moment_stacks
    >>> split = split_moment_stacks(movie, 2, block_frames=10)
    >>> result = convergence_from_stacks(split.prefixes)
    >>> result.frames.tolist(), len(result.relative_change[2])
    ([10, 20, 40, 80], 3)
    """
    if statistic not in _STATISTICS:
        raise fail("statistic", f"one of {list(_STATISTICS)}", statistic)
    if len(prefixes) < 2:
        raise fail("prefixes", "at least two prefix stacks", len(prefixes))
    frames = np.array([int(n) for n, _ in prefixes])
    images = [_images(s, statistic) for _, s in prefixes]
    orders = range(1, images[0].shape[0])
    change: dict[int, np.ndarray] = {}
    for k in orders:
        vals = []
        for prev, cur in zip(images[:-1], images[1:], strict=True):
            norm = float(np.linalg.norm(cur[k]))
            diff = float(np.linalg.norm(cur[k] - prev[k]))
            vals.append(diff / norm if norm > 0 else 0.0)
        change[k] = np.array(vals)
    return ConvergenceResult(frames, change, statistic)


def convergence(
    data: Any, max_order: int, *, statistic: str = "cumulants", block_frames: int = 100
) -> ConvergenceResult:
    """Relative change of each statistic per doubling of the frames, from one pass.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    max_order : int
        Highest order.
    statistic : {"cumulants", "moments"}
        Which images.
    block_frames : int
        Frames of the first prefix (the block length).

    Returns
    -------
    ConvergenceResult

    Examples
    --------
    >>> movie = np.random.default_rng(0).poisson(9.0, (160, 8, 8))
    >>> result = convergence(movie, 2, block_frames=10)
    >>> result.frames.tolist()
    [10, 20, 40, 80, 160]
    >>> bool(result.relative_change[2][-1] < result.relative_change[2][0])
    True
    """
    from sofi_dask.quality._split import split_moment_stacks

    if statistic not in _STATISTICS:
        raise fail("statistic", f"one of {list(_STATISTICS)}", statistic)
    split = split_moment_stacks(data, max_order, block_frames=block_frames)
    if not isinstance(split.full, np.ndarray):
        split = split.compute()
    return convergence_from_stacks(split.prefixes, statistic=statistic)
