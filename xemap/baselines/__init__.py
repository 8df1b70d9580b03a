"""SeLo, SeLo v2 and CLIP-SeLo baselines: exact tiling geometry and pluggable scorers.

This package and :mod:`xemap.baselines.selo` import neither torch nor OpenCV; the
torch/transformers parts live in :mod:`xemap.baselines.scorers` (CLIP scorer, text
vectors) and :mod:`xemap.baselines.finetune` (CLIP-SeLo fine-tuning), imported on demand.
"""

from .selo import (
    BoxScorer,
    SeLoBaselineError,
    SeLoScaleWarning,
    StackedMap,
    gaussian_blur,
    gaussian_kernel_q8,
    median_blur,
    selo_boxes,
    selo_map,
    selo_v2_boxes,
    selo_v2_map,
    selo_v2_tiles,
    stack_boxes,
)

__all__ = [
    "BoxScorer",
    "SeLoBaselineError",
    "SeLoScaleWarning",
    "StackedMap",
    "gaussian_blur",
    "gaussian_kernel_q8",
    "median_blur",
    "selo_boxes",
    "selo_map",
    "selo_v2_boxes",
    "selo_v2_map",
    "selo_v2_tiles",
    "stack_boxes",
]
