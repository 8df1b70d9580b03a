"""XeMap-Network: text encoder + image encoder + fusion layers + HMSA head.

`XeMapNetwork` is the ``"xemap"`` family of `xemap.models.base.ReferringModel`: tokenising,
preprocessing, trainable parts, save / load come from the base class; this module adds the
blocks, `XeMapNetwork.encode` (fused text tokens and per-level image maps), the forward to
the HMSA map and the loss (``config.loss`` against the MCMG target, L1 as in the paper)::

    from xemap.models import create_model
    model = create_model("xemap", "tiny")     # or XeMapNetwork(XeMapConfig.tiny())
    maps = model(model.preprocess(images), **model.tokenize(queries))   # (B, S, S) in [0, 1]

Parts: "text" = ``text_encoder`` (BERT), "image" = ``image_encoder`` (Swin), "fusion" =
``fusion`` (text projection, level projections, level embeddings, fusion layers), "head" =
``head`` (HMSA, no parameters). Parts that are not trainable are kept in eval mode by
``train()`` (no dropout in frozen encoders).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xemap.models.base import ReferringModel
from xemap.models.xemap_network.config import XeMapConfig
from xemap.models.xemap_network.encoders import ImageEncoder
from xemap.models.xemap_network.fusion import FusionEncoder
from xemap.models.xemap_network.hmsa import HMSAHead
from xemap.models.xemap_network.loss import map_loss

__all__ = ["XeMapFeatures", "XeMapNetwork"]

_PART_MODULES = {
    "text": "text_encoder",
    "image": "image_encoder",
    "fusion": "fusion",
    "head": "head",
}


@dataclass
class XeMapFeatures:
    """Outputs of `XeMapNetwork.encode`.

    Attributes
    ----------
    text_tokens : torch.Tensor
        ``(B, S, d_model)`` fused text tokens.
    levels : list of torch.Tensor
        ``(B, d_model, h_l, w_l)`` fused image maps, finest first.
    """

    text_tokens: torch.Tensor
    levels: list[torch.Tensor]


class XeMapNetwork(ReferringModel):
    """The XeMap-Network: a text query and an image to a semantic-localization map.

    Parameters
    ----------
    config : XeMapConfig
    load_pretrained : bool
        Load the weights named in ``config`` (text encoder directory, Swin directory, Grounding
        DINO checkpoint). `from_pretrained` passes False and loads its own weights.
    tokenizer : str or None
        Tokenizer directory overriding ``config.tokenizer`` (used by `from_pretrained`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = XeMapNetwork(XeMapConfig.tiny()).eval()
    >>> batch = model.tokenize(["the pond", "a red roof next to the road"])
    >>> with torch.no_grad():
    ...     maps = model(torch.randn(2, 3, 64, 64), **batch)
    >>> maps.shape, maps.dtype, bool(((maps >= 0) & (maps <= 1)).all())
    (torch.Size([2, 64, 64]), torch.float32, True)
    """

    family = "xemap"
    config_class = XeMapConfig
    supervision = "mcmg"
    part_modules = _PART_MODULES

    def __init__(
        self,
        config: XeMapConfig,
        *,
        load_pretrained: bool = True,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, XeMapConfig):
            raise ValueError(f"config must be an XeMapConfig, got {type(config).__name__}")
        config = XeMapConfig.from_dict(config.to_dict())  # a private, validated copy
        self.config = config
        self._build_text(load_pretrained, tokenizer)
        self.image_encoder = ImageEncoder(config, load_pretrained=load_pretrained)
        self.fusion = FusionEncoder(
            config,
            text_hidden_size=self.text_encoder.hidden_size,
            image_channels=self.image_encoder.channels,
        )
        self.head = HMSAHead(config.pooling)
        self.load_report = None
        if load_pretrained and config.grounding_dino is not None:
            from xemap.models.xemap_network.checkpoints import load_grounding_dino

            self.load_report = load_grounding_dino(self, config.grounding_dino)
        self.set_trainable(config.trainable)

    # ------------------------------------------------------------------ forward
    def set_trainable(self, parts: Sequence[str]) -> None:
        """`ReferringModel.set_trainable`, keeping the fusion's text side frozen when
        ``config.fusion_text_trainable`` is False (`FusionEncoder.text_side_parameters`).

        Examples
        --------
        >>> model = XeMapNetwork(XeMapConfig.tiny(fusion_text_trainable=False))
        >>> model.set_trainable(["fusion"])
        >>> any(p.requires_grad for p in model.fusion.text_side_parameters())
        False
        >>> model.parameter_counts(trainable_only=True)["fusion"] > 0
        True
        """
        super().set_trainable(parts)
        if not self.config.fusion_text_trainable:
            for p in self.fusion.text_side_parameters():
                p.requires_grad_(False)

    def encode(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> XeMapFeatures:
        """Fused text tokens and per-level image maps (the HMSA head's inputs)."""
        attention_mask = self.check_inputs(pixel_values, input_ids, attention_mask)
        text = self.text_encoder(input_ids, attention_mask, token_type_ids)
        image = self.image_encoder(pixel_values)
        levels, text_tokens = self.fusion(image, text, attention_mask)
        return XeMapFeatures(text_tokens=text_tokens, levels=levels)

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The HMSA map ``(B, H, W)`` float32 in [0, 1] at the input size.

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(B, 3, H, W)`` float, normalised with ``config.image_mean`` / ``image_std``.
        input_ids : torch.Tensor
            ``(B, S)`` token ids (`tokenize`).
        attention_mask : torch.Tensor, optional
            ``(B, S)``, 1 for real tokens; all ones if omitted.
        token_type_ids : torch.Tensor, optional
            Accepted so that ``model(pixel_values, **model.tokenize(...))`` works.
        """
        attention_mask = self.check_inputs(pixel_values, input_ids, attention_mask)
        feats = self.encode(pixel_values, input_ids, attention_mask, token_type_ids)
        size = (int(pixel_values.shape[-2]), int(pixel_values.shape[-1]))
        return self.head(feats.text_tokens, attention_mask, feats.levels, size)

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """``config.loss`` (default L1, the paper's) between the map and ``batch["target"]``.

        ``batch`` holds ``pixel_values``, ``input_ids``, ``attention_mask`` (and optionally
        ``token_type_ids``) and ``target``, the MCMG map / 255 ``(B, H, W)``.

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> model = XeMapNetwork(XeMapConfig.tiny())
        >>> batch = {"pixel_values": torch.randn(2, 3, 64, 64), "target": torch.zeros(2, 64, 64),
        ...          **model.tokenize(["a", "b"])}
        >>> loss = model.loss(batch)
        >>> loss.shape, bool(loss > 0)
        (torch.Size([]), True)
        """
        maps = self(
            batch["pixel_values"],
            batch["input_ids"],
            batch.get("attention_mask"),
            batch.get("token_type_ids"),
        )
        return map_loss(maps.float(), batch["target"].float(), self.config.loss)
