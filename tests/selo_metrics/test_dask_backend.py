"""The Dask backend: samples scored in batches, failures still per sample, on a LocalCluster."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selo_metrics import load_samples
from selo_metrics.dask_backend import DASK_MAX_BATCH, DASK_TASK_SECONDS, batch_size
from selo_metrics.runner import score_sample
from selo_metrics.samples import Sample
from tests.selo_metrics.killers import die_once, score_or_die, task_key
from tests.selo_metrics.testsets import make_test_set

METRICS = ("rsu", "ras", "rda", "rmi")


@given(remaining=st.integers(0, 10_000), workers=st.integers(1, 64),
       seconds=st.lists(st.floats(0, 100, allow_nan=False), max_size=20))
def test_a_batch_is_about_a_second_of_work_and_single_at_the_ends(remaining, workers, seconds):
    n = batch_size(remaining, workers, seconds)
    assert 1 <= n <= DASK_MAX_BATCH
    if not seconds or remaining < 8 * workers:  # no time known yet / the last tasks
        assert n == 1
        return
    assert n <= remaining // (4 * workers)
    median = sorted(seconds)[len(seconds) // 2] if len(seconds) % 2 else \
        sum(sorted(seconds)[len(seconds) // 2 - 1:len(seconds) // 2 + 1]) / 2
    if n > 1:
        assert n * median <= DASK_TASK_SECONDS + 1e-9
    if median > 0 and n < min(remaining // (4 * workers), DASK_MAX_BATCH):
        assert (n + 1) * median > DASK_TASK_SECONDS  # no smaller than a second allows


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    manifest = make_test_set(tmp_path_factory.mktemp("dask"), n=12, size=160, broken=False)
    return load_samples(manifest)


def test_samples_are_scored_in_batches_each_once(samples):
    """0.05 s a sample: batches of several, the first and the last tasks single."""
    pytest.importorskip("distributed")
    from selo_metrics.dask_backend import dask_rows

    many = [Sample(i, f"s{i:03d}", "unused.png", []) for i in range(40)]
    rows = list(dask_rows(many, task_key, "local", workers=1))
    assert sorted(r["id"] for r in rows) == [s.id for s in many]  # each once
    per_task: dict[str, list[str]] = {}
    for row in rows:
        per_task.setdefault(row["key"], []).append(row["id"])
    assert max(map(len, per_task.values())) > 1, per_task  # batched
    assert len(per_task) < len(many)
    assert len(per_task[rows[0]["key"]]) == 1  # no time known yet
    assert len(per_task[rows[-1]["key"]]) == 1  # the end


def _by_id(rows):
    return {r["id"]: r for r in rows}


def test_a_killed_batch_is_scored_again_one_sample_a_task(samples, tmp_path):
    """q004 kills its worker once, in a batch with q005 (after two single tasks, 10 // 4 and
    8 // 4 samples): both are scored again, alone, and get their rows."""
    pytest.importorskip("distributed")
    import dask

    from selo_metrics.dask_backend import dask_rows

    task = functools.partial(die_once, poison=frozenset({"q004"}), marks=str(tmp_path))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}):
        rows = _by_id(dask_rows(samples, task, "local", workers=1))
    assert (tmp_path / "q004").exists()  # it did die once
    assert sorted(rows) == [s.id for s in samples]
    for sample in samples:
        want = score_sample(sample)
        assert {k: rows[sample.id][k] for k in METRICS} == {k: want[k] for k in METRICS}


def test_a_sample_that_kills_its_batch_and_then_itself_is_its_own_failure(samples):
    pytest.importorskip("distributed")
    import dask

    from selo_metrics.dask_backend import dask_rows

    task = functools.partial(score_or_die, poison=frozenset({"q004"}))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}):
        rows = _by_id(dask_rows(samples, task, "local", workers=1))
    assert sorted(rows) == [s.id for s in samples]
    assert rows["q004"]["error"]["type"] == "WorkerDied"
    assert "Dask workers" in rows["q004"]["error"]["message"]
    for sample in samples:
        if sample.id != "q004":  # q005, its batch-mate, too
            want = score_sample(sample)
            assert {k: rows[sample.id][k] for k in METRICS} == {k: want[k] for k in METRICS}
