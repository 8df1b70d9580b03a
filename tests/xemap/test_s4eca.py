"""S4ECA: its adapters and decoder alone, the frozen backbones, the trainable share.

The contract shared with CroBIM (shapes, padding, query dependence, gradients, save / load)
is in ``test_layers_mask_model.py``.
"""

from __future__ import annotations

import pytest
import torch

from xemap.models.s4eca.adapters import TextualAdapter, VisualAdapter
from xemap.models.s4eca.config import S4ECAConfig
from xemap.models.s4eca.decoder import LightDecoder
from xemap.models.s4eca.model import S4ECA


def _proxies(b=2, n=3, d=16, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- textual adapter
def test_textual_adapter_ignores_padding():
    torch.manual_seed(0)
    ta = TextualAdapter(24, 16, num_queries=3, num_heads=2).eval()
    words = torch.randn(2, 5, 24)
    padded = torch.cat([words, 100 * torch.randn(2, 4, 24)], 1)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[:, 5:] = True
    with torch.no_grad():
        torch.testing.assert_close(ta(padded, pad), ta(words, None), rtol=1e-5, atol=1e-5)


def test_textual_adapter_proxies_depend_on_the_words():
    torch.manual_seed(0)
    ta = TextualAdapter(24, 16, num_queries=3, num_heads=2).eval()
    with torch.no_grad():
        a, b = ta(torch.randn(1, 5, 24), None), ta(torch.randn(1, 5, 24), None)
    assert a.shape == (1, 3, 16) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="num_queries"):
        TextualAdapter(24, 16, num_queries=0, num_heads=2)


# ---------------------------------------------------------------- visual adapter
def test_scale_selection_is_a_softmax_over_branches_led_by_the_proxies():
    torch.manual_seed(0)
    va = VisualAdapter(8, 8, 16, dilations=(1, 2, 3, 4))
    branches = torch.rand(2, 4, 8, 5, 5)
    w = va.scale_weights(branches, _proxies())
    assert w.shape == (2, 4)
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    assert not torch.allclose(w, va.scale_weights(branches, _proxies(seed=3)))
    # a branch that agrees with the proxies wins
    keys = va.scale_key(_proxies()[:1]).mean(1).detach()  # (1, r)
    aligned = torch.zeros(1, 4, 8, 5, 5)
    aligned[0, 2] = 10 * keys[0].view(8, 1, 1)
    assert int(va.scale_weights(aligned, _proxies()[:1]).argmax()) == 2


def test_spatial_selection_gates_where_a_proxy_matches():
    torch.manual_seed(0)
    va = VisualAdapter(8, 8, 16)
    f = torch.zeros(1, 8, 4, 4)
    key = va.spatial_key(_proxies()[:1])[0, 1].detach()  # proxy 1's key
    f[0, :, 2, 3] = 10 * key
    with torch.no_grad():
        gate = va.spatial_gate(f, _proxies()[:1])
    assert gate.shape == (1, 1, 4, 4)
    assert float(gate.min()) > 0 and float(gate.max()) < 1
    assert divmod(int(gate.flatten().argmax()), 4) == (2, 3)
    with torch.no_grad():  # a uniform map has nothing to select: sigmoid(0) everywhere
        flat = va.spatial_gate(torch.ones(1, 8, 4, 4) * key.view(1, 8, 1, 1), _proxies()[:1])
    torch.testing.assert_close(flat, torch.full_like(flat, 0.5), rtol=0, atol=1e-3)


def test_selection_scores_are_cosines_that_do_not_saturate():
    """Feature magnitude does not move the gate or the scale weights (raw dot products
    saturated the sigmoid in training: a whole scale lit or shut)."""
    torch.manual_seed(0)
    va = VisualAdapter(8, 8, 16)
    f = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(
            va.spatial_gate(1000 * f, _proxies(1)), va.spatial_gate(f, _proxies(1))
        )
        b = torch.rand(1, 3, 8, 4, 4)
        torch.testing.assert_close(
            va.scale_weights(1000 * b, _proxies(1)), va.scale_weights(b, _proxies(1))
        )


