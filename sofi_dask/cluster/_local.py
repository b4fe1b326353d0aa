"""dask's local schedulers (threads, processes, synchronous), selected through dask's config."""

from __future__ import annotations

from typing import Any

import dask

from sofi_dask._schedulers import LOCAL_SCHEDULERS
from sofi_dask._validation import fail

__all__ = ["LocalScheduler"]


class LocalScheduler:
    """dask's local scheduler (threads, processes or synchronous), set in dask's config.

    Made by :func:`~sofi_dask.cluster.make_client` for the local schedulers. Like a
    ``distributed.Client``, it
    becomes the default scheduler as soon as it is made; :meth:`close` (or leaving a ``with``
    block) restores the previous configuration. The ``processes`` scheduler starts its
    workers with ``spawn``.

    Attributes
    ----------
    scheduler : str
        ``"threads"``, ``"processes"`` or ``"synchronous"``.
    num_workers : int or None
        Threads or processes (None: dask's default, the CPU count).
    """

    def __init__(self, scheduler: str, num_workers: int | None = None) -> None:
        if scheduler not in LOCAL_SCHEDULERS:
            raise fail("scheduler", f"one of {LOCAL_SCHEDULERS}", scheduler)
        self.scheduler = scheduler
        self.num_workers = num_workers
        settings: dict[str, Any] = {"scheduler": scheduler}
        if num_workers is not None:
            settings["num_workers"] = num_workers
        if scheduler == "processes":
            settings["multiprocessing.context"] = "spawn"
        self._settings = settings
        self._config: Any = dask.config.set(settings)

    @property
    def compute_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``dask.compute`` selecting this scheduler explicitly."""
        out: dict[str, Any] = {"scheduler": self.scheduler}
        if self.num_workers is not None:
            out["num_workers"] = self.num_workers
        return out

    @property
    def dashboard_link(self) -> None:
        """Local schedulers have no dashboard."""
        return None

    def close(self) -> None:
        """Restore the dask configuration that was in force before (idempotent)."""
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None

    def __enter__(self) -> LocalScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        workers = "" if self.num_workers is None else f", num_workers={self.num_workers}"
        return f"LocalScheduler({self.scheduler!r}{workers})"
