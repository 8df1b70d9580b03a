"""``selo_metrics.load_run(dir)``: still unpacks as (summary, rows); ``to_frame()`` for pandas.

Expected values are read from ``samples.jsonl`` and ``summary.json`` directly.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

import selo_metrics
from selo_metrics.loaded_run import LoadedRun, metric_keys

pd = pytest.importorskip("pandas")


def _journal(run) -> dict[int, dict]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {r["index"]: r for r in rows}


def test_load_run_unpacks_like_before(scored_runs):
    run_dir = scored_runs[0]
    summary, rows = selo_metrics.load_run(run_dir)
    assert summary == json.loads((run_dir / "summary.json").read_text())
    journal = _journal(run_dir)
    assert rows == [journal[i] for i in sorted(journal)]
    run = selo_metrics.load_run(run_dir)
    assert isinstance(run, tuple) and isinstance(run, LoadedRun)
    assert run.summary is run[0] and run.rows is run[1]
    assert run.metric_keys == ["rmi", "rsu", "ras", "rda"]
    assert run.attribute_names == ["multi_hop", "source"]


def test_to_frame_one_row_per_sample(scored_runs):
    run_dir = scored_runs[0]
    df = selo_metrics.load_run(run_dir).to_frame()
    journal = _journal(run_dir)
    assert list(df.index) == sorted(journal) and df.index.name == "index"
    assert list(df.columns) == [
        "id",
        "query",
        "rmi",
        "rsu",
        "ras",
        "rda",
        "mask_area",
        "seconds",
        "error_type",
        "error",
        "multi_hop",
        "source",
        "map",
        "overlay",
    ]
    for i, row in journal.items():
        got = df.loc[i]
        assert got["id"] == row["id"] and got["map"] == row["map"]
        assert got["multi_hop"] == row["multi_hop"] and got["source"] == row["source"]
        assert got["seconds"] == row["seconds"]
        if "error" in row:
            assert got["error_type"] == row["error"]["type"]
            assert got["error"] == row["error"]["message"]
            assert all(math.isnan(got[k]) for k in ("rmi", "rsu", "ras", "rda"))
        else:
            assert pd.isna(got["error"]) and pd.isna(got["error_type"])
            assert [got[k] for k in ("rmi", "rsu", "ras", "rda")] == [
                row[k] for k in ("rmi", "rsu", "ras", "rda")
            ]
            assert got["overlay"] == row["overlay"]


def test_groupby_gives_the_summary_per_attribute_means(scored_runs):
    run_dir = scored_runs[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    df = selo_metrics.load_run(run_dir).to_frame()
    means = df.groupby("source")["rmi"].mean()
    counts = df.groupby("source").size()
    failed = df.groupby("source")["error"].count()
    for value, stats in summary["by_attribute"]["source"].items():
        assert means[value] == pytest.approx(stats["rmi"], rel=1e-12, abs=1e-15)
        assert counts[value] == stats["count"] and failed[value] == stats["failed"]
    assert df["rmi"].mean() == pytest.approx(summary["rmi"], rel=1e-12)


def test_metric_keys_order_and_rrsis_columns():
    s = {
        "count": 2,
        "scored": 2,
        "failed": 0,
        "pending": 0,
        "rda": 0.5,
        "oiou": 0.3,
        "prec@0.7": 0.2,
        "prec@0.5": 0.4,
        "rmi": 0.6,
        "miou": 0.25,
        "ras": 0.1,
        "rsu": 0.7,
        "seconds_total": 1.0,
        "seconds_per_map": 0.5,
        "by_attribute": {},
        "failures": [],
        "run": {},
    }
    assert metric_keys(s) == ["rmi", "rsu", "ras", "rda", "miou", "oiou", "prec@0.5", "prec@0.7"]
    rows = [
        {"index": 0, "id": "a", "rmi": 0.6, "iou": 0.25, "hop": 2},
        {"index": 1, "id": "b", "error": {"type": "E", "message": "m"}, "hop": 3},
    ]
    df = LoadedRun(s, rows).to_frame()
    assert list(df.columns[2:4]) == ["rmi", "iou"]
    assert df.loc[0, "iou"] == 0.25 and math.isnan(df.loc[1, "iou"])
    assert list(df["hop"]) == [2, 3]


def test_to_frame_without_pandas_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        LoadedRun({}, []).to_frame()


def test_load_run_of_a_directory_that_is_no_run(tmp_path):
    with pytest.raises(selo_metrics.RunDirError, match=r"has no summary\.json"):
        selo_metrics.load_run(tmp_path)


def test_to_frame_of_rrsis_runs(rrsis_runs):
    both, masks = rrsis_runs
    df = selo_metrics.load_run(both).to_frame()
    assert list(df.columns[2:9]) == ["rmi", "rsu", "ras", "rda", "iou", "inter", "union"]
    journal = _journal(both)
    for i, row in journal.items():
        if "error" not in row:
            assert df.loc[i, "iou"] == row["iou"] and df.loc[i, "union"] == row["union"]
    m = selo_metrics.load_run(masks).to_frame()
    assert list(m.columns[2:5]) == ["iou", "inter", "union"] and "rmi" not in m.columns
    assert "mask" not in m.columns and m.attrs == {}
    # the same GT as a mask file or as polygons: the same IoU, sample by sample
    ids = m.set_index("id")["iou"]
    assert all(ids[r["id"]] == r["iou"] for r in journal.values() if "error" not in r)
