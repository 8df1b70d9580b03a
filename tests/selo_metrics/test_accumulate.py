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
