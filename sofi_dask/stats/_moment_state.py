"""Per-chunk moment state and its exact merge (Pébay 2008, k-way form).

A state is a dict ``{"n": int, "mean": ndarray (y, x), "M": ndarray (max_order - 1, y, x)}``
with ``M[p - 2] = sum (x - mean)^p`` over the state's ``n`` frames. Merging states ``i`` with
``delta_i = mean_i - mean`` (``mean`` the pooled mean) uses the exact binomial shift

    M_p = sum_i [ M_p,i + sum_{k=1}^{p-2} C(p, k) M_{p-k,i} delta_i^k + n_i delta_i^p ],

which is Pébay's pairwise update (Sandia report SAND2008-6212, eq. 3.1) for any number of
parts at once (the form dask's ``moment_combine`` uses). Only differences of means enter, so
the merge keeps the accuracy of the per-chunk central sums.

A *stack* is the finalised, normalised form: float64 ``(max_order + 1, y, x)`` with layer 0 the
mean, layer 1 zero (first central moment) and layer ``p`` the central moment ``M_p / n``.
Stacks of frame segments with known frame counts merge with :func:`merge_stacks`.

No dask (the merge is one numba pass, :func:`sofi_dask.stats._moment_kernels.merge_sums`):
these are the ``chunk``/``combine``/``aggregate`` callables of the
reduction in :mod:`sofi_dask.moments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sofi_dask.stats._moment_kernels import central_sums, merge_sums

__all__ = [
    "chunk_state",
    "combine_states",
    "flatten_states",
    "merge_stacks",
    "merge_states",
    "stack_from_state",
    "state_from_stack",
]


def chunk_state(
    block: np.ndarray, axis: Any = None, keepdims: bool = True, *, max_order: int, **_: Any
) -> dict[str, Any]:
    """State of one in-memory chunk ``(t, y, x)`` (``da.reduction`` ``chunk`` callable)."""
    mean, sums = central_sums(block, max_order)
    return {"n": int(block.shape[0]), "mean": mean, "M": sums}


def flatten_states(parts: Any) -> list[dict[str, Any]]:
    """States from a (possibly nested) list as ``da.reduction(concatenate=False)`` passes them."""
    if isinstance(parts, dict):
        return [parts]
    out: list[dict[str, Any]] = []
    for p in parts:
        out.extend(flatten_states(p))
    return out


def merge_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Exact merge of states over disjoint frame sets (k-way Pébay update).

    Examples
    --------
    >>> a = chunk_state(np.array([[[1.0]], [[3.0]]]), max_order=3)
    >>> b = chunk_state(np.array([[[8.0]]]), max_order=3)
    >>> s = merge_states([a, b])
    >>> s["n"], float(s["mean"][0, 0]), s["M"][:, 0, 0].tolist()
    (3, 4.0, [26.0, 36.0])
    """
    states = [s for s in states if s["n"] > 0]
    if not states:
        raise ValueError("cannot merge an empty set of moment states")
    if len(states) == 1:
        return states[0]
    n = sum(s["n"] for s in states)
    shape = np.shape(states[0]["mean"])
    mean = np.empty(shape, dtype=np.float64)
    merged = np.empty(np.shape(states[0]["M"]), dtype=np.float64)
    merge_sums(
        [_flat(s["mean"]) for s in states],
        [_flat(s["M"], merged.shape[0], mean.size) for s in states],
        [s["n"] for s in states],
        mean.reshape(-1),
        merged.reshape(merged.shape[0], mean.size),
    )
    return {"n": n, "mean": mean, "M": merged}


def combine_states(parts: Any, axis: Any = None, keepdims: bool = True, **_: Any) -> dict:
    """``da.reduction`` ``combine`` callable: merge a list of states into one."""
    return merge_states(flatten_states(parts))


def stack_from_state(state: dict[str, Any]) -> np.ndarray:
    """Finalise a state into the stack ``[mean, 0, m_2, ..., m_N]`` (divided by ``n``)."""
    mean = state["mean"]
    n_sums = state["M"].shape[0]
    out = np.empty((n_sums + 2,) + mean.shape, dtype=np.float64)
    out[0] = mean
    out[1] = 0.0
    if n_sums:
        out[2:] = state["M"] / state["n"]
    return out


def aggregate_states(
    parts: Any, axis: Any = None, keepdims: bool = True, *, max_order: int, **_: Any
) -> np.ndarray:
    """``da.reduction`` ``aggregate`` callable: merged state as a stack ``(max_order + 1, ...)``."""
    stack = stack_from_state(merge_states(flatten_states(parts)))
    return stack[: max_order + 1]


def state_from_stack(stack: np.ndarray, n: int) -> dict[str, Any]:
    """Inverse of :func:`stack_from_state` for a stack of ``n`` frames."""
    return {"n": int(n), "mean": stack[0], "M": stack[2:] * float(n)}


def merge_stacks(stacks: Sequence[np.ndarray], counts: Sequence[int]) -> np.ndarray:
    """Merge stacks of disjoint frame segments holding ``counts`` frames (exact; one numba pass,
    :func:`sofi_dask.stats._moment_kernels.merge_sums`).

    Examples
    --------
    >>> a = stack_from_state(chunk_state(np.array([[[1.0]], [[3.0]]]), max_order=3))
    >>> b = stack_from_state(chunk_state(np.array([[[8.0]]]), max_order=3))
    >>> merge_stacks([a, b], [2, 1])[:, 0, 0].tolist()
    [4.0, 0.0, 8.666666666666666, 12.0]
    """
    if len(stacks) != len(counts):
        raise ValueError(f"got {len(stacks)} stacks but {len(counts)} counts")
    if len(stacks) == 1:
        return np.asarray(stacks[0], dtype=np.float64)
    parts = [
        (np.asarray(s, dtype=np.float64), int(c))
        for s, c in zip(stacks, counts, strict=True)
        if int(c) > 0
    ]
    if not parts:
        raise ValueError("cannot merge an empty set of moment states")
    layers = parts[0][0].shape[0]
    n_sums = max(layers - 2, 0)
    space = parts[0][0].shape[1:]
    out = np.empty((n_sums + 2, *space), dtype=np.float64)
    # one numba pass: the same operations as merging the states (M = layer * n) and
    # finalising the result (M / n), without their copies and temporaries
    merge_sums(
        [_flat(s[0]) for s, _ in parts],
        [_flat(s[2 : 2 + n_sums], n_sums, out[0].size) for s, _ in parts],
        [c for _, c in parts],
        out[0].reshape(-1),
        out[2:].reshape(n_sums, out[0].size),
        from_stack=True,
        to_stack=True,
    )
    out[1] = 0.0
    return out[:layers]


def _flat(a: np.ndarray, rows: int | None = None, pixels: int = -1) -> np.ndarray:
    """``a`` as a C-contiguous float64 array of pixels (1-D), or of ``rows`` rows of pixels."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return a.reshape(-1) if rows is None else a.reshape(rows, pixels)
