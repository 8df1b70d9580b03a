"""``xemap demo``: scoring, the table and demo.json (fast, tiny model); a real short run (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xemap.cli import main
from xemap.data import KINDS
from xemap.demo import (
    DemoSettings,
    format_table,
    make_demo_data,
    run_demo,
    score_maps,
    summarize_scores,
)

KEYS = {"rmi", "rsu", "ras", "rda", "n", "per_kind"}


def test_demo_data_disjoint_and_balanced():
    tr, ev = make_demo_data(3, 8, seed=1, size=64)
    assert [s["kind"] for s in ev] == list(KINDS) * 2
    train_imgs = {s["image"].tobytes() for s in tr}
    assert not any(s["image"].tobytes() in train_imgs for s in ev)


def test_score_maps_ranks_a_good_map_above_a_flat_one():
    _, ev = make_demo_data(0, 3, seed=0, size=64)
    good, flat = [], []
    for s in ev:
        m = np.zeros((64, 64), np.float32)
        for poly in s["polygons"]:
            xs, ys = np.asarray(poly).T
            m[int(ys.min()) : int(ys.max()) + 1, int(xs.min()) : int(xs.max()) + 1] = 1.0
        good.append(m)
        flat.append(np.full((64, 64), 0.5, np.float32))
    g = summarize_scores(score_maps(good, ev, score_size=512))
    f = summarize_scores(score_maps(flat, ev, score_size=512))
    assert g["rmi"] > 0.8 > f["rmi"] and g["rsu"] > 0.95
    assert f["rsu"] == pytest.approx(1 - np.exp(-0.707), abs=1e-3)  # a flat map's Rsu
    assert set(g["per_kind"]) == set(KINDS[:3])


def test_tiny_demo_writes_json_and_table(tmp_path, capsys):
    st = DemoSettings(
        model="tiny",
        image_size=64,
        n_train=2,
        n_eval=3,
        minutes=3,
        epochs=1,
        trainable=("fusion",),
        batch_size=4,
        score_size=256,
    )
    res = run_demo(tmp_path, st, progress=False, log=lambda m: None)
    data = json.loads((tmp_path / "demo.json").read_text())
    for name in ("untrained", "trained", "shuffled"):
        assert set(data[name]) == KEYS and data[name]["n"] == 3
        assert set(data[name]["per_kind"]) == set(KINDS[:3])
        assert 0 <= data[name]["rmi"] <= 1
    assert data["gain_rmi"] == pytest.approx(data["trained"]["rmi"] - data["untrained"]["rmi"])
    assert data["training"]["epochs"] == 1 and data["config"]["demo"]["model"] == "tiny"
    assert data["seconds"] > 0
    table = format_table(res).splitlines()
    assert table[0].split() == ["model", "kind", "n", "↑Rmi", "↑Rsu", "↓Ras", "↑Rda"]
    assert [r.split()[:2] for r in table[1:3]] == [["untrained", "all"], ["trained", "all"]]
    assert table[3].split()[:2] == ["shuffled", "all"]
    assert len(table) == 1 + 3 * 4
    assert f"{res['trained']['rmi']:6.4f}" in table[2]


def test_demo_cli_with_tiny_model(tmp_path, capsys):
    args = [
        "demo",
        "--out",
        str(tmp_path),
        "--model",
        "tiny",
        "--image-size",
        "64",
        "--n-train",
        "2",
        "--n-eval",
        "3",
        "--minutes",
        "3",
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "untrained  all" in out and "Rmi gain" in out
    assert (tmp_path / "demo.json").is_file()
    ckpts = [p.name for p in (tmp_path / "train" / "checkpoints").iterdir()]
    assert len(ckpts) == 1 and ckpts[0].startswith("epoch_")  # keep_last=1
    assert main(args) == 2  # a second run into the same folder is refused up front
    assert "already holds a training run" in capsys.readouterr().err


def test_demo_refuses_an_impossible_budget(tmp_path):
    st = DemoSettings(model="tiny", image_size=64, n_train=1, n_eval=3, minutes=0.001)
    with pytest.raises(ValueError, match="no time left"):
        run_demo(tmp_path, st, progress=False, log=lambda m: None)


@pytest.mark.slow
def test_short_real_demo(tmp_path):
    """The real demo model (MiniLM) for a 2-minute budget: it runs end to end in time."""
    st = DemoSettings(minutes=2, n_train=60, n_eval=30, image_size=64)
    res = run_demo(tmp_path, st, progress=False, log=lambda m: None)
    assert res["seconds"] < 2 * 60 + 30
    assert res["training"]["steps"] >= 1
    assert json.loads((tmp_path / "demo.json").read_text())["trained"]["n"] == 30
