"""SeLoAccumulator: update / merge / compute / reset, picklable, equal to the runner."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics import SeLoAccumulator, SeLoInputError, evaluate, load_samples, score_samples
from tests.selo_metrics.testsets import make_test_set

row_strategy = st.fixed_dictionaries({
    "rsu": st.floats(0, 1), "ras": st.floats(0, 1), "rda": st.floats(0, 1),
    "rmi": st.floats(0, 1), "seconds": st.floats(0, 10), "hop": st.sampled_from([1, 2, 3]),
})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row_strategy, min_size=1, max_size=40), cut=st.integers(0, 40),
       seed=st.integers(0, 2**32 - 1))
def test_merging_in_any_split_and_order_gives_the_same_summary(rows, cut, seed):
    rows = [dict(r, index=i, id=f"s{i}") for i, r in enumerate(rows)]
    whole = SeLoAccumulator()
    for r in rows:
        whole.add_row(r)
    order = np.random.default_rng(seed).permutation(len(rows))
    a, b = SeLoAccumulator(), SeLoAccumulator()
    for k, i in enumerate(order):
        (a if k < cut else b).add_row(rows[i])
    merged = pickle.loads(pickle.dumps(b)).merge(pickle.loads(pickle.dumps(a)))
    assert merged.compute() == whole.compute()
    s = whole.compute()
    assert s["rmi"] == math.fsum(r["rmi"] for r in rows) / len(rows)
    assert sum(g["count"] for g in s["by_attribute"]["hop"].values()) == len(rows)


def test_update_with_maps_results_and_failures():
    g = np.zeros((300, 300), np.uint8)
    g[100:200, 100:200] = 255
    square = [[(90, 90), (210, 90), (210, 210), (90, 210)]]
    acc = SeLoAccumulator()
    res = acc.update(g, square, sample_id="a", attributes={"multi_ref": False})
    assert res == evaluate(g, square, sample_id="a")
    acc.update(evaluate(g.T.copy(), square), sample_id="b", seconds=0.5)
    with pytest.raises(SeLoInputError):
        acc.update(g, [[(0, 0), (5, 0), (10, 0)]], sample_id="c")
    assert len(acc) == 2  # a failed update adds nothing ...
    acc.add_failure("c", SeLoInputError("zero-area polygon"))  # ... unless recorded
    s = acc.compute()
    assert (s["count"], s["scored"], s["failed"]) == (3, 2, 1)
    assert s["failures"][0]["error"]["type"] == "SeLoInputError"
    with pytest.raises(TypeError, match="polygons are required"):
        acc.update(g)
    with pytest.raises(ValueError, match="neither all four metrics nor 'error'"):
        acc.add_row({"id": "x", "rsu": 1.0})
    acc.reset()
    assert len(acc) == 0 and acc.compute()["rmi"] is None


def test_compute_equals_the_runner_summary(tmp_path):
    samples = load_samples(make_test_set(tmp_path / "set", n=9))
    res = score_samples(samples, tmp_path / "run", workers=1)
    acc = SeLoAccumulator()
    for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines():
        acc.add_row(json.loads(line))
    mine = acc.compute()
    theirs = {k: v for k, v in res.summary.items() if k not in ("run", "pending")}
    assert mine == theirs


G = np.zeros((300, 300), np.uint8)
G[100:200, 100:200] = 255
SQUARE = [[(90, 90), (210, 90), (210, 210), (90, 210)]]


def _filled(n: int, start: int = 0) -> SeLoAccumulator:
    acc = SeLoAccumulator()
    for i in range(start, start + n):
        acc.add_row({"index": i, "id": f"s{i}", "rsu": 0.5, "ras": 0.5, "rda": 0.5,
                     "rmi": 0.5 + i / 100, "seconds": 1.0})
    return acc


def test_merging_into_itself_is_refused_and_changes_nothing():
    acc = _filled(3)
    before = acc.compute()
    with pytest.raises(ValueError, match="into itself"):
        acc.merge(acc)
    assert len(acc) == 3 and acc.compute() == before


def test_merging_the_same_samples_twice_is_refused():
    acc, part = _filled(3), _filled(2, start=3)
    acc.merge(part)
    with pytest.raises(ValueError, match=r"2 sample\(s\) are in both accumulators, first "
                                         r"index 3 \(id 's3'\)"):
        acc.merge(part)
    assert len(acc) == 5
    assert acc.compute()["rmi"] == math.fsum(0.5 + i / 100 for i in range(5)) / 5


@pytest.mark.parametrize("name", ["rmi", "rsu", "ras", "rda", "seconds", "id", "index",
                                  "error", "convention"])
def test_an_attribute_named_like_a_row_field_is_refused(name):
    acc = SeLoAccumulator()
    res = acc.update(G, SQUARE, sample_id="a")
    with pytest.raises(ValueError, match=f"'{name}'.* reserved"):
        acc.update(res, sample_id="b", attributes={name: 7.0})
    with pytest.raises(ValueError, match=f"'{name}'.* reserved"):
        acc.update(G, SQUARE, sample_id="c", attributes={name: 7.0, "hop": 1})
    with pytest.raises(ValueError, match="reserved"):
        acc.add_failure("d", "broken", attributes={name: 7.0})
    with pytest.raises(ValueError, match="reserved"):
        SeLoAccumulator(attributes=["hop", name])
    s = acc.compute()
    assert s["count"] == 1 and s["rmi"] == res.rmi  # nothing was added, the mean is intact


def test_results_of_another_convention_or_parameters_are_refused():
    slm, paper = evaluate(G, SQUARE), evaluate(G, SQUARE, convention="paper")
    acc = SeLoAccumulator()
    acc.update(slm, sample_id="a")
    with pytest.raises(ValueError, match=r"convention 'paper'.* holds 'slm'"):
        acc.update(paper, sample_id="b")
    with pytest.raises(ValueError, match="parameters"):
        acc.update(G, SQUARE, sample_id="c", rsu_alpha=0.5)
    with pytest.raises(ValueError, match="parameters"):
        acc.update(evaluate(G, SQUARE, box_passes=3), sample_id="d")
    with pytest.raises(ValueError, match="convention 'paper'"):
        acc.add_row({"index": 9, "id": "e", "convention": "paper", "rsu": 1.0, "ras": 0.0,
                     "rda": 1.0, "rmi": 1.0})
    assert len(acc) == 1
    papers = SeLoAccumulator(convention="paper")
    papers.update(paper, sample_id="b")
    with pytest.raises(ValueError, match="cannot merge 'paper' results"):
        acc.merge(papers)
    tuned = SeLoAccumulator()
    tuned.update(G, SQUARE, sample_id="c", rsu_alpha=0.5)
    with pytest.raises(ValueError, match="parameters"):
        acc.merge(tuned)
    with pytest.raises(ValueError, match="parameters"):
        tuned.merge(pickle.loads(pickle.dumps(acc)))
    assert (len(acc), len(tuned)) == (1, 1)
    acc.reset()
    acc.update(G, SQUARE, sample_id="c", rsu_alpha=0.5)  # a fresh start takes any parameters
    assert acc.merge(tuned).compute()["count"] == 2
    with pytest.raises(ValueError, match="unknown convention"):
        SeLoAccumulator(convention="cvpr")


def test_failures_are_listed_in_sample_order_whatever_the_arrival_order():
    acc = SeLoAccumulator()
    for index in (5, 1, None, 3, 0, None):
        acc.add_failure(f"s{index}" if index is not None else f"late{len(acc)}",
                        ValueError("bad map"), index=index)
    acc.add_row({"index": 2, "id": "s2", "rsu": 1.0, "ras": 0.0, "rda": 1.0, "rmi": 1.0})
    failures = acc.compute()["failures"]
    assert [f["id"] for f in failures] == ["s0", "s1", "s3", "s5", "late2", "late5"]
    assert [r["id"] for r in acc.rows] == ["s0", "s1", "s2", "s3", "s5", "late2", "late5"]


def test_attribute_values_are_grouped_under_json_spellings():
    """Booleans as ``"true"`` / ``"false"`` (as samples.jsonl spells them), a missing or NaN
    value as ``"null"``, anything else as ``str``."""
    from selo_metrics.report import summarize

    base = {"rsu": 0.5, "ras": 0.5, "rda": 0.5, "rmi": 0.5, "seconds": 1.0}
    rows = [dict(base, index=i, id=f"s{i}", hop=v)
            for i, v in enumerate([True, False, None, float("nan"), 2, "DIOR"])]
    groups = summarize(rows, attributes=["hop"])["by_attribute"]["hop"]
    assert sorted(groups) == ["2", "DIOR", "false", "null", "true"]
    assert groups["null"]["count"] == 2
