"""The referring-model contract for both mask-supervised families (CroBIM, S4ECA).

Forward shape and range, any input size, padded tokens without effect, the map depends on
the query, gradients reach exactly the trainable parts, save / load round trip through the
registry, the loss against masks, bad input.
"""

from __future__ import annotations

import pytest
import torch

from xemap.models.layers.losses import ce_dice_loss
from xemap.models.registry import create_model, list_models, load_pretrained

FAMILIES = ("crobim", "s4eca")
QUERIES = ["the red square left of the blue circle", "all green triangles"]


@pytest.fixture(scope="module", params=FAMILIES)
def model(request):
    torch.manual_seed(0)
    return create_model(request.param, "tiny").eval()


def _pixels(b=2, h=64, w=64, seed=0):
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _batch(model, b=2):
    tok = model.tokenize(QUERIES[:b])
    mask = torch.zeros(b, 64, 64, dtype=torch.bool)
    mask[:, 10:30, 20:40] = True
    return {"pixel_values": _pixels(b), **tok, "mask": mask}


def test_registered():
    assert set(FAMILIES) <= set(list_models())


def test_forward_contract(model):
    assert model.supervision == "mask"
    tok = model.tokenize(QUERIES)
    with torch.no_grad():
        probs = model(_pixels(), **tok)
    assert probs.shape == (2, 64, 64) and probs.dtype == torch.float32
    assert float(probs.min()) >= 0 and float(probs.max()) <= 1
    with torch.no_grad():  # attention_mask optional, token_type_ids accepted
        one = model(_pixels(1), tok["input_ids"][1:, :5])
    assert one.shape == (1, 64, 64)


def test_forward_is_the_foreground_softmax_of_the_logits(model):
    tok = model.tokenize(QUERIES)
    with torch.no_grad():
        logits = model.logits(_pixels(), **tok)
        probs = model(_pixels(), **tok)
    assert logits.shape == (2, 2, 64, 64)
    torch.testing.assert_close(probs, torch.softmax(logits, 1)[:, 1])


@pytest.mark.parametrize("size", [(72, 40), (33, 65)])
def test_output_has_the_input_size(model, size):
    with torch.no_grad():
        assert model(_pixels(1, *size), **model.tokenize(QUERIES[:1])).shape == (1, *size)


def test_padded_tokens_have_no_effect(model):
    """A query scores the same alone and padded beside a longer one."""
    long = model.tokenize(QUERIES)  # query 1 is padded
    alone = model.tokenize(QUERIES[1:])
    assert int(long["attention_mask"][1].sum()) < long["attention_mask"].shape[1]
    with torch.no_grad():
        padded = model(_pixels(2), **long)[1]
        ref = model(_pixels(2)[1:], **alone)[0]
    torch.testing.assert_close(padded, ref, rtol=1e-4, atol=1e-5)


def test_padding_content_is_ignored(model):
    tok = model.tokenize(QUERIES)
    junk = dict(tok)
    ids = tok["input_ids"].clone()
    ids[tok["attention_mask"] == 0] = 2000  # some real word where the padding is
    junk["input_ids"] = ids
    with torch.no_grad():
        torch.testing.assert_close(model(_pixels(), **junk), model(_pixels(), **tok))


def test_the_map_depends_on_the_query(model):
    """Cut the text path and this fails: another query, another map."""
    px = _pixels(1)
    with torch.no_grad():
        a = model(px, **model.tokenize(["the red square"]))
        b = model(px, **model.tokenize(["all blue circles below the yellow triangle"]))
    assert float((a - b).abs().max()) > 1e-4


def test_each_sample_reads_its_own_query(model):
    tok = model.tokenize(QUERIES)
    swapped = {k: v.flip(0) for k, v in tok.items()}
    px = _pixels(2)
    with torch.no_grad():
        a = model(px, **tok)
        b = model(px.flip(0), **swapped).flip(0)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_loss_is_ce_dice_of_the_logits(model):
    batch = _batch(model)
    with torch.no_grad():
        loss = model.loss(batch)
        logits = model.logits(batch["pixel_values"], batch["input_ids"], batch["attention_mask"])
    assert float(loss) == pytest.approx(float(ce_dice_loss(logits, batch["mask"])), rel=1e-5)
    with pytest.raises(ValueError, match="needs 'mask'"):
        model.loss({k: v for k, v in batch.items() if k != "mask"})


def _grads_after_backward(model):
    model.train()
    model.zero_grad(set_to_none=True)
    model.loss(_batch(model)).backward()
    model.eval()
    return {n for n, p in model.named_parameters() if p.grad is not None}


