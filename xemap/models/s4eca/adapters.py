"""S4ECA's adapters (Li et al., arXiv 2606.30244): textual proxies, visual scale/space selection.

The paper (abstract and figure; no public code): a dual-encoder adapter architecture. The
*textual adapter* uses learnable queries to distil semantic language proxies from the word
embeddings, used early to ground the visual adapters. The *visual adapter* refines the
hierarchical features with a multi-scale dense extractor, then a language-guided scale
selection and a language-guided spatial selection emphasise the relevant visual context.
Our reading:

`TextualAdapter`
    ``n`` learnable queries attend to the projected (frozen) word features, padding masked
    (`CrossAttentionLayer`): the proxies ``(B, n, d)``.
`VisualAdapter` (one per backbone stage, inside the frozen backbone: its output is what the
next stage sees)
    ``h = GELU(down(LN(x)))`` to ``r`` channels; the *dense extractor*: parallel depthwise 3x3
    branches with dilations ``(1, 2, 3)`` (receptive fields 3, 5, 7); *scale selection*: a
    softmax over the branches of ``t_s`` times the mean cosine (over the proxies) between the
    pooled branch and ``P_s(proxy_q)``, and the branches summed with those weights; *spatial
    selection*: a gate ``sigmoid(t_p * max_q cos(f(x) - mean f, P_p(proxy_q)) + b)`` per location
    (temperatures learned, initialised to 10);
    back up to ``C`` channels, scaled by a learned per-channel gain (initialised to
    ``init_scale``), added to ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from xemap.models.layers.attention import CrossAttentionLayer

__all__ = ["TextualAdapter", "VisualAdapter"]


class TextualAdapter(nn.Module):
    """Learnable queries distil ``num_queries`` language proxies from the word features.

    Parameters
    ----------
    text_hidden : int
        Width of the (frozen) word features.
    dim : int
        Width of the proxies.
    num_queries : int
    num_heads : int
    ffn_dim : int, optional
    dropout : float

    Examples
    --------
    >>> ta = TextualAdapter(32, 16, num_queries=3, num_heads=2)
    >>> words = torch.randn(2, 6, 32)
    >>> ta(words, torch.tensor([[False] * 6, [False] * 3 + [True] * 3])).shape
    torch.Size([2, 3, 16])
    """

    def __init__(
        self,
        text_hidden: int,
        dim: int,
        *,
        num_queries: int,
        num_heads: int,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_queries < 1:
            raise ValueError(f"num_queries must be >= 1, got {num_queries}")
        self.proj = nn.Sequential(nn.Linear(text_hidden, dim), nn.LayerNorm(dim))
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.attn = CrossAttentionLayer(dim, num_heads, ffn_dim=ffn_dim, dropout=dropout)

    def forward(self, words: torch.Tensor, word_padding: torch.Tensor | None) -> torch.Tensor:
        """Proxies ``(B, num_queries, dim)`` from words ``(B, L, text_hidden)``."""
        kv = self.proj(words)
        q = self.queries.unsqueeze(0).expand(words.shape[0], -1, -1)
        return self.attn(q, kv, key_padding_mask=word_padding)


class VisualAdapter(nn.Module):
    """Multi-scale dense extractor + language-guided scale and spatial selection, residual.

    Parameters
    ----------
    channels : int
        Channels of the backbone stage.
    hidden : int
        Bottleneck width ``r``.
    proxy_dim : int
        Width of the language proxies.
    dilations : sequence of int
        One depthwise 3x3 branch per dilation.
    init_scale : float
        Initial value of the per-channel output gain.
    temperature : float
        Initial temperature of the cosine scores of the scale and spatial selections.

    Examples
    --------
    >>> va = VisualAdapter(8, 4, 16)
    >>> x = torch.randn(2, 8, 5, 5)
    >>> va(x, torch.randn(2, 3, 16)).shape
    torch.Size([2, 8, 5, 5])
    """

    def __init__(
        self,
        channels: int,
        hidden: int,
        proxy_dim: int,
        *,
        dilations: Sequence[int] = (1, 2, 3),
        init_scale: float = 0.1,
        temperature: float = 10.0,
    ) -> None:
        super().__init__()
        if not dilations:
            raise ValueError("dilations must name at least one branch")
        self.hidden = hidden
        self.norm = nn.LayerNorm(channels)
        self.down = nn.Conv2d(channels, hidden, 1)
        self.branches = nn.ModuleList(
            nn.Conv2d(hidden, hidden, 3, padding=d, dilation=d, groups=hidden) for d in dilations
        )
        self.mix = nn.Conv2d(hidden, hidden, 1)
        self.scale_key = nn.Linear(proxy_dim, hidden)
        self.spatial_key = nn.Linear(proxy_dim, hidden)
        self.up = nn.Conv2d(hidden, channels, 1)
        # learned temperatures of the cosine scores (CLIP-style), a bias for the gate
        self.scale_temperature = nn.Parameter(torch.tensor(float(temperature)))
        self.spatial_temperature = nn.Parameter(torch.tensor(float(temperature)))
        self.spatial_bias = nn.Parameter(torch.zeros(()))
        self.gain = nn.Parameter(torch.full((channels,), float(init_scale)))

    def scale_weights(self, branches: torch.Tensor, proxies: torch.Tensor) -> torch.Tensor:
        """Language-guided scale selection: a softmax ``(B, K)`` over the branches.

        ``branches`` ``(B, K, r, h, w)``; branch ``k`` scores ``t_s`` times the mean over the
        proxies of the cosine between its pooled feature and ``P_s(proxy)``.
        """
        pooled = F.normalize(branches.mean(dim=(3, 4)), dim=-1)  # (B, K, r)
        keys = F.normalize(self.scale_key(proxies), dim=-1)  # (B, n, r)
        agree = torch.einsum("bkr,bnr->bkn", pooled, keys).mean(-1)
        return torch.softmax(self.scale_temperature * agree, dim=1)

    def spatial_gate(self, f: torch.Tensor, proxies: torch.Tensor) -> torch.Tensor:
        """Language-guided spatial selection: a gate ``(B, 1, h, w)`` in (0, 1).

        ``sigmoid(t_p * max over proxies of cos(f(x) - mean_xy f, P_p(proxy)) + b_p)``:
        cosines of the spatially centred features, so the gate tells places apart. With raw
        dot products (or cosines of uncentred features, which share one dominant direction
        everywhere) the gate saturated in training and lit or shut a whole scale.
        """
        keys = F.normalize(self.spatial_key(proxies), dim=-1)
        # eps: rounding residue of a flat map stays ~0 instead of becoming a unit vector
        centred = F.normalize(f - f.mean(dim=(2, 3), keepdim=True), dim=1, eps=1e-3)
        match = torch.einsum("brhw,bnr->bnhw", centred, keys).amax(1, keepdim=True)
        return torch.sigmoid(self.spatial_temperature * match + self.spatial_bias)

    def forward(self, x: torch.Tensor, proxies: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, h, w)`` refined under the proxies ``(B, n, proxy_dim)``."""
        h = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        h = F.gelu(self.down(h))
        branches = torch.stack([F.gelu(b(h)) for b in self.branches], 1)  # (B, K, r, h, w)
        weights = self.scale_weights(branches, proxies)
        f = self.mix((branches * weights[:, :, None, None, None]).sum(1))
        f = f * self.spatial_gate(f, proxies)
        return x + self.gain.view(1, -1, 1, 1) * self.up(f)
