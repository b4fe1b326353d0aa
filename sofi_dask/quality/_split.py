"""Moment stacks of the whole movie, of two interleaved halves and of frame prefixes: one pass.

The movie is cut into blocks of ``block_frames`` consecutive frames (the frame chunks, after a
lazy rechunk along time). Each block becomes one moment state (its moment stack, see
:mod:`sofi_dask.stats._moment_state`); states merge exactly (Pébay), so

- half A = the even blocks, half B = the odd blocks (two independent reconstructions for FRC
  when a block is much longer than the blinking correlation time),
- the whole movie = A merged with B (the same numbers as a direct one-pass stack),
- the prefixes of 1, 2, 4, ... blocks (convergence with the number of frames)

all come from the same per-block states: every chunk is read and reduced once, and only the
cheap merges (``order^2`` operations per pixel each) are added.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import as_movie_array, check_int, check_positive_int, fail, shown
from sofi_dask.stats._moment_state import chunk_state, stack_from_state
from sofi_dask.stats._stack_tree import interleaved_stacks

__all__ = ["SplitStacks", "split_moment_stacks"]


@dataclasses.dataclass(frozen=True)
class SplitStacks:
    """Moment stacks ``(max_order + 1, y, x)`` (see :func:`sofi_dask.moment_stack`).

    Attributes
    ----------
    full, half_a, half_b : array
        Stacks of all frames, of the even blocks and of the odd blocks (lazy for dask input).
    counts : tuple of int
        Frames behind ``full``, ``half_a`` and ``half_b``.
    prefixes : tuple of (int, array)
        ``(n_frames, stack)`` of the first 1, 2, 4, ... blocks, the last one all frames.
    block_frames : int
        Frames per block.
    """

    full: Any
    half_a: Any
    half_b: Any
    counts: tuple[int, int, int]
    prefixes: tuple[tuple[int, Any], ...]
    block_frames: int

    def compute(self, **kwargs: Any) -> SplitStacks:
        """All stacks computed together (one pass over the movie).

        Examples
        --------
        >>> movie = da.from_array(np.random.default_rng(0).poisson(9.0, (40, 4, 4)), chunks=10)
        >>> split = split_moment_stacks(movie, 2, block_frames=10).compute()
        >>> type(split.full).__name__, split.counts
        ('ndarray', (40, 20, 20))
        """
        arrays = [self.full, self.half_a, self.half_b, *(s for _, s in self.prefixes)]
        done = threaded_compute(*arrays, **kwargs)
        prefixes = tuple((n, s) for (n, _), s in zip(self.prefixes, done[3:], strict=True))
        return dataclasses.replace(
            self, full=done[0], half_a=done[1], half_b=done[2], prefixes=prefixes
        )


def _block_stack(block: np.ndarray, max_order: int) -> np.ndarray:
    return stack_from_state(chunk_state(block, max_order=max_order))[None]


def split_moment_stacks(
    data: Any, max_order: int, *, block_frames: int = 100, prefixes: bool = True
) -> SplitStacks:
    """Moment stacks of the movie, of its two interleaved halves and of its prefixes, one pass.

    Parameters
    ----------
    data : array, shape (t, y, x)
        dask or numpy array (or ``Movie``).
    max_order : int
        Highest order, >= 1.
    block_frames : int
        Frames per block; blocks alternate between the halves. Choose it well above the
        blinking correlation time (mean on-time) so that the halves are independent.
    prefixes : bool
        Also build the prefix stacks of 1, 2, 4, ... blocks (for :func:`convergence`).

    Returns
    -------
    SplitStacks
        Lazy for dask input; computed (numpy) for numpy input.

    Raises
    ------
    sofi_dask.errors.InputError
        Fewer than two blocks, a block shorter than ``max_order``, or a bad movie.

    Examples
    --------
    >>> movie = np.random.default_rng(0).poisson(9.0, (40, 4, 4)).astype(np.uint16)
    >>> split = split_moment_stacks(movie, 2, block_frames=10)
    >>> from sofi_dask.stats import moment_stack
    >>> bool(np.allclose(split.full, moment_stack(movie, 2)))
    True
    >>> even = np.concatenate([movie[0:10], movie[20:30]])
    >>> bool(np.allclose(split.half_a, moment_stack(even, 2)))
    True
    >>> [n for n, _ in split.prefixes]
    [10, 20, 40]
    """
    max_order = check_positive_int(max_order, "max_order")
    arr, lazy = as_movie_array(data)
    n = int(arr.shape[0])
    block = check_int(block_frames, "block_frames", minimum=max(1, max_order))
    if n < 2 * block:
        raise fail(
            "block_frames",
            f"at most half the movie's {n} frames (two blocks at least)",
            shown(str(block)),
        )
    darr = arr if lazy else da.from_array(arr, chunks=(block, -1, -1))
    if any(c != block for c in darr.chunks[0][:-1]) or darr.chunks[0][-1] > block:
        darr = darr.rechunk({0: block})
    counts = [int(c) for c in darr.chunks[0]]
    if counts[-1] < max_order:  # a short tail joins the previous block
        darr = darr.rechunk({0: (*counts[:-2], counts[-2] + counts[-1])})
        counts = [int(c) for c in darr.chunks[0]]
    n_blocks = len(counts)
    k = max_order + 1
    stacks = darr.map_blocks(
        _block_stack,
        max_order=max_order,
        new_axis=1,
        chunks=((1,) * n_blocks, (k,), *darr.chunks[1:]),
        dtype=np.float64,
        meta=np.empty((0, 0, 0, 0), dtype=np.float64),
        token=f"block-moment-stack-{max_order}",
    )
    # one tree: each block's stack has one consumer, the prefixes are its left segments (a
    # tree per half and per prefix kept every block's stack in memory until the end)
    tree = interleaved_stacks([stacks[i] for i in range(n_blocks)], counts, prefixes=prefixes)
    pref = (*tree.prefixes, (n, tree.full))
    out = SplitStacks(tree.full, tree.half_a, tree.half_b, tree.counts, pref, block)
    return out if lazy else out.compute()
