"""The demo command, the summary table and the synthetic maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selo_metrics.cli import main
from selo_metrics.data import load_air_slt, scene_size, synthetic_map
from selo_metrics.report import format_table, summarize


def test_demo_prints_the_table(capsys, tmp_path):
    assert main(["demo", "--limit", "3", "--kinds", "focused", "scattered", "--workers", "1",
                 "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    out = [line for line in lines if line.startswith("|")]
    assert any(line.startswith("focused: ") for line in lines)  # the legend
    header = out[0]
    assert header.index("↑Rmi") < header.index("↑Rsu") < header.index("↓Ras") < \
        header.index("↑Rda")
    rows = {line.split("|")[1].strip(): line for line in out[2:]}
    assert set(rows) == {"focused", "scattered"}
    rmi = {k: float(v.split("|")[2]) for k, v in rows.items()}
    assert rmi["focused"] > rmi["scattered"]  # the synthetic good model scores better
    # the demo went through the runner: map files, run directories, journals
    assert sorted(p.name for p in (tmp_path / "maps_focused").iterdir()) == [
        "probmap_0.jpg", "probmap_1.jpg", "probmap_2.jpg"]
    for kind in ("focused", "scattered"):
        rows = (tmp_path / f"run_{kind}" / "samples.jsonl").read_text().splitlines()
        assert len(rows) == 3
        assert (tmp_path / f"run_{kind}" / "summary.json").exists()


def test_summary_means_are_exact_and_order_independent():
    rng = np.random.default_rng(0)
    rows = [{k: float(v) for k, v in zip(("rsu", "ras", "rda", "rmi"), rng.random(4),
                                          strict=True)} | {"seconds": 0.1}
            for _ in range(500)]
    a = summarize(rows)
    b = summarize(rows[::-1])
    assert a == b
    assert a["rsu"] == math.fsum(r["rsu"] for r in rows) / 500
    assert a["count"] == 500 and a["failed"] == 0 and a["failures"] == []


def test_summary_counts_failures_and_empty_runs():
    s = summarize([{"index": 3, "id": "c", "error": {"type": "SeLoInputError", "message": "x"}}])
    assert s["count"] == 1 and s["failed"] == 1 and s["rmi"] is None
    assert s["failures"] == [{"index": 3, "id": "c",
                              "error": {"type": "SeLoInputError", "message": "x"}}]
    assert "| -" in format_table([("run", s)])


def test_synthetic_maps_are_deterministic_and_follow_the_gt():
    anno = load_air_slt()
    item = anno[5]
    shape = scene_size(anno, item["jpg_name"])
    a = synthetic_map(shape, item["points"], kind="focused", seed=5)
    b = synthetic_map(shape, item["points"], kind="focused", seed=5)
    assert a.dtype == np.uint8 and a.shape == shape and np.array_equal(a, b)
    assert not np.array_equal(a, synthetic_map(shape, item["points"], kind="focused", seed=6))
    with pytest.raises(ValueError, match="unknown kind"):
        synthetic_map(shape, item["points"], kind="perfect")


def test_version(capsys):
    import selo_metrics

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"selo-metrics {selo_metrics.__version__}"


def test_every_option_has_help():
    import argparse

    from selo_metrics.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sub in [("", parser), *subs.choices.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{name} {c.dest}" for c in action._choices_actions if not c.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {action.dest}")
    assert not missing


def test_a_plain_rerun_with_stale_failures_says_retry_failed(tmp_path, capsys):
    from tests.selo_metrics.testsets import make_test_set

    manifest = make_test_set(tmp_path / "set", n=6, size=160)
    args = ["score", str(manifest), "--out", str(tmp_path / "run"), "--workers", "1"]
    assert main(args) == 1
    assert "--retry-failed" not in capsys.readouterr().err  # the failures are new
    maps = tmp_path / "set" / "maps"
    (maps / "m003.png").write_bytes((maps / "m002.png").read_bytes())  # the missing map, fixed
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "2 failure(s) recorded by an earlier run" in err and "--retry-failed" in err
    assert main([*args, "--retry-failed"]) == 1  # sample 5's map is still corrupt
    err = capsys.readouterr().err
    assert "1 scored, 1 failed" in err and "earlier run" not in err


def test_the_demo_removes_its_temporary_directory(tmp_path, capsys, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "--limit", "2", "--kinds", "focused", "--workers", "1"]) == 0
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert "removed" in err and "--out" in err
