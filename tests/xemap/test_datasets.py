"""Manifests (JSON / JSONL / AIR-SLT), the torch dataset and the collator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from xemap.data import (
    Collator,
    ManifestError,
    XeMapDataset,
    make_target,
    mcmg_target,
    read_anno,
    read_manifest,
    write_manifest,
)

SQUARE = [[[10, 20], [40, 20], [40, 50], [10, 50]]]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:51, 10:41] = 255
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    return tmp_path


def _rows():
    return [
        {"id": "p", "image": "a.png", "query": "the square", "polygons": SQUARE, "kind": "x"},
        {"id": "m", "image": "a.png", "query": "the square", "mask": "a_mask.png"},
    ]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_and_jsonl_manifests(folder, suffix):
    path = write_manifest(folder / f"m{suffix}", _rows())
    got = read_manifest(path)
    assert [s["id"] for s in got] == ["p", "m"]
    assert got[0]["image"] == str(folder / "a.png")
    assert got[0]["kind"] == "x"  # attributes kept
    assert got[1]["mask"] == str(folder / "a_mask.png")


def test_json_object_with_samples_key(folder):
    (folder / "m.json").write_text(json.dumps({"samples": _rows()}))
    assert len(read_manifest(folder / "m.json")) == 2


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"id": "b1", "image": "a.png", "polygons": SQUARE}, r"id 'b1'.*query"),
        ({"id": "b2", "query": "q", "polygons": SQUARE}, r"id 'b2'.*image"),
        ({"id": "b3", "image": "a.png", "query": "q"}, r"id 'b3'.*exactly one"),
        (
            {"id": "b4", "image": "a.png", "query": "q", "polygons": SQUARE, "mask": "m.png"},
            r"id 'b4'.*exactly one",
        ),
        (
            {"id": "b5", "image": "a.png", "query": "q", "polygons": [[[0, 0], [1, 1]]]},
            r"id 'b5'.*polygon 0",
        ),
        ({"id": "b6", "image": "a.png", "query": "q", "polygons": []}, r"id 'b6'.*non-empty"),
        ({"id": "b7", "image": "a.png", "query": " ", "polygons": SQUARE}, r"id 'b7'.*query"),
        ("just a string", r"sample 1: expected an object"),
    ],
)
def test_bad_manifest_names_the_sample(folder, row, match):
    good = {"id": "ok", "image": "a.png", "query": "q", "polygons": SQUARE}
    (folder / "m.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ManifestError, match=match):
        read_manifest(folder / "m.jsonl")


def test_bad_json_and_duplicates(folder):
    (folder / "m.jsonl").write_text('{"id": 1}\n{oops\n')
    with pytest.raises(ManifestError, match="line 2"):
        read_manifest(folder / "m.jsonl")
    row = {"id": "d", "image": "a.png", "query": "q", "polygons": SQUARE}
    (folder / "m.json").write_text(json.dumps([row, row]))
    with pytest.raises(ManifestError, match="duplicate"):
        read_manifest(folder / "m.json")
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(folder / "nope.json")
    assert issubclass(ManifestError, ValueError)


def test_read_anno(folder):
    (folder / "anno.json").write_text(
        json.dumps([{"caption": "c", "jpg_name": "a.png", "points": SQUARE}, {"caption": "d"}])
    )
    with pytest.raises(ManifestError, match=r"entry 1.*jpg_name"):
        read_anno(folder / "anno.json")


def test_dataset_items(folder):
    ds = XeMapDataset(write_manifest(folder / "m.jsonl", _rows()), image_size=32)
    assert len(ds) == 2
    a, b = ds[0], ds[1]
    for it in (a, b):
        assert it["image"].shape == (32, 32, 3) and it["image"].dtype == torch.uint8
        assert it["target"].shape == (32, 32) and it["target"].dtype == torch.float32
        assert float(it["target"].max()) == 1.0 and float(it["target"].min()) >= 0.0
    # the target is where the square is: x 10..40 of 80 -> cols 4..16 of 32; y 20..50 of 60
    t = a["target"].numpy()
    r, c = np.unravel_index(t.argmax(), t.shape)
    assert 10 <= r <= 27 and 4 <= c <= 16
    # the polygon and its mask make nearly the same target
    diff = np.abs(a["target"].numpy() - b["target"].numpy())
    assert diff.mean() < 0.03 and diff.max() < 0.35  # edge pixels: binary vs area coverage


def test_target_of_a_resized_sample_equals_target_at_that_size():
    s = {"id": "x", "polygons": [[[0, 0], [100, 0], [100, 100], [0, 100]]]}
    t = make_target(s, (400, 200), 64)  # x scale 64/200, y scale 64/400
    ref = mcmg_target([[[0, 0], [32, 0], [32, 16], [0, 16]]], shape=(64, 64))
    np.testing.assert_array_equal(t, ref)


def test_bad_image_and_mask_shape(folder):
    ds = XeMapDataset(
        [{"id": "z", "image": str(folder / "missing.png"), "query": "q", "polygons": SQUARE}],
        image_size=16,
    )
    with pytest.raises(ManifestError, match=r"'z'.*cannot read image"):
        ds[0]
    s = {
        "id": "w",
        "image": np.zeros((10, 10, 3), np.uint8),
        "query": "q",
        "mask": np.ones((5, 5), np.uint8),
    }
    with pytest.raises(ManifestError, match=r"'w'.*mask shape"):
        XeMapDataset([s], image_size=8)[0]


def test_collator_with_real_tokenizer():
    from xemap.models.sources import load_tokenizer

    tok = load_tokenizer("minilm")

    def tokenize(qs):
        return tok(qs, padding=True, return_tensors="pt")

    items = [
        {
            "image": torch.zeros(8, 8, 3, dtype=torch.uint8),
            "target": torch.rand(8, 8),
            "query": q,
            "id": str(i),
        }
        for i, q in enumerate(["the red square", "all blue circles left of the green triangle"])
    ]
    b = Collator(tokenize)(items)
    assert b["image"].shape == (2, 8, 8, 3) and b["target"].shape == (2, 8, 8)
    assert b["input_ids"].shape[0] == 2 and b["attention_mask"].shape == b["input_ids"].shape
    assert int(b["attention_mask"][0].sum()) < int(b["attention_mask"][1].sum())
