"""`MaskReferringModel`: the base of the mask-supervised families (CroBIM, S4ECA).

A family subclasses it, sets ``config_class``, calls ``super().__init__(config, ...)`` (which
validates a private copy of the config and builds ``text_encoder``, ``tokenizer`` and
``image_encoder``), builds its own modules, calls ``set_trainable`` and implements `logits`
(2-class logits at the input size). This base supplies what they share: ``forward`` is the
foreground softmax probability ``(B, H, W)``, and ``loss`` is RMSIN's CE + Dice
(`xemap.models.layers.losses.ce_dice_loss`) against ``batch["mask"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from xemap.models.base import ReferringModel
from xemap.models.layers.backbones import ImageBackbone
from xemap.models.layers.heads import foreground_probability
from xemap.models.layers.losses import ce_dice_loss
from xemap.models.layers.mask_config import MaskModelConfig

__all__ = ["MaskReferringModel"]


class MaskReferringModel(ReferringModel):
    """Base class of the families trained against binary masks (``supervision = "mask"``)."""

    supervision = "mask"

    def __init__(
        self,
        config: MaskModelConfig,
        *,
        load_pretrained: bool = True,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        cls = self.config_class
        if not isinstance(config, cls):
            raise ValueError(f"config must be of type {cls.__name__}, got {type(config).__name__}")
        self.config = cls.from_dict(config.to_dict())  # a private, validated copy
        self._build_text(load_pretrained, tokenizer)
        self.image_encoder = ImageBackbone(
            self.config.backbone,
            self.config.backbone_config,
            pretrained=self.config.image_pretrained,
            load_pretrained=load_pretrained,
        )

    def logits(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """2-class logits ``(B, 2, H, W)`` at the input size (background, foreground)."""
        raise NotImplementedError

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """p(foreground) ``(B, H, W)`` float32 in [0, 1] at the input size.

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(B, 3, H, W)`` float, normalised with ``config.image_mean`` / ``image_std``.
        input_ids : torch.Tensor
            ``(B, S)`` token ids (`tokenize`).
        attention_mask : torch.Tensor, optional
            ``(B, S)``, 1 for real tokens; all ones if omitted.
        token_type_ids : torch.Tensor, optional
        """
        return foreground_probability(
            self.logits(pixel_values, input_ids, attention_mask, token_type_ids)
        )

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """RMSIN's 0.9 x CE (class weights 0.9, 1.1) + 0.1 x Dice against ``batch["mask"]``."""
        if "mask" not in batch:
            raise ValueError(f"{self.family} is trained against masks: the batch needs 'mask'")
        logits = self.logits(
            batch["pixel_values"],
            batch["input_ids"],
            batch.get("attention_mask"),
            batch.get("token_type_ids"),
        )
        cfg = self.config
        return ce_dice_loss(
            logits,
            batch["mask"].to(logits.device),
            dice_weight=cfg.dice_weight,
            class_weights=cfg.class_weights,
            smooth=cfg.dice_smooth,
            dice_reduction=cfg.dice_reduction,
        )
