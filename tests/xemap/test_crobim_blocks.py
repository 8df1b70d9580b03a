"""CroBIM's blocks alone: CAPM, LGFA, attention-deficit compensation, MID."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xemap.models.crobim.capm import ContextAwarePromptModulation
from xemap.models.crobim.lgfa import AttentionDeficitCompensation, LanguageGuidedAggregation
from xemap.models.crobim.mid import MutualInteractionDecoder, MutualInteractionStage

D = 16


def _maps(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, D, s, s, generator=g) for s in (16, 8, 4, 2)]


def _words(b=2, n=5, seed=1):
    return torch.randn(b, n, D, generator=torch.Generator().manual_seed(seed))


def _pad(words, extra=3, seed=2):
    """The words with ``extra`` junk tokens appended, and the padding mask."""
    junk = torch.randn(words.shape[0], extra, D, generator=torch.Generator().manual_seed(seed))
    pad = torch.zeros(words.shape[0], words.shape[1] + extra, dtype=torch.bool)
    pad[:, words.shape[1] :] = True
    return torch.cat([words, junk * 50], 1), pad


# ---------------------------------------------------------------- CAPM
@pytest.mark.parametrize("pooling,tokens", [("max", 4), ("avg", 4), ("adaptive_avg", 16)])
def test_capm_pooling_kinds(pooling, tokens):
    torch.manual_seed(0)
    capm = ContextAwarePromptModulation(D, 2, num_prompts=3, pooling=pooling, pool_size=2)
    ctx, pos = capm.context(_maps())
    assert ctx.shape == (2, tokens, D) and pos.shape == (tokens, D)
    assert capm(_words(), _maps()).shape == (2, 5, D)


def test_capm_pooled_values():
    capm = ContextAwarePromptModulation(D, 2, num_prompts=1, pooling="max")
    maps = _maps()
    ctx, _ = capm.context(maps)
    torch.testing.assert_close(ctx[:, 1], maps[1].amax(dim=(2, 3)))
    capm.pooling = "avg"
    ctx, _ = capm.context(maps)
    torch.testing.assert_close(ctx[:, 2], maps[2].mean(dim=(2, 3)))


def test_capm_words_carry_the_visual_context():
    torch.manual_seed(0)
    capm = ContextAwarePromptModulation(D, 2, num_prompts=3).eval()
    with torch.no_grad():
        a = capm(_words(), _maps(seed=0))
        b = capm(_words(), _maps(seed=5))
    assert not torch.allclose(a, b)
    # each sample's words depend on its own image only
    torch.testing.assert_close(a[0], capm(_words()[:1], [m[:1] for m in _maps(seed=0)])[0])


def test_capm_gradients_reach_the_prompts():
    torch.manual_seed(0)
    capm = ContextAwarePromptModulation(D, 2, num_prompts=3)
    capm(_words(), _maps()).sum().backward()
    assert [n for n, p in capm.named_parameters() if p.grad is None] == []
    assert float(capm.prompts.grad.abs().sum()) > 0


def test_capm_bad_options():
    with pytest.raises(ValueError, match="pooling must be one of"):
        ContextAwarePromptModulation(D, 2, num_prompts=3, pooling="median")
    capm = ContextAwarePromptModulation(D, 2, num_prompts=3)
    with pytest.raises(ValueError, match="expected 4 maps"):
        capm(_words(), _maps()[:3])


# ---------------------------------------------------------------- LGFA
def test_lgfa_shapes_and_attention_range():
    torch.manual_seed(0)
    lgfa = LanguageGuidedAggregation(D, 2)
    with torch.no_grad():
        fused, att = lgfa(_maps()[1], _words())
    assert fused.shape == (2, D, 8, 8) and att.shape == (2, 1, 8, 8)
    assert float(att.min()) > 0 and float(att.max()) < 1


def test_lgfa_padded_words_have_no_effect():
    torch.manual_seed(0)
    lgfa = LanguageGuidedAggregation(D, 2).eval()
    words = _words()
    padded, pad = _pad(words)
    with torch.no_grad():
        f0, a0 = lgfa(_maps()[0], words)
        f1, a1 = lgfa(_maps()[0], padded, pad)
    torch.testing.assert_close(f1, f0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a1, a0, rtol=1e-5, atol=1e-5)


def test_lgfa_depends_on_the_words():
    torch.manual_seed(0)
    lgfa = LanguageGuidedAggregation(D, 2).eval()
    with torch.no_grad():
        f0, a0 = lgfa(_maps()[0], _words(seed=1))
        f1, a1 = lgfa(_maps()[0], _words(seed=9))
    assert not torch.allclose(f0, f1) and not torch.allclose(a0, a1)


# ---------------------------------------------------------------- deficit compensation
def test_adc_matches_its_formula():
    """A numpy twin: consensus (bilinear to the finest grid, mean), deficit relu(c - a)."""
    torch.manual_seed(0)
    adc = AttentionDeficitCompensation(3, 4)
    with torch.no_grad():
        adc.gain.copy_(torch.rand(3, 4))
    feats = [torch.randn(1, 4, s, s) for s in (4, 2, 1)]
    maps = [torch.rand(1, 1, s, s) for s in (4, 2, 1)]
    out = adc(feats, maps)

    def up(m):  # bilinear, align_corners=False, to 4 x 4, written out for these sizes
        return torch.nn.functional.interpolate(m, size=(4, 4), mode="bilinear").numpy()[0, 0]

    cons = (maps[0].numpy()[0, 0] + up(maps[1]) + up(maps[2])) / 3
    pooled = {4: cons, 2: cons.reshape(2, 2, 2, 2).mean((1, 3)), 1: cons.mean().reshape(1, 1)}
    for level, (f, a) in enumerate(zip(feats, maps, strict=True)):
        s = a.shape[-1]
        deficit = np.maximum(pooled[s] - a.numpy()[0, 0], 0)
        want = f.numpy()[0] * (1 + adc.gain[level].detach().numpy()[:, None, None] * deficit)
        np.testing.assert_allclose(out[level].detach().numpy()[0], want, rtol=1e-5, atol=1e-6)


def test_adc_leaves_agreeing_scales_alone():
    adc = AttentionDeficitCompensation(2, 4)
    feats = [torch.randn(1, 4, 4, 4), torch.randn(1, 4, 2, 2)]
    maps = [torch.full((1, 1, 4, 4), 0.3), torch.full((1, 1, 2, 2), 0.3)]
    for a, b in zip(adc(feats, maps), feats, strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="expected 2 feature maps"):
        adc(feats[:1], maps[:1])


# ---------------------------------------------------------------- MID
def test_mid_shapes_and_padded_words():
    torch.manual_seed(0)
    mid = MutualInteractionDecoder(D, 2, num_stages=3).eval()
    words = _words()
    padded, pad = _pad(words)
    with torch.no_grad():
        out0, w0 = mid(_maps(), words)
        out1, w1 = mid(_maps(), padded, pad)
    assert [o.shape for o in out0] == [m.shape for m in _maps()]
    assert w1.shape == (2, 8, D)
    for a, b in zip(out0, out1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(w1[:, :5], w0, rtol=1e-5, atol=1e-5)


def test_mid_is_a_cascade_and_every_stage_learns():
    torch.manual_seed(0)
    mid = MutualInteractionDecoder(D, 2, num_stages=3)
    assert len(mid.stages) == 3 and all(isinstance(s, MutualInteractionStage) for s in mid.stages)
    out, _ = mid(_maps(), _words())
    sum(o.sum() for o in out).backward()
    assert [n for n, p in mid.named_parameters() if p.grad is None] == []
    with pytest.raises(ValueError, match="num_stages"):
        MutualInteractionDecoder(D, 2, num_stages=0)


def test_mid_pixels_read_the_words():
    torch.manual_seed(0)
    mid = MutualInteractionDecoder(D, 2, num_stages=1).eval()
    with torch.no_grad():
        a, _ = mid(_maps(), _words(seed=1))
        b, _ = mid(_maps(), _words(seed=7))
    assert not torch.allclose(a[0], b[0])
