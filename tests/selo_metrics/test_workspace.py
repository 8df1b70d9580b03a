"""The reusable buffers change nothing but speed: same results across shapes, threads, and
with reuse switched off; nothing returned to the caller lives in them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import selo_metrics
from selo_metrics._workspace import map_buffers
from selo_metrics.data import synthetic_map

POLY = [[(40, 30), (150, 40), (140, 120), (30, 110)]]


def scenes():
    out = []
    for i, shape in enumerate([(200, 240), (90, 120), (310, 280), (200, 240), (64, 64)]):
        out.append((synthetic_map(shape, POLY, kind="focused", seed=i), POLY))
    return out


def test_results_do_not_depend_on_buffer_reuse(monkeypatch):
    reused = [selo_metrics.evaluate(g, p) for g, p in scenes()]
    monkeypatch.setenv("SELO_WORKSPACE_MB", "0")
    selo_metrics.clear_workspace()
    fresh = [selo_metrics.evaluate(g, p) for g, p in scenes()]
    assert reused == fresh


def test_returned_arrays_never_alias_the_workspace():
    g, p = scenes()[0]
    mask = selo_metrics.gt_mask(selo_metrics.as_polygons(p), g.shape)
    before = mask.copy()
    selo_metrics.evaluate(g, p)  # works in the thread's buffers
    a, b = map_buffers(g.shape)
    assert not np.shares_memory(mask, a) and not np.shares_memory(mask, b)
    np.testing.assert_array_equal(mask, before)


def test_threads_get_their_own_buffers():
    items = scenes()
    expected = [selo_metrics.evaluate(g, p) for g, p in items]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda gp: selo_metrics.evaluate(*gp), items * 3))
    assert got == expected * 3
