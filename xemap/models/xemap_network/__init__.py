"""XeMap-Network, the ``"xemap"`` family: text encoder + image encoder + fusion + HMSA head.

One block a module (torch and transformers are imported by the submodules, not here):

* ``config``: `XeMapConfig` (no torch); ``presets``: the tiny / demo / paper field sets and
  the Grounding DINO config reader;
* ``encoders``: ``TextEncoder`` (BERT), ``ImageEncoder`` (Swin or timm);
* ``fusion``: ``FusionEncoder`` (Grounding DINO feature-enhancer layers);
* ``hmsa``: ``hmsa_map``, ``HMSAHead``; ``loss``: ``map_loss`` (L1 / balanced L1);
* ``network``: `XeMapNetwork`, a `xemap.models.base.ReferringModel`;
* ``checkpoints``: Grounding DINO weight loading and key mapping.

``from xemap.models.xemap_network import XeMapConfig, XeMapNetwork`` imports torch only for
the network.
"""

from __future__ import annotations

from typing import Any

__all__ = ["XeMapConfig", "XeMapNetwork"]


def __getattr__(name: str) -> Any:
    if name == "XeMapConfig":
        from .config import XeMapConfig

        return XeMapConfig
    if name == "XeMapNetwork":
        from .network import XeMapNetwork

        return XeMapNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
