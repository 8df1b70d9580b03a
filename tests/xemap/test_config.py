"""XeMapConfig: presets, validation and the JSON round trip."""

from __future__ import annotations

import json

import pytest

from xemap.models.sources import minilm_dir, resolve_local_dir
from xemap.models.xemap_network.config import XeMapConfig


@pytest.mark.parametrize("preset", [XeMapConfig, XeMapConfig.tiny, XeMapConfig.demo])
def test_presets_round_trip_through_json(preset, tmp_path):
    cfg = preset()
    assert XeMapConfig.from_dict(cfg.to_dict()) == cfg
    assert XeMapConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    cfg.to_json_file(tmp_path / "c.json")
    again = XeMapConfig.from_json_file(tmp_path / "c.json")
    assert again == cfg
    assert isinstance(again.trainable, tuple) and isinstance(again.image_mean, tuple)


def test_defaults_follow_the_paper_and_grounding_dino_t():
    cfg = XeMapConfig()
    assert cfg.image_size == 512
    assert cfg.trainable == ("fusion",)
    assert cfg.level_layout == "gdino" and cfg.swin_out_stages == (2, 3, 4)
    assert cfg.num_extra_levels == 1
    assert (cfg.d_model, cfg.num_fusion_layers, cfg.fusion_heads, cfg.fusion_ffn_dim) == (
        256,
        6,
        8,
        2048,
    )
    assert cfg.text_config["hidden_size"] == 768 and cfg.swin_config["embed_dim"] == 96
    assert XeMapConfig(level_layout="swin4").swin_out_stages == (1, 2, 3, 4)
    assert XeMapConfig(level_layout="swin4").num_extra_levels == 0


def test_presets_differ_as_documented():
    tiny, demo = XeMapConfig.tiny(), XeMapConfig.demo()
    assert tiny.d_model == 32 and tiny.num_fusion_layers == 1 and tiny.text_encoder is None
    assert tiny.tokenizer == "minilm" and tiny.text_config["vocab_size"] == 30522
    assert demo.text_encoder == "minilm" and 128 <= demo.image_size <= 256
    assert XeMapConfig.tiny(pooling="max").pooling == "max"


def test_trainable_string_becomes_tuple():
    assert XeMapConfig.tiny(trainable="text").trainable == ("text",)
    assert XeMapConfig.tiny(trainable=["text", "fusion"]).trainable == ("text", "fusion")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pooling": "median"}, "pooling"),
        ({"level_layout": "fpn"}, "level_layout"),
        ({"trainable": ("fusion", "decoder")}, "trainable"),
        ({"image_encoder": "resnet"}, "image_encoder"),
        ({"image_encoder": "timm:"}, "model name"),
        ({"d_model": 36}, "multiple of norm_groups"),
        ({"norm_groups": 0}, "norm_groups"),
        ({"fusion_heads": 3}, "fusion_heads"),
        ({"fusion_heads": 6, "d_model": 96}, "fusion_ffn_dim"),
        ({"num_fusion_layers": 0}, "num_fusion_layers"),
        ({"n_points": 0}, "n_points"),
        ({"max_text_len": 1}, "max_text_len"),
        ({"image_size": 8}, "image_size"),
        ({"image_std": (1.0, 0.0, 1.0)}, "image_std"),
        ({"image_mean": (0.5, 0.5)}, "image_mean"),
    ],
)
def test_bad_fields_raise_value_error_naming_them(overrides, message):
    with pytest.raises(ValueError, match=message):
        XeMapConfig.tiny(**overrides)


def test_unknown_field_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown XeMapConfig fields"):
        XeMapConfig.from_dict({"d_model": 32, "colour": "red"})
    with pytest.raises(ValueError, match="does not exist"):
        XeMapConfig.from_json_file(tmp_path / "nope.json")


def test_local_dirs_only(tmp_path):
    assert (minilm_dir() / "model.safetensors").is_file()
    assert resolve_local_dir(str(tmp_path), what="x") == tmp_path
    with pytest.raises(ValueError, match="bert-base-uncased"):
        resolve_local_dir("bert-base-uncased", what="text_encoder")


def test_from_grounding_dino_reads_the_architecture(tmp_path):
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    swin = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4], window_size=4)
    swin.out_features = ["stage2", "stage3", "stage4"]
    bert = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    GroundingDinoConfig(
        backbone_config=swin,
        text_config=bert,
        d_model=64,
        encoder_layers=3,
        encoder_ffn_dim=128,
        encoder_attention_heads=4,
        encoder_n_points=2,
    ).save_pretrained(tmp_path)
    cfg = XeMapConfig.from_grounding_dino(tmp_path, num_fusion_layers=2)
    assert cfg.grounding_dino == str(tmp_path)
    assert (cfg.d_model, cfg.fusion_ffn_dim, cfg.fusion_heads, cfg.n_points) == (64, 128, 4, 2)
    assert cfg.num_fusion_layers == 2  # the override wins
    assert cfg.text_config["hidden_size"] == 32 and cfg.swin_config["embed_dim"] == 16
    assert cfg.level_layout == "gdino" and cfg.tokenizer == "minilm"


def test_from_grounding_dino_rejects_other_configs(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not a Grounding DINO config"):
        XeMapConfig.from_grounding_dino(tmp_path)
    with pytest.raises(ValueError, match=r"no config\.json"):
        XeMapConfig.from_grounding_dino(tmp_path / "..")
