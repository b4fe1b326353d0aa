"""Progress display for the CLI and notebooks (the library itself never prints).

``progress`` computes dask collections (or waits for futures) while showing progress: dask's
``ProgressBar`` on the local schedulers, ``distributed.progress`` with a client (a text bar
in a terminal, a widget in Jupyter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["progress", "progress_context"]


def _is_client(obj: Any) -> bool:
    from distributed import Client  # imported on use: the CLI starts without distributed

    return isinstance(obj, Client)


def _have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _is_future(obj: Any) -> bool:
    from distributed import Future

    return isinstance(obj, Future)


def _default_distributed_client() -> Any:
    """The client ``dask.compute`` would use now (a default client not overridden), or None."""
    import dask.base

    getter = dask.base.get_scheduler()
    owner = getattr(getter, "__self__", None)
    return owner if _is_client(owner) else None


@contextlib.contextmanager
def progress_context(client: Any = None, *, minimum: float = 0.5) -> Iterator[None]:
    """Show dask's ``ProgressBar`` around local computations (nothing with a client).

    Shows nothing either when a default ``distributed`` client would run the computations.

    With a ``distributed`` client, use :func:`progress` (or the dashboard) instead: its
    computations do not go through local callbacks.

    Parameters
    ----------
    client : distributed.Client, optional
        The client computations go to, if any.
    minimum : float
        Seconds before the bar appears (short computations show nothing).

    Examples
    --------
    >>> import dask.array as da
    >>> with progress_context():  # doctest: +SKIP
    ...     da.ones(10).sum().compute()
    """
    if (client is not None and _is_client(client)) or _default_distributed_client() is not None:
        yield
        return
    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=minimum, dt=0.2):
        yield


def progress(*items: Any, client: Any = None, minimum: float = 0.5) -> Any:
    """Compute dask collections (or wait for futures) with a progress bar; return results.

    Parameters
    ----------
    *items
        Dask collections (arrays, delayed, ...) or ``distributed`` futures (or one list
        of them).
    client : distributed.Client or LocalScheduler, optional
        Compute on this client (``distributed.progress`` bar). ``None``: wherever
        ``dask.compute`` would run now (a default ``distributed`` client if one is active,
        else dask's local scheduler under ``dask.diagnostics.ProgressBar``). Futures use their
        own client.
    minimum : float
        Local schedulers: seconds before the bar appears.

    Returns
    -------
    object or tuple
        The computed value of a single item, else a tuple of values.

    Examples
    --------
    >>> import dask.array as da
    >>> progress(da.ones((100, 100), chunks=10).sum())  # doctest: +SKIP
    [########################################] | 100% Completed | 0.1s
    np.float64(10000.0)
    """
    import dask

    single = len(items) == 1 and not isinstance(items[0], list | tuple)
    if len(items) == 1 and isinstance(items[0], list | tuple):
        items = tuple(items[0])
    if not items:
        return ()
    if client is None:
        client = _default_distributed_client()
    futures = [x for x in items if _is_future(x)]
    if futures and len(futures) != len(items):
        raise ValueError("parameter 'items': expected all futures or all dask collections")
    if futures or (client is not None and _is_client(client)):
        from distributed import progress as distributed_progress

        if not futures:
            futures = client.compute(list(items))
            owner = client
        else:
            owner = futures[0].client
        # the widget bar needs ipywidgets (the ``notebook`` extra); without it, the text bar
        notebook = None if _have_ipywidgets() else False
        distributed_progress(futures, notebook=notebook)
        values = owner.gather(futures)
        return values[0] if single else tuple(values)
    with progress_context(None, minimum=minimum):
        values = dask.compute(*items)
    return values[0] if single else tuple(values)
