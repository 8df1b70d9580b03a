"""HMSA head: hand-computed maps, a numpy reference, invariants, masks and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xemap.models.xemap_network.hmsa import HMSAHead, hmsa_map, pool_text


# ---------------------------------------------------------------- numpy reference
def _bilinear_np(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (PyTorch align_corners=False), float64."""
    h, w = img.shape

    def coords(n_out, n_in):
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        src = np.clip(src, 0, None)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, fy = coords(out_h, h)
    x0, x1, fx = coords(out_w, w)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bot * fy[:, None]


def hmsa_reference(text, mask, levels, size, pooling="mean"):
    """Plain numpy HMSA, one sample and one pixel at a time."""
    text, mask = np.asarray(text, np.float64), np.asarray(mask) != 0
    out = np.zeros((text.shape[0], *size))
    for b in range(text.shape[0]):
        real = text[b][mask[b]]
        s = {"mean": real.mean(0), "max": real.max(0), "first": real[0]}[pooling]
        s = s / max(np.linalg.norm(s), 1e-12)
        acc = np.zeros(size)
        for level in levels:
            lv = np.asarray(level[b], np.float64)  # (D, h, w)
            sim = np.zeros(lv.shape[1:])
            for i in range(lv.shape[1]):
                for j in range(lv.shape[2]):
                    v = lv[:, i, j]
                    sim[i, j] = (s @ v / max(np.linalg.norm(v), 1e-12) + 1) / 2
            acc += _bilinear_np(sim, *size)
        out[b] = acc / len(levels)
    return out


