"""The registry round trip for every registered family: create tiny, forward, save, load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xemap.models import create_model, get_model_class, list_models, load_pretrained
from xemap.models.base import ReferringModel
from xemap.models.registry import register_model


def _batch(model, queries, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = model.config.image_size
    pixel = torch.randn(len(queries), 3, s, s, generator=g)
    return pixel, model.tokenize(queries)


@pytest.mark.parametrize("name", list_models())
def test_round_trip(name, tmp_path):
    torch.manual_seed(0)
    cls = get_model_class(name)
    assert issubclass(cls, ReferringModel) and cls.family == name
    assert cls.supervision in ("mcmg", "mask")
    model = create_model(name, "tiny").eval()
    cfg = model.config
    assert type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    pixel, batch = _batch(model, ["the red square", "a pond left of the road"])
    with torch.no_grad():
        maps = model(pixel, **batch)
    s = cfg.image_size
    assert maps.shape == (2, s, s) and maps.dtype == torch.float32
    assert bool(((maps >= 0) & (maps <= 1)).all())

    model.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["family"] == name
    again = load_pretrained(tmp_path / "m")
    assert type(again) is cls and not again.training
    with torch.no_grad():
        maps2 = again(pixel, **again.tokenize(["the red square", "a pond left of the road"]))
    assert torch.equal(maps, maps2)
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)


@pytest.mark.parametrize("name", list_models())
def test_loss_is_a_scalar_that_trains_the_trainable_parts(name):
    torch.manual_seed(0)
    model = create_model(name, "tiny").train()
    pixel, batch = _batch(model, ["the red square", "a pond"])
    s = model.config.image_size
    sup = torch.zeros(2, s, s)
    sup[:, s // 4 : s // 2, s // 4 : s // 2] = 1
    key = "target" if model.supervision == "mcmg" else "mask"
    loss = model.loss({"pixel_values": pixel, **batch, key: sup if key == "target" else sup > 0})
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


def test_preprocess_resizes_and_tokenize_fn_matches_tokenize():
    model = create_model("xemap", "tiny")
    x = model.preprocess([np.zeros((100, 80, 3), np.uint8)])
    assert x.shape == (1, 3, 64, 64)
    fn = model.tokenize_fn()
    import pickle

    again = pickle.loads(pickle.dumps(fn))(["a pond", "the big white building"])
    direct = model.tokenize(["a pond", "the big white building"])
    assert set(again) == set(direct)
    assert all(torch.equal(again[k], direct[k]) for k in direct)


def test_registry_errors_and_class_targets():
    with pytest.raises(ValueError, match="unknown model family"):
        create_model("nope")
    with pytest.raises(ValueError, match="preset"):
        create_model("xemap", "huge")
    with pytest.raises(ValueError, match="module:Class"):
        register_model("x", "no_colon")
    from xemap.models import registry
    from xemap.models.xemap_network.network import XeMapNetwork

    register_model("xemap_copy", XeMapNetwork)
    try:
        assert get_model_class("xemap_copy") is XeMapNetwork
    finally:
        registry._FAMILIES.pop("xemap_copy")


def test_load_pretrained_errors(tmp_path):
    with pytest.raises(ValueError, match=r"no config\.json"):
        load_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"family": "nope"}')
    with pytest.raises(ValueError, match="unknown model family"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("name", ["from_dict", "from_json_file", "replace", "to_dict", "nope"])
def test_a_config_method_that_is_not_a_preset_is_refused(name):
    with pytest.raises(ValueError, match="unknown config preset"):
        create_model("xemap", name)
