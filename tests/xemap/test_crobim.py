"""CroBIM as a whole: presets and the recipe, ablation switches, training moves the map.

The contract shared with S4ECA (shapes, padding, query dependence, gradients, save / load)
is in ``test_layers_mask_model.py``.
"""

from __future__ import annotations

import pytest
import torch

from xemap.models.crobim.config import PARTS, CroBIMConfig
from xemap.models.crobim.model import CroBIM


def test_paper_defaults_follow_rmsins_recipe():
    cfg = CroBIMConfig()
    assert cfg.backbone == "swin" and cfg.backbone_config["window_size"] == 12
    assert cfg.backbone_config["embed_dim"] == 128  # Swin-B
    assert cfg.backbone_config["depths"] == [2, 2, 18, 2]
    assert cfg.text_config["hidden_size"] == 768 and cfg.text_config["num_hidden_layers"] == 12
    assert (cfg.image_size, cfg.max_text_len, cfg.mid_stages) == (480, 20, 3)
    assert (cfg.lr, cfg.weight_decay, cfg.lr_power) == (3e-5, 1e-2, 0.9)
    assert (cfg.dice_weight, cfg.class_weights, cfg.dice_smooth) == (0.1, (0.9, 1.1), 1e-6)
    assert cfg.trainable == PARTS


def test_paper_model_builds_with_the_expected_size():
    """Built on the meta device (no memory): Swin-B + BERT-base + the CroBIM blocks."""
    with torch.device("meta"):
        model = CroBIM(CroBIMConfig())
    counts = model.parameter_counts()
    assert counts["text"] == 108_891_648  # BERT-base without its pooler
    assert 86_000_000 < counts["image"] < 88_000_000  # Swin-B without its final norm
    assert counts["fusion"] + counts["head"] < 20_000_000


def test_tokenizer_keeps_20_tokens():
    model = CroBIM(CroBIMConfig.tiny())
    ids = model.tokenize([" ".join(["red"] * 40)])["input_ids"]
    assert ids.shape == (1, 20)


@pytest.mark.parametrize(
    "overrides",
    [
        {"compensation": False},
        {"capm_pooling": "max"},
        {"capm_pooling": "avg"},
        {"mid_stages": 1},
        {"backbone": "convnext", "backbone_config": {"hidden_sizes": [8, 16, 24, 32]}},
    ],
)
def test_ablation_switches_build_and_run(overrides):
    torch.manual_seed(0)
    model = CroBIM(CroBIMConfig.tiny(**overrides)).eval()
    assert (model.fusion.adc is None) == (overrides.get("compensation") is False)
    with torch.no_grad():
        probs = model(torch.randn(1, 3, 64, 64), **model.tokenize(["the red square"]))
    assert probs.shape == (1, 64, 64)


def test_bad_configs():
    with pytest.raises(ValueError, match="capm_pooling"):
        CroBIMConfig.tiny(capm_pooling="median")
    with pytest.raises(ValueError, match="d_model=36 must be a multiple"):
        CroBIMConfig.tiny(d_model=36, num_heads=8)
    with pytest.raises(ValueError, match="mid_stages must be >= 1"):
        CroBIMConfig.tiny(mid_stages=0)
    with pytest.raises(ValueError, match="backbone must be one of"):
        CroBIMConfig.tiny(backbone="resnet")
    with pytest.raises(ValueError, match="must be of type CroBIMConfig"):
        CroBIM({"d_model": 32})


def test_demo_preset_loads_its_pretrained_encoders():
    torch.manual_seed(0)
    model = CroBIM(CroBIMConfig.demo()).eval()
    assert model.config.text_config["hidden_size"] == 384  # MiniLM-L6
    assert model.config.trainable == ("image", "fusion", "head")
    with torch.no_grad():
        probs = model(torch.randn(2, 3, 64, 64), **model.tokenize(["a", "the blue circle"]))
    assert probs.shape == (2, 64, 64)


def test_a_few_steps_fit_one_batch():
    """The loss falls on a fixed batch: every block trains together."""
    torch.manual_seed(0)
    model = CroBIM(CroBIMConfig.tiny())
    tok = model.tokenize(["the red square", "all green circles"])
    mask = torch.zeros(2, 64, 64, dtype=torch.bool)
    mask[0, 8:24, 8:24] = True
    mask[1, 40:60, 30:50] = True
    batch = {"pixel_values": torch.randn(2, 3, 64, 64), **tok, "mask": mask}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(15):
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
