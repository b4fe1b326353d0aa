"""The end-to-end run: configuration, one lazy graph, outputs and run record."""

from __future__ import annotations

from sofi_dask.errors import ConfigError
from sofi_dask.pipeline._config import (
    PipelineConfig,
    apply_overrides,
    default_config_toml,
    load_config,
)
from sofi_dask.pipeline._run import (
    PipelineResult,
    run_pipeline,
)

__all__ = [
    "ConfigError",
    "PipelineConfig",
    "PipelineResult",
    "apply_overrides",
    "default_config_toml",
    "load_config",
    "run_pipeline",
]
