"""Old home of `XeMapConfig` and `minilm_dir`; kept as a thin re-export (no torch).

New code imports ``xemap.models.xemap_network.config.XeMapConfig`` (or builds models with
``xemap.models.create_model``) and ``xemap.models.sources.minilm_dir``.
"""

from xemap.models.sources import minilm_dir, resolve_local_dir
from xemap.models.xemap_network.config import (
    IMAGE_ENCODERS,
    LEVEL_LAYOUTS,
    LOSSES,
    POOLINGS,
    TRAINABLE_PARTS,
    XeMapConfig,
)

__all__ = [
    "IMAGE_ENCODERS",
    "LEVEL_LAYOUTS",
    "LOSSES",
    "POOLINGS",
    "TRAINABLE_PARTS",
    "XeMapConfig",
    "minilm_dir",
    "resolve_local_dir",
]
