"""Grounding DINO checkpoints: key mapping, offline loading, equal tensors and outputs."""

from __future__ import annotations

import warnings

import pytest
import torch

from xemap.models.xemap_network import checkpoints
from xemap.models.xemap_network.checkpoints import (
    load_grounding_dino,
    map_grounding_dino_key,
    read_state_dict,
)
from xemap.models.xemap_network.config import XeMapConfig
from xemap.models.xemap_network.network import XeMapNetwork


def _tiny_gdino_config():
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    swin = SwinConfig(
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 2, 2, 4],
        window_size=4,
        out_features=["stage2", "stage3", "stage4"],
    )
    bert = BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    return GroundingDinoConfig(
        backbone_config=swin,
        text_config=bert,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_n_points=2,
        num_queries=10,
    )


@pytest.fixture(scope="module")
def gdino(tmp_path_factory):
    """A random tiny GroundingDinoForObjectDetection saved to a local directory."""
    from transformers import GroundingDinoForObjectDetection

    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(_tiny_gdino_config()).eval()
    path = tmp_path_factory.mktemp("gdino_tiny")
    model.save_pretrained(path)
    return model, path


@pytest.fixture(scope="module")
def loaded(gdino):
    _, path = gdino
    torch.manual_seed(1)
    return XeMapNetwork(XeMapConfig.from_grounding_dino(path, image_size=64)).eval()


def test_key_mapping_rules():
    assert map_grounding_dino_key("model.text_backbone.embeddings.word_embeddings.weight") == (
        "text_encoder.model.embeddings.word_embeddings.weight"
    )
    assert map_grounding_dino_key(
        "model.backbone.conv_encoder.model.swin.embeddings.norm.bias"
    ) == ("image_encoder.model.swin.embeddings.norm.bias")
    assert map_grounding_dino_key("model.input_proj_vision.3.1.weight") == (
        "fusion.input_proj_vision.3.1.weight"
    )
    assert map_grounding_dino_key("text_projection.weight") == "fusion.text_projection.weight"
    assert map_grounding_dino_key("level_embed") == "fusion.level_embed"
    for key in (
        "model.decoder.layers.0.fc1.weight",
        "model.query_position_embeddings.weight",
        "bbox_embed.0.layers.0.weight",
        "model.enc_output.weight",
        "model.encoder_output_bbox_embed.layers.0.weight",
    ):
        assert map_grounding_dino_key(key) is None


def test_encoders_and_fusion_tensors_equal_after_loading(gdino, loaded):
    model, _ = gdino
    ours = loaded.state_dict()
    compared = 0
    for key, value in model.state_dict().items():
        new = map_grounding_dino_key(key)
        if new is not None and new in ours:
            assert torch.equal(ours[new], value), key
            compared += 1
    # every encoder, projection and fusion tensor of XeMap came from the checkpoint
    covered = [k for k in ours if k.split(".")[0] in ("text_encoder", "image_encoder", "fusion")]
    assert compared == len(covered) > 150
    report = loaded.load_report
    assert report.missing == [] and report.mismatched == []
    assert len(report.loaded) == compared
    assert any(k.startswith("model.decoder.") for k in report.ignored)
    # the checkpoint's unused SwinModel LayerNorm is reported, nothing else
    assert all("swin.layernorm" in k for k in report.unexpected)


def test_fewer_fusion_layers_leave_the_rest_unexpected(gdino):
    _, path = gdino
    net = XeMapNetwork(XeMapConfig.from_grounding_dino(path, num_fusion_layers=1))
    extra = [k for k in net.load_report.unexpected if "swin.layernorm" not in k]
    assert extra and all(k.startswith("model.encoder.layers.1.") for k in extra)
    assert net.load_report.missing == []


def test_fusion_reproduces_grounding_dino_encoder(gdino, loaded, monkeypatch):
    """Same weights, same text masks -> the fused image and text tokens of Grounding DINO."""
    from transformers.models.grounding_dino import modeling_grounding_dino as mgd

    model, _ = gdino

    def full_text_attention(input_ids, special_tokens):
        b, s = input_ids.shape
        return torch.ones(b, s, s, dtype=torch.bool), torch.arange(s).expand(b, -1)

    monkeypatch.setattr(
        mgd, "generate_masks_with_special_tokens_and_transfer_map", full_text_attention
    )
    ids = torch.tensor([[101, 1037, 2417, 4412, 102], [101, 2300, 2482, 2015, 102]])
    pixels = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = model.model(pixel_values=pixels, input_ids=ids, attention_mask=torch.ones_like(ids))
        feats = loaded.encode(pixels, ids, torch.ones_like(ids))
    vision = torch.cat([m.flatten(2).transpose(1, 2) for m in feats.levels], 1)
    torch.testing.assert_close(vision, out.encoder_last_hidden_state_vision, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        feats.text_tokens, out.encoder_last_hidden_state_text, atol=1e-5, rtol=1e-4
    )


def test_swin4_layout_reports_mismatches_and_strict_raises(gdino):
    _, path = gdino
    cfg = XeMapConfig.from_grounding_dino(path, level_layout="swin4")
    with pytest.warns(UserWarning, match="partial"):
        net = XeMapNetwork(cfg)
    report = net.load_report
    assert any("input_proj_vision.0.0.weight" in k for k in report.mismatched)
    assert "image_encoder.model.hidden_states_norms.stage1.weight" in report.missing
    assert "mismatched: " in report.summary()
    cfg.grounding_dino = None
    plain = XeMapNetwork(cfg)
    with pytest.raises(ValueError, match="incomplete Grounding DINO load"):
        load_grounding_dino(plain, path, strict=True)


def test_saved_network_no_longer_needs_the_checkpoint(loaded, tmp_path):
    loaded.save_pretrained(tmp_path)
    cfg = XeMapConfig.from_json_file(tmp_path / "config.json")
    cfg.grounding_dino = str(tmp_path / "moved-away")  # from_pretrained must not read it
    cfg.to_json_file(tmp_path / "config.json")
    again = XeMapNetwork.from_pretrained(tmp_path)
    batch = again.tokenize(["a pond", "two red roofs"])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(again(x, **batch), loaded(x, **batch))


def test_missing_or_empty_directories(tmp_path):
    net = XeMapNetwork(XeMapConfig.tiny())
    with pytest.raises(ValueError, match="grounding_dino"):
        load_grounding_dino(net, tmp_path / "nope")
    with pytest.raises(ValueError, match=r"no config\.json"):
        load_grounding_dino(net, tmp_path)
    with pytest.raises(ValueError, match=r"holds no model\.safetensors"):
        read_state_dict(tmp_path)


def test_read_state_dict_gives_the_files_keys(gdino):
    _, path = gdino
    raw = read_state_dict(path)
    assert "model.level_embed" in raw
    # transformers 5 stores Swin keys in the legacy layout; loading goes through transformers
    assert any(k.startswith("model.backbone.conv_encoder.model.embeddings.") for k in raw)
    assert checkpoints.load_grounding_dino_model(path)[0].model.level_embed.shape == (4, 32)


def test_no_warning_on_a_complete_load(gdino):
    _, path = gdino
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        XeMapNetwork(XeMapConfig.from_grounding_dino(path))
