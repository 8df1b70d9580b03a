"""``xemap demo``: the XeMap-Network row of the bench, demo.json and the table (tiny model);
a real short run (slow)."""

from __future__ import annotations

import json

import pytest

from xemap.bench.scoring import metric_keys
from xemap.bench.settings import BenchSettings
from xemap.cli import main
from xemap.data import KINDS
from xemap.demo import DemoSettings, format_table, run_demo

#: a metric block at the bench's default metric families (SeLo and RRSIS)
KEYS = {*metric_keys(BenchSettings().metrics), "n", "per_kind"}


def test_tiny_demo_writes_demo_json_bench_json_and_runs(tmp_path):
    st = DemoSettings(
        model="tiny",
        n_train=2,
        n_eval=4,
        steps=2,
        batch_size=4,
        score_size=256,
        trainable=("fusion",),
    )
    res = run_demo(tmp_path, st, progress=False, log=lambda m: None)
    data = json.loads((tmp_path / "demo.json").read_text())
    bench = json.loads((tmp_path / "bench.json").read_text())["models"]["xemap"]
    for name in ("untrained", "trained", "shuffled"):
        assert set(data[name]) == KEYS and data[name]["n"] == 4
        assert set(data[name]["per_kind"]) == set(KINDS)
        assert data[name] == bench[name]
        assert (tmp_path / "xemap" / name / "summary.json").is_file()
    assert data["gain_rmi"] == pytest.approx(data["trained"]["rmi"] - data["untrained"]["rmi"])
    assert data["reading_gap_rmi"] == pytest.approx(
        data["trained"]["rmi"] - data["shuffled"]["rmi"]
    )
    assert data["training"]["steps"] == 2 and data["config"]["demo"]["model"] == "tiny"
    assert data["threads"] == 1 and data["seconds"] > 0
    table = format_table(res).splitlines()
    assert table[0].split() == [
        "|",
        "model",
        "|",
        "kind",
        "|",
        "n",
        "|",
        "run",
        "|",
        "↑Rmi",
        "|",
        "↑Rsu",
        "|",
        "↓Ras",
        "|",
        "↑Rda",
        "|",
        "gap",
        "Rmi",
        "|",
    ]
    assert [r.split("|")[4].strip() for r in table[2:5]] == ["untrained", "trained", "control"]
    assert f"{res['trained']['rmi']:.4f}" in table[3]


def test_demo_cli_with_tiny_model_and_no_overwrite(tmp_path, capsys):
    args = [
        "demo",
        "--out",
        str(tmp_path),
        "--model",
        "tiny",
        "--n-train",
        "2",
        "--n-eval",
        "4",
        "--steps",
        "1",
        "--batch-size",
        "4",
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| xemap | all" in out and "reading gap" in out
    assert (tmp_path / "demo.json").is_file()
    before = (tmp_path / "demo.json").read_bytes()
    assert main(args) == 2  # a second run into the same folder is refused up front
    assert "already" in capsys.readouterr().err
    assert (tmp_path / "demo.json").read_bytes() == before


@pytest.mark.slow
def test_short_real_demo(tmp_path):
    """The real demo model (MiniLM, the bench's XeMap settings) for a few steps, end to end."""
    st = DemoSettings(n_train=20, n_eval=8, steps=5)
    res = run_demo(tmp_path, st, progress=False, log=lambda m: None)
    assert res["training"]["steps"] == 5 and res["trained"]["n"] == 8
    assert res["config"]["model"]["text_encoder"] == "minilm"
