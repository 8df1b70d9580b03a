"""RMSIN's segmentation loss: weighted cross-entropy plus Dice over 2-class logits.

From ``Lsan2401/RMSIN`` ``loss/loss.py`` (``Loss(weight=0.1)``)::

    loss = (1 - w) * CE(logits, target; class weights (0.9, 1.1)) + w * Dice(logits, target)

* CE is torch's ``cross_entropy`` with class weights, mean-reduced (the weighted mean:
  ``sum_i w[y_i] * nll_i / sum_i w[y_i]``).
* Dice: softmax over the classes; per sample ``b`` and class ``c``, with the one-hot target,
  ``dice = (2 * sum(p * t) + smooth) / (sum(p + t) + smooth)`` over the pixels, smooth 1e-6,
  and the loss ``1 - dice`` **summed** over samples and classes (``reduction="sum"``, RMSIN's
  default), so its scale grows with the batch size.

Both are computed at the input size: RMSIN upsamples the logits (bilinear, align_corners)
before the loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

__all__ = ["ce_dice_loss", "dice_loss"]


def _check(logits: torch.Tensor, mask: torch.Tensor) -> None:
    if logits.dim() != 4 or logits.shape[1] != 2:
        raise ValueError(f"logits must be (B, 2, H, W), got {tuple(logits.shape)}")
    if mask.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"mask must be (B, H, W) = {(logits.shape[0], *logits.shape[2:])} like the logits, "
            f"got {tuple(mask.shape)}"
        )


def dice_loss(
    logits: torch.Tensor, mask: torch.Tensor, *, smooth: float = 1e-6, reduction: str = "sum"
) -> torch.Tensor:
    """RMSIN's ``DiceLoss``: ``1 - dice`` per sample and class, summed (or averaged).

    Parameters
    ----------
    logits : torch.Tensor
        ``(B, 2, H, W)``.
    mask : torch.Tensor
        ``(B, H, W)`` bool or {0, 1}: the foreground.
    smooth : float
    reduction : {"sum", "mean"}

    Examples
    --------
    >>> logits = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])  # background, foreground
    >>> round(float(dice_loss(logits, torch.tensor([[[False, True]]]))), 4)
    0.0
    """
    _check(logits, mask)
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    probs = torch.softmax(logits.float(), dim=1)
    fg = mask.to(probs.dtype)
    target = torch.stack([1.0 - fg, fg], dim=1)
    inter = (probs * target).sum(dim=(2, 3))
    union = (probs + target).sum(dim=(2, 3))
    loss = 1.0 - (2.0 * inter + smooth) / (union + smooth)
    return loss.sum() if reduction == "sum" else loss.mean()


def ce_dice_loss(
    logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    dice_weight: float = 0.1,
    class_weights: Sequence[float] = (0.9, 1.1),
    smooth: float = 1e-6,
    dice_reduction: str = "sum",
) -> torch.Tensor:
    """``(1 - dice_weight) * weighted CE + dice_weight * Dice`` (RMSIN's defaults).

    Parameters
    ----------
    logits : torch.Tensor
        ``(B, 2, H, W)`` class logits at the mask's size.
    mask : torch.Tensor
        ``(B, H, W)`` bool foreground.
    dice_weight : float, default 0.1
    class_weights : (float, float), default (0.9, 1.1)
        CE weights of background and foreground.
    smooth : float, default 1e-6
    dice_reduction : {"sum", "mean"}, default "sum"

    Returns
    -------
    torch.Tensor
        A scalar.

    Examples
    --------
    >>> logits = torch.zeros(1, 2, 2, 2)
    >>> mask = torch.tensor([[[True, False], [False, False]]])
    >>> # p = 0.5 everywhere: CE = ln 2; Dice = (1 - 3 / 5) + (1 - 1 / 3) (background, foreground)
    >>> round(float(ce_dice_loss(logits, mask)), 4)  # 0.9 * 0.6931 + 0.1 * 1.0667
    0.7305
    """
    _check(logits, mask)
    if len(class_weights) != 2:
        raise ValueError(f"class_weights needs 2 values, got {class_weights}")
    weight = torch.tensor([float(w) for w in class_weights], device=logits.device)
    ce = F.cross_entropy(logits.float(), mask.long(), weight=weight)
    dice = dice_loss(logits, mask, smooth=smooth, reduction=dice_reduction)
    return (1.0 - dice_weight) * ce + dice_weight * dice
