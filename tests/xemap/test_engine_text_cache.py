"""The frozen-text-encoder cache: same maps, counted hits, any tensor outputs, safe modes."""

from __future__ import annotations

import torch
from torch import nn

from xemap.engine.text_cache import TextFeatureCache, install_text_cache
from xemap.models import create_model

QUERIES = ["the red square", "a pond left of the long white road", "the red square"]


def test_xemap_maps_are_unchanged_and_repeats_hit():
    torch.manual_seed(0)
    model = create_model("xemap", "tiny").eval()
    pixel = torch.randn(3, 3, 64, 64)
    batch = model.tokenize(QUERIES)
    with torch.no_grad():
        plain = model(pixel, **batch)
        cache = install_text_cache(model)
        assert isinstance(cache, TextFeatureCache)
        cached = model(pixel, **batch)
        again = model(pixel, **batch)
    assert (cache.misses, cache.hits) == (2, 4)
    torch.testing.assert_close(cached, plain, rtol=0, atol=1e-5)
    assert torch.equal(again, cached)
    cache.remove()
    assert "forward" not in model.text_encoder.__dict__
    with torch.no_grad():
        assert torch.equal(model(pixel, **batch), plain)


def test_features_do_not_depend_on_batch_mates():
    torch.manual_seed(0)
    model = create_model("xemap", "tiny").eval()
    cache = install_text_cache(model)
    b1 = model.tokenize(QUERIES[:1])
    b2 = model.tokenize(QUERIES[:2])
    with torch.no_grad():
        alone = model.text_encoder(b1["input_ids"], b1["attention_mask"])
        cache.cache.clear()
        mixed = model.text_encoder(b2["input_ids"], b2["attention_mask"])
    n = int(b1["attention_mask"].sum())
    assert torch.equal(mixed[0, :n], alone[0, :n])
    assert torch.equal(mixed[0, n:], torch.zeros_like(mixed[0, n:]))  # padding re-padded with 0


def test_no_cache_for_a_trainable_or_training_encoder():
    model = create_model("xemap", "tiny", trainable=("text", "fusion"))
    assert install_text_cache(model) is None
    model = create_model("xemap", "tiny")
    cache = install_text_cache(model)
    model.text_encoder.train()  # forced into training mode: pass through, nothing stored
    b = model.tokenize(QUERIES)
    model.text_encoder(b["input_ids"], b["attention_mask"])
    assert cache.misses == 0 and not cache.cache


class TupleEncoder(nn.Module):
    """Per-token features and a pooled vector, as another family's encoder might return."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 4)
        self.requires_grad_(False)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        tokens = self.emb(input_ids) * attention_mask[..., None]
        return tokens, tokens.sum(1) / attention_mask.sum(1, keepdim=True)


def test_tuple_outputs_are_cached_and_repadded():
    enc = TupleEncoder().eval()
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    want_tokens, want_pooled = enc(ids, mask)
    cache = TextFeatureCache(enc)
    tokens, pooled = enc(ids, mask)
    assert torch.equal(tokens, want_tokens) and torch.equal(pooled, want_pooled)
    tokens, pooled = enc(ids, mask)
    assert cache.hits == 2 and torch.equal(tokens, want_tokens)


def test_inference_mode_misses_are_not_stored_then_training_works():
    torch.manual_seed(0)
    model = create_model("xemap", "tiny")
    cache = install_text_cache(model)
    pixel = torch.randn(3, 3, 64, 64)
    batch = model.tokenize(QUERIES)
    model.eval()
    with torch.inference_mode():
        model(pixel, **batch)
    assert not cache.cache
    model.train()
    loss = model.loss({"pixel_values": pixel, **batch, "target": torch.zeros(3, 64, 64)})
    loss.backward()  # would fail on inference tensors taken from the cache
    assert cache.misses == 3 + 2 and len(cache.cache) == 2  # nothing stored in inference mode
