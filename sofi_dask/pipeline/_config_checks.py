"""Consistency checks of the SOFI methods beyond pysofi (cross-cumulants, bSOFI) in a run's
configuration, called by :class:`~sofi_dask.pipeline.PipelineConfig`'s validator."""

from __future__ import annotations

from typing import Any

from sofi_dask._config_model import check


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
