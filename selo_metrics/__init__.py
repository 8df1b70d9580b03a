"""selo_metrics: exact, fast and safe SeLo metrics for semantic localization maps.

Score a correlation map against polygon ground truth with Rsu, Ras, Rda and Rmi, exactly as
the official SemanticLocalizationMetrics code computes them (``convention="slm"``, the
default) or as the papers print them (``convention="paper"``).

>>> import numpy as np, selo_metrics
>>> g = np.zeros((400, 500), np.uint8); g[150:250, 200:300] = 255
>>> round(selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]).rmi, 4)
0.9989
"""

from . import rrsis
from ._workspace import clear_workspace
from .accumulate import SeLoAccumulator
from .conventions import CONVENTIONS, Convention
from .errors import SeLoInputError
from .geometry import as_polygons, gt_regions
from .io import MapReadError, read_map
from .journal import RunDirError
from .maps import as_map
from .metrics import SeLoResult, attention_centers, evaluate, ras, rda, rmi, rsu
from .plot import plot_result
from .raster import gt_mask
from .runner import load_run, score_samples
from .samples import ManifestError, Sample, load_samples

__version__ = "0.1.0"

__all__ = [
    "CONVENTIONS",
    "Convention",
    "ManifestError",
    "MapReadError",
    "RunDirError",
    "Sample",
    "SeLoAccumulator",
    "SeLoInputError",
    "SeLoResult",
    "__version__",
    "as_map",
    "as_polygons",
    "attention_centers",
    "clear_workspace",
    "evaluate",
    "gt_mask",
    "gt_regions",
    "load_run",
    "load_samples",
    "plot_result",
    "ras",
    "rda",
    "read_map",
    "rmi",
    "rrsis",
    "rsu",
    "score_samples",
]
