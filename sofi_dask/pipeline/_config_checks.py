"""Consistency checks of the SOFI methods beyond pysofi (cross-cumulants, bSOFI) in a run's
configuration, called by :class:`~sofi_dask.pipeline.PipelineConfig`'s validator, the
programs a run's outputs need, checked by ``run_pipeline`` before any work, and the settings
given that have no effect (:data:`MOOT_RULES`), which ``run_pipeline`` logs as warnings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from sofi_dask._config_model import check
from sofi_dask._config_toml import toml_value
from sofi_dask.errors import ConfigError

logger = logging.getLogger(__name__)


def check_methods(config: Any) -> None:
    """Raise :class:`~sofi_dask.errors.ConfigError` for settings the methods cannot honour."""
    st = config.statistic
    if st.kind == "xc_cumulants" and (min(st.orders) < 2 or max(st.orders) > 4):
        raise check(
            "statistic.orders",
            f"expected orders in 2..4 for statistic.kind = 'xc_cumulants', got {list(st.orders)}",
        )
    if st.bsofi and (st.kind == "moments" or not {2, 3, 4} <= set(st.orders)):
        raise check(
            "statistic.bsofi",
            "expected false unless statistic.kind is a cumulant and statistic.orders holds "
            f"2, 3 and 4, got True (kind {st.kind!r}, orders {list(st.orders)})",
        )
    if config.video.enabled and st.bsofi:
        raise check("video.enabled", "expected false with statistic.bsofi, got True")


def check_programs(config: Any) -> None:
    """Raise :class:`~sofi_dask.errors.ConfigError` for an output this machine cannot write.

    Called by ``run_pipeline`` before any work (not by the config's validator: a config made
    on one machine may be run on another); the MP4 video needs the ffmpeg program the writer
    runs (:func:`sofi_dask.viz._writers.find_ffmpeg`).
    """
    if config.video.enabled and config.outputs.video_format == "mp4":
        from sofi_dask.viz._writers import find_ffmpeg

        if find_ffmpeg() is None:
            raise ConfigError(
                "outputs.video_format",
                "'mp4' needs the ffmpeg program, which was not found on PATH; install ffmpeg "
                "or set outputs.video_format to 'gif' or 'tiff'",
            )


def _off(section: str) -> Callable[[Any], str | None]:
    def moot(config: Any) -> str | None:
        return None if getattr(config, section).enabled else f"{section}.enabled = false"

    return moot


def _fit_method(config: Any) -> str | None:
    from sofi_dask.pipeline._methods_graph import FIT_METHODS

    method = config.bleaching.method
    if method in FIT_METHODS:
        return f"bleaching.method = {method!r} (the blocks are for 'blocks' and 'correct')"
    return None


def _not_iir(config: Any) -> str | None:
    method = config.bleaching.method
    return None if method == "iir" else f"bleaching.method = {method!r}"


def _psf_file(config: Any) -> str | None:
    psf = config.deconvolution.psf
    return "deconvolution.psf.kind = 'file' (the PSF is the file's)" if psf.kind == "file" else None


def _synchronous(config: Any) -> str | None:
    c = config.compute
    if c.scheduler == "synchronous" and c.scheduler_file is None:
        return "compute.scheduler = 'synchronous' (the graph runs on one thread)"
    return None


def _scheduler_file(config: Any) -> str | None:
    path = config.compute.scheduler_file
    if path is not None:
        return f"compute.scheduler_file = {str(path)!r} (the run joins that cluster)"
    return None


#: The settings that have no effect, as (keys, condition): ``keys`` names settings (a section
#: ``"name.*"`` names every setting of it but ``name.enabled``); ``condition(config)`` gives the
#: reason they are moot in that config, or None. The first rule that applies to a key wins.
MOOT_RULES: tuple[tuple[tuple[str, ...], Callable[[Any], str | None]], ...] = (
    (("drift.*",), _off("drift")),
    (("bleaching.*",), _off("bleaching")),
    (("bleaching.iir_cutoff",), _not_iir),
    (("bleaching.fbc", "bleaching.smooth_kernel", "bleaching.min_block_frames"), _fit_method),
    (("finterp.*",), _off("finterp")),
    (("video.*",), _off("video")),
    (("noise_filter_1.*",), _off("noise_filter_1")),
    (("deconvolution.*",), _off("deconvolution")),
    (("deconvolution.psf.sigma_px", "deconvolution.psf.size"), _psf_file),
    (("noise_filter_2.*",), _off("noise_filter_2")),
    (("ldrc.*",), _off("ldrc")),
    (("quality.*",), _off("quality")),
    (
        (
            "compute.scheduler",
            "compute.n_workers",
            "compute.threads_per_worker",
            "compute.memory_limit",
            "compute.cluster_options",
            "compute.worker_timeout",
        ),
        _scheduler_file,
    ),
    (("compute.n_workers",), _synchronous),
)


def _explicit(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The settings given explicitly (pydantic's ``model_fields_set``, section by section)."""
    for name in type(model).model_fields:
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if hasattr(type(value), "model_fields_set"):
            yield from _explicit(value, f"{key}.")
        else:
            yield key, value


def _matches(pattern: str, key: str) -> bool:
    if pattern.endswith(".*"):
        section = pattern[:-1]
        return key.startswith(section) and key != f"{section}enabled"
    return key == pattern


def _show(value: Any) -> str:
    """A setting's value as a config file writes it (TOML; ``null`` for None)."""
    if value is None:
        return "null"
    try:
        return toml_value(value)
    except TypeError:  # a path
        return toml_value(str(value))


def moot_settings(config: Any) -> list[tuple[str, Any, str]]:
    """``(key, value, reason)`` of each setting given (not left at its default) that has no
    effect in ``config``: its stage is off or another setting overrides it (:data:`MOOT_RULES`).

    Examples
    --------
    >>> from sofi_dask.pipeline._config_models import PipelineConfig
    >>> moot_settings(PipelineConfig.from_dict({"ldrc": {"enabled": False, "window_size": 9}}))
    [('ldrc.window_size', (9, 9), 'ldrc.enabled = false')]
    >>> moot_settings(PipelineConfig.from_dict({"ldrc": {"window_size": 9}}))
    []
    """
    found = []
    for key, value in _explicit(config):
        for patterns, condition in MOOT_RULES:
            reason = condition(config) if any(_matches(p, key) for p in patterns) else None
            if reason is not None:
                found.append((key, value, reason))
                break
    return found


def warn_moot_settings(config: Any) -> None:
    """Log one warning per setting given that has no effect (:func:`moot_settings`)."""
    for key, value, reason in moot_settings(config):
        logger.warning("%s = %s has no effect: %s", key, _show(value), reason)
