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

__all__ = [
    "BleachingFit",
    "exp_bleaching_correction",
    "fit_bleaching",
    "iir_bleaching_correction",
    "BSofi",
    "DriftResult",
    "XCCumulants",
    "average_image",
    "bleaching_blocks",
    "block_average",
    "bsofi",
    "block_cumulants",
    "block_moments",
    "central_moments",
    "correct_bleaching",
    "correct_drift",
    "cross_cumulant_image",
    "cumulant_stack",
    "cumulants",
    "cumulants_from_moments",
    "cumulants_with_lag",
    "cut_frames",
    "estimate_drift",
    "lag_subsets",
    "linearise",
    "med_smooth",
    "merge_moment_stacks",
    "merge_short_blocks",
    "minimum_image",
    "moment_stack",
    "moment_stacks",
    "moments_with_lag",
    "sofi_video",
    "sorted_k_partitions",
    "total_signal",
    "video_windows",
    "xc_combinations",
    "xc_cumulants",
    "xc_offsets",
    "xc_video",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
