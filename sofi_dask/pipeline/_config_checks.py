"""Consistency checks of the SOFI methods beyond pysofi (cross-cumulants, bSOFI) in a run's
configuration, called by :class:`~sofi_dask.pipeline.PipelineConfig`'s validator, and the
programs a run's outputs need, checked by ``run_pipeline`` before any work."""

from __future__ import annotations

from typing import Any

from sofi_dask._config_model import check
from sofi_dask.errors import ConfigError


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
