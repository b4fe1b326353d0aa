"""The ``compute`` section of the run configuration (frozen pydantic model; re-exported by
:mod:`sofi_dask.pipeline._config_models`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, model_validator

from sofi_dask._config_model import Bool, ConfigModel, FilePath, Float, Int, Text, check, setting
from sofi_dask._schedulers import SCHEDULERS_WORDS, parse_scheduler, unused_by_local

__all__ = ["ComputeConfig"]


def _memory(value: str) -> str:
    from dask.utils import parse_bytes

    if value != "auto" and parse_bytes(value) <= 0:
        raise ValueError("not a size")
    return value


def _scalars(value: Any) -> Any:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        raise ValueError("not a table of scalars")
    return dict(value)


class ComputeConfig(ConfigModel):
    """Where and how the graph runs."""

    scheduler: Annotated[str, BeforeValidator(parse_scheduler)] = setting(
        "threads", "local scheduler, cluster kind or scheduler address", expected=SCHEDULERS_WORDS
    )
    scheduler_file: FilePath | None = setting(None, "dask scheduler file to connect to instead")
    worker_timeout: Float = setting(300.0, "slurm/pbs: seconds to wait for a first worker", gt=0)
    n_workers: Int | None = setting(
        None,
        "workers; threads (threads) or processes (processes) of a local scheduler (default: the "
        "CPUs)",
        ge=1,
    )
    threads_per_worker: Int | None = setting(
        None, "threads per worker (local, slurm, pbs; default: auto)", ge=1
    )
    memory_limit: Annotated[Text, AfterValidator(_memory)] | None = setting(
        None,
        "memory per worker (local, slurm, pbs)",
        expected="a size such as '4GiB' or 'auto', or null",
    )
    performance_report: FilePath | None = setting(
        None,
        "write a dask performance report here (needs a distributed scheduler: local, slurm, pbs "
        "or an address; the command line runs threads/synchronous/processes as local)",
    )
    progress: Bool = setting(True, "show progress bars")
    cluster_options: Annotated[dict[str, Any], BeforeValidator(_scalars)] = setting(
        {},
        "extra dask-jobqueue options for slurm/pbs (queue, walltime, account, ...)",
        expected="a table of names to strings, numbers or booleans",
    )

    @model_validator(mode="after")
    def _applies(self) -> ComputeConfig:
        """Options that only a cluster takes are refused for dask's local schedulers (one
        check with :func:`sofi_dask.cluster.make_client`): they would be ignored."""
        if self.scheduler_file is None:
            names = ("threads_per_worker", "memory_limit", "cluster_options")
            unused = unused_by_local(self.scheduler, {n: getattr(self, n) for n in names})
            if unused is not None:
                name, expected, value = unused
                raise check(name, f"expected {expected}, got {value!r}")
        return self
