"""The RRSIS data set loaders on tiny fixtures written in each layout, and their manifests."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from selo_metrics.rrsis import read_mask
from tests.xemap.test_rrsis_data_coco import coco_encode, runs_of
from xemap.data import make_target, read_manifest
from xemap.data.datasets import load_image, make_mask
from xemap.data.rrsis import (
    DatasetError,
    UnsafePickleError,
    load_refsegrs,
    load_risbench,
    load_rrsisd,
    write_rrsis_manifests,
)
from xemap.data.rrsis.__main__ import main as rrsis_cli

H, W = 10, 12


def coco_rle_string(mask):
    """Compressed COCO RLE of a mask (the test's own encoder, from maskApi.c)."""
    return coco_encode(runs_of(mask))


def box(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


RLE_MASK = np.zeros((H, W), bool)
RLE_MASK[2:5, 3:9] = True


def write_rrsisd(root, *, refs=None, flat=True, tall_image=True):
    """A REFER-layout RRSIS-D: 2 images (one a row taller than its annotation), 4 refs."""
    ann_dir = root if flat else root / "rrsisd"
    img_dir = root / "JPEGImages" if flat else root / "images" / "rrsisd" / "JPEGImages"
    ann_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), np.uint8)).save(img_dir / "a.jpg")
    tall = rng.integers(0, 255, (H + (1 if tall_image else 0), W, 3), np.uint8)
    Image.fromarray(tall).save(img_dir / "b.jpg")
    instances = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": H, "width": W},
                   {"id": 2, "file_name": "b.jpg", "height": H, "width": W}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [box(1, 1, 5, 4)]},
            {"id": 11, "image_id": 1, "category_id": 2,
             "segmentation": [box(0, 5, 6, 9), box(4, 5, 10, 9)]},  # overlap: cols 4-5
            {"id": 12, "image_id": 2, "category_id": 1,
             "segmentation": {"size": [H, W], "counts": coco_rle_string(RLE_MASK)}},
            {"id": 13, "image_id": 2, "category_id": 2,
             "segmentation": {"size": [H, W], "counts": [0, 5, H * W - 5]}},
        ],
        "categories": [{"id": 1, "name": "vehicle"}, {"id": 2, "name": "pond"}],
    }  # fmt: skip
    (ann_dir / "instances.json").write_text(json.dumps(instances))

    def ref(rid, aid, iid, split, *sents):
        return {
            "ref_id": rid,
            "ann_id": aid,
            "image_id": iid,
            "category_id": 1 + rid % 2,
            "split": split,
            "sent_ids": [rid * 10 + k for k in range(len(sents))],
            "sentences": [
                {"raw": s, "sent": s.lower(), "sent_id": rid * 10 + k} for k, s in enumerate(sents)
            ],
        }

    refs = refs if refs is not None else [
        ref(1, 10, 1, "test", "The small car", "car at the top"),
        ref(2, 11, 1, "train", "the pond"),
        ref(3, 12, 2, "testB", "a vehicle"),
        ref(4, 13, 2, "test", "the pond on the left"),
    ]  # fmt: skip
    data = refs if isinstance(refs, bytes) else pickle.dumps(refs)
    (ann_dir / "refs(unc).p").write_bytes(data)
    return root


def test_rrsisd_rows_follow_refer_order_and_split(tmp_path):
    rows = load_rrsisd(write_rrsisd(tmp_path / "d"), split="test", out_dir=tmp_path / "out")
    assert [r["id"] for r in rows] == ["1-10", "1-11", "3-30", "4-40"]  # testB is in "test"
    assert [r["query"] for r in rows][:2] == ["The small car", "car at the top"]  # raw text
    assert rows[0]["category"] == "pond" and rows[3]["category"] == "vehicle"
    assert rows[0]["polygons"] == [[[1, 1], [5, 1], [5, 4], [1, 4]]]
    assert "mask" not in rows[0]
    train = load_rrsisd(tmp_path / "d", split="train", out_dir=tmp_path / "out")
    assert [r["id"] for r in train] == ["2-20"]
    assert len(train[0]["polygons"]) == 2


