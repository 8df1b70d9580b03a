"""The RRSIS data sets as manifests: RRSIS-D, RefSegRS and RISBench (no torch).

>>> from xemap.data.rrsis import load_rrsisd, load_refsegrs, load_risbench
>>> from xemap.data.rrsis import write_rrsis_manifests

Each loader returns manifest rows (``id``, ``image``, ``query``, ``polygons`` or ``mask``,
and provenance keys); :func:`write_rrsis_manifests` writes them for ``xemap train`` /
``xemap predict`` and for ``selo-metrics score``. From the command line::

    python -m xemap.data.rrsis rrsisd ROOT --split test --out DIR
    python -m xemap.data.rrsis refsegrs ROOT --split test --out DIR
    python -m xemap.data.rrsis risbench ROOT --split test --out DIR

See ``docs/rrsis.md`` for the layouts and the rules (GT, overlaps, image sizes).
"""

from .coco import coco_polygon_mask, rle_counts, rle_mask, segmentation_mask
from .common import SIZE_RULES, DatasetError, fit_image
from .folders import load_refsegrs, load_risbench
from .manifest import score_rows, write_rrsis_manifests
from .rrsisd import GT_MODES, find_rrsisd_files, load_rrsisd
from .safe_pickle import UnsafePickleError, load_plain_pickle

__all__ = [
    "GT_MODES",
    "SIZE_RULES",
    "DatasetError",
    "UnsafePickleError",
    "coco_polygon_mask",
    "find_rrsisd_files",
    "fit_image",
    "load_plain_pickle",
    "load_refsegrs",
    "load_risbench",
    "load_rrsisd",
    "rle_counts",
    "rle_mask",
    "score_rows",
    "segmentation_mask",
    "write_rrsis_manifests",
]
