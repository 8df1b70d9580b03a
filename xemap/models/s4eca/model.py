"""S4ECA (Li et al., arXiv 2606.30244): parameter-efficient RRSIS with frozen encoders.

Data flow (one forward)::

    words   = BERT(query)                              frozen, (B, L, C_t)
    proxies = TextualAdapter(words)                    (B, n, d): the language proxies
    maps    = backbone(image, taps=[VisualAdapter_i(., proxies)])
              # frozen backbone; stage i's output is refined by its adapter before stage i+1
    logits  = LightDecoder(maps, proxies)              (B, 2, H/4, W/4), upsampled

Parts: ``"text"`` the BERT, ``"image"`` the backbone, ``"adapters"`` the textual and visual
adapters, ``"decoder"``; by default only the adapters and the decoder train
(`S4ECA.trainable_share` reports their size against the frozen backbones). What we chose
where the paper is silent is listed in ``docs/models/s4eca.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from xemap.models.layers.attention import padding_mask
from xemap.models.layers.heads import upsample_logits
from xemap.models.layers.mask_model import MaskReferringModel
from xemap.models.s4eca.adapters import TextualAdapter, VisualAdapter
from xemap.models.s4eca.config import PARTS, S4ECAConfig
from xemap.models.s4eca.decoder import LightDecoder

__all__ = ["S4ECA", "S4ECAAdapters"]


class S4ECAAdapters(nn.Module):
    """The textual adapter and one visual adapter per backbone stage."""

    def __init__(
        self, config: S4ECAConfig, text_hidden: int, image_channels: Sequence[int]
    ) -> None:
        super().__init__()
        self.textual = TextualAdapter(
            text_hidden,
            config.proxy_dim,
            num_queries=config.num_queries,
            num_heads=config.num_heads,
            ffn_dim=config.ffn_dim,
            dropout=config.dropout,
        )
        self.visual = nn.ModuleList(
            VisualAdapter(
                c,
                max(8, c // config.adapter_reduction),
                config.proxy_dim,
                dilations=config.dilations,
                init_scale=config.adapter_init_scale,
            )
            for c in image_channels
        )


class S4ECA(MaskReferringModel):
    """S4ECA: a text query and an image to the referred region's mask probability.

    Parameters
    ----------
    config : S4ECAConfig
    load_pretrained : bool
        Load the weights named in ``config`` (text encoder, image backbone).
    tokenizer : str or None
        Tokenizer directory overriding ``config.tokenizer`` (used by `from_pretrained`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = S4ECA(S4ECAConfig.tiny()).eval()
    >>> batch = model.tokenize(["the red square", "all blue circles"])
    >>> with torch.no_grad():
    ...     probs = model(torch.randn(2, 3, 64, 64), **batch)
    >>> probs.shape, bool(((probs >= 0) & (probs <= 1)).all())
    (torch.Size([2, 64, 64]), True)
    """

    family = "s4eca"
    config_class = S4ECAConfig
    part_modules: ClassVar[dict[str, str]] = {
        "text": "text_encoder",
        "image": "image_encoder",
        "adapters": "adapters",
        "decoder": "decoder",
    }

    def __init__(
        self,
        config: S4ECAConfig,
        *,
        load_pretrained: bool = True,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(config, load_pretrained=load_pretrained, tokenizer=tokenizer)
        cfg = self.config
        channels = self.image_encoder.channels
        self.adapters = S4ECAAdapters(cfg, self.text_encoder.hidden_size, channels)
        self.decoder = LightDecoder(channels, cfg.decoder_dim, proxy_dim=cfg.proxy_dim)
        assert tuple(self.part_modules) == PARTS
        self.set_trainable(cfg.trainable)

    def trainable_share(self) -> dict[str, float]:
        """Trainable parameters against the backbones' (the paper: about 2.4 %).

        Returns
        -------
        dict
            ``trainable``, ``backbones`` (image + text), ``image_backbone`` (counts) and
            ``share`` = trainable / backbones, ``share_of_image`` = trainable / image.

        Examples
        --------
        >>> s = S4ECA(S4ECAConfig.tiny()).trainable_share()
        >>> s["trainable"] == sum(p.numel() for p in S4ECA(S4ECAConfig.tiny()).parameters()
        ...                       if p.requires_grad)
        True
        """
        counts = self.parameter_counts()
        trainable = self.parameter_counts(trainable_only=True)["total"]
        backbones = counts["text"] + counts["image"]
        return {
            "trainable": trainable,
            "backbones": backbones,
            "image_backbone": counts["image"],
            "share": trainable / backbones,
            "share_of_image": trainable / counts["image"],
        }

    def logits(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """2-class logits ``(B, 2, H, W)`` at the input size."""
        attention_mask = self.check_inputs(pixel_values, input_ids, attention_mask)
        words = self.text_encoder(input_ids, attention_mask, token_type_ids)
        proxies = self.adapters.textual(words, padding_mask(attention_mask))
        taps = [lambda f, a=a: a(f, proxies) for a in self.adapters.visual]
        maps = self.image_encoder(pixel_values, taps)
        return upsample_logits(self.decoder(maps, proxies), tuple(pixel_values.shape[-2:]))
