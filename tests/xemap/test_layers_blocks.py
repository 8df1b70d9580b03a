"""Shared blocks: cross-attention, sine positions, the FPN mask head, logits to probabilities."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xemap.models.layers.attention import CrossAttentionLayer, masked_mean, padding_mask
from xemap.models.layers.heads import FPNMaskHead, foreground_probability, upsample_logits
from xemap.models.layers.position import sine_positions


# ---------------------------------------------------------------- cross-attention
@pytest.fixture(scope="module")
def layer():
    torch.manual_seed(0)
    return CrossAttentionLayer(16, 4, kv_dim=12, ffn_dim=32).eval()


def test_cross_attention_shapes(layer):
    out = layer(torch.randn(3, 5, 16), torch.randn(3, 7, 12))
    assert out.shape == (3, 5, 16)


def test_padded_keys_have_no_effect(layer):
    """Keys marked as padding change nothing, whatever they hold."""
    q, kv = torch.randn(2, 5, 16), torch.randn(2, 4, 12)
    junk = torch.randn(2, 3, 12) * 100
    pad = torch.tensor([[False] * 4 + [True] * 3] * 2)
    with torch.no_grad():
        ref = layer(q, kv)
        padded = layer(q, torch.cat([kv, junk], 1), key_padding_mask=pad)
    torch.testing.assert_close(padded, ref, rtol=1e-5, atol=1e-5)


def test_positions_go_to_queries_and_keys_not_values():
    torch.manual_seed(0)
    layer = CrossAttentionLayer(8, 2, ffn_dim=0).eval()
    q, kv = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    with torch.no_grad():
        base = layer(q, kv)
        # one key only: attention weight 1 whatever the key code, so the output is unchanged
        one = layer(q, kv[:, :1])
        one_pos = layer(q, kv[:, :1], key_pos=torch.randn(1, 8))
        moved = layer(q, kv, key_pos=torch.randn(4, 8))
    torch.testing.assert_close(one, one_pos)
    assert not torch.allclose(base, moved)
    assert layer.ffn is None


def test_cross_attention_gradients_reach_every_parameter(layer):
    layer.zero_grad()
    layer(torch.randn(2, 5, 16), torch.randn(2, 7, 12)).sum().backward()
    assert [n for n, p in layer.named_parameters() if p.grad is None] == []


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match="must divide"):
        CrossAttentionLayer(10, 4)


def test_padding_mask_and_masked_mean():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pad = padding_mask(mask)
    assert pad.tolist() == [[False, False, True, True], [False] * 4]
    t = torch.arange(8, dtype=torch.float32).view(2, 4, 1)
    assert masked_mean(t, pad).flatten().tolist() == [0.5, 5.5]
    assert masked_mean(t, None).flatten().tolist() == [1.5, 5.5]


# ---------------------------------------------------------------- positions
@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), quarter=st.integers(1, 8))
def test_sine_positions_layout(h, w, quarter):
    """Row half depends on the row only, column half on the column only; values in [-1, 1]."""
    dim = 4 * quarter
    p = sine_positions(h, w, dim).view(h, w, dim)
    assert p.abs().max() <= 1
    rows, cols = p[..., : dim // 2], p[..., dim // 2 :]
    assert torch.equal(rows, rows[:, :1].expand_as(rows))
    assert torch.equal(cols, cols[:1].expand_as(cols))
    # the first frequency is 1: sin of the normalised coordinate (cell centre, 0 .. 2 pi)
    y = (torch.arange(h) + 0.5) / h * 2 * math.pi
    torch.testing.assert_close(p[:, 0, 0], torch.sin(y))


def test_sine_positions_need_a_multiple_of_4():
    with pytest.raises(ValueError, match="multiple of 4"):
        sine_positions(2, 2, 6)


# ---------------------------------------------------------------- mask head
def test_fpn_head_shapes_and_odd_sizes():
    torch.manual_seed(0)
    head = FPNMaskHead([4, 6, 8, 10], hidden=8).eval()
    sizes = [(17, 11), (9, 6), (5, 3), (3, 2)]
    maps = [torch.randn(2, c, *s) for c, s in zip([4, 6, 8, 10], sizes, strict=True)]
    assert head(maps).shape == (2, 2, 17, 11)
    with pytest.raises(ValueError, match="expected 4 maps"):
        head(maps[:3])


def test_fpn_head_uses_every_scale():
    torch.manual_seed(0)
    head = FPNMaskHead([4, 4, 4, 4], hidden=8).eval()
    maps = [torch.randn(1, 4, s, s) for s in (8, 4, 2, 1)]
    with torch.no_grad():
        base = head(maps)
        for i in range(4):
            changed = list(maps)
            changed[i] = maps[i] + 1.0
            assert not torch.allclose(head(changed), base), f"scale {i} is ignored"


def test_upsample_logits_align_corners():
    x = torch.tensor([[[[0.0, 1.0]]]]).expand(1, 2, 1, 2)
    up = upsample_logits(x, (1, 5))
    assert up[0, 0, 0].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]  # corners kept exactly
    assert upsample_logits(x, (1, 2)) is x


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=2, max_size=2), st.floats(-3, 3))
def test_foreground_probability_is_the_argmax(pair, shift):
    """p > 0.5 where the argmax is foreground (float32 logits at least 1e-6 apart)."""
    pair = [float(torch.tensor(v, dtype=torch.float32)) for v in pair]
    assume(pair[0] == pair[1] or abs(pair[0] - pair[1]) > 1e-6)
    # pixel 0: (background, foreground) = pair; pixel 1: a tie
    logits = torch.tensor([pair[0], shift, pair[1], shift], dtype=torch.float32).view(1, 2, 1, 2)
    p = foreground_probability(logits)
    assert p.shape == (1, 1, 2)
    assert bool(p[0, 0, 0] > 0.5) == (pair[1] > pair[0])
    assert float(p[0, 0, 1]) == 0.5  # a tie is exactly 0.5: background for "> 0.5"


def test_foreground_probability_wants_two_classes():
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        foreground_probability(torch.zeros(1, 3, 2, 2))