def test_gradients_reach_exactly_the_trainable_parts(model):
    cls = type(model)
    default = tuple(model.config.trainable)
    try:
        for parts in (default, tuple(model.part_modules)):
            model.set_trainable(parts)
            want = {
                f"{model.part_modules[p]}.{n}"
                for p in parts
                for n, _ in getattr(model, model.part_modules[p]).named_parameters()
            }
            got = _grads_after_backward(model)
            assert got == want, f"{cls.__name__} {parts}: {sorted(got ^ want)[:5]}"
    finally:
        model.set_trainable(default)
        model.zero_grad(set_to_none=True)


def test_frozen_parts_stay_in_eval_mode(model):
    default = tuple(model.config.trainable)
    model.train()
    for name, part in model.parts().items():
        assert part.training == (name in default)
    model.eval()


def test_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    again = load_pretrained(tmp_path)
    assert type(again) is type(model) and again.config == model.config
    tok = model.tokenize(QUERIES)
    with torch.no_grad():
        torch.testing.assert_close(again(_pixels(), **tok), model(_pixels(), **tok), rtol=0, atol=0)
    assert again.tokenize(QUERIES)["input_ids"].tolist() == tok["input_ids"].tolist()


def test_load_refuses_another_family(model, tmp_path):
    model.save_pretrained(tmp_path)
    other = next(f for f in FAMILIES if f != model.family)
    from xemap.models.registry import get_model_class

    with pytest.raises(ValueError, match=f"holds a '{model.family}' model"):
        get_model_class(other).from_pretrained(tmp_path)


def test_bad_input(model):
    tok = model.tokenize(QUERIES)
    with pytest.raises(ValueError, match=r"pixel_values must be \(B, 3, H, W\)"):
        model(torch.zeros(2, 64, 64), **tok)
    with pytest.raises(ValueError, match="input_ids must be"):
        model(_pixels(3), **tok)
    with pytest.raises(ValueError, match="at least one real token"):
        model(_pixels(), tok["input_ids"], torch.zeros_like(tok["attention_mask"]))
    with pytest.raises(ValueError, match="must be float"):
        model(_pixels().long(), **tok)


def test_config_round_trip_and_presets(model):
    cfg = model.config
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        type(cfg).from_dict({**cfg.to_dict(), "nonsense": 1})
    with pytest.raises(ValueError, match="trainable parts must be among"):
        cfg.replace(trainable=("everything",))
    with pytest.raises(ValueError, match="unknown config preset"):
        create_model(model.family, "huge")
    assert create_model(model.family, "tiny", image_size=96).config.image_size == 96


def test_the_engines_text_cache_changes_nothing(model):
    """The engine's cache feeds zeros at padded positions: the map must not change."""
    from xemap.engine.text_cache import install_text_cache

    default = tuple(model.config.trainable)
    model.set_trainable([p for p in default if p != "text"])
    tok = model.tokenize(QUERIES)
    cache = None
    try:
        with torch.no_grad():
            ref = model(_pixels(), **tok)
            cache = install_text_cache(model)
            assert cache is not None
            cached = model(_pixels(), **tok)
            again = model(_pixels(), **tok)
        assert cache.misses == 2 and cache.hits == 2
        torch.testing.assert_close(cached, ref, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(again, ref, rtol=1e-4, atol=1e-5)
    finally:
        if cache is not None:
            cache.remove()
        model.set_trainable(default)


def test_autocast_bfloat16_on_cpu(model):
    """Mixed precision (what the engine's AMP does on CUDA, here bfloat16 on CPU)."""
    batch = _batch(model)
    model.train()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model.loss(batch)
            probs = model(batch["pixel_values"], batch["input_ids"], batch["attention_mask"])
        loss.backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
    assert loss.dtype == torch.float32 and bool(torch.isfinite(loss))
    assert probs.dtype == torch.float32 and probs.shape == (2, 64, 64)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_amp_training_step_and_save_load(model, tmp_path):
    m = create_model(model.family, "tiny").cuda()
    batch = {k: v.cuda() for k, v in _batch(m).items()}
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3)
    scaler = torch.amp.GradScaler("cuda")
    m.train()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = m.loss(batch)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert bool(torch.isfinite(loss))
    m.eval()
    m.save_pretrained(tmp_path)
    again = load_pretrained(tmp_path, map_location="cuda")
    tok = {k: batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        torch.testing.assert_close(
            again(batch["pixel_values"], **tok), m(batch["pixel_values"], **tok)
        )
