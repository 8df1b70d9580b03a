"""RMSIN's CE + Dice loss against a plain-numpy twin written from ``RMSIN/loss/loss.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xemap.models.layers.losses import ce_dice_loss, dice_loss


def _rmsin_loss_numpy(logits, target, weight=0.1, class_weights=(0.9, 1.1), smooth=1e-6):
    """RMSIN's ``Loss``: CrossEntropyLoss(weight=[0.9, 1.1]) and DiceLoss(reduction='sum').

    Written from the official code: ``_one_hot`` stacks ``x == c`` per class; ``activation``
    is a softmax over the class axis; inter / union are summed over the spatial axes;
    ``loss = 1 - (2 inter + smooth) / (union + smooth)`` summed over batch and classes.
    torch's weighted CE mean is ``sum w[y] * nll / sum w[y]``.
    """
    x = logits.astype(np.float64)
    x = x - x.max(axis=1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    t = target.astype(np.int64)
    nll = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
    w = np.asarray(class_weights)[t]
    ce = (w * nll).sum() / w.sum()
    onehot = np.stack([(t == c) for c in range(2)], axis=1).astype(np.float64)
    inter = (p * onehot).sum(axis=(2, 3))
    union = (p + onehot).sum(axis=(2, 3))
    dice = (1 - (2 * inter + smooth) / (union + smooth)).sum()
    return (1 - weight) * ce + weight * dice


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    b=st.integers(1, 3),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    scale=st.floats(0.1, 10.0),
    fg=st.floats(0.0, 1.0),
)
def test_matches_the_numpy_twin_of_rmsin(seed, b, h, w, scale, fg):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, scale, (b, 2, h, w)).astype(np.float32)
    mask = rng.random((b, h, w)) < fg
    ours = float(ce_dice_loss(torch.from_numpy(logits), torch.from_numpy(mask)))
    ref = _rmsin_loss_numpy(logits, mask)
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_a_hand_computed_value():
    # p = 0.5 everywhere, 1 of 4 pixels foreground: CE = ln 2 whatever the class weights;
    # Dice background 1 - 2 * 1.5 / (2 + 3), foreground 1 - 2 * 0.5 / (2 + 1), summed
    logits = torch.zeros(1, 2, 2, 2)
    mask = torch.tensor([[[True, False], [False, False]]])
    expected = 0.9 * np.log(2) + 0.1 * ((1 - 3 / 5) + (1 - 1 / 3))
    assert float(ce_dice_loss(logits, mask)) == pytest.approx(expected, rel=1e-6)


def test_class_weights_favour_the_foreground():
    """A wrong foreground pixel costs more than a wrong background one (1.1 vs 0.9)."""
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0] = 5.0  # both pixels predicted background
    one_fg = ce_dice_loss(logits, torch.tensor([[[True, False]]]), dice_weight=0.0)
    one_bg = ce_dice_loss(-logits, torch.tensor([[[True, False]]]), dice_weight=0.0)
    assert float(one_fg) > float(one_bg)


def test_dice_sums_over_samples_and_classes():
    logits = torch.randn(3, 2, 4, 4)
    mask = torch.rand(3, 4, 4) > 0.5
    s = dice_loss(logits, mask, reduction="sum")
    m = dice_loss(logits, mask, reduction="mean")
    assert float(s) == pytest.approx(6 * float(m), rel=1e-6)


def test_perfect_prediction_costs_almost_nothing_and_gradients_flow():
    mask = torch.rand(2, 5, 5) > 0.5
    logits = torch.stack([~mask, mask], 1).float() * 40 - 20
    assert float(ce_dice_loss(logits, mask)) < 1e-6
    x = torch.zeros(2, 2, 5, 5, requires_grad=True)
    ce_dice_loss(x, mask).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_bad_shapes_and_options():
    with pytest.raises(ValueError, match=r"mask must be \(B, H, W\)"):
        ce_dice_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"logits must be \(B, 2, H, W\)"):
        ce_dice_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        dice_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4), reduction="none")
    with pytest.raises(ValueError, match="class_weights"):
        ce_dice_loss(torch.zeros(1, 2, 1, 1), torch.zeros(1, 1, 1), class_weights=(1.0,))
