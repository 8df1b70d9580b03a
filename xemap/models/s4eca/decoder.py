"""S4ECA's light decoder: lateral 1x1 projections, a top-down FPN head, proxy FiLM.

The paper names "a light decoder" and nothing more. Ours: each adapted backbone map is
projected to ``dim`` channels, the top-down `FPNMaskHead` fuses them to the 1/4 scale, the
mean of the language proxies modulates that map (FiLM: ``f * (1 + gamma) + beta``), and a 1x1
conv gives the 2 class logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from xemap.models.layers.heads import FPNMaskHead

__all__ = ["LightDecoder"]


class LightDecoder(nn.Module):
    """Adapted backbone maps + proxies -> 2-class logits at the finest map's size.

    Parameters
    ----------
    in_channels : sequence of 4 int
        Channels of the backbone maps, finest first.
    dim : int
        Decoder width.
    proxy_dim : int
        Width of the language proxies.

    Examples
    --------
    >>> dec = LightDecoder([8, 16, 32, 64], 16, proxy_dim=12)
    >>> maps = [torch.randn(2, c, s, s) for c, s in zip([8, 16, 32, 64], [16, 8, 4, 2])]
    >>> dec(maps, torch.randn(2, 3, 12)).shape
    torch.Size([2, 2, 16, 16])
    """

    def __init__(self, in_channels: Sequence[int], dim: int, *, proxy_dim: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.fpn = FPNMaskHead([dim] * len(in_channels), hidden=dim)
        self.film = nn.Linear(proxy_dim, 2 * dim)

    def forward(self, maps: Sequence[torch.Tensor], proxies: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 2, h_1, w_1)``."""
        f = self.fpn.features([lat(m) for lat, m in zip(self.lateral, maps, strict=True)])
        gamma, beta = self.film(proxies.mean(1)).chunk(2, dim=-1)
        f = f * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return self.fpn.classifier(f)