def test_rrsisd_rle_masks_are_decoded_and_written(tmp_path):
    rows = load_rrsisd(write_rrsisd(tmp_path / "d"), out_dir=tmp_path / "out")
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_array_equal(read_mask(by_id["3-30"]["mask"]), RLE_MASK)
    want = np.zeros((H, W), bool)
    want[:5, 0] = True  # uncompressed counts [0, 5, ...]: the first 5 pixels of column 0
    np.testing.assert_array_equal(read_mask(by_id["4-40"]["mask"]), want)
    assert np.asarray(Image.open(by_id["4-40"]["mask"])).max() == 255  # 0/255, viewable


def test_rrsisd_refer_mode_drops_overlaps(tmp_path):
    rows = load_rrsisd(
        write_rrsisd(tmp_path / "d"), split="train", out_dir=tmp_path / "o", gt="refer"
    )
    m = read_mask(rows[0]["mask"])
    want = np.zeros((H, W), bool)
    want[5:9, 0:4] = True  # box(0, 5, 6, 9): cols 0-5; box(4, 5, 10, 9): cols 4-9
    want[5:9, 6:10] = True  # cols 4-5 covered twice: background, as REFER + LAVT
    np.testing.assert_array_equal(m, want)
    tests = load_rrsisd(tmp_path / "d", out_dir=tmp_path / "o", gt="refer")
    assert all("mask" in r and "polygons" not in r for r in tests)
    box_mask = read_mask(tests[0]["mask"])
    assert box_mask.sum() == 4 * 3 and box_mask[1:4, 1:5].all()  # COCO: box(1,1,5,4)


@pytest.mark.parametrize("rule", ["resize", "crop"])
def test_rrsisd_image_taller_than_its_annotation_is_fitted(tmp_path, rule):
    root = write_rrsisd(tmp_path / "d")
    rows = load_rrsisd(root, out_dir=tmp_path / "out", size_rule=rule)
    b = next(r for r in rows if r["id"] == "3-30")
    assert b["image_size"] == [H + 1, W] and b["image"] == str(tmp_path / "out/images/b.png")
    fitted = np.asarray(Image.open(b["image"]))
    assert fitted.shape == (H, W, 3)
    original = np.asarray(Image.open(root / "JPEGImages" / "b.jpg").convert("RGB"))
    if rule == "crop":
        np.testing.assert_array_equal(fitted, original[:H])
    else:  # the whole image squashed to the annotation's size (Pillow, bilinear)
        resized = Image.fromarray(original).resize((W, H), Image.BILINEAR)
        np.testing.assert_array_equal(fitted, np.asarray(resized))
        assert not np.array_equal(fitted, original[:H])
    a = rows[0]
    assert "image_size" not in a and a["image"] == str(root / "JPEGImages" / "a.jpg")


def test_crop_rule_pads_a_short_image_with_black(tmp_path):
    root = write_rrsisd(tmp_path / "d")
    Image.fromarray(np.full((H - 2, W, 3), 200, np.uint8)).save(root / "JPEGImages" / "b.jpg")
    rows = load_rrsisd(root, out_dir=tmp_path / "out", size_rule="crop")
    fitted = np.asarray(Image.open(next(r for r in rows if "image_size" in r)["image"]))
    assert fitted.shape == (H, W, 3) and fitted[H - 2 :].max() == 0 and fitted[: H - 2].min() > 150


