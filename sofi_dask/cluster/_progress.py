"""Progress display for the CLI and notebooks (the library itself never prints).

``progress`` computes dask collections (or waits for futures) while showing progress: dask's
``ProgressBar`` on the local schedulers, ``distributed.progress`` with a client (a text bar
in a terminal, a widget in Jupyter). :class:`LineProgress` writes whole lines instead, for
batch-job logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["LineProgress", "progress", "progress_context"]


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


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class LineProgress:
    """Progress for batch-job logs: whole lines, at most one per tenth of the work or per
    ``interval`` seconds, each with the elapsed time and an ETA; never a ``\\r``.

    Used by the CLI when its output is not a terminal (a SLURM ``--output`` file). Pass it as
    ``progress=`` to :func:`sofi_dask.pipeline.run_pipeline`: on the local schedulers
    :meth:`local` is a dask callback around the computation, with a ``distributed`` client
    calling it with the futures waits for them, reading progress from the scheduler.

    Parameters
    ----------
    label : str
        Start of every line (the phase).
    stream : file-like, optional
        Where lines go (default ``sys.stderr``).
    interval : float
        Seconds after which a line is written even if no tenth was passed.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = LineProgress("compute", stream=out)
    >>> for done in range(0, 101, 5):
    ...     p.update(done, 100)
    >>> len(out.getvalue().splitlines()), "\\r" in out.getvalue()
    (11, False)
    >>> lines = out.getvalue().splitlines()
    >>> all("elapsed" in line for line in lines), all("ETA" in line for line in lines[1:-1])
    (True, True)
    """

    def __init__(self, label: str = "compute", stream: Any = None, interval: float = 30.0):
        import sys
        import time

        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = float(interval)
        self._now = time.monotonic
        self._start = self._now()
        self._last_time = -float("inf")
        self._last_tenth = -1
        self._finished = False

    def update(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units; writes a line only when one is due."""
        if self._finished:
            return
        now = self._now()
        tenth = 10 if total <= 0 else int(10 * done / total)
        if tenth <= self._last_tenth and now - self._last_time < self.interval:
            return
        self._last_tenth, self._last_time = max(tenth, self._last_tenth), now
        elapsed = now - self._start
        frac = 1.0 if total <= 0 else done / total
        eta = elapsed * (1 - frac) / frac if 0 < frac < 1 else None
        tail = f", ETA {_clock(eta)}" if eta is not None else ""
        self.stream.write(
            f"{self.label}: {100 * frac:3.0f}% ({done}/{total} tasks), "
            f"elapsed {_clock(elapsed)}{tail}\n"
        )
        self.stream.flush()
        if total > 0 and done >= total:
            self._finished = True

    @contextlib.contextmanager
    def local(self) -> Iterator[None]:
        """Report the dask computations run inside this block (local schedulers)."""
        from dask.callbacks import Callback

        reporter = self

        class _Lines(Callback):
            def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, id: Any) -> None:
                done = len(state["finished"])
                todo = sum(len(state[k]) for k in ("ready", "waiting", "running"))
                reporter.update(done, done + todo)

        reporter._start = self._now()
        with _Lines():
            yield

    def __call__(self, futures: Any) -> None:
        """Wait for ``futures`` of a ``distributed`` client, reporting all their tasks."""
        from distributed.diagnostics.progressbar import TextProgressBar

        reporter = self
        reporter._start = self._now()

        class _Bar(TextProgressBar):  # distributed's scheduler feed, drawn as lines
            def _draw_bar(self, remaining: int, all: int, **kwargs: Any) -> None:  # noqa: A002
                reporter.update(all - remaining, all)

            def _draw_stop(self, **kwargs: Any) -> None:
                pass

        _Bar(list(futures), interval="1s")
