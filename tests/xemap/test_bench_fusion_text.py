"""``XeMapConfig.fusion_text_trainable``: the fusion's text side stays as built while the rest
of the fusion trains (the bench's XeMap-Network recipe)."""

from __future__ import annotations

import torch

from xemap.models.registry import create_model, load_pretrained

TEXT_SIDE = ("text_projection.", "text_enhancer_layer.", "fusion_layer.text_param")


def _step(model):
    model.train()
    batch = {
        "pixel_values": torch.randn(2, 3, 64, 64),
        **model.tokenize(["the red square", "all blue circles left of the green triangle"]),
        "target": torch.rand(2, 64, 64),
    }
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    opt.zero_grad()
    model.loss(batch).backward()
    opt.step()


def _changed(model, before):
    return {n for n, p in model.fusion.named_parameters() if not torch.equal(p, before[n])}


def test_frozen_text_side_keeps_its_weights_while_the_image_side_trains():
    torch.manual_seed(0)
    model = create_model("xemap", "tiny", fusion_text_trainable=False, trainable=("fusion",))
    before = {n: p.detach().clone() for n, p in model.fusion.named_parameters()}
    _step(model)
    changed = _changed(model, before)
    text = {n for n in before if any(k in n for k in TEXT_SIDE)}
    assert text and not (changed & text)
    assert any(n.startswith("input_proj_vision") for n in changed)
    assert any("deformable_layer" in n for n in changed)


def test_default_trains_the_text_side_too():
    torch.manual_seed(0)
    model = create_model("xemap", "tiny", trainable=("fusion",))
    before = {n: p.detach().clone() for n, p in model.fusion.named_parameters()}
    _step(model)
    changed = _changed(model, before)
    assert any(n.startswith("text_projection") for n in changed)
    assert any("text_enhancer_layer" in n for n in changed)


def test_the_setting_survives_save_load_and_set_trainable(tmp_path):
    model = create_model("xemap", "tiny", fusion_text_trainable=False)
    model.save_pretrained(tmp_path / "m")
    again = load_pretrained(tmp_path / "m")
    again.set_trainable(("fusion", "image"))  # what the engine does on resume
    assert not any(p.requires_grad for p in again.fusion.text_side_parameters())
    assert again.parameter_counts(trainable_only=True)["fusion"] == sum(
        p.numel()
        for p in again.fusion.parameters()
        if all(p is not q for q in again.fusion.text_side_parameters())
    )
