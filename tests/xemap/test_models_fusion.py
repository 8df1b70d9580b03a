"""Fusion layers (Grounding DINO feature enhancer): shapes, masks, gradients, init."""

from __future__ import annotations

import pytest
import torch

from xemap.models.xemap_network.config import XeMapConfig
from xemap.models.xemap_network.fusion import (
    FusionEncoder,
    build_gdino_config,
    sine_position_embedding,
    text_self_attention_mask,
)

SHAPES = {"gdino": [(32, 8), (64, 4), (128, 2)], "swin4": [(16, 16), (32, 8), (64, 4), (128, 2)]}


def _fusion(layout="gdino", **kw):
    torch.manual_seed(0)
    cfg = XeMapConfig.tiny(level_layout=layout, **kw)
    chans = [c for c, _ in SHAPES[layout]]
    return FusionEncoder(cfg, text_hidden_size=24, image_channels=chans).eval()


def _feats(layout="gdino", batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, s, s, generator=g) for c, s in SHAPES[layout]]


def test_gdino_config_carries_the_fusion_fields():
    gd = build_gdino_config(XeMapConfig.tiny(fusion_heads=8, n_points=3))
    assert (gd.d_model, gd.encoder_attention_heads, gd.encoder_n_points) == (32, 8, 3)
    assert gd.num_feature_levels == 4 and gd.disable_custom_kernels


def test_text_mask_blocks_padding_only():
    m = text_self_attention_mask(torch.tensor([[1, 1, 1], [1, 0, 0]]))
    assert not m[0].any()
    assert m[1].tolist() == [[False, True, True], [True, False, True], [True, True, False]]


def test_sine_position_embedding_equals_grounding_dino():
    from transformers.models.grounding_dino.modeling_grounding_dino import (
        GroundingDinoSinePositionEmbedding,
    )

    gd = GroundingDinoSinePositionEmbedding(build_gdino_config(XeMapConfig.tiny()))
    x = torch.zeros(2, 32, 5, 7)
    want = gd(x, torch.ones(2, 5, 7, dtype=torch.long))
    got = sine_position_embedding(2, 5, 7, 32, temperature=20, device="cpu", dtype=torch.float32)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("layout", ["gdino", "swin4"])
def test_shapes_per_layout(layout):
    fusion = _fusion(layout)
    levels, text = fusion(_feats(layout), torch.randn(2, 5, 24), torch.ones(2, 5))
    sides = [s for _, s in SHAPES[layout]] + ([1] if layout == "gdino" else [])
    assert [tuple(m.shape) for m in levels] == [(2, 32, s, s) for s in sides]
    assert text.shape == (2, 5, 32)
    assert len(fusion.layers) == 1 and len(fusion.input_proj_vision) == 4


def test_more_layers_and_non_square_maps():
    fusion = _fusion(num_fusion_layers=3)
    feats = [torch.randn(1, c, s, s + 3) for c, s in SHAPES["gdino"]]
    levels, _ = fusion(feats, torch.randn(1, 4, 24), torch.ones(1, 4))
    assert [tuple(m.shape[-2:]) for m in levels] == [(8, 11), (4, 7), (2, 5), (1, 3)]
    assert len(fusion.layers) == 3


def test_padding_tokens_change_nothing_real():
    fusion = _fusion()
    g = torch.Generator().manual_seed(1)
    text = torch.randn(2, 4, 24, generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    padded = torch.cat([text, torch.randn(2, 3, 24, generator=g) * 50], 1)
    pmask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], 1)
    padded[1, 2:4] = 77.0  # garbage in the padded slots
    with torch.no_grad():
        lv_a, tx_a = fusion(_feats(), text, mask)
        lv_b, tx_b = fusion(_feats(), padded, pmask)
    for a, b in zip(lv_a, lv_b, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tx_a[0], tx_b[0, :4], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tx_a[1, :2], tx_b[1, :2], atol=1e-5, rtol=1e-5)


def test_text_changes_the_image_maps():
    fusion = _fusion()
    # layer scale starts at 1e-4: raise it so the cross-attention shows
    for layer in fusion.layers:
        layer.fusion_layer.vision_param.data.fill_(1.0)
    with torch.no_grad():
        a, _ = fusion(_feats(), torch.randn(2, 4, 24), torch.ones(2, 4))
        b, _ = fusion(_feats(), torch.randn(2, 4, 24), torch.ones(2, 4))
    assert not torch.allclose(a[0], b[0])


def test_every_parameter_gets_a_gradient():
    fusion = _fusion().train()
    levels, text = fusion(_feats(), torch.randn(2, 4, 24), torch.ones(2, 4))
    (sum(m.square().mean() for m in levels) + text.square().mean()).backward()
    missing = [n for n, p in fusion.named_parameters() if p.grad is None]
    assert missing == []


def test_grounding_dino_initialisation():
    fusion = _fusion()
    layer = fusion.layers[0]
    attn = layer.deformable_layer.self_attn
    assert torch.all(attn.sampling_offsets.weight == 0)
    assert torch.all(attn.attention_weights.weight == 0) and torch.all(
        attn.attention_weights.bias == 0
    )
    offsets = attn.sampling_offsets.bias.view(attn.n_heads, attn.n_levels, attn.n_points, 2)
    # head 0 points along +x, the k-th point k+1 steps away
    assert offsets[0, 0, :, 0].tolist() == [float(k + 1) for k in range(attn.n_points)]
    assert torch.all(layer.fusion_layer.vision_param == 1e-4)


def test_bad_inputs():
    fusion = _fusion()
    with pytest.raises(ValueError, match="image encoder maps"):
        fusion(_feats()[:2], torch.randn(2, 4, 24), torch.ones(2, 4))
    with pytest.raises(ValueError, match="disagree"):
        fusion(_feats(), torch.randn(2, 4, 24), torch.ones(2, 5))
    with pytest.raises(ValueError, match="needs 3 image maps"):
        FusionEncoder(XeMapConfig.tiny(), text_hidden_size=8, image_channels=[8, 8, 8, 8])
