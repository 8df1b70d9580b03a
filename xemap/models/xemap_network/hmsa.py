"""HMSA head: hierarchical multi-scale semantic alignment (XeMap paper, Section IV).

The fused text tokens are pooled into one query vector ``s``; at every level the cosine
similarity between ``s`` and each pixel vector is mapped to [0, 1], upsampled to the output
size, and the levels are averaged. The head has no parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from xemap.models.xemap_network.config import POOLINGS

__all__ = ["HMSAHead", "hmsa_map", "pool_text"]

_EPS = 1e-12


def _check_text(text_tokens: torch.Tensor, text_mask: torch.Tensor) -> None:
    if text_tokens.dim() != 3:
        raise ValueError(f"text_tokens must be (B, S, D), got shape {tuple(text_tokens.shape)}")
    if tuple(text_mask.shape) != tuple(text_tokens.shape[:2]):
        raise ValueError(
            f"text_mask must be (B, S) = {tuple(text_tokens.shape[:2])}, "
            f"got {tuple(text_mask.shape)}"
        )
    if not bool((text_mask != 0).any(dim=1).all()):
        raise ValueError("every text_mask row needs at least one real token (mask value 1)")


def pool_text(
    text_tokens: torch.Tensor, text_mask: torch.Tensor, pooling: str = "mean"
) -> torch.Tensor:
    """Pool the real tokens of each query into one vector ``(B, D)``.

    Parameters
    ----------
    text_tokens : torch.Tensor
        ``(B, S, D)`` token features.
    text_mask : torch.Tensor
        ``(B, S)``, 1 (or True) for real tokens, 0 for padding.
    pooling : {"mean", "max", "first"}
        Mean or element-wise max over the real tokens, or the first real token ([CLS]).

    Returns
    -------
    torch.Tensor
        ``(B, D)`` in the dtype of ``text_tokens``.

    Raises
    ------
    ValueError
        On an unknown pooling, mismatched shapes or a query with no real token.

    Examples
    --------
    >>> t = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [100.0, 100.0]]])
    >>> pool_text(t, torch.tensor([[1, 1, 0]]), "mean")
    tensor([[2., 1.]])
    >>> pool_text(t, torch.tensor([[1, 1, 0]]), "max")
    tensor([[3., 2.]])
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    _check_text(text_tokens, text_mask)
    real = text_mask != 0
    if pooling == "mean":
        w = real.to(text_tokens.dtype).unsqueeze(-1)
        return (text_tokens * w).sum(1) / w.sum(1)
    if pooling == "max":
        neg = torch.finfo(text_tokens.dtype).min
        return text_tokens.masked_fill(~real.unsqueeze(-1), neg).amax(1)
    first = real.to(torch.int8).argmax(1)  # index of the first real token
    return text_tokens[torch.arange(text_tokens.shape[0], device=text_tokens.device), first]


def hmsa_map(
    text_tokens: torch.Tensor,
    text_mask: torch.Tensor,
    levels: list[torch.Tensor],
    size: tuple[int, int],
    pooling: str = "mean",
) -> torch.Tensor:
    """The HMSA semantic-localization map ``(B, H, W)`` in [0, 1].

    ``s = pool(text_tokens)``; for each level ``c = cos(s, pixel)``, ``(c + 1) / 2``,
    bilinear upsampling (``align_corners=False``) to ``size``; the mean over levels. Computed
    in float32 (also under autocast).

    Parameters
    ----------
    text_tokens : torch.Tensor
        ``(B, S, D)`` fused text tokens.
    text_mask : torch.Tensor
        ``(B, S)``, 1 for real tokens; padding tokens do not change the map.
    levels : list of torch.Tensor
        Fused image maps ``(B, D, h_l, w_l)``.
    size : tuple of int
        Output ``(H, W)``.
    pooling : {"mean", "max", "first"}
        Token pooling (paper, Table 3).

    Returns
    -------
    torch.Tensor
        ``(B, H, W)`` float32 in [0, 1].

    Raises
    ------
    ValueError
        On bad shapes, an empty ``levels`` list, a bad ``size`` or an unknown pooling.

    Examples
    --------
    >>> text = torch.tensor([[[1.0, 0.0]]])
    >>> level = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2): pixels e0, e1
    >>> hmsa_map(text, torch.ones(1, 1), [level], (1, 2))
    tensor([[[1.0000, 0.5000]]])
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    _check_text(text_tokens, text_mask)
    if len(levels) == 0:
        raise ValueError("levels must hold at least one (B, D, h, w) map")
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) with positive entries, got {size}")
    batch, _, dim = text_tokens.shape
    for i, level in enumerate(levels):
        if level.dim() != 4 or level.shape[0] != batch or level.shape[1] != dim:
            raise ValueError(
                f"levels[{i}] must be (B={batch}, D={dim}, h, w), got {tuple(level.shape)}"
            )
    with torch.autocast(device_type=text_tokens.device.type, enabled=False):
        s = pool_text(text_tokens.float(), text_mask, pooling)
        s = F.normalize(s, dim=1, eps=_EPS)
        out = torch.zeros(batch, 1, *size, dtype=torch.float32, device=text_tokens.device)
        for level in levels:
            v = F.normalize(level.float(), dim=1, eps=_EPS)
            sim = (torch.einsum("bd,bdhw->bhw", s, v).unsqueeze(1) + 1.0) / 2.0
            out = out + F.interpolate(sim, size=size, mode="bilinear", align_corners=False)
        out = (out / len(levels)).squeeze(1)
    return out.clamp_(0.0, 1.0)


class HMSAHead(nn.Module):
    """`hmsa_map` as a parameter-free module.

    Parameters
    ----------
    pooling : {"mean", "max", "first"}

    Examples
    --------
    >>> head = HMSAHead("mean")
    >>> levels = [torch.randn(2, 8, 4, 4), torch.randn(2, 8, 2, 2)]
    >>> head(torch.randn(2, 3, 8), torch.ones(2, 3), levels, (16, 16)).shape
    torch.Size([2, 16, 16])
    """

    def __init__(self, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling

    def forward(
        self,
        text_tokens: torch.Tensor,
        text_mask: torch.Tensor,
        levels: list[torch.Tensor],
        size: tuple[int, int],
    ) -> torch.Tensor:
        """See `hmsa_map`."""
        return hmsa_map(text_tokens, text_mask, levels, size, pooling=self.pooling)

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"
