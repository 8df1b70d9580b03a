"""``xemap bench``: the control's pairing, metric blocks, run directories, bench.json, the table."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics.runner import load_run
from xemap.bench.report import format_bench_table, reading_gap
from xemap.bench.run import bench_task, run_bench
from xemap.bench.scoring import control_pairing, control_samples, metric_block, metric_keys
from xemap.bench.settings import BenchSettings, family_settings
from xemap.cli import main
from xemap.data import KINDS

#: a metric block at the default metric families (SeLo and RRSIS)
BLOCK = {*metric_keys(BenchSettings().metrics), "n", "per_kind"}
SAMPLES = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from("abc"), st.sampled_from(["q1", "q2", "q3"])),
    min_size=2,
    max_size=30,
)


@given(SAMPLES)
@settings(max_examples=200, deadline=None)
def test_the_control_never_gives_a_scene_its_own_query(rows):
    samples = [{"scene": sc, "kind": k, "query": q} for sc, k, q in rows]
    try:
        pairs = control_pairing(samples)
    except ValueError:  # only when no sample from another scene has other words
        assert any(
            all(s["scene"] == t["scene"] or s["query"] == t["query"] for t in samples)
            for s in samples
        )
        return
    for i, j in enumerate(pairs):
        assert samples[j]["scene"] != samples[i]["scene"]
        assert samples[j]["query"] != samples[i]["query"]
        same_kind = [
            t
            for t in samples
            if t["kind"] == samples[i]["kind"]
            and t["scene"] != samples[i]["scene"]
            and t["query"] != samples[i]["query"]
        ]
        assert (samples[j]["kind"] == samples[i]["kind"]) == bool(same_kind)


def test_control_on_the_bench_task_keeps_kinds_and_ground_truth():
    _, held = bench_task(BenchSettings(n_train=1, n_eval=24))
    control = control_samples(held)
    for s, c in zip(held, control, strict=True):
        assert c["query"] != s["query"] and c["kind"] == s["kind"]
        assert c["polygons"] == s["polygons"] and c["image"] is s["image"]
    assert [s["kind"] for s in held] == list(KINDS) * 6


def test_family_settings_layering():
    assert family_settings("xemap")["config"] == "demo"
    assert family_settings("xemap", steps=5, lr=None)["steps"] == 5
    with pytest.raises(ValueError, match="unknown bench settings"):
        family_settings("xemap", stepz=5)
    assert metric_keys(("selo",)) == ("rmi", "rsu", "ras", "rda")
    with pytest.raises(ValueError, match="unknown metric families"):
        metric_keys(("selo", "nope"))


TINY = {"config": "tiny", "trainable": ["fusion"], "steps": 2, "batch_size": 4}


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    st = BenchSettings(n_train=2, n_eval=8, score_size=256)
    return out, run_bench(out, ["xemap"], st, log=lambda m: None, **TINY)


def test_bench_json_has_the_issue_format(tiny_bench):
    out, res = tiny_bench
    data = json.loads((out / "bench.json").read_text())
    assert data == json.loads(json.dumps(res))
    assert set(data) == {"models", "settings"} and set(data["models"]) == {"xemap"}
    row = data["models"]["xemap"]
    assert set(row) == {"untrained", "trained", "shuffled", "train"}
    for key in ("untrained", "trained", "shuffled"):
        block = row[key]
        assert set(block) == BLOCK and block["n"] == 8
        assert set(block["per_kind"]) == set(KINDS)
        for kind_block in block["per_kind"].values():
            assert set(kind_block) == BLOCK - {"per_kind"} and kind_block["n"] == 2
    assert row["train"]["steps"] == 2 and row["train"]["settings"]["config"] == "tiny"
    assert data["settings"]["n_eval"] == 8 and data["settings"]["seed"] == 0


def test_each_scoring_is_a_run_directory_the_runner_reads(tiny_bench):
    out, res = tiny_bench
    for key in ("untrained", "trained", "shuffled"):
        summary, rows = load_run(out / "xemap" / key)
        assert len(rows) == 8 and summary["failed"] == 0
        keys = metric_keys(BenchSettings().metrics)
        assert metric_block(summary, keys) == res["models"]["xemap"][key]
    queries = [r["query"] for r in load_run(out / "xemap" / "trained")[1]]
    control = [r["query"] for r in load_run(out / "xemap" / "shuffled")[1]]
    assert all(a != b for a, b in zip(queries, control, strict=True))


def test_the_control_changes_the_maps(tiny_bench):
    """The control's maps differ from the real queries' maps: the text reaches the map (a
    model whose map ignored the query would give identical files)."""
    out, _ = tiny_bench
    a = (out / "xemap" / "trained" / "maps" / "probmap_0.png").read_bytes()
    b = (out / "xemap" / "shuffled" / "maps" / "probmap_0.png").read_bytes()
    assert a != b


def test_table_rows_and_gap(tiny_bench):
    _, res = tiny_bench
    table = format_bench_table(res["models"], metric_keys())
    lines = table.splitlines()
    assert lines[0].split("|")[1:-1][-1].strip() == "gap Rmi"
    assert len(lines) == 2 + 3 * (1 + len(KINDS))
    trained = next(ln for ln in lines if "| all " in ln and "trained " in ln and "un" not in ln)
    assert f"{reading_gap(res['models']['xemap']):+.4f}" in trained


def test_bench_refuses_to_overwrite(tiny_bench, capsys):
    out, _ = tiny_bench
    with pytest.raises(ValueError, match="already exists"):
        run_bench(out, ["xemap"], BenchSettings(n_train=1, n_eval=4), **TINY)
    assert main(["bench", "--models", "xemap", "--out", str(out), "--quiet"]) == 2
    assert "error: " in capsys.readouterr().err


def test_unknown_model_is_a_usage_error(tmp_path, capsys):
    assert main(["bench", "--models", "xemap,nosuch", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "unknown model families ['nosuch']" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def test_rrsis_metrics_are_one_more_family_of_the_blocks(tmp_path):
    """``metrics=("selo", "rrsis")``: the runner scores both, the blocks and the table carry
    mIoU, oIoU and P@t beside the SeLo metrics (a map equal to the GT box: IoU 1)."""
    import numpy as np

    from xemap.bench.scoring import score_run

    square = [[[10, 10], [29, 10], [29, 29], [10, 29]]]
    good = np.zeros((64, 64), np.float32)
    good[10:30, 10:30] = 1.0
    samples = [
        {"id": "a", "kind": "attribute", "query": "the red square", "polygons": square},
        {"id": "b", "kind": "one-hop", "query": "the red square", "polygons": square},
    ]
    keys = metric_keys(("selo", "rrsis"))
    assert keys[4:] == ("miou", "oiou", "prec@0.5", "prec@0.6", "prec@0.7", "prec@0.8", "prec@0.9")
    summary = score_run(
        [good, np.zeros_like(good)],
        samples,
        tmp_path / "r",
        score_size=256,
        metrics=("selo", "rrsis"),
    )
    block = metric_block(summary, keys)
    assert set(block) == {*keys, "n", "per_kind"}
    assert (
        block["per_kind"]["attribute"]["miou"] > 0.9 and block["per_kind"]["one-hop"]["miou"] == 0
    )
    assert block["prec@0.5"] == 0.5
    table = format_bench_table(
        {"m": {"untrained": block, "trained": block, "shuffled": block}}, keys
    )
    assert "↑mIoU" in table.splitlines()[0] and "↑P@0.9" in table.splitlines()[0]


def test_summarize_seeds(tiny_bench, tmp_path, capsys):
    out, res = tiny_bench
    assert main(["bench", "--summarize", str(out), str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Rmi over 2 runs" in lines[0]
    row = next(ln for ln in lines if ln.startswith("| xemap | all "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    gap = reading_gap(res["models"]["xemap"])
    assert cells[2] == "2" and cells[6] == f"{gap:+.4f} ± 0.0000" and cells[7] == f"{gap:+.4f}"
    assert main(["bench", "--summarize", str(tmp_path)]) == 2
    assert "holds no bench.json" in capsys.readouterr().err


def test_summarize_another_metric(tiny_bench, capsys):
    out, res = tiny_bench
    assert main(["bench", "--summarize", str(out), "--summary-metric", "miou"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "mIoU over 1 runs" in lines[0]
    row = next(ln for ln in lines if ln.startswith("| xemap | all "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    trained = res["models"]["xemap"]["trained"]["miou"]
    assert cells[4] == f"{trained:.4f} ± 0.0000"
    assert main(["bench", "--summarize", str(out), "--summary-metric", "nope"]) == 2
    assert "no 'nope' in the bench runs' metric blocks" in capsys.readouterr().err


def test_the_report_of_a_bench_renders_in_chromium(tiny_bench, tmp_path):
    """`selo-metrics report` of the bench's trained and control scorings, in a real browser:
    the table shows each run's summary.json, the RRSIS columns included (issue 14)."""
    pytest.importorskip("jinja2")
    from selo_metrics.cli import main as selo_main
    from tests.selo_metrics.html_dom import keyed_rows, parse
    from tests.selo_metrics.test_browser import _check_page, render

    out, _ = tiny_bench
    runs = [out / "xemap" / "trained", out / "xemap" / "shuffled"]
    page = tmp_path / "bench.html"
    assert selo_main(["report", *map(str, runs), "--out", str(page), "--no-progress"]) == 0
    probe = _check_page(page, runs, tmp_path)
    assert len([i for i in probe["images"] if i["cls"] == "thumb"]) == 2 * 8 + 2 * 8
    cells = keyed_rows(parse(render(page, tmp_path)[0]).find("table", "summary"))
    for run in runs:
        s = json.loads((run / "summary.json").read_text())
        for key in ("miou", "oiou", "prec@0.5"):
            assert cells[run.name][key][1] == s[key], (run.name, key)
