"""XeMap data: MCMG targets, manifests and datasets, the synthetic referring task.

``import xemap.data`` does not import torch: the torch dataset imports it when used.

>>> import numpy as np
>>> from xemap.data import mcmg_target
>>> m = np.zeros((16, 16), bool); m[4:8, 4:8] = True
>>> t = mcmg_target(m)
>>> t.dtype, int(t.max()), int(t[6, 6]) > int(t[14, 14])
(dtype('uint8'), 255, True)
"""

from .datasets import (
    Collator,
    ManifestError,
    ReferringDataset,
    XeMapDataset,
    load_image,
    make_mask,
    make_target,
    read_anno,
    read_manifest,
    write_manifest,
)
from .mcmg import DEFAULT_GRID_SIZES, MCMGInputError, mcmg_target, rasterize
from .synthetic import KINDS, Query, Scene, Shape, make_scene, make_scenes, resolve, write_task

__all__ = [
    "DEFAULT_GRID_SIZES",
    "KINDS",
    "Collator",
    "MCMGInputError",
    "ManifestError",
    "Query",
    "ReferringDataset",
    "Scene",
    "Shape",
    "XeMapDataset",
    "load_image",
    "make_mask",
    "make_scene",
    "make_scenes",
    "make_target",
    "mcmg_target",
    "rasterize",
    "read_anno",
    "read_manifest",
    "resolve",
    "write_manifest",
    "write_task",
]
