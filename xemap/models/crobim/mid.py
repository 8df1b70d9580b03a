"""MID, the mutual-interaction decoder (CroBIM): cascaded bidirectional cross-attention.

The paper: language-to-vision (the words attend to the multi-scale visual features and are
updated), then vision-to-language (every pixel attends to the updated words and is refined),
repeated; its figure shows three stages. Here the pixels of all scales form one token
sequence (each with a 2-D sine position code of its cell and a learned scale embedding);
each stage is two `CrossAttentionLayer` s (attention + FFN, residual): words <- pixels, then
pixels <- words with the padded words masked out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from xemap.models.layers.attention import CrossAttentionLayer
from xemap.models.layers.position import sine_positions

__all__ = ["MutualInteractionDecoder", "MutualInteractionStage"]


class MutualInteractionStage(nn.Module):
    """One language-to-vision then vision-to-language step.

    Examples
    --------
    >>> stage = MutualInteractionStage(16, 2)
    >>> pixels, words = stage(torch.randn(1, 20, 16), torch.zeros(20, 16), torch.randn(1, 4, 16))
    >>> pixels.shape, words.shape
    (torch.Size([1, 20, 16]), torch.Size([1, 4, 16]))
    """

    def __init__(
        self, dim: int, num_heads: int, ffn_dim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.l2v = CrossAttentionLayer(dim, num_heads, ffn_dim=ffn_dim, dropout=dropout)
        self.v2l = CrossAttentionLayer(dim, num_heads, ffn_dim=ffn_dim, dropout=dropout)

    def forward(
        self,
        pixels: torch.Tensor,
        pixel_pos: torch.Tensor,
        words: torch.Tensor,
        word_padding: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``pixels`` ``(B, N, d)`` with codes ``(N, d)``, ``words`` ``(B, L, d)``."""
        words = self.l2v(words, pixels, key_pos=pixel_pos)
        pixels = self.v2l(pixels, words, key_padding_mask=word_padding, query_pos=pixel_pos)
        return pixels, words


class MutualInteractionDecoder(nn.Module):
    """``num_stages`` cascaded `MutualInteractionStage` s over the pixels of all scales.

    Parameters
    ----------
    dim, num_heads : int
    num_stages : int, default 3
    num_levels : int, default 4
    ffn_dim : int, optional
    dropout : float

    Examples
    --------
    >>> mid = MutualInteractionDecoder(16, 2, num_stages=2)
    >>> feats = [torch.randn(1, 16, s, s) for s in (8, 4, 2, 1)]
    >>> out, words = mid(feats, torch.randn(1, 5, 16))
    >>> [tuple(f.shape[-2:]) for f in out], tuple(words.shape)
    ([(8, 8), (4, 4), (2, 2), (1, 1)], (1, 5, 16))
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        num_stages: int = 3,
        num_levels: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        self.dim = dim
        self.level_embed = nn.Parameter(torch.randn(num_levels, dim) * 0.02)
        self.stages = nn.ModuleList(
            MutualInteractionStage(dim, num_heads, ffn_dim, dropout) for _ in range(num_stages)
        )

    def forward(
        self,
        feats: Sequence[torch.Tensor],
        words: torch.Tensor,
        word_padding: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Refined maps (same shapes as ``feats``) and updated words."""
        if len(feats) != self.level_embed.shape[0]:
            raise ValueError(f"expected {self.level_embed.shape[0]} maps, got {len(feats)}")
        shapes = [tuple(f.shape) for f in feats]
        pixels = torch.cat([f.flatten(2).transpose(1, 2) for f in feats], 1)
        pos = torch.cat(
            [
                sine_positions(s[2], s[3], self.dim, device=pixels.device).to(pixels.dtype)
                + self.level_embed[i]
                for i, s in enumerate(shapes)
            ],
            0,
        )
        for stage in self.stages:
            pixels, words = stage(pixels, pos, words, word_padding)
        out, start = [], 0
        for b, d, h, w in shapes:
            out.append(pixels[:, start : start + h * w].transpose(1, 2).reshape(b, d, h, w))
            start += h * w
        return out, words
