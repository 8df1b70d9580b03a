"""CAPM, context-aware prompt modulation (CroBIM): visual context and prompts into the words.

The paper: multi-scale visual context (the 4 scales pooled; its ablation compares max,
average and adaptive-average pooling) and a set of learnable prompts are brought into the
text features by cross-attention, so the words carry spatial and positional context before
fusion. Our reading, in two cross-attention steps:

1. *context*: each scale ``(B, d, h, w)`` is pooled to tokens, plus a 2-D sine position
   code of the pooled cell and a learned scale embedding. ``"max"`` and ``"avg"`` pool each
   scale globally (1 token per scale), ``"adaptive_avg"`` to a ``pool_size x pool_size``
   grid (``pool_size**2`` tokens per scale, which keeps where things are);
2. the learnable prompts attend to the context (*context-aware prompts*), then the words
   attend to ``[prompts; context]`` and are updated (residual + FFN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from xemap.models.layers.attention import CrossAttentionLayer
from xemap.models.layers.position import sine_positions

__all__ = ["POOLINGS", "ContextAwarePromptModulation"]

POOLINGS = ("max", "avg", "adaptive_avg")


class ContextAwarePromptModulation(nn.Module):
    """Modulate word features with pooled multi-scale context and learnable prompts.

    Parameters
    ----------
    dim : int
        Width of the words and of the visual maps.
    num_heads : int
    num_prompts : int
    pooling : {"max", "avg", "adaptive_avg"}
    pool_size : int
        Grid side of ``"adaptive_avg"``.
    num_levels : int, default 4
    ffn_dim : int, optional
    dropout : float

    Examples
    --------
    >>> capm = ContextAwarePromptModulation(16, 2, num_prompts=3, pooling="adaptive_avg",
    ...                                     pool_size=2)
    >>> feats = [torch.randn(1, 16, s, s) for s in (16, 8, 4, 2)]
    >>> capm(torch.randn(1, 5, 16), feats).shape
    torch.Size([1, 5, 16])
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        num_prompts: int,
        pooling: str = "adaptive_avg",
        pool_size: int = 4,
        num_levels: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if num_prompts < 1 or pool_size < 1:
            raise ValueError("num_prompts and pool_size must be >= 1")
        self.pooling = pooling
        self.pool_size = int(pool_size)
        self.dim = dim
        self.prompts = nn.Parameter(torch.randn(num_prompts, dim) * 0.02)
        self.level_embed = nn.Parameter(torch.randn(num_levels, dim) * 0.02)
        self.prompt_attn = CrossAttentionLayer(dim, num_heads, ffn_dim=ffn_dim, dropout=dropout)
        self.word_attn = CrossAttentionLayer(dim, num_heads, ffn_dim=ffn_dim, dropout=dropout)

    def context(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled context tokens ``(B, N_c, dim)`` and their position codes ``(N_c, dim)``."""
        if len(feats) != self.level_embed.shape[0]:
            raise ValueError(f"expected {self.level_embed.shape[0]} maps, got {len(feats)}")
        tokens, codes = [], []
        for level, f in enumerate(feats):
            if self.pooling == "max":
                pooled = F.adaptive_max_pool2d(f, 1)
            elif self.pooling == "avg":
                pooled = F.adaptive_avg_pool2d(f, 1)
            else:
                pooled = F.adaptive_avg_pool2d(f, self.pool_size)
            h, w = pooled.shape[-2:]
            tokens.append(pooled.flatten(2).transpose(1, 2))
            pos = sine_positions(h, w, self.dim, device=f.device).to(f.dtype)
            codes.append(pos + self.level_embed[level])
        return torch.cat(tokens, 1), torch.cat(codes, 0)

    def forward(self, words: torch.Tensor, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Words ``(B, L, dim)`` modulated by the maps ``[(B, dim, h_l, w_l)]``."""
        ctx, pos = self.context(feats)
        b = words.shape[0]
        prompts = self.prompt_attn(self.prompts.unsqueeze(0).expand(b, -1, -1), ctx, key_pos=pos)
        keys = torch.cat([prompts, ctx], 1)
        key_pos = torch.cat([torch.zeros_like(self.prompts), pos], 0)
        return self.word_attn(words, keys, key_pos=key_pos)
