"""Text and image encoders: shapes, masks, local loading, bad names.

The pretrained MiniLM text encoder is checked in test_models_network.py (loaded once).
"""

from __future__ import annotations

import pytest
import torch

from xemap.models.sources import load_tokenizer
from xemap.models.xemap_network.config import XeMapConfig
from xemap.models.xemap_network.encoders import ImageEncoder, TextEncoder


@pytest.fixture(scope="module")
def tiny_text():
    torch.manual_seed(0)
    return TextEncoder(XeMapConfig.tiny()).eval()


# ---------------------------------------------------------------- text
def test_text_shapes(tiny_text):
    ids = torch.tensor([[101, 1037, 2417, 102], [101, 1038, 102, 0]])
    out = tiny_text(ids, (ids != 0).long())
    assert out.shape == (2, 4, 32) and tiny_text.hidden_size == 32
    assert tiny_text.model.pooler is None


def test_text_padding_does_not_change_real_tokens(tiny_text):
    ids = torch.tensor([[101, 1037, 2417, 102]])
    padded = torch.tensor([[101, 1037, 2417, 102, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        a = tiny_text(ids, torch.ones_like(ids))
        b = tiny_text(padded, mask)
    torch.testing.assert_close(b[:, :4], a, atol=1e-5, rtol=1e-5)


def test_text_too_long_raises(tiny_text):
    ids = torch.ones(1, 129, dtype=torch.long)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        tiny_text(ids, torch.ones_like(ids))


def test_text_from_local_dir(tmp_path):
    from transformers import BertConfig, BertModel

    bert = BertModel(
        BertConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
        ),
        add_pooling_layer=False,
    )
    bert.save_pretrained(tmp_path)
    enc = TextEncoder(XeMapConfig.tiny(text_encoder=str(tmp_path)))
    for (k, a), b in zip(bert.state_dict().items(), enc.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert enc.architecture()["intermediate_size"] == 37
    # load_pretrained=False builds from text_config instead (random weights)
    random = TextEncoder(XeMapConfig.tiny(text_encoder=str(tmp_path)), load_pretrained=False)
    assert random.model.config.intermediate_size == 64


def test_text_bad_names(tmp_path):
    with pytest.raises(ValueError, match="text_encoder"):
        TextEncoder(XeMapConfig.tiny(text_encoder="bert-base-uncased"))
    with pytest.raises(ValueError, match="cannot load a BertModel"):
        TextEncoder(XeMapConfig.tiny(text_encoder=str(tmp_path)))  # empty directory
    with pytest.raises(ValueError, match="text_config"):
        TextEncoder(XeMapConfig.tiny(text_config={"hidden_sise": 3}))


def test_tokenizer_loading(tmp_path):
    tok = load_tokenizer("minilm")
    assert tok.vocab_size == 30522 and tok.pad_token_id == 0
    with pytest.raises(ValueError, match="tokenizer"):
        load_tokenizer(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no usable tokenizer"):
        load_tokenizer(str(tmp_path))


# ---------------------------------------------------------------- image
@pytest.mark.parametrize(
    ("layout", "channels", "strides"),
    [("gdino", [32, 64, 128], [8, 16, 32]), ("swin4", [16, 32, 64, 128], [4, 8, 16, 32])],
)
def test_image_levels_per_layout(layout, channels, strides):
    enc = ImageEncoder(XeMapConfig.tiny(level_layout=layout)).eval()
    assert enc.channels == channels and enc.strides == strides
    x = torch.randn(2, 3, 64, 96)
    maps = enc(x)
    assert [m.shape[1] for m in maps] == channels
    assert [tuple(m.shape[-2:]) for m in maps] == [(64 // s, 96 // s) for s in strides]


def test_image_odd_size_is_padded_up():
    enc = ImageEncoder(XeMapConfig.tiny()).eval()
    maps = enc(torch.randn(1, 3, 70, 50))
    assert [tuple(m.shape[-2:]) for m in maps] == [(9, 7), (5, 4), (3, 2)]


def test_image_gradients_reach_the_input_when_trainable():
    enc = ImageEncoder(XeMapConfig.tiny())
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    sum(m.sum() for m in enc(x)).backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in enc.parameters() if p.requires_grad)


def test_image_from_local_swin_dir(tmp_path):
    from transformers import SwinConfig, SwinModel

    cfg = XeMapConfig.tiny()
    swin = SwinModel(SwinConfig(**cfg.swin_config))
    swin.save_pretrained(tmp_path)
    enc = ImageEncoder(XeMapConfig.tiny(image_pretrained=str(tmp_path)))
    own = dict(enc.model.swin.named_parameters())
    for k, v in swin.named_parameters():
        if k in own:
            assert torch.equal(own[k], v), k
    assert torch.equal(
        enc.model.swin.embeddings.patch_embeddings.projection.weight,
        swin.embeddings.patch_embeddings.projection.weight,
    )


def test_image_bad_names(tmp_path):
    with pytest.raises(ValueError, match="image_pretrained"):
        ImageEncoder(XeMapConfig.tiny(image_pretrained=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="swin_config"):
        ImageEncoder(XeMapConfig.tiny(swin_config={"embed_dimension": 3}))


def test_timm_backbone_needs_timm():
    try:
        import timm  # noqa: F401
    except Exception:
        pass
    else:  # pragma: no cover - timm is not importable beside the CPU torch wheel
        pytest.skip("timm is importable here")
    with pytest.raises(ImportError, match="needs timm"):
        ImageEncoder(XeMapConfig.tiny(image_encoder="timm:swin_tiny_patch4_window7_224"))
