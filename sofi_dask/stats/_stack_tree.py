"""Moment stacks of consecutive frame windows merged in one binary tree: the whole, two
interleaved halves and the prefixes, every window's stack consumed by exactly one merge.

Quality in the same pass needs, from the stacks of windows ``w_0, w_1, ...`` (see
:func:`sofi_dask.stats.moment_stacks`), the stack of all of them, of the even windows (half A),
of the odd windows (half B) and of the first 1, 2, 4, ... windows (convergence). Merged as
separate trees, every window's stack would have several consumers (the whole, its half, every
prefix it belongs to) and stay in memory until the last of them ran; dask's blockwise fusion
even turns a ``map_blocks`` merge tree into one task with every window as input. On a cluster
all the per-window stacks of the movie were then alive at the end of the pass (64 stacks, 160
MiB per worker for a 2 GB store; linear in the number of frames).

Here the windows form one binary tree of aligned segments ``[i 2^j, (i + 1) 2^j)``; a segment
keeps two stacks, the merge of its even and of its odd windows, each merged from its two
children's (explicit tasks, nothing fused). So

- each window's stack has one consumer (its parent) and at most ``2 log2(n)`` partial stacks
  per tile are alive however many windows there are;
- half A and half B are the root's two stacks, the whole is their merge;
- the first ``2^j`` windows are segment ``[0, 2^j)``: a prefix costs one merge of its two stacks.

Without prefixes (the bleaching blocks' halves: their convergence is over whole blocks) each
half's windows are merged instead in a tree of fan-in 4 (k-way merges in one numba pass): every
window still has one consumer and a task holds at most 4 stacks, but a half of ``n`` windows
makes about ``n / 3`` merged stacks instead of ``n - 1``, fresh memory of the tile's size each
(on 2048 x 2048 frames the binary trees' ~3 GB of merge outputs cost seconds of page faults).

Merges are exact (:func:`sofi_dask.stats._moment_state.merge_stacks`); only the order of the
floating-point operations differs from other trees (relative differences ~1e-15).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from sofi_dask._validation import fail, shown
from sofi_dask.stats._fold_graph import _assemble, _call
from sofi_dask.stats._moment_state import merge_stacks

__all__ = ["InterleavedStacks", "interleaved_stacks", "sum_tree"]


@dataclasses.dataclass(frozen=True)
class InterleavedStacks:
    """Lazy moment stacks ``(max_order + 1, y, x)`` of windows merged by
    :func:`interleaved_stacks`.

    Attributes
    ----------
    full : dask.array.Array
        All windows.
    half_a, half_b : dask.array.Array or None
        The windows of even and of odd global index (None when there is none).
    counts : tuple of int
        Frames behind ``full``, ``half_a`` and ``half_b``.
    prefixes : tuple of (int, dask.array.Array)
        ``(n_frames, stack)`` of the first 1, 2, 4, ... windows, fewer than all (empty unless
        asked for).
    """

    full: Any
    half_a: Any
    half_b: Any
    counts: tuple[int, int, int]
    prefixes: tuple[tuple[int, Any], ...]


def _merge(*stacks: np.ndarray, counts: tuple[int, ...]) -> np.ndarray:
    return merge_stacks(list(stacks), list(counts))


# a half of a segment: (task or None, frames)
_Half = tuple[Any, int]


def _join(x: _Half, y: _Half, key: str) -> _Half:
    (a, na), (b, nb) = x, y
    if a is None or b is None:
        return (b, nb) if a is None else (a, na)
    return _call(_merge, key, a, b, counts=(na, nb)), na + nb


_FAN_IN = 4  # windows per k-way merge when no prefix is needed


def _half_tree(leaves: list[_Half], key: str) -> _Half:
    """The merge of one half's windows (in order) in a tree of fan-in ``_FAN_IN``: each window
    has one consumer, a task holds at most ``_FAN_IN`` stacks, and there are about ``n / 3``
    merge outputs instead of the ``n - 1`` of a binary tree (each a fresh stack of the tile)."""
    if not leaves:
        return None, 0
    level, depth = leaves, 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), _FAN_IN):
            group = level[i : i + _FAN_IN]
            if len(group) == 1:
                nxt.append(group[0])
                continue
            tasks, ns = zip(*group, strict=True)
            nxt.append((_call(_merge, f"{key}-{depth}-{i}", *tasks, counts=ns), sum(ns)))
        level, depth = nxt, depth + 1
    return level[0]


def _tile_tree(
    leaves: Sequence[Any], counts: Sequence[int], first_parity: int, prefixes: bool, key: str
) -> tuple[_Half, _Half, list[tuple[int, Any]]]:
    """Halves (A, B) of all leaves of one tile and the prefix tasks ``(frames, task)``: the
    binary tree of aligned segments when the prefixes are asked for, else one tree of fan-in
    ``_FAN_IN`` per half."""
    if not prefixes:
        halves: tuple[list[_Half], list[_Half]] = ([], [])
        for w, (leaf, c) in enumerate(zip(leaves, counts, strict=True)):
            halves[(first_parity + w) % 2].append((leaf, c))
        return _half_tree(halves[0], f"{key}-a"), _half_tree(halves[1], f"{key}-b"), []
    level: list[tuple[_Half, _Half]] = [
        ((leaf, c), (None, 0)) if (first_parity + w) % 2 == 0 else ((None, 0), (leaf, c))
        for w, (leaf, c) in enumerate(zip(leaves, counts, strict=True))
    ]
    pref: list[tuple[int, Any]] = []
    depth = 0
    while True:
        if prefixes and len(level) > 1:  # segment [0, 2^depth): fewer windows than all
            pref.append(_join(level[0][0], level[0][1], f"{key}-p{depth}")[::-1])
        if len(level) == 1:
            break
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                nxt.append(level[i])
                continue
            (la, lb), (ra, rb) = level[i], level[i + 1]
            nxt.append((_join(la, ra, f"{key}-a{depth}-{i}"), _join(lb, rb, f"{key}-b{depth}-{i}")))
        level = nxt
        depth += 1
    half_a, half_b = level[0]
    return half_a, half_b, pref


def interleaved_stacks(
    stacks: Sequence[da.Array],
    counts: Sequence[int],
    *,
    first_parity: int = 0,
    prefixes: bool = False,
) -> InterleavedStacks:
    """Merge the moment stacks of consecutive frame windows into the whole, the two interleaved
    halves and (optionally) the prefixes, in one binary tree per spatial tile.

    Parameters
    ----------
    stacks : sequence of dask.array.Array
        Moment stacks ``(max_order + 1, y, x)`` of consecutive disjoint windows, all with the
        same shape and chunks (e.g. from :func:`sofi_dask.stats.moment_stacks`).
    counts : sequence of int
        Frames per window.
    first_parity : {0, 1}
        Half of the first window (0: A); window ``w`` goes to half ``(first_parity + w) % 2``.
    prefixes : bool
        Also the stacks of the first 1, 2, 4, ... windows (fewer than all).

    Returns
    -------
    InterleavedStacks

    Raises
    ------
    sofi_dask.errors.InputError
        No stacks, not one positive count per stack, or stacks of different shapes or chunks.

    Examples
    --------
    >>> from sofi_dask.stats import moment_stack, moment_stacks
    >>> movie = da.from_array(np.random.default_rng(0).poisson(9.0, (50, 4, 4)), chunks=10)
    >>> windows = [(a, a + 10) for a in range(0, 50, 10)]
    >>> tree = interleaved_stacks(moment_stacks(movie, 3, windows), [10] * 5, prefixes=True)
    >>> tree.counts, [n for n, _ in tree.prefixes]
    ((50, 30, 20), [10, 20, 40])
    >>> bool(np.allclose(tree.full, moment_stack(movie, 3)))
    True
    >>> odd = np.concatenate([movie[10:20], movie[30:40]])
    >>> bool(np.allclose(tree.half_b, moment_stack(odd, 3)))
    True
    """
    counts = [int(c) for c in counts]
    if not stacks or len(stacks) != len(counts) or min(counts) < 1:
        raise fail("counts", f"one positive frame count per stack ({len(stacks)})", counts)
    stacks = [da.asarray(s) for s in stacks]
    shape, chunks = stacks[0].shape, stacks[0].chunks
    if any(s.shape != shape or s.chunks != chunks for s in stacks):
        got = sorted({(s.shape, s.chunks) for s in stacks})
        raise fail("stacks", "moment stacks of one shape and chunking", shown(str(got)))
    if len(chunks[0]) != 1:
        stacks = [s.rechunk({0: -1}) for s in stacks]
    blocks = [s.to_delayed(optimize_graph=False) for s in stacks]
    token = dask.base.tokenize([s.name for s in stacks], counts, first_parity, prefixes)
    meta = np.empty((0, 0, 0), dtype=np.float64)
    k = shape[0]
    out: dict[str, list[list[Any]]] = {}
    frames: dict[str, int] = {}

    def put(name: str, iy: int, ix: int, task: Any, n: int, tile: tuple[int, int]) -> None:
        rows = out.setdefault(name, [])
        if len(rows) <= iy:
            rows.append([])
        piece = da.from_delayed(task, shape=(k, *tile), dtype=np.float64, meta=meta)
        rows[iy].append(piece)
        frames[name] = n

    for iy, ty in enumerate(chunks[1]):
        for ix, tx in enumerate(chunks[2]):
            key = f"stack-tree-{token}-{iy}-{ix}"
            leaves = [b[0, iy, ix] for b in blocks]
            (a, na), (b, nb), pref = _tile_tree(leaves, counts, first_parity % 2, prefixes, key)
            if a is not None:
                put("a", iy, ix, a, na, (ty, tx))
            if b is not None:
                put("b", iy, ix, b, nb, (ty, tx))
            whole = _join((a, na), (b, nb), f"{key}-full")
            put("full", iy, ix, whole[0], whole[1], (ty, tx))
            for j, (n, task) in enumerate(pref):
                put(f"p{j}", iy, ix, task, n, (ty, tx))
    joined = {name: _assemble(rows) for name, rows in out.items()}
    n_pref = sum(1 for name in joined if name.startswith("p"))
    return InterleavedStacks(
        full=joined["full"],
        half_a=joined.get("a"),
        half_b=joined.get("b"),
        counts=(frames["full"], frames.get("a", 0), frames.get("b", 0)),
        prefixes=tuple((frames[f"p{j}"], joined[f"p{j}"]) for j in range(n_pref)),
    )


def _add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x + y


def sum_tree(
    arrays: Sequence[da.Array], *, prefixes: bool = False
) -> tuple[da.Array, tuple[tuple[int, da.Array], ...]]:
    """Sum of arrays of one shape and chunking in one binary tree per chunk (explicit tasks):
    ``(total, ((1, a_0), (2, a_0 + a_1), (4, ...), ...))``.

    ``sum(arrays)`` of dask arrays is a chain of elementwise adds that blockwise fusion turns
    into ONE task per chunk with every array as input: each input then stays in memory until the
    last one is computed (per-bleaching-block stacks piled up linearly in the number of frames).
    Here each input has one consumer (its parent; the first two inputs also the first prefixes)
    and at most ``log2(n)`` partial sums per chunk are alive. The prefixes (``prefixes=True``)
    are the aligned segments ``[0, 2^j)``, fewer than all the inputs.

    Examples
    --------
    >>> parts = [da.full((2, 3), float(i), chunks=(1, 3)) for i in range(5)]
    >>> total, pref = sum_tree(parts, prefixes=True)
    >>> total.compute()[0].tolist(), [(n, float(p[0, 0].compute())) for n, p in pref]
    ([10.0, 10.0, 10.0], [(1, 0.0), (2, 1.0), (4, 6.0)])
    """
    if not arrays:
        raise fail("arrays", "at least one array", shown("none"))
    arrays = [da.asarray(a) for a in arrays]
    shape, chunks, dtype = arrays[0].shape, arrays[0].chunks, arrays[0].dtype
    if any(a.shape != shape or a.chunks != chunks for a in arrays):
        got = sorted({(a.shape, a.chunks) for a in arrays})
        raise fail("arrays", "arrays of one shape and chunking", shown(str(got)))
    blocks = [a.to_delayed(optimize_graph=False).ravel() for a in arrays]
    token = dask.base.tokenize([a.name for a in arrays], prefixes)
    meta = np.empty((0,) * len(shape), dtype=dtype)
    sizes = list(np.ndindex(*(len(c) for c in chunks)))
    totals, pref_pieces = [], []
    for i, index in enumerate(sizes):
        key = f"sum-tree-{token}-{i}"
        level = [b[i] for b in blocks]
        pref = []
        depth = 0
        while len(level) > 1:
            if prefixes:
                pref.append(level[0])
            level = [
                _call(_add, f"{key}-{depth}-{j}", *level[j : j + 2])
                if j + 1 < len(level)
                else level[j]
                for j in range(0, len(level), 2)
            ]
            depth += 1
        tile = tuple(c[k] for c, k in zip(chunks, index, strict=True))
        totals.append(da.from_delayed(level[0], shape=tile, dtype=dtype, meta=meta))
        pref_pieces.append([da.from_delayed(p, shape=tile, dtype=dtype, meta=meta) for p in pref])

    def assemble(pieces: list[da.Array]) -> da.Array:
        grid = np.empty([len(c) for c in chunks], dtype=object)
        for index, piece in zip(sizes, pieces, strict=True):
            grid[index] = piece
        return da.block(grid.tolist())

    total = assemble(totals)
    n_pref = len(pref_pieces[0])
    out = tuple((1 << j, assemble([p[j] for p in pref_pieces])) for j in range(n_pref))
    return total, out
