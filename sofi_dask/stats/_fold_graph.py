"""Delayed graph helpers shared by the streaming reductions (cross-cumulants, bleaching).

Readable explicit task keys (:func:`_call`), chunk states folded in chains and merged in a tree
(:func:`_fold_reduce`), chunk bounds, tile assembly and numpy-in/numpy-out finishing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._cpus import threaded_compute
from sofi_dask._validation import check_int


def _call(func: Callable, key: str, *args: Any, **kwargs: Any) -> Any:
    """A delayed call under an explicit, readable key (no argument hashing)."""
    return dask.delayed(func, pure=True)(*args, dask_key_name=key, **kwargs)


def _tree(states: list, combine: Callable, split_every: int, key: str) -> Any:
    """Merge ``states`` in a tree of fan-in ``split_every``; keys ``{key}-c{level}-{i}``."""
    level = 0
    while len(states) > 1:
        groups = [states[i : i + split_every] for i in range(0, len(states), split_every)]
        states = [
            _call(combine, f"{key}-c{level}-{i}", *g) if len(g) > 1 else g[0]
            for i, g in enumerate(groups)
        ]
        level += 1
    return states[0]


def _fold(state_fn: Callable, combine_fn: Callable, prev: Any, *args: Any, **kwargs: Any) -> Any:
    state = state_fn(*args, **kwargs)
    return state if prev is None else combine_fn(prev, state)


def _fold_reduce(
    leaves: list[tuple[tuple, dict]],
    state_fn: Callable,
    combine_fn: Callable,
    split_every: int,
    key: str,
) -> Any:
    """Reduce chunk states: runs of ``split_every`` consecutive chunks are folded in a chain
    (chunk state computed and merged in one task, so at most one state per chain is alive),
    then the chain results are merged in a tree. Memory stays flat in the number of chunks."""
    fold = partial(_fold, state_fn, combine_fn)
    heads = []
    for g in range(0, len(leaves), split_every):
        state = None
        for j, (args, kwargs) in enumerate(leaves[g : g + split_every]):
            state = _call(fold, f"{key}-f{g}-{j}", state, *args, **kwargs)
        heads.append(state)
    return _tree(heads, combine_fn, split_every, key)


def _check_split_every(split_every: Any) -> int:
    if split_every is None:
        return 8
    return check_int(split_every, "split_every", minimum=2)


def _frame_slice(block: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return block[lo:hi].copy()  # a copy: a view would keep the whole chunk alive


def _bounds(chunks: Sequence[int]) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(chunks)]).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _assemble(pieces: list[list[Any]]) -> da.Array:
    rows = [da.concatenate(row, axis=2) if len(row) > 1 else row[0] for row in pieces]
    return da.concatenate(rows, axis=1) if len(rows) > 1 else rows[0]


def _finish(result: Any, lazy: bool) -> Any:
    if lazy:
        return result
    (computed,) = threaded_compute(result)
    return computed