# ---------------------------------------------------------------- hand-computed example
def test_hand_computed_two_levels():
    # s = mean of (2, 0) and (0, 0) -> (1, 0) -> e0 after normalisation
    text = torch.tensor([[[2.0, 0.0], [0.0, 0.0], [9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    coarse = torch.tensor([[[[3.0]], [[0.0]]]])  # one pixel along e0 -> 1 everywhere
    fine = torch.tensor([[[1.0, 0.0], [-2.0, 1.0]], [[0.0, 5.0], [0.0, 1.0]]])[None]
    # fine pixels: e0 -> 1, e1 -> 0.5, -e0 -> 0, (1,1)/sqrt2 -> (1/sqrt2 + 1)/2
    out = hmsa_map(text, mask, [coarse, fine], (2, 2))
    d = (1 / math.sqrt(2) + 1) / 2
    expected = torch.tensor([[[(1 + 1) / 2, (1 + 0.5) / 2], [(1 + 0) / 2, (1 + d) / 2]]])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_hand_computed_upsampling_of_two_pixels():
    # a 1x2 level (1, 0) | (0, 1) upsampled to 1x4 with half-pixel centres: 1, .875, .625, .5
    level = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    out = hmsa_map(torch.tensor([[[1.0, 0.0]]]), torch.ones(1, 1), [level], (1, 4))
    torch.testing.assert_close(out, torch.tensor([[[1.0, 0.875, 0.625, 0.5]]]))


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 2),
    seq=st.integers(1, 4),
    dim=st.integers(1, 5),
    sizes=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=3),
    out=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    pooling=st.sampled_from(["mean", "max", "first"]),
    seed=st.integers(0, 2**16),
)
def test_matches_numpy_reference(batch, seq, dim, sizes, out, pooling, seed):
    g = torch.Generator().manual_seed(seed)
    text = torch.randn(batch, seq, dim, generator=g, dtype=torch.float64)
    mask = (torch.rand(batch, seq, generator=g) > 0.3).long()
    mask[:, 0] = 1
    levels = [torch.randn(batch, dim, h, w, generator=g, dtype=torch.float64) for h, w in sizes]
    got = hmsa_map(text, mask, levels, out, pooling=pooling).double().numpy()
    want = hmsa_reference(text.numpy(), mask.numpy(), [lv.numpy() for lv in levels], out, pooling)
    np.testing.assert_allclose(got, want, atol=1e-5)


# ---------------------------------------------------------------- invariants
def test_range_and_dtype_on_random_input():
    g = torch.Generator().manual_seed(0)
    text = torch.randn(3, 5, 16, generator=g) * 100
    levels = [torch.randn(3, 16, s, s, generator=g) * 1e3 for s in (8, 4, 2, 1)]
    out = hmsa_map(text, torch.ones(3, 5), levels, (33, 17))
    assert out.shape == (3, 33, 17) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_level_equal_to_s_everywhere_gives_one():
    text = torch.tensor([[[1.0, 2.0, -1.0], [3.0, 0.0, 1.0]]])
    s = text.mean(1)  # (1, 3)
    scale = torch.rand(1, 1, 5, 7) + 0.5  # any positive per-pixel scale keeps the direction
    levels = [s[:, :, None, None] * scale, s[:, :, None, None].expand(1, 3, 2, 3)]
    out = hmsa_map(text, torch.ones(1, 2), levels, (10, 14))
    torch.testing.assert_close(out, torch.ones(1, 10, 14))


def test_opposite_level_gives_zero_and_orthogonal_gives_half():
    text = torch.tensor([[[0.0, 1.0]]])
    opposite = torch.tensor([0.0, -4.0]).view(1, 2, 1, 1).expand(1, 2, 3, 3)
    orthogonal = torch.tensor([2.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    torch.testing.assert_close(
        hmsa_map(text, torch.ones(1, 1), [opposite], (4, 4)), torch.zeros(1, 4, 4)
    )
    torch.testing.assert_close(
        hmsa_map(text, torch.ones(1, 1), [orthogonal], (5, 3)), torch.full((1, 5, 3), 0.5)
    )


def test_upsampling_a_constant_level_is_constant():
    g = torch.Generator().manual_seed(1)
    text = torch.randn(2, 3, 4, generator=g)
    v = torch.randn(2, 4, 1, 1, generator=g)
    level = v.expand(2, 4, 3, 5).contiguous()
    out = hmsa_map(text, torch.ones(2, 3), [level], (31, 29))
    s = torch.nn.functional.normalize(text.mean(1), dim=1)
    c = (torch.nn.functional.cosine_similarity(s, v[:, :, 0, 0], dim=1) + 1) / 2
    torch.testing.assert_close(out, c.view(2, 1, 1).expand(2, 31, 29))


def test_mean_over_levels_and_batch_independence():
    g = torch.Generator().manual_seed(2)
    text = torch.randn(2, 4, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    a, b = torch.randn(2, 8, 4, 4, generator=g), torch.randn(2, 8, 2, 2, generator=g)
    both = hmsa_map(text, mask, [a, b], (8, 8))
    torch.testing.assert_close(
        both, (hmsa_map(text, mask, [a], (8, 8)) + hmsa_map(text, mask, [b], (8, 8))) / 2
    )
    one = hmsa_map(text[1:], mask[1:], [a[1:], b[1:]], (8, 8))
    torch.testing.assert_close(both[1:], one)


# ---------------------------------------------------------------- masks and pooling
@pytest.mark.parametrize("pooling", ["mean", "max", "first"])
def test_padding_tokens_change_neither_pooled_vector_nor_map(pooling):
    g = torch.Generator().manual_seed(3)
    text = torch.randn(2, 3, 6, generator=g)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    levels = [torch.randn(2, 6, 4, 4, generator=g), torch.randn(2, 6, 2, 2, generator=g)]
    garbage = torch.randn(2, 4, 6, generator=g) * 1e4
    padded_text = torch.cat([text.clone(), garbage], 1)
    padded_text[1, 2] = -1e4  # the already padded slot gets garbage too
    padded_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.long)], 1)
    torch.testing.assert_close(
        pool_text(padded_text, padded_mask, pooling), pool_text(text, mask, pooling)
    )
    torch.testing.assert_close(
        hmsa_map(padded_text, padded_mask, levels, (8, 8), pooling),
        hmsa_map(text, mask, levels, (8, 8), pooling),
    )


def test_pooling_values_and_left_padding():
    t = torch.tensor([[[5.0, 1.0], [1.0, 4.0], [3.0, 3.0]]])
    left = torch.tensor([[0, 1, 1]])
    torch.testing.assert_close(pool_text(t, left, "mean"), torch.tensor([[2.0, 3.5]]))
    torch.testing.assert_close(pool_text(t, left, "max"), torch.tensor([[3.0, 4.0]]))
    torch.testing.assert_close(pool_text(t, left, "first"), torch.tensor([[1.0, 4.0]]))
    torch.testing.assert_close(
        pool_text(t, torch.tensor([[True, False, True]]), "max"), torch.tensor([[5.0, 3.0]])
    )


def test_padding_tokens_get_no_gradient_and_real_ones_do():
    g = torch.Generator().manual_seed(4)
    text = torch.randn(1, 4, 5, generator=g, requires_grad=True)
    level = torch.randn(1, 5, 3, 3, generator=g, requires_grad=True)
    hmsa_map(text, torch.tensor([[1, 1, 0, 0]]), [level], (6, 6)).sum().backward()
    assert text.grad[0, :2].abs().sum() > 0
    assert torch.all(text.grad[0, 2:] == 0)
    assert level.grad is not None and torch.isfinite(level.grad).all()


# ---------------------------------------------------------------- dtypes
def test_half_inputs_give_float32():
    text = torch.randn(1, 2, 4).half()
    out = hmsa_map(text, torch.ones(1, 2), [torch.randn(1, 4, 2, 2).half()], (4, 4))
    assert out.dtype == torch.float32


def test_under_cpu_autocast_gives_float32():
    text, level = torch.randn(1, 2, 4), torch.randn(1, 4, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = hmsa_map(text, torch.ones(1, 2), [level], (4, 4))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, hmsa_map(text, torch.ones(1, 2), [level], (4, 4)))


# ---------------------------------------------------------------- module and bad input
def test_head_is_parameter_free_and_matches_function():
    head = HMSAHead("max")
    assert list(head.parameters()) == [] and "max" in repr(head)
    text, levels = torch.randn(2, 3, 4), [torch.randn(2, 4, 2, 2)]
    torch.testing.assert_close(
        head(text, torch.ones(2, 3), levels, (5, 5)),
        hmsa_map(text, torch.ones(2, 3), levels, (5, 5), pooling="max"),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "cls"}, "pooling"),
        ({"text_tokens": torch.randn(3, 4)}, "text_tokens"),
        ({"text_mask": torch.ones(2, 4)}, "text_mask"),
        ({"text_mask": torch.tensor([[1, 1, 1], [0, 0, 0]])}, "at least one real token"),
        ({"levels": []}, "at least one"),
        ({"levels": [torch.randn(2, 5, 2, 2)]}, r"levels\[0\]"),
        ({"levels": [torch.randn(1, 4, 2, 2)]}, r"levels\[0\]"),
        ({"levels": [torch.randn(2, 4, 2)]}, r"levels\[0\]"),
        ({"size": (0, 4)}, "size"),
        ({"size": (4,)}, "size"),
    ],
)
def test_bad_input_raises_value_error(kwargs, message):
    args = {
        "text_tokens": torch.randn(2, 3, 4),
        "text_mask": torch.ones(2, 3),
        "levels": [torch.randn(2, 4, 2, 2)],
        "size": (4, 4),
        "pooling": "mean",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        hmsa_map(**args)
    with pytest.raises(ValueError, match="pooling"):
        HMSAHead("median")
