"""Where graphs run: threads, processes, a local cluster, a running scheduler, SLURM/PBS."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_client": (
        "LOCAL_SCHEDULERS",
        "SCHEDULERS",
        "ClusterClient",
        "LocalScheduler",
        "dashboard_link",
        "make_client",
        "make_jobqueue_cluster",
        "parse_scheduler",
        "progress",
        "progress_context",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
