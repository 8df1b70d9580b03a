"""LGFA, language-guided feature aggregation (CroBIM), with attention-deficit compensation.

The paper: at every scale, cross-modal attention between the (modulated) words and the pixels
injects language into the visual features; an *attention deficit compensation* step finds
where the per-scale attention maps disagree across scales and strengthens those regions, for
objects whose size suits only some scales. The exact formula is not public; our reading:

`LanguageGuidedAggregation` (one per scale)
    every pixel attends to the words (padding masked) and gets a language feature ``l``;
    the fused map is ``v + tanh(G(m)) * m`` with ``m = P_v(v) * P_l(l)`` (LAVT's element-wise
    pixel-word fusion and language gate). Its *attention map* is the pixel-sentence
    relevance ``a = sigmoid(<Q(v'), K(s)> / sqrt(d))`` of the fused pixels ``v'`` to the
    sentence ``s`` (the masked mean of the words), one value in [0, 1] per pixel.
`AttentionDeficitCompensation`
    the consensus ``c`` is the mean of the scales' maps brought to the finest grid
    (bilinear); at scale ``l`` the deficit is ``relu(c_l - a_l)`` (``c`` area-pooled to the
    scale), where that scale attends less than the others agree on, and the features there
    are strengthened: ``v_l * (1 + gamma_l * deficit_l)``, ``gamma_l`` a learned per-channel
    gain (initialised to 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from xemap.models.layers.attention import masked_mean
from xemap.models.layers.position import sine_positions

__all__ = ["AttentionDeficitCompensation", "LanguageGuidedAggregation"]


class LanguageGuidedAggregation(nn.Module):
    """Inject the words into one scale's map; also return the scale's attention map.

    Parameters
    ----------
    dim : int
    num_heads : int
    dropout : float

    Examples
    --------
    >>> lgfa = LanguageGuidedAggregation(16, 2)
    >>> fused, att = lgfa(torch.randn(2, 16, 8, 8), torch.randn(2, 5, 16))
    >>> fused.shape, att.shape
    (torch.Size([2, 16, 8, 8]), torch.Size([2, 1, 8, 8]))
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim = dim
        self.norm_v = nn.LayerNorm(dim)
        self.norm_w = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.proj_v = nn.Linear(dim, dim)
        self.proj_l = nn.Linear(dim, dim)
        self.gate = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Tanh())
        self.rel_q = nn.Linear(dim, dim)
        self.rel_k = nn.Linear(dim, dim)

    def forward(
        self,
        feat: torch.Tensor,
        words: torch.Tensor,
        word_padding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``feat`` ``(B, d, h, w)``, ``words`` ``(B, L, d)`` -> fused map, attention map."""
        b, d, h, w = feat.shape
        x = feat.flatten(2).transpose(1, 2)
        pos = sine_positions(h, w, d, device=feat.device).to(feat.dtype)
        kv = self.norm_w(words)
        lang, _ = self.attn(
            self.norm_v(x) + pos, kv, kv, key_padding_mask=word_padding, need_weights=False
        )
        m = self.proj_v(x) * self.proj_l(lang)
        x = x + self.gate(m) * m
        sentence = masked_mean(words, word_padding)
        logit = (self.rel_q(x) * self.rel_k(sentence).unsqueeze(1)).sum(-1) / math.sqrt(d)
        att = torch.sigmoid(logit).view(b, 1, h, w)
        return x.transpose(1, 2).reshape(b, d, h, w), att


class AttentionDeficitCompensation(nn.Module):
    """Strengthen each scale where its attention map falls short of the cross-scale consensus.

    Parameters
    ----------
    num_levels : int
    dim : int

    Examples
    --------
    >>> adc = AttentionDeficitCompensation(2, 4)
    >>> feats = [torch.ones(1, 4, 4, 4), torch.ones(1, 4, 2, 2)]
    >>> maps = [torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 2, 2)]   # scale 0 attends less
    >>> with torch.no_grad():
    ...     out = adc(feats, maps)
    >>> float(out[0].mean()), float(out[1].mean())   # 1 + 1 * (0.5 - 0), 1 + relu(0.5 - 1)
    (1.5, 1.0)
    """

    def __init__(self, num_levels: int, dim: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(num_levels, dim))

    @staticmethod
    def consensus(maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mean of the maps brought to the finest (first) map's grid, ``(B, 1, h_1, w_1)``."""
        size = maps[0].shape[-2:]
        up = [
            m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="bilinear")
            for m in maps
        ]
        return torch.stack(up, 0).mean(0)

    def forward(
        self, feats: Sequence[torch.Tensor], maps: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        """The compensated maps (same shapes as ``feats``)."""
        if len(feats) != len(maps) or len(feats) != self.gain.shape[0]:
            raise ValueError(
                f"expected {self.gain.shape[0]} feature maps and attention maps, got "
                f"{len(feats)} and {len(maps)}"
            )
        common = self.consensus(maps)
        out = []
        for level, (f, a) in enumerate(zip(feats, maps, strict=True)):
            same = a.shape[-2:] == common.shape[-2:]
            c = common if same else F.adaptive_avg_pool2d(common, a.shape[-2:])
            deficit = F.relu(c - a)
            out.append(f * (1.0 + self.gain[level].view(1, -1, 1, 1) * deficit))
        return out
