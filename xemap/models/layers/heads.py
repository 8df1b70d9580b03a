"""Mask heads: multi-scale features to 2-class logits at 1/4 scale, and their upsampling.

`FPNMaskHead` is the top-down decoder of LAVT / RMSIN (``SimpleDecoding``): start from the
coarsest map, upsample, concatenate the next finer map, two 3x3 conv + BatchNorm + ReLU, and
so on down to the finest (1/4) map, then a 1x1 conv to 2 class logits. (RMSIN's second conv
of each step is an adaptive rotated convolution; ours is a plain 3x3 conv.)
`upsample_logits` brings them to the input size the way RMSIN's model and ``test.py`` do
(bilinear, ``align_corners=True``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FPNMaskHead", "foreground_probability", "upsample_logits"]


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class FPNMaskHead(nn.Module):
    """Top-down decoder over 4 maps (finest first) to ``num_classes`` logits at the finest scale.

    Parameters
    ----------
    in_channels : sequence of 4 int
        Channels of the maps, finest (1/4) first.
    hidden : int
        Width of the decoder.
    num_classes : int, default 2

    Examples
    --------
    >>> head = FPNMaskHead([8, 16, 32, 64], hidden=16)
    >>> maps = [torch.randn(2, c, s, s) for c, s in zip([8, 16, 32, 64], [16, 8, 4, 2])]
    >>> head(maps).shape
    torch.Size([2, 2, 16, 16])
    """

    def __init__(self, in_channels: Sequence[int], hidden: int, num_classes: int = 2) -> None:
        super().__init__()
        if len(in_channels) < 2:
            raise ValueError(f"FPNMaskHead needs >= 2 maps, got {len(in_channels)}")
        chans = list(in_channels)
        steps = []
        prev = chans[-1]
        for c in reversed(chans[:-1]):
            steps.append(
                nn.Sequential(_conv_bn_relu(prev + c, hidden), _conv_bn_relu(hidden, hidden))
            )
            prev = hidden
        self.steps = nn.ModuleList(steps)
        self.classifier = nn.Conv2d(hidden, num_classes, 1)

    def features(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """The decoder's last feature map ``(B, hidden, h_1, w_1)`` (before the classifier)."""
        maps = list(maps)
        if len(maps) != len(self.steps) + 1:
            raise ValueError(f"expected {len(self.steps) + 1} maps, got {len(maps)}")
        x = maps[-1]
        for step, skip in zip(self.steps, reversed(maps[:-1]), strict=True):
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
            x = step(torch.cat([x, skip], dim=1))
        return x

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, num_classes, h_1, w_1)`` at the finest map's size."""
        return self.classifier(self.features(maps))


def upsample_logits(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling with ``align_corners=True`` (RMSIN / LAVT) to ``size``.

    Examples
    --------
    >>> upsample_logits(torch.zeros(1, 2, 4, 4), (16, 12)).shape
    torch.Size([1, 2, 16, 12])
    """
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=True)


def foreground_probability(logits: torch.Tensor) -> torch.Tensor:
    """p(foreground) ``(B, H, W)`` from 2-class logits ``(B, 2, H, W)`` (softmax, class 1).

    It is > 0.5 where the argmax of the logits is class 1 and exactly 0.5 on a tie (then
    background, as RMSIN's argmax), except where the two float32 logits differ by less than
    about 1e-7 (the softmax rounds to 0.5 there).

    Examples
    --------
    >>> foreground_probability(torch.tensor([[[[0.0]], [[0.0]]]])).item()
    0.5
    """
    if logits.dim() != 4 or logits.shape[1] != 2:
        raise ValueError(f"logits must be (B, 2, H, W), got {tuple(logits.shape)}")
    return torch.softmax(logits.float(), dim=1)[:, 1]
