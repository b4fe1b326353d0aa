"""Per-pixel temporal statistics, one pass over the movie: moments, cumulants, correlations,
bleaching blocks and SOFI video. Graph builders here; numba/numpy kernels in private modules."""

from __future__ import annotations

from sofi_dask._lazy import lazy_exports

# public name -> its module, imported on first use (sofi_dask._lazy)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_bleaching": (
        "bleaching_blocks",
        "block_average",
        "block_cumulants",
        "block_moments",
        "correct_bleaching",
        "cut_frames",
        "med_smooth",
        "merge_short_blocks",
    ),
    "_bleaching_fit": (
        "BleachingFit",
        "exp_bleaching_correction",
        "fit_bleaching",
        "iir_bleaching_correction",
    ),
    "_bsofi": (
        "BSofi",
        "bsofi",
        "linearise",
    ),
    "_correlations": (
        "cross_cumulant_image",
        "cumulants_with_lag",
        "lag_subsets",
        "moments_with_lag",
        "sorted_k_partitions",
        "xc_offsets",
    ),
    "_cumulants": (
        "cumulant_stack",
        "cumulants",
        "cumulants_from_moments",
    ),
    "_drift": (
        "DriftResult",
        "correct_drift",
        "estimate_drift",
    ),
    "_moments": (
        "average_image",
        "central_moments",
        "merge_moment_stacks",
        "minimum_image",
        "moment_stack",
        "moment_stacks",
        "total_signal",
    ),
    "_video": (
        "sofi_video",
        "video_windows",
    ),
    "_xc_sofi": (
        "XCCumulants",
        "xc_combinations",
        "xc_cumulants",
        "xc_video",
    ),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
