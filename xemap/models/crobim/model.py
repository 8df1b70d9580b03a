"""CroBIM (Dong et al., arXiv 2410.08613): the cross-modal bidirectional interaction model.

Data flow (one forward)::

    words = Linear(BERT(query))                                   (B, L, d)
    maps  = [GN(Conv1x1(s)) for s in backbone(image)]              4 x (B, d, H/4 .. H/32)
    words = CAPM(words, maps)                 pooled context + prompts into the words
    maps, att = zip(*[LGFA_l(map_l, words)])  language into every scale, + attention maps
    maps  = ADC(maps, att)                    attention-deficit compensation
    maps, words = MID(maps, words)            3 x (words <- pixels, pixels <- words)
    logits = FPNMaskHead(maps)                (B, 2, H/4, W/4), upsampled (align_corners)

Parts (`ReferringModel.parts`): ``"text"`` the BERT, ``"image"`` the backbone, ``"fusion"``
the projections, CAPM, LGFA, ADC and MID, ``"head"`` the mask head. What we chose where the
paper is silent is listed in ``docs/models/crobim.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from xemap.models.crobim.capm import ContextAwarePromptModulation
from xemap.models.crobim.config import PARTS, CroBIMConfig
from xemap.models.crobim.lgfa import AttentionDeficitCompensation, LanguageGuidedAggregation
from xemap.models.crobim.mid import MutualInteractionDecoder
from xemap.models.layers.attention import padding_mask
from xemap.models.layers.heads import FPNMaskHead, upsample_logits
from xemap.models.layers.mask_model import MaskReferringModel

__all__ = ["CroBIM", "CroBIMFusion"]


class CroBIMFusion(nn.Module):
    """Everything between the encoders and the head: projections, CAPM, LGFA, ADC, MID.

    Parameters
    ----------
    config : CroBIMConfig
    text_hidden : int
        Width of the BERT's features.
    image_channels : sequence of 4 int
        Channels of the backbone's maps.
    """

    def __init__(
        self, config: CroBIMConfig, text_hidden: int, image_channels: Sequence[int]
    ) -> None:
        super().__init__()
        d = config.d_model
        self.text_proj = nn.Sequential(nn.Linear(text_hidden, d), nn.LayerNorm(d))
        self.level_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, d, 1), nn.GroupNorm(8, d)) for c in image_channels
        )
        self.capm = ContextAwarePromptModulation(
            d,
            config.num_heads,
            num_prompts=config.num_prompts,
            pooling=config.capm_pooling,
            pool_size=config.capm_pool_size,
            num_levels=len(image_channels),
            ffn_dim=config.ffn_dim,
            dropout=config.dropout,
        )
        self.lgfa = nn.ModuleList(
            LanguageGuidedAggregation(d, config.num_heads, config.dropout) for _ in image_channels
        )
        self.adc = (
            AttentionDeficitCompensation(len(image_channels), d) if config.compensation else None
        )
        self.mid = MutualInteractionDecoder(
            d,
            config.num_heads,
            num_stages=config.mid_stages,
            num_levels=len(image_channels),
            ffn_dim=config.ffn_dim,
            dropout=config.dropout,
        )

    def forward(
        self, text: torch.Tensor, word_padding: torch.Tensor, image: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """Refined maps ``4 x (B, d, h_l, w_l)`` from BERT features and backbone maps."""
        words = self.text_proj(text)
        maps = [proj(f) for proj, f in zip(self.level_proj, image, strict=True)]
        words = self.capm(words, maps)
        fused, att = [], []
        for lgfa, f in zip(self.lgfa, maps, strict=True):
            out, a = lgfa(f, words, word_padding)
            fused.append(out)
            att.append(a)
        if self.adc is not None:
            fused = self.adc(fused, att)
        maps, _ = self.mid(fused, words, word_padding)
        return maps


class CroBIM(MaskReferringModel):
    """CroBIM: a text query and an image to the referred region's mask probability.

    Parameters
    ----------
    config : CroBIMConfig
    load_pretrained : bool
        Load the weights named in ``config`` (text encoder, image backbone).
        `from_pretrained` passes False and loads its own weights.
    tokenizer : str or None
        Tokenizer directory overriding ``config.tokenizer`` (used by `from_pretrained`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = CroBIM(CroBIMConfig.tiny()).eval()
    >>> batch = model.tokenize(["the red square", "all blue circles left of the triangle"])
    >>> with torch.no_grad():
    ...     probs = model(torch.randn(2, 3, 64, 64), **batch)
    >>> probs.shape, bool(((probs >= 0) & (probs <= 1)).all())
    (torch.Size([2, 64, 64]), True)
    """

    family = "crobim"
    config_class = CroBIMConfig
    part_modules: ClassVar[dict[str, str]] = {
        "text": "text_encoder",
        "image": "image_encoder",
        "fusion": "fusion",
        "head": "head",
    }

    def __init__(
        self,
        config: CroBIMConfig,
        *,
        load_pretrained: bool = True,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(config, load_pretrained=load_pretrained, tokenizer=tokenizer)
        cfg = self.config
        self.fusion = CroBIMFusion(cfg, self.text_encoder.hidden_size, self.image_encoder.channels)
        self.head = FPNMaskHead([cfg.d_model] * 4, cfg.head_hidden)
        assert tuple(self.part_modules) == PARTS
        self.set_trainable(cfg.trainable)

    def logits(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """2-class logits ``(B, 2, H, W)`` at the input size."""
        attention_mask = self.check_inputs(pixel_values, input_ids, attention_mask)
        text = self.text_encoder(input_ids, attention_mask, token_type_ids)
        image = self.image_encoder(pixel_values)
        maps = self.fusion(text, padding_mask(attention_mask), image)
        return upsample_logits(self.head(maps), tuple(pixel_values.shape[-2:]))
