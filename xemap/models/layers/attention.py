"""Cross-attention blocks on torch's ``nn.MultiheadAttention``.

`CrossAttentionLayer` is the one attention block both families build from: queries attend to
a key/value sequence (pre-norm, residual), then a residual feed-forward network. Padded keys
(``key_padding_mask`` True) receive no attention, so they have no effect on any output.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CrossAttentionLayer", "masked_mean", "padding_mask"]


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``key_padding_mask`` (True = padding) from a tokenizer's ``attention_mask`` (1 = real).

    Examples
    --------
    >>> padding_mask(torch.tensor([[1, 1, 0]])).tolist()
    [[False, False, True]]
    """
    return attention_mask == 0


def masked_mean(tokens: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``tokens`` ``(B, L, D)`` over the non-padded positions -> ``(B, D)``.

    Examples
    --------
    >>> t = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(t, torch.tensor([[False, False, True]])).tolist()
    [[2.0]]
    """
    if pad is None:
        return tokens.mean(1)
    keep = (~pad).unsqueeze(-1).to(tokens.dtype)
    return (tokens * keep).sum(1) / keep.sum(1).clamp_min(1.0)


class CrossAttentionLayer(nn.Module):
    """Queries attend to a key/value sequence, then a feed-forward network (both residual).

    ``out = q + Attn(LN(q) + q_pos, LN(kv) + k_pos, LN(kv)); out = out + FFN(LN(out))``.

    Parameters
    ----------
    dim : int
        Width of the queries (and of the output).
    num_heads : int
        Attention heads (must divide ``dim``).
    kv_dim : int, optional
        Width of the keys / values (default ``dim``).
    ffn_dim : int, optional
        Hidden width of the FFN (default ``4 * dim``); 0 leaves the FFN out.
    dropout : float

    Examples
    --------
    >>> layer = CrossAttentionLayer(16, 2)
    >>> q, kv = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    >>> pad = torch.tensor([[False] * 7, [False] * 4 + [True] * 3])
    >>> layer(q, kv, key_padding_mask=pad).shape
    torch.Size([2, 5, 16])
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        kv_dim: int | None = None,
        ffn_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide dim={dim}")
        kv_dim = dim if kv_dim is None else kv_dim
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(kv_dim)
        self.attn = nn.MultiheadAttention(
            dim, num_heads, dropout=dropout, kdim=kv_dim, vdim=kv_dim, batch_first=True
        )
        self.drop = nn.Dropout(dropout)
        ffn_dim = 4 * dim if ffn_dim is None else ffn_dim
        self.ffn = None
        if ffn_dim:
            self.norm_ffn = nn.LayerNorm(dim)
            self.ffn = nn.Sequential(
                nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, dim)
            )

    def forward(
        self,
        query: torch.Tensor,
        key_value: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        query_pos: torch.Tensor | None = None,
        key_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend ``query`` ``(B, Nq, dim)`` to ``key_value`` ``(B, Nk, kv_dim)``.

        ``key_padding_mask`` ``(B, Nk)`` bool, True where a key is padding; every row needs
        one real key. ``query_pos`` / ``key_pos`` are added to queries / keys only.
        """
        q = self.norm_q(query)
        kv = self.norm_kv(key_value)
        k = kv if key_pos is None else kv + key_pos
        q = q if query_pos is None else q + query_pos
        mask = None if key_padding_mask is None else key_padding_mask.bool()
        out, _ = self.attn(q, k, kv, key_padding_mask=mask, need_weights=False)
        x = query + self.drop(out)
        if self.ffn is not None:
            x = x + self.drop(self.ffn(self.norm_ffn(x)))
        return x
