"""Wall-clock phase timings and per-stage task time of a pipeline run.

The pipeline computes one graph, so a stage has no wall time of its own; instead each task's
duration is attributed to the stage that created its graph layer (``StageGraph.stage_of_layer``)
and summed. Locally the durations come from a dask scheduler callback, under ``distributed``
from the scheduler's task stream.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from dask.callbacks import Callback


def key_name(key: Any) -> str:
    """Layer name of a task key: ``("moments-abc", 0, 1) -> "moments-abc"``."""
    while isinstance(key, tuple) and key:
        key = key[0]
    return str(key)


class StageTimes:
    """Accumulate task seconds per stage from task keys."""

    def __init__(self, stage_of_layer: Mapping[str, str]) -> None:
        self.stage_of_layer = dict(stage_of_layer)
        self.seconds: dict[str, float] = defaultdict(float)
        self.tasks: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def stage(self, key: Any) -> str:
        name = key_name(key)
        stage = self.stage_of_layer.get(name)
        if stage is None:
            # fused or renamed layers keep the name of one of their parts as a suffix/prefix
            for layer, st in self.stage_of_layer.items():
                if layer in name:
                    stage = st
                    break
        if stage is not None:
            return stage
        # da.store's tasks write the results; any other task the optimiser made from parts of
        # several layers under a new name is not guessed at
        return "write" if name.startswith("store") else "unattributed"

    def add(self, key: Any, seconds: float) -> None:
        stage = self.stage(key)
        with self._lock:
            self.seconds[stage] += seconds
            self.tasks[stage] += 1

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            st: {"task_seconds": round(self.seconds[st], 4), "tasks": self.tasks[st]}
            for st in sorted(self.seconds, key=lambda s: -self.seconds[s])
        }


class _LocalTaskTimer(Callback):
    def __init__(self, times: StageTimes) -> None:
        super().__init__()
        self.times = times
        self.starts: dict[Any, float] = {}

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        self.starts[key] = time.perf_counter()

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        start = self.starts.pop(key, None)
        if start is not None:
            self.times.add(key, time.perf_counter() - start)


@contextlib.contextmanager
def task_timer(times: StageTimes, client: Any = None) -> Iterator[None]:
    """Record task durations into ``times`` during the block (local or distributed)."""
    if client is None:
        with _LocalTaskTimer(times):
            yield
        return
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        yield
    for item in stream.data:
        for ss in item.get("startstops", ()):
            if ss.get("action") == "compute":
                times.add(item.get("key"), float(ss["stop"] - ss["start"]))


class PhaseTimer:
    """Wall-clock seconds of named phases (``with timer("ingest"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(
                self.seconds.get(phase, 0.0) + time.perf_counter() - start, 4
            )


def process_age() -> float:
    """Seconds since this process started: the interpreter, imports and set-up before a call.

    Read from the kernel's process start time (``/proc``, 10 ms ticks) where there is one,
    else from :mod:`psutil`; a command line reports it as its start-up time.

    Examples
    --------
    >>> 0.0 < process_age() < 1e6
    True
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            # fields after the parenthesised command name start at field 3; starttime is 22
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc (macOS, Windows)
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
