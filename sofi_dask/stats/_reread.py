"""A second read of a lazy movie that starts only once another result is done.

A two-pass method (the bleaching correction: statistics of every block first, then each frame
corrected) must read the movie twice rather than hold every chunk between its passes.
``dask.graph_manipulation.bind`` is the tool for it, but its layer cloning leaves the task-spec
nodes of a materialised layer untouched (``Layer.clone`` substitutes only legacy tuples): after
a slice such as ``movie[a:b]`` (a layer of ``Alias``/``Task`` nodes), the "clone" still points
at the first pass's chunk reads, so every chunk stayed in memory between the passes (1.7 GB
for 10000 frames of 256 x 256, measured; dask 2026.8). :func:`reread_after` clones the graph
node by node with the task-spec API instead: every key renamed, every reference substituted,
every leaf waiting for the other result.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
from dask.base import clone_key, tokenize
from dask.core import flatten, istask
from dask.graph_manipulation import checkpoint
from dask.highlevelgraph import HighLevelGraph
from dask.optimization import cull
from dask.task_spec import DataNode, GraphNode, Task, TaskRef

__all__ = ["reread_after"]


def _first(value: Any, _after: Any) -> Any:
    return value


def _is_key_of(value: Any, graph: dict[Any, Any]) -> bool:
    try:
        return value in graph  # a legacy alias: the value is another task's key
    except TypeError:  # unhashable (an array)
        return False


def _task_spec_graph(graph: dict[Any, Any]) -> dict[Any, GraphNode]:
    """``graph`` with every value a task-spec node: plain values (a chunk source such as the
    store's checked array) become data nodes; legacy tuple tasks and aliases, which dask's
    own arrays no longer make, go through dask's converter."""
    # dask's istask is true of task-spec Task nodes too: only the other values can be legacy
    legacy = (v for v in graph.values() if not isinstance(v, GraphNode))
    if any(istask(v) or _is_key_of(v, graph) for v in legacy):
        from dask._task_spec import convert_legacy_graph  # only for legacy graphs

        return convert_legacy_graph(graph)
    return {k: v if isinstance(v, GraphNode) else DataNode(k, v) for k, v in graph.items()}


def reread_after(x: da.Array, after: Any) -> da.Array:
    """``x`` computed again under new keys (its whole graph cloned), once ``after`` is done.

    Parameters
    ----------
    x : dask.array.Array
        The lazy array to read again (typically the movie, or a slice of it).
    after : dask collection
        Nothing of the clone starts before every key of ``after`` is computed.

    Returns
    -------
    dask.array.Array
        Same shape, chunks, dtype and values as ``x``; its own layer has no key of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> x = da.arange(10, chunks=4)[1:9]
    >>> y = reread_after(x, x.sum())
    >>> own = y.dask.layers[y.name]  # the clone: none of x's keys, x's slice and chunks again
    >>> set(own) & set(dict(x.dask)), len(own), y.compute().tolist()
    (set(), 6, [1, 2, 3, 4, 5, 6, 7, 8])
    """
    blocker = checkpoint(after)
    keys = list(flatten(x.__dask_keys__()))
    graph = _task_spec_graph(cull(dict(x.__dask_graph__()), keys)[0])
    seed = tokenize(x.name, blocker.key)
    subs = {k: clone_key(k, seed) for k in graph}
    wait = TaskRef(blocker.key)
    clone: dict[Any, GraphNode] = {}
    for key, node in graph.items():
        new = subs[key]
        if node.dependencies:
            clone[new] = node.substitute(subs, key=new)
        else:  # a leaf (a chunk read's array, a constant): it waits for ``after``
            clone[new] = Task(new, _first, node.substitute({}, key=None), wait)
    name = clone_key(x.name, seed)
    hlg = HighLevelGraph.from_collections(name, clone, dependencies=[blocker])
    return da.Array(hlg, name, chunks=x.chunks, dtype=x.dtype, meta=x._meta)
