"""CroBIM and S4ECA end to end through the command lines a user runs: ``xemap train`` on a
synthetic manifest, ``xemap predict`` from the run folder, ``selo-metrics score`` of the maps
with both metric families (tiny presets, 2 steps)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from selo_metrics.cli import main as selo_main
from xemap.cli import main as xemap_main
from xemap.data.synthetic import make_scenes, write_task


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    train = write_task(root / "train", make_scenes(3, seed=0, size=64))
    held = write_task(root / "held", make_scenes(3, seed=1, size=64), one_per_scene=True)
    return train, held


@pytest.mark.parametrize("family", ["crobim", "s4eca"])
def test_train_predict_score_from_the_command_lines(family, task, tmp_path):
    train, held = task
    run = tmp_path / "run"
    cfg = {
        "model": {"family": family, "preset": "tiny"},
        "train": [str(train["manifest"])],
        "out": str(run),
        "epochs": 1,
        "batch_size": 2,
        "lr": 1e-3,
        "max_steps": 2,
        "device": "cpu",
        "seed": 0,
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    assert xemap_main(["train", str(tmp_path / "cfg.json")]) == 0
    assert json.loads((run / "model" / "config.json").read_text())["family"] == family

    maps = tmp_path / "maps"
    argv = ["predict", str(run), "--anno", str(held["anno"]), "--images", str(held["images"])]
    assert xemap_main([*argv, "--out", str(maps)]) == 0
    anno = json.loads(held["anno"].read_text())
    pngs = sorted(maps.glob("probmap_*.png"))
    assert len(pngs) == len(anno) == 3

    # the written map is the saved model's own forward on that image and query (uint8 / 255)
    from xemap.engine.predict import load_model

    model = load_model(run, "cpu").eval()
    entry = anno[0]
    img = np.array(Image.open(held["images"] / entry["jpg_name"]).convert("RGB"))
    with torch.no_grad():
        tok = model.tokenize([entry["caption"]])
        prob = model(model.normalise(torch.as_tensor(img[None])), **tok)
    written = np.asarray(Image.open(maps / "probmap_0.png"), dtype=np.float64) / 255
    assert written.shape == img.shape[:2]
    np.testing.assert_allclose(written, prob[0].numpy(), atol=1 / 255 + 1e-6)

    scores = tmp_path / "scores"
    argv = ["score", str(held["anno"]), str(maps), "--out", str(scores), "--metrics", "selo,rrsis"]
    assert selo_main(argv) == 0
    summary = json.loads((scores / "summary.json").read_text())
    assert summary["scored"] == 3 and summary["failed"] == 0
    for key in ("rmi", "miou", "oiou", "prec@0.5", "prec@0.9"):
        assert 0.0 <= summary[key] <= 1.0, key
