"""The reusable buffers change nothing but speed: the official numbers across shapes, threads,
and with reuse switched off; the two buffers never overlap; nothing the caller holds or gets
back lives in them. The runner's reads into a third buffer give OpenCV's pixels and the
official numbers in any order of sizes, and ``read_map`` alone still returns new arrays."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import selo_metrics
from selo_metrics._workspace import kept_bytes, map_buffers, reading_into, spare_getter
from selo_metrics.runner import score_sample
from selo_metrics.samples import Sample
from tests.conftest import BUNDLED_CASES, read_png_gray

# large, small, large again, a smaller one, the first again: every reuse pattern (grow, shrink,
# reuse a larger buffer for a smaller map), with the official numbers as the reference
CASES = sorted(BUNDLED_CASES, key=lambda c: -c["height"] * c["width"])[:4]
SEQUENCE = [CASES[1], CASES[3], CASES[0], CASES[2], CASES[1], CASES[0], CASES[3]]


def _check(case, res):
    for name in ("rsu", "ras", "rda", "rmi"):
        assert abs(getattr(res, name) - case["expected"][name]) <= 1e-9, (case["id"], name)
    assert res.mask_area == case["intermediate"]["mask_area"], case["id"]
    assert [list(c) for c in res.attention_centers] == \
        case["intermediate"]["attention_centers"], case["id"]


@pytest.mark.parametrize("mb", ["512", "0"])
def test_reused_buffers_give_the_official_numbers(mb, monkeypatch):
    monkeypatch.setenv("SELO_WORKSPACE_MB", mb)
    selo_metrics.clear_workspace()
    for case in SEQUENCE:
        _check(case, selo_metrics.evaluate(read_png_gray(case), case["polygons"]))


def test_the_two_buffers_never_overlap_and_are_reused():
    selo_metrics.clear_workspace()
    for shape in [(50, 60), (300, 200), (40, 40), (300, 200)]:
        a, b = map_buffers(shape)
        assert a.shape == b.shape == shape and a.dtype == b.dtype == np.uint8
        assert not np.shares_memory(a, b)
    a2, _ = map_buffers((300, 200))
    assert np.shares_memory(a, a2)  # the same memory, not a fresh allocation per call


def test_nothing_the_caller_holds_or_gets_back_lives_in_the_buffers():
    case = CASES[0]
    gray = read_png_gray(case)
    before = gray.copy()
    mask = selo_metrics.gt_mask(selo_metrics.as_polygons(case["polygons"]), gray.shape)
    mine = np.empty(gray.shape, np.uint8)
    selo_metrics.gt_mask(selo_metrics.as_polygons(case["polygons"]), gray.shape, out=mine)
    masks = (mask.copy(), mine.copy())
    res = selo_metrics.evaluate(gray, case["polygons"])
    prob = gray / 255.0
    prob_before = prob.copy()
    selo_metrics.evaluate(prob, case["polygons"])
    selo_metrics.attention_centers(gray)
    a, b = map_buffers(gray.shape)
    for arr in (mask, mine, gray, prob):
        assert not np.shares_memory(arr, a) and not np.shares_memory(arr, b)
    np.testing.assert_array_equal(gray, before)  # the map is never a scratch buffer
    np.testing.assert_array_equal(prob, prob_before)
    np.testing.assert_array_equal(mask, masks[0])
    np.testing.assert_array_equal(mine, masks[1])
    assert int(mask.sum()) == res.mask_area == case["intermediate"]["mask_area"]


def test_threads_get_their_own_buffers():
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda c: (c, selo_metrics.evaluate(read_png_gray(c), c["polygons"])),
                          SEQUENCE * 3))
    for case, res in got:
        _check(case, res)


# --- the runner's map reads (`reading_into`): a reused buffer per thread, the same pixels ---

FORMATS = Path(__file__).parents[1] / "data" / "files" / "formats"
EXPECTED = dict(np.load(FORMATS / "expected.npz"))  # decoded by OpenCV when the files were made
FILES = Path(__file__).parents[1] / "data" / "files"
FILE_CASES = json.loads((FILES / "cases.json").read_text())  # scored by the official code


def test_reads_into_the_reused_buffer_give_opencvs_pixels():
    selo_metrics.clear_workspace()
    names = sorted(EXPECTED)
    shared = 0
    with reading_into():
        last = None
        for name in names + names[::-1]:
            got = selo_metrics.read_map(FORMATS / name)
            assert np.array_equal(got, EXPECTED[name]), name
            shared += last is not None and np.shares_memory(got, last)
            last = got
    assert shared >= 4  # the in-place decoders (8-bit gray and JPEG) did reuse the buffer


def test_reads_outside_the_block_are_new_arrays_and_never_a_map_buffer():
    selo_metrics.clear_workspace()
    path = FORMATS / "gray.png"
    with reading_into():
        inside = selo_metrics.read_map(path)
    first, second = selo_metrics.read_map(path), selo_metrics.read_map(path)
    assert not np.shares_memory(first, second) and not np.shares_memory(first, inside)
    with reading_into():
        inside = selo_metrics.read_map(path)
    assert not any(np.shares_memory(inside, b) for b in map_buffers(inside.shape))


def test_a_zero_workspace_keeps_no_read_buffer(monkeypatch):
    monkeypatch.setenv("SELO_WORKSPACE_MB", "0")
    selo_metrics.clear_workspace()
    with reading_into():
        a = selo_metrics.read_map(FORMATS / "gray.png")
        b = selo_metrics.read_map(FORMATS / "gray.png")
    assert not np.shares_memory(a, b)


def test_the_three_buffers_kept_fit_the_cap_whichever_comes_first(monkeypatch):
    n = EXPECTED["gray.png"].size  # room for two maps of this size, not three
    monkeypatch.setenv("SELO_WORKSPACE_MB", str(2.5 * n / 1024 / 1024))
    for read_first in (True, False):
        selo_metrics.clear_workspace()
        steps = [lambda: selo_metrics.read_map(FORMATS / "gray.png"),
                 lambda: map_buffers(EXPECTED["gray.png"].shape)]
        with reading_into():
            for step in steps if read_first else steps[::-1]:
                step()
        kept = sum(kept_bytes().values())
        assert 0 < kept <= 2.5 * n, read_first


def test_the_spare_buffer_is_kept_apart_and_within_the_cap(monkeypatch):
    """The box filter's spare (for the maps whose last pass runs in full): made on demand,
    from any thread, reused, never another buffer; not kept where the cap has no room."""
    shape = (60, 70)
    selo_metrics.clear_workspace()
    get = spare_getter(shape)
    assert kept_bytes()["spare"] == 0  # nothing made until asked
    made = []
    t = threading.Thread(target=lambda: made.append(get()))
    t.start()
    t.join()
    again = spare_getter(shape)()
    assert np.shares_memory(made[0], again)
    with reading_into():
        read = selo_metrics.read_map(FORMATS / "gray.png")
    for other in (*map_buffers(shape), read):
        assert not np.shares_memory(again, other)
    monkeypatch.setenv("SELO_WORKSPACE_MB", "0")
    selo_metrics.clear_workspace()
    a, b = spare_getter(shape)(), spare_getter(shape)()
    assert not np.shares_memory(a, b) and kept_bytes()["spare"] == 0


@pytest.mark.parametrize("mb", ["512", "0"])
def test_the_runner_scores_maps_of_every_size_in_turn_as_the_official_code(mb, monkeypatch):
    monkeypatch.setenv("SELO_WORKSPACE_MB", mb)
    selo_metrics.clear_workspace()
    order = [1, 0, 2, 3, 0, 2, 1]  # grow, shrink, a smaller map in a larger buffer, again
    for i, case in enumerate(FILE_CASES[j] for j in order):
        sample = Sample(index=i, id=case["id"], map=str(FILES / case["map"]),
                        polygons=case["polygons"])
        row = score_sample(sample)
        assert "error" not in row, row
        assert row["shape"] == [case["height"], case["width"]]
        for key in ("rsu", "ras", "rda", "rmi"):
            assert abs(row[key] - case["expected"][key]) <= 1e-9, (case["id"], key)
    # the runner did decode into the thread's buffer (kept unless the workspace is 0 MB)
    assert (kept_bytes()["read"] > 0) == (mb != "0")