def test_visual_adapter_is_a_residual_with_a_gain():
    torch.manual_seed(0)
    va = VisualAdapter(8, 4, 16)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        out = va(x, _proxies())
        assert out.shape == x.shape and not torch.allclose(out, x)
        va.gain.zero_()
        torch.testing.assert_close(va(x, _proxies()), x)
    assert torch.allclose(VisualAdapter(8, 4, 16, init_scale=0.25).gain, torch.tensor(0.25))
    with pytest.raises(ValueError, match="dilations"):
        VisualAdapter(8, 4, 16, dilations=())


def test_light_decoder_reads_the_proxies():
    torch.manual_seed(0)
    dec = LightDecoder([8, 16, 32, 64], 16, proxy_dim=16).eval()
    maps = [torch.randn(1, c, s, s) for c, s in zip([8, 16, 32, 64], [16, 8, 4, 2], strict=True)]
    with torch.no_grad():
        a = dec(maps, _proxies(1))
        b = dec(maps, _proxies(1, seed=4))
    assert a.shape == (1, 2, 16, 16) and not torch.allclose(a, b)


# ---------------------------------------------------------------- the model
def test_paper_defaults_freeze_both_backbones():
    cfg = S4ECAConfig()
    assert cfg.trainable == ("adapters", "decoder")
    assert (cfg.image_size, cfg.max_text_len, cfg.backbone_config["window_size"]) == (480, 20, 12)
    assert (cfg.lr, cfg.weight_decay, cfg.lr_power) == (3e-5, 1e-2, 0.9)


def test_trainable_share_at_the_paper_default_is_near_2_4_percent():
    """The paper updates "only 2.4 % of the backbone parameters" (Swin-B + BERT-base here)."""
    with torch.device("meta"):
        model = S4ECA(S4ECAConfig())
    share = model.trainable_share()
    assert share["backbones"] > 190_000_000
    assert share["share"] == pytest.approx(0.024, abs=0.002)
    assert (
        share["trainable"]
        == model.parameter_counts()["adapters"] + (model.parameter_counts()["decoder"])
    )


def test_frozen_backbones_do_not_move_in_training():
    """An optimiser step changes the adapters and the decoder, no backbone weight or buffer."""
    torch.manual_seed(0)
    model = S4ECA(S4ECAConfig.tiny(backbone="efficientnet-lite0", backbone_config={}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tok = model.tokenize(["the red square", "all blue circles"])
    batch = {"pixel_values": torch.randn(2, 3, 64, 64), **tok}
    batch["mask"] = torch.rand(2, 64, 64) > 0.7
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = model.loss(batch)
    loss.backward()
    opt.step()
    after = model.state_dict()
    moved = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert moved == {"adapters", "decoder"}
    assert not model.image_encoder.training and not model.text_encoder.training


def test_every_visual_adapter_shapes_the_map():
    torch.manual_seed(0)
    model = S4ECA(S4ECAConfig.tiny()).eval()
    tok = model.tokenize(["the red square"])
    px = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        base = model(px, **tok)
        for adapter in model.adapters.visual:
            saved = adapter.gain.clone()
            adapter.gain.zero_()
            assert float((model(px, **tok) - base).abs().max()) > 1e-6  # exactly 0 if unused
            adapter.gain.copy_(saved)


def test_bad_configs():
    with pytest.raises(ValueError, match="dilations"):
        S4ECAConfig.tiny(dilations=(0,))
    with pytest.raises(ValueError, match="must divide proxy_dim"):
        S4ECAConfig.tiny(proxy_dim=18, num_heads=4)
    with pytest.raises(ValueError, match="must be of type S4ECAConfig"):
        S4ECA({"proxy_dim": 16})


def test_demo_preset_loads_its_pretrained_encoders():
    model = S4ECA(S4ECAConfig.demo()).eval()
    share = model.trainable_share()
    assert model.config.text_config["hidden_size"] == 384 and share["share"] < 0.05
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), **model.tokenize(["a pond"])).shape == (1, 64, 64)
