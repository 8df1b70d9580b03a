"""XeMap-Network's training losses between maps and MCMG targets ``(B, H, W)`` in [0, 1]."""

from __future__ import annotations

import torch

__all__ = ["map_loss"]


def map_loss(maps: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """The loss between maps and targets ``(B, H, W)`` in [0, 1], a scalar.

    ``"l1"``: the mean absolute difference (the paper's loss). ``"balanced_l1"``: per
    sample, half the weight on the target's mass and half on its complement,
    ``0.5 * sum(t |p - t|) / sum(t) + 0.5 * sum((1 - t) |p - t|) / sum(1 - t)``, averaged
    over the batch; with small targets (a few percent of the image) plain L1 is minimised
    by an all-zero map early in training, which this weighting prevents.

    Examples
    --------
    >>> t = torch.zeros(1, 4, 4); t[0, 0, 0] = 1.0
    >>> zero = torch.zeros(1, 4, 4)
    >>> float(map_loss(zero, t)), float(map_loss(zero, t, "balanced_l1"))
    (0.0625, 0.5)
    """
    err = (maps - target).abs()
    if kind == "l1":
        return err.mean()
    if kind != "balanced_l1":
        raise ValueError(f"loss must be 'l1' or 'balanced_l1', got {kind!r}")
    dims = tuple(range(1, err.dim()))
    fg = (target * err).sum(dims) / target.sum(dims).clamp_min(1e-6)
    bg = ((1 - target) * err).sum(dims) / (1 - target).sum(dims).clamp_min(1e-6)
    return torch.mean(0.5 * fg + 0.5 * bg)