def test_rrsisd_errors_name_the_problem(tmp_path):
    root = write_rrsisd(tmp_path / "d")
    with pytest.raises(
        DatasetError, match="is 11 x 12 but its annotation is 10 x 12; give an output folder"
    ):
        load_rrsisd(root)  # the tall image needs an output folder
    with pytest.raises(DatasetError, match="unknown gt mode"):
        load_rrsisd(root, out_dir=tmp_path / "o", gt="masks")
    with pytest.raises(DatasetError, match="no refs under"):
        load_rrsisd(tmp_path / "empty")
    bad = write_rrsisd(
        tmp_path / "bad",
        refs=[{"ref_id": 9, "ann_id": 99, "image_id": 1, "split": "test", "sentences": []}],
    )
    with pytest.raises(DatasetError, match="ref_id 9: annotation 99 is not in"):
        load_rrsisd(bad, out_dir=tmp_path / "o")
    (root / "instances.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"instances\.json as JSON"):
        load_rrsisd(root, out_dir=tmp_path / "o")


def test_rrsisd_refer_layout_is_found(tmp_path):
    root = write_rrsisd(tmp_path / "refer_data", flat=False, tall_image=False)
    rows = load_rrsisd(root, split="train")  # polygons, sizes agree: nothing to write
    assert [r["id"] for r in rows] == ["2-20"]
    assert rows[0]["image"] == str(root / "images" / "rrsisd" / "JPEGImages" / "a.jpg")
    assert len(load_rrsisd(root, out_dir=tmp_path / "o")) == 4


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_rrsisd_malicious_refs_file_is_refused_without_side_effect(tmp_path):
    target = tmp_path / "pwned"
    root = write_rrsisd(tmp_path / "d", refs=pickle.dumps([_Payload(str(target))]))
    with pytest.raises(UnsafePickleError, match=r"refs\(unc\)\.p.*opcode"):
        load_rrsisd(root, out_dir=tmp_path / "out")
    assert not target.exists()
    assert rrsis_cli(["rrsisd", str(root), "--out", str(tmp_path / "out")]) == 2
    assert not target.exists()


def write_folder_dataset(root, name):
    """RefSegRS (TIFF, 0/255 masks) or RISBench (PNG, 0/1 masks) with 2 images."""
    img_sub, mask_sub, ext = (
        ("images", "masks", ".tif") if name == "refsegrs" else ("img_rgb", "mask", ".png")
    )
    (root / img_sub).mkdir(parents=True)
    (root / mask_sub).mkdir()
    rng = np.random.default_rng(1)
    masks = {}
    for stem, (h, w) in {"101": (8, 9), "102": (6, 7)}.items():
        m = np.zeros((h, w), np.uint8)
        m[2:5, 1:4] = 1
        masks[stem] = m.astype(bool)
        Image.fromarray(m * (255 if name == "refsegrs" else 1)).save(root / mask_sub / (stem + ext))
        ih = h + 1 if stem == "102" else h  # 102's image is a row taller than its mask
        Image.fromarray(rng.integers(0, 255, (ih, w, 3), np.uint8)).save(
            root / img_sub / (stem + ext)
        )
    first = "101" if name == "refsegrs" else "101.png"
    second = "102" if name == "refsegrs" else "102.png"
    (root / "output_phrase_test.txt").write_text(
        f"{first} the paved road\n\n{second}   two   ponds \n{first} road on the left\n"
    )
    return root, masks


@pytest.mark.parametrize(
    ("name", "load"), [("refsegrs", load_refsegrs), ("risbench", load_risbench)]
)
def test_folder_datasets(tmp_path, name, load):
    root, masks = write_folder_dataset(tmp_path / name, name)
    rows = load(root, out_dir=tmp_path / "out")
    assert [r["id"] for r in rows] == ["test-1", "test-3", "test-4"]  # line numbers
    assert [r["query"] for r in rows] == ["the paved road", "two   ponds", "road on the left"]
    np.testing.assert_array_equal(read_mask(rows[0]["mask"]), masks["101"])  # 0/255 or 0/1
    assert rows[1]["image_size"] == [7, 7] and rows[1]["image"].endswith("images/102.png")
    assert load_image(rows[1]["image"]).shape[:2] == (6, 7) == (rows[1]["height"], rows[1]["width"])
    with pytest.raises(DatasetError, match="give an output folder"):
        load(root)
    with pytest.raises(DatasetError, match=r"output_phrase_val\.txt does not exist"):
        load(root, split="val")
    (root / "output_phrase_train.txt").write_text("101 fine\n103 missing one\n")
    with pytest.raises(DatasetError, match=r"line 2: image file .*103\.\w+ does not exist"):
        load(root, split="train")
    (root / "output_phrase_train.txt").write_text("101\n")
    with pytest.raises(DatasetError, match="line 1: '101' has no expression"):
        load(root, split="train")


def test_manifests_are_read_by_xemap_and_selo_metrics(tmp_path):
    from selo_metrics import load_samples

    rows = load_rrsisd(write_rrsisd(tmp_path / "d"), out_dir=tmp_path / "out")
    paths = write_rrsis_manifests(rows, tmp_path / "out", "rrsisd_test")
    samples = read_manifest(paths["manifest"])
    assert [s["id"] for s in samples] == [r["id"] for r in rows]
    for s in samples:  # every sample's image, GT and target agree in size (xemap train)
        img = load_image(s["image"], sample_id=s["id"])
        assert img.shape[:2] == (H, W)
        assert make_target(s, img.shape[:2], 16).shape == (16, 16)
        assert make_mask(s, img.shape[:2], 16).any()  # the "mask" supervision (RRSIS models)
    score = [json.loads(line) for line in paths["score"].read_text().splitlines()]
    assert [s["map"] for s in score] == [f"probmap_{i}.png" for i in range(len(rows))]
    assert score[0]["attributes"] == {"category": "pond"}
    polygons_only = tmp_path / "poly.jsonl"
    polygons_only.write_text("".join(json.dumps(s) + "\n" for s in score if "polygons" in s))
    assert [s.id for s in load_samples(polygons_only)] == ["1-10", "1-11"]


def test_cli_writes_both_manifests(tmp_path, capsys):
    root, _ = write_folder_dataset(tmp_path / "rs", "risbench")
    assert rrsis_cli(["risbench", str(root), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "3 samples (0 with polygons, 3 with masks; 1 of them on images fitted" in out
    assert (tmp_path / "m" / "risbench_test.jsonl").exists()
    assert (tmp_path / "m" / "risbench_test.score.jsonl").exists()
    assert rrsis_cli(["refsegrs", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m")]) == 2
    assert "error:" in capsys.readouterr().err


def test_end_to_end_dataset_to_score(tmp_path, capsys):
    """Loader -> manifests -> maps named as xemap predict names them -> selo-metrics score."""
    from selo_metrics import gt_mask
    from selo_metrics.cli import main as selo_cli

    root = write_rrsisd(tmp_path / "d")
    assert rrsis_cli(["rrsisd", str(root), "--out", str(tmp_path / "m")]) == 0
    rows = read_manifest(tmp_path / "m" / "rrsisd_test.jsonl")
    maps = tmp_path / "maps"
    maps.mkdir()
    for idx, s in enumerate(rows):  # a perfect model: its map is the GT
        if s.get("mask"):
            gt = read_mask(s["mask"])
        else:
            gt = gt_mask([np.array(p, float) for p in s["polygons"]], (H, W)).astype(bool)
        Image.fromarray(gt.astype(np.uint8) * 255).save(maps / f"probmap_{idx}.png")
    score = str(tmp_path / "m" / "rrsisd_test.score.jsonl")
    run = tmp_path / "run"
    assert (
        selo_cli(
            [
                "score",
                score,
                str(maps),
                "--out",
                str(run),
                "--metrics",
                "rrsis",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["count"] == 4 and summary["miou"] == 1.0 and summary["prec@0.9"] == 1.0
    assert set(summary["by_attribute"]["category"]) == {"pond", "vehicle"}
    both = tmp_path / "run_both"
    assert (
        selo_cli(
            [
                "score",
                score,
                str(maps),
                "--out",
                str(both),
                "--metrics",
                "selo,rrsis",
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 1
    )  # the RLE samples: no polygons
    summary = json.loads((both / "summary.json").read_text())
    assert summary["scored"] == 2 and summary["rmi"] is not None and summary["miou"] == 1.0
    assert "100.00" in capsys.readouterr().out
