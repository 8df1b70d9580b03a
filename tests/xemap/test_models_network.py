"""XeMapNetwork: the API contract, masks, trainable parts, save / load, AMP, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xemap.models.sources import minilm_dir
from xemap.models.xemap_network.config import XeMapConfig
from xemap.models.xemap_network.network import XeMapNetwork

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return XeMapNetwork(XeMapConfig.tiny()).eval()


@pytest.fixture(scope="module")
def demo():
    torch.manual_seed(0)
    return XeMapNetwork(XeMapConfig.demo(image_size=128)).eval()


def _pixels(batch=2, h=64, w=64, seed=0):
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- contract
def test_forward_contract(tiny):
    batch = tiny.tokenize(["a pond", "the white building next to the road"])
    with torch.no_grad():
        maps = tiny(_pixels(), batch["input_ids"], batch["attention_mask"])
    assert maps.shape == (2, 64, 64) and maps.dtype == torch.float32
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1
    with torch.no_grad():
        assert torch.equal(tiny(_pixels(), **batch), maps)  # token_type_ids accepted


def test_construction_leaves_the_callers_config_alone():
    cfg = XeMapConfig.tiny()
    before = cfg.to_dict()
    model = XeMapNetwork(cfg)
    model.set_trainable(["image"])
    assert cfg.to_dict() == before and model.config is not cfg


def test_output_has_the_input_size(tiny):
    batch = tiny.tokenize(["a pond"])
    with torch.no_grad():
        assert tiny(_pixels(1, 72, 40), **batch).shape == (1, 72, 40)


def test_batch_of_one(tiny):
    batch = tiny.tokenize(["a pond"])
    with torch.no_grad():
        assert tiny(_pixels(1), **batch).shape == (1, 64, 64)


def test_tokenize(tiny):
    b = tiny.tokenize(["a", "the big white building"])
    assert set(b) == {"input_ids", "attention_mask", "token_type_ids"}
    assert b["input_ids"].shape == b["attention_mask"].shape == (2, 6)
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    long = tiny.tokenize(["word " * 200])
    assert long["input_ids"].shape == (1, tiny.config.max_text_len)
    assert long["input_ids"][0, -1] == tiny.tokenizer.sep_token_id
    with pytest.raises(ValueError, match="list of strings"):
        tiny.tokenize("a pond")
    with pytest.raises(ValueError, match="empty"):
        tiny.tokenize([])


def test_preprocess(tiny):
    cfg = tiny.config
    mean_pixel = np.broadcast_to(np.round(np.array(cfg.image_mean) * 255), (50, 30, 3))
    x = tiny.preprocess([mean_pixel.astype(np.uint8), np.full((64, 64), 255, np.uint8)])
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    assert float(x[0].abs().max()) < 0.01  # the mean colour normalises to ~0
    want = (1 - torch.tensor(cfg.image_mean)) / torch.tensor(cfg.image_std)
    torch.testing.assert_close(x[1, :, 5, 5], want)
    assert tiny.preprocess(torch.zeros(64, 64, 3, dtype=torch.uint8)).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="uint8"):
        tiny.preprocess([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        tiny.preprocess([np.zeros((8, 8, 4), np.uint8)])


def test_preprocess_antialiases_downsampling(tiny):
    stripes = np.zeros((256, 256, 3), np.uint8)
    stripes[:, ::2] = 255  # a 1-pixel grating averages to grey when shrunk 4x
    x = tiny.preprocess([stripes])
    grey = (0.5 - torch.tensor(tiny.config.image_mean)) / torch.tensor(tiny.config.image_std)
    torch.testing.assert_close(x[0, :, 10:50, 10:50].mean((1, 2)), grey, atol=0.02, rtol=0)


# ---------------------------------------------------------------- masks
def test_padding_does_not_change_the_map(tiny):
    alone = tiny.tokenize(["a pond"])
    batched = tiny.tokenize(["a pond", "the large white building next to the road"])
    assert batched["attention_mask"][0].sum() < batched["attention_mask"].shape[1]
    x = _pixels(1)
    with torch.no_grad():
        a = tiny(x, **alone)
        b = tiny(x.expand(2, -1, -1, -1), **batched)[:1]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_the_query_changes_the_map(tiny):
    for layer in tiny.fusion.layers:  # layer scale starts at 1e-4
        layer.fusion_layer.vision_param.data.fill_(1.0)
    try:
        b = tiny.tokenize(["a pond", "two red roofs"])
        with torch.no_grad():
            maps = tiny(_pixels(1).expand(2, -1, -1, -1), **b)
        assert not torch.allclose(maps[0], maps[1])
    finally:
        for layer in tiny.fusion.layers:
            layer.fusion_layer.vision_param.data.fill_(1e-4)


# ---------------------------------------------------------------- trainable parts
def _grads_after_backward(model):
    model.zero_grad(set_to_none=True)
    batch = model.tokenize(["a pond", "a red roof"])
    model(_pixels(), **batch).mean().backward()
    return {
        part: [p.grad is not None for p in module.parameters()]
        for part, module in model.parts().items()
    }


@pytest.mark.parametrize(
    "trainable", [("fusion",), ("text", "fusion"), ("image", "fusion"), ("text", "image")]
)
def test_gradients_flow_only_into_trainable_parts(trainable):
    torch.manual_seed(0)
    model = XeMapNetwork(XeMapConfig.tiny(trainable=trainable)).train()
    grads = _grads_after_backward(model)
    for part, flags in grads.items():
        if part == "head":
            assert flags == []  # the HMSA head has no parameters
        elif part in trainable:
            assert flags and all(flags), part
        else:
            assert flags and not any(flags), part
    for part, module in model.parts().items():
        assert all(p.requires_grad == (part in trainable) for p in module.parameters())


def test_default_trains_the_fusion_only_and_frozen_parts_stay_in_eval(tiny):
    model = XeMapNetwork(XeMapConfig.tiny())
    counts = model.parameter_counts(trainable_only=True)
    assert counts["fusion"] > 0 and counts["text"] == counts["image"] == 0
    model.train()
    assert model.fusion.training and not model.text_encoder.training
    assert not model.image_encoder.training
    model.set_trainable(["text", "fusion"])
    model.train()
    assert model.text_encoder.training and model.config.trainable == ("text", "fusion")
    with pytest.raises(ValueError, match="trainable"):
        model.set_trainable(["decoder"])


# ---------------------------------------------------------------- save / load
def test_save_load_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "tokenizer_config.json").is_file()
    again = XeMapNetwork.from_pretrained(tmp_path, map_location="cpu")
    assert again.config == tiny.config and not again.training
    batch = tiny.tokenize(["a pond", "the white building"])
    assert torch.equal(
        again.tokenize(["a pond", "the white building"])["input_ids"], batch["input_ids"]
    )
    with torch.no_grad():
        assert torch.equal(again(_pixels(), **batch), tiny(_pixels(), **batch))


def test_saved_network_does_not_need_the_text_encoder_dir(tmp_path):
    from transformers import BertConfig, BertModel

    bert_dir = tmp_path / "bert"
    BertModel(
        BertConfig(
            hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=80
        ),
        add_pooling_layer=False,
    ).save_pretrained(bert_dir)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (bert_dir / name).write_bytes((minilm_dir() / name).read_bytes())
    model = XeMapNetwork(XeMapConfig.tiny(text_encoder=str(bert_dir), tokenizer=None)).eval()
    assert model.config.text_config["intermediate_size"] == 80
    model.save_pretrained(tmp_path / "net")
    for f in bert_dir.iterdir():
        f.unlink()
    bert_dir.rmdir()
    again = XeMapNetwork.from_pretrained(tmp_path / "net")
    batch = model.tokenize(["a pond", "a road"])
    with torch.no_grad():
        assert torch.equal(again(_pixels(), **batch), model(_pixels(), **batch))


def test_from_pretrained_errors(tmp_path, tiny):
    with pytest.raises(ValueError, match="not a saved XeMapNetwork"):
        XeMapNetwork.from_pretrained(tmp_path)
    tiny.save_pretrained(tmp_path)
    cfg = XeMapConfig.from_json_file(tmp_path / "config.json")
    cfg.num_fusion_layers = 2
    cfg.to_json_file(tmp_path / "config.json")
    with pytest.raises(ValueError, match="do not fit its config"):
        XeMapNetwork.from_pretrained(tmp_path)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("pixels", "ids", "mask", "message"),
    [
        (torch.randn(2, 1, 64, 64), None, None, "pixel_values"),
        (torch.randn(2, 3, 64), None, None, "pixel_values"),
        (torch.zeros(2, 3, 64, 64, dtype=torch.uint8), None, None, "float"),
        (None, torch.ones(3, 4, dtype=torch.long), None, "input_ids"),
        (None, None, torch.ones(2, 5, dtype=torch.long), "attention_mask"),
        (None, None, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]), "at least one real token"),
    ],
)
def test_bad_inputs_raise_value_error(tiny, pixels, ids, mask, message):
    pixels = _pixels() if pixels is None else pixels
    ids = torch.full((2, 4), 1037) if ids is None else ids
    mask = torch.ones(2, 4, dtype=torch.long) if mask is None else mask
    with pytest.raises(ValueError, match=message):
        tiny(pixels, ids, mask)


def test_bad_construction():
    with pytest.raises(ValueError, match="XeMapConfig"):
        XeMapNetwork({"d_model": 32})
    small_vocab = XeMapConfig.tiny()
    small_vocab.text_config["vocab_size"] = 100
    with pytest.raises(ValueError, match="vocab_size=100"):
        XeMapNetwork(small_vocab)
    with pytest.raises(ValueError, match="tokenizer"):
        XeMapNetwork(XeMapConfig.tiny(tokenizer="/no/such/dir"))


def test_missing_attention_mask_means_all_real(tiny):
    ids = tiny.tokenize(["a pond"])["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(
            tiny(_pixels(1), ids), tiny(_pixels(1), ids, torch.ones_like(ids))
        )


# ---------------------------------------------------------------- AMP
def test_cpu_autocast_bfloat16(tiny):
    batch = tiny.tokenize(["a pond", "a red roof"])
    with torch.no_grad():
        ref = tiny(_pixels(), **batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            amp = tiny(_pixels(), **batch)
    assert amp.dtype == torch.float32 and torch.isfinite(amp).all()
    torch.testing.assert_close(amp, ref, atol=0.05, rtol=0)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_forward_and_backward(dtype):
    torch.manual_seed(0)
    model = XeMapNetwork(XeMapConfig.tiny()).cuda().train()
    batch = model.tokenize(["a pond", "a red roof next to the road"])
    x = _pixels().cuda()
    with torch.autocast("cuda", dtype=dtype):
        maps = model(x, **batch)
    assert maps.dtype == torch.float32 and maps.shape == (2, 64, 64)
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    maps.mean().backward()
    grads = [p.grad for p in model.fusion.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        ref = model(x, **batch)
        with torch.autocast("cuda", dtype=dtype):
            amp = model(x, **batch)
    torch.testing.assert_close(amp, ref, atol=0.05, rtol=0)


@pytest.mark.cuda
@cuda
def test_cuda_save_load_round_trip(tmp_path):
    model = XeMapNetwork(XeMapConfig.tiny()).cuda().eval()
    model.save_pretrained(tmp_path)
    again = XeMapNetwork.from_pretrained(tmp_path, map_location="cuda")
    assert again.device.type == "cuda"
    batch = model.tokenize(["a pond"])
    with torch.no_grad():
        torch.testing.assert_close(
            again(_pixels(1).cuda(), **batch), model(_pixels(1).cuda(), **batch)
        )


# ---------------------------------------------------------------- demo preset
def test_demo_uses_pretrained_minilm(demo):
    from safetensors.torch import load_file

    state = load_file(str(minilm_dir() / "model.safetensors"))
    key = next(k for k in state if k.endswith("encoder.layer.5.output.dense.weight"))
    assert torch.equal(demo.text_encoder.model.encoder.layer[5].output.dense.weight, state[key])
    key = next(k for k in state if k.endswith("embeddings.word_embeddings.weight"))
    assert torch.equal(demo.text_encoder.model.embeddings.word_embeddings.weight, state[key])
    assert demo.text_encoder.model.pooler is None
    assert demo.config.text_config["hidden_size"] == 384
    assert demo.config.text_config["num_hidden_layers"] == 6
    counts = demo.parameter_counts()
    assert 22_000_000 < counts["text"] < 23_000_000
    batch = demo.tokenize(["a pond", "two red roofs"])
    with torch.no_grad():
        maps = demo(_pixels(2, 128, 128), **batch)
    assert maps.shape == (2, 128, 128)
