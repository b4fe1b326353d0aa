"""References to a store's chunks, read by the task that consumes them into a scratch buffer.

A task that reads a 32 MB chunk into a fresh array pays the kernel for zeroing (and faulting
in) 32 MB of new pages, then for unmapping them, on every chunk: as much system time as the
read itself (docs/benchmarks.md, issue 16). When the chunk's consumer is a reduction whose
result does not hold the chunk (a moment stack, a state of central sums), the chunk can live
in this thread's scratch buffer (:mod:`sofi_dask._scratch`) instead, since nothing outlives
the task; but a dask task cannot know whether its result leaves it (fused or not, sent to
another worker or not), so the chunk must not be the task's result.

:func:`chunk_refs_array` is therefore a second lazy movie over the same chunk files whose
blocks are :class:`ChunkRef` objects, not arrays: a few bytes that name the chunk (and any
basic indexing dask applies to the block). The consumer calls :func:`apply_to_block`
(``func(block)`` for an array, the chunk read into scratch for a reference), so the chunk is
read inside the consumer's task, lives only during ``func`` and never leaves it; under
``distributed`` only the references travel. Only reductions may take such blocks: ``func``'s
result must not be, or view, its input (checked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np

__all__ = ["ChunkRef", "apply_to_block", "chunk_refs_array"]


class ChunkRef:
    """The selection ``key`` (inside one chunk) of a store's movie, then ``index`` (basic
    indexing, applied in order), not yet read. ``source`` has ``read_scratch(key)``
    (:class:`sofi_dask.io._integrity.CheckedChunks`)."""

    __slots__ = ("index", "key", "source")

    def __init__(self, source: Any, key: tuple[slice, ...], index: tuple[Any, ...] = ()) -> None:
        self.source = source
        self.key = key
        self.index = index

    def __getitem__(self, index: Any) -> ChunkRef:
        return ChunkRef(self.source, self.key, (*self.index, index))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ChunkRef, (self.source, self.key, self.index))

    def __repr__(self) -> str:
        return f"ChunkRef({self.key!r}{''.join(f'[{i!r}]' for i in self.index)})"

    def apply(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(block, *args, **kwargs)`` with the block read into this thread's scratch
        buffer; raises ``ValueError`` when the result is or views the block."""
        block = self.source.read_scratch(self.key)
        for index in self.index:
            block = block[index]
        result = func(block, *args, **kwargs)
        if any(np.may_share_memory(part, block) for part in _arrays_in(result)):
            raise ValueError(
                f"{getattr(func, '__name__', func)!r} returned (a view of) its input: a "
                "chunk read into a scratch buffer must not leave the task"
            )
        return result


def _arrays_in(result: Any) -> list[np.ndarray]:
    """The numpy arrays in ``result``: itself, or inside its dicts, lists and tuples."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, (list, tuple)):
        return [a for part in result for a in _arrays_in(part)]
    return []


class _Refs:
    """Array-like for ``dask.array.from_array``: indexing gives a :class:`ChunkRef`."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.shape = tuple(source.shape)
        self.dtype = np.dtype(source.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> ChunkRef:
        return ChunkRef(self.source, key if isinstance(key, tuple) else (key,))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Refs, (self.source,))


def chunk_refs_array(source: Any, chunks: tuple[int, ...], name: str) -> da.Array:
    """A lazy movie of ``source``'s shape and dtype whose blocks (``chunks``, the stored
    chunks) are :class:`ChunkRef` objects; only :func:`apply_to_block` consumers take it."""
    return da.from_array(
        _Refs(source),
        chunks=chunks,
        name=name,
        meta=np.empty((0,) * len(source.shape), dtype=source.dtype),
        asarray=False,
        fancy=False,
    )


def apply_to_block(block: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(block, *args, **kwargs)``; a :class:`ChunkRef` block is read into this thread's
    scratch buffer for the call (``func`` must return no view of it).

    Examples
    --------
    >>> apply_to_block(np.arange(4.0), np.sum)
    np.float64(6.0)
    """
    if isinstance(block, ChunkRef):
        return block.apply(func, *args, **kwargs)
    return func(block, *args, **kwargs)
