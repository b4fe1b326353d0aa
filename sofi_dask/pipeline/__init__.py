"""The end-to-end run: configuration, one lazy graph, outputs and run record."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports
from sofi_dask.errors import ConfigError

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_config": (
        "PipelineConfig",
        "apply_overrides",
        "default_config_toml",
        "load_config",
    ),
    "_run": (
        "PipelineResult",
        "run_pipeline",
    ),
}

__all__ = ["ConfigError", *sorted(name for names in _EXPORTS.values() for name in names)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
