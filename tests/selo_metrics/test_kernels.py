"""Every attention-stage kernel against its plain-numpy twin, on random inputs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from selo_metrics._kernels import num_threads
from selo_metrics._kernels.box import (
    box_filter_passes,
    box_filter_u8,
    float32_rounding_is_exact,
)
from selo_metrics._kernels.labels import component_moments, extract_runs
from selo_metrics._kernels.maxfilter import peak_flags, vertical_max
from selo_metrics._kernels.pairwise import C1, C2, SMALL, layouts, pairwise_nodes
from selo_metrics._kernels.sums import masked_sums
from selo_metrics._reference.filters import (
    box_filter_ref,
    label_ref,
    max_filter_ref,
    peak_components_ref,
)
from selo_metrics.attention import peak_components

NT = num_threads()


def u8_maps(max_side: int = 60):
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    return shapes.flatmap(lambda s: arrays(np.uint8, s))


def smooth_maps(max_side: int = 90):
    """Low-entropy maps (plateaus and ties), where peaks form large components."""

    @st.composite
    def build(draw):
        h = draw(st.integers(1, max_side))
        w = draw(st.integers(1, max_side))
        levels = draw(st.lists(st.integers(0, 255), min_size=1, max_size=4))
        cell = draw(st.integers(1, 20))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        small = rng.choice(np.array(levels, np.uint8), size=(h // cell + 1, w // cell + 1))
        return np.ascontiguousarray(np.kron(small, np.ones((cell, cell), np.uint8))[:h, :w])

    return build()


@settings(max_examples=60, deadline=None)
@given(g=u8_maps(), k=st.sampled_from([1, 2, 3, 4, 6, 7, 9, 10, 25, 49, 50, 257]))
def test_box_filter_matches_reference(g, k):
    out = np.empty_like(g)
    box_filter_u8(g, out, k, 1.0 / (k * k), float32_rounding_is_exact(k), NT)
    np.testing.assert_array_equal(out, box_filter_ref(g, k))


@settings(max_examples=20, deadline=None)
@given(g=u8_maps(40), k=st.sampled_from([3, 50]))
def test_float64_rounding_path_matches_reference(g, k):
    out = np.empty_like(g)
    box_filter_u8(g, out, k, 1.0 / (k * k), False, NT)
    np.testing.assert_array_equal(out, box_filter_ref(g, k))


def test_box_filter_large_map_matches_reference():
    g = np.random.default_rng(3).integers(0, 256, (301, 517), dtype=np.uint8)
    res, spare = box_filter_passes(g, 50, 2, NT)
    np.testing.assert_array_equal(res, box_filter_ref(box_filter_ref(g, 50), 50))
    assert spare.shape == g.shape and spare is not res


def _exact_rint(s: int, c: Fraction, bits: int) -> int:
    """``rint(fl(fl(s) * c))`` in binary floating point of ``bits`` significant bits, every
    rounding to nearest, ties to even, in exact rational arithmetic (no float operation)."""

    def fl(x: Fraction) -> Fraction:
        if x == 0:
            return x
        e = x.numerator.bit_length() - x.denominator.bit_length()
        if Fraction(2) ** e > x:
            e -= 1  # now 2**e <= x < 2**(e + 1)
        scale = Fraction(2) ** (bits - 1 - e)
        return Fraction(round(x * scale)) / scale  # round(): half to even

    return round(fl(fl(Fraction(s)) * c))


def _float32_differs_at(k: int, s: int) -> bool:
    c64, c32 = Fraction(1.0 / (k * k)), Fraction(float(np.float32(1.0 / (k * k))))
    return _exact_rint(s, c64, 53) != _exact_rint(s, c32, 24)


#: box sizes whose float32 path rounds some window sum differently, with the first such sum,
#: found with the exact model above over every sum 0..255 k**2 (none for 1, 2, 3, 5, 7, 10, 25,
#: 49, 50 and 51)
FLOAT32_DIFFERS = {14: 294, 22: 726, 28: 1176, 44: 2904, 54: 10206}


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 10, 25, 49, 50, 51, *FLOAT32_DIFFERS])
def test_float32_rounding_is_exact_for_common_sizes(k):
    assert float32_rounding_is_exact(k) == (k not in FLOAT32_DIFFERS)
    if k in FLOAT32_DIFFERS:
        first = FLOAT32_DIFFERS[k]
        assert _float32_differs_at(k, first)
        assert not any(_float32_differs_at(k, s) for s in range(max(0, first - 50), first))
    elif k <= 7:  # small enough to check every window sum exactly here
        assert not any(_float32_differs_at(k, s) for s in range(255 * k * k + 1))


@settings(max_examples=60, deadline=None)
@given(g=u8_maps(), m=st.sampled_from([1, 2, 3, 8, 33, 64, 100]))
def test_vertical_max_and_peaks_match_reference(g, m):
    vmax = np.empty_like(g)
    vertical_max(g, vmax, m, NT)
    from selo_metrics._reference.filters import reflect_index

    h = g.shape[0]
    ext = g[reflect_index(h, m // 2, m - m // 2 - 1)]
    expected_v = np.stack([ext[y:y + m].max(axis=0) for y in range(h)])
    np.testing.assert_array_equal(vmax, expected_v)
    runs = np.empty(h, np.int64)
    peak_flags(g, vmax, m, runs, NT)
    peaks = ((g == max_filter_ref(g, m)) & (g > 0)).astype(np.uint8)
    np.testing.assert_array_equal(vmax, peaks)
    edges = np.diff(np.pad(peaks, ((0, 0), (1, 0))).astype(np.int8), axis=1)
    np.testing.assert_array_equal(runs, (edges == 1).sum(axis=1))


@settings(max_examples=80, deadline=None)
@given(binary=st.one_of(arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30)),
                               elements=st.integers(0, 1)),
                        smooth_maps(40).map(lambda a: (a > 100).astype(np.uint8))))
def test_labels_match_flood_fill(binary):
    runs = (np.diff(np.pad(binary, ((0, 0), (1, 0))).astype(np.int8), axis=1) == 1).sum(axis=1)
    rows, x0, x1 = extract_runs(binary, runs.astype(np.int64), NT)
    count, sum_row, sum_col = component_moments(rows, x0, x1)
    expected = []
    for pixels in label_ref(binary):
        arr = np.array(pixels)
        expected.append((len(pixels), int(arr[:, 0].sum()), int(arr[:, 1].sum())))
    assert list(zip(count.tolist(), sum_row.tolist(), sum_col.tolist(), strict=True)) == expected


@settings(max_examples=25, deadline=None)
@given(g=st.one_of(u8_maps(70), smooth_maps(70)),
       k=st.sampled_from([3, 7, 50]), passes=st.integers(0, 3), m=st.sampled_from([5, 64, 1000]))
def test_peak_components_match_reference(g, k, passes, m):
    comps = peak_components(g, box_size=k, box_passes=passes, max_window=m)
    got = list(zip(comps.count.tolist(), comps.sum_row.tolist(), comps.sum_col.tolist(),
                   strict=True))
    assert got == peak_components_ref(g, box_size=k, box_passes=passes, max_window=m)


def test_flat_map_is_one_component_of_every_pixel():
    g = np.full((1200, 1300), 200, np.uint8)
    comps = peak_components(g)
    assert len(comps) == 1 and int(comps.count[0]) == 1200 * 1300


def test_all_zero_map_has_no_peak():
    assert len(peak_components(np.zeros((300, 200), np.uint8))) == 0


def test_against_scipy_and_skimage_on_a_real_sized_map():
    """Independent oracles (scipy's maximum_filter, skimage's label) on a 1500 x 1700 map."""
    ndi = pytest.importorskip("scipy.ndimage")
    measure = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(11)
    small = rng.integers(0, 256, (16, 18)).astype(np.uint8)
    g = np.kron(small, np.ones((100, 100), np.uint8))[:1500, :1700].copy()
    res, _ = box_filter_passes(g, 50, 5, NT)
    peaks = (res == ndi.maximum_filter(res, size=1000)) & (res > 0)
    props = measure.regionprops(measure.label(peaks, connectivity=2))
    comps = peak_components(g)
    assert len(comps) == len(props)
    for c, p in enumerate(props):
        assert int(comps.count[c]) == p.area
        cy, cx = p.centroid
        assert int(comps.sum_row[c]) // int(comps.count[c]) == int(cy)
        assert int(comps.sum_col[c]) // int(comps.count[c]) == int(cx)


# -- the Rsu sums: numpy's pairwise order, bit for bit ---------------------------------------


def test_byte_over_255_is_the_correctly_rounded_quotient():
    """``g * C1 + g * C2`` is ``g / 255.0`` for every byte, and ``g * C1`` is exact."""
    from fractions import Fraction

    g = np.arange(256, dtype=np.float64)
    assert np.array_equal(g * C1 + g * C2, g / 255.0)
    assert all(Fraction(float(v)) == i * Fraction(C1) for i, v in enumerate(g * C1))


def _numpy_sums(values, mask):
    prob = values / 255.0 if values.dtype == np.uint8 else values
    return int(mask.sum()), np.sum(np.multiply(prob, mask.astype(np.float64))), np.sum(prob)


@settings(max_examples=150, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       density=st.sampled_from([0.0, 0.01, 0.3, 1.0]), rect=st.booleans(),
       as_float=st.booleans())
def test_masked_sums_are_numpys_bit_for_bit(h, w, seed, density, rect, as_float):
    """Any shape, a uint8 map (``g / 255.0``) or any float map, any mask: the very doubles of
    ``np.sum(prob * mask)`` and ``np.sum(prob)`` (the official code's Rsu sums)."""
    rng = np.random.default_rng(seed)
    values = (rng.random((h, w)) if as_float
              else rng.integers(0, 256, (h, w)).astype(np.uint8))
    mask = (rng.random((h, w)) < density).astype(np.uint8)
    if rect:  # one GT block: the kernel skips the masked sum outside its rows
        mask[:] = 0
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        mask[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = 1
    assert masked_sums(values, mask) == _numpy_sums(values, mask)


def test_every_node_size_of_the_unrolled_layouts():
    """Every node size up to SMALL and beyond (the layouts, the walk above them, tails)."""
    rng = np.random.default_rng(0)
    n_max = 3 * SMALL
    g = rng.integers(0, 256, n_max).astype(np.uint8)
    m = (rng.random(n_max) < 0.5).astype(np.uint8)
    prob = g / 255.0
    out = np.empty((1, 2))
    sizes = [*range(1, SMALL + 300), *rng.integers(SMALL, n_max, 50).tolist()]
    for k in sizes:
        lengths = np.array([k], np.int64)
        pairwise_nodes(g, m, 0, n_max, np.zeros(1, np.int64), lengths, layouts(lengths), out,
                       0, 1)
        assert (out[0, 0], out[0, 1]) == (np.sum(prob[:k]), np.sum(prob[:k] * m[:k])), k


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("shape", [(513, 1031), (1024, 1024), (1999, 2003)])
def test_masked_sums_in_parallel_are_numpys(shape, threads, monkeypatch):
    """Maps large enough to be split between threads (the tree's top levels in Python)."""
    monkeypatch.setenv("SELO_NUM_THREADS", threads)
    rng = np.random.default_rng(shape[0])
    g = rng.integers(0, 256, shape).astype(np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[shape[0] // 3: shape[0] // 2, 100:900] = 1
    assert masked_sums(g, mask) == _numpy_sums(g, mask)
    prob = rng.random(shape)
    assert masked_sums(prob, mask) == _numpy_sums(prob, mask)


@pytest.mark.parametrize("m", [5, 33, 64])
@pytest.mark.parametrize("tail", [0, 1, 17, 40])
def test_peaks_of_dense_rows_ending_in_zeros_match_scipy(m, tail):
    """Rows with many candidates take the log-step path; where a row ends in zeros whose
    window holds only zeros, ``g == max`` holds but ``g > 0`` does not: no peak there. scipy's
    maximum_filter (mode 'reflect', as the official code) is the reference."""
    ndi = pytest.importorskip("scipy.ndimage")
    w = 120
    g = np.zeros((6, w), np.uint8)
    g[:, : w - tail] = 200
    g[1, : w - tail : 2] = 150  # a row of alternating values, still dense
    g[2, 5] = 255  # one high pixel: one peak in its window
    g[3, :] = 0  # an empty row
    vmax = np.empty_like(g)
    vertical_max(g, vmax, m, NT)
    runs = np.empty(g.shape[0], np.int64)
    peak_flags(g, vmax, m, runs, NT)
    peaks = ((g == ndi.maximum_filter(g, size=m, mode="reflect")) & (g > 0)).astype(np.uint8)
    np.testing.assert_array_equal(vmax, peaks)
    starts = np.diff(np.pad(peaks, ((0, 0), (1, 0))).astype(np.int8), axis=1) == 1
    np.testing.assert_array_equal(runs, starts.sum(axis=1))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9, 25, 49, 50, 51, 99])
def test_box_filter_is_opencvs(k):
    """OpenCV itself (a test-only oracle): one box-filter pass, reflect-101 borders, on a
    random map, for the official size 50 and odd sizes."""
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for the box filter")
    g = np.random.default_rng(k).integers(0, 256, (300, 310)).astype(np.uint8)
    res, _ = box_filter_passes(g, k, 1, NT)
    np.testing.assert_array_equal(res, cv2.boxFilter(g, -1, (k, k),
                                                     borderType=cv2.BORDER_REFLECT_101))


@pytest.mark.xfail(strict=True, reason="known: even box sizes other than 50 (2, 4, ..., 88 "
                   "up to 100) round some window sums one unit away from cv2.boxFilter; the "
                   "official code only uses 50")
def test_box_filter_even_sizes_are_opencvs():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for the box filter")
    g = np.random.default_rng(2).integers(0, 256, (300, 310)).astype(np.uint8)
    res, _ = box_filter_passes(g, 2, 1, NT)
    np.testing.assert_array_equal(res, cv2.boxFilter(g, -1, (2, 2),
                                                     borderType=cv2.BORDER_REFLECT_101))


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("k", [2, 4])
def test_both_rounding_paths_round_ties_to_even(k, single):
    """With 1/k**2 exact (k = 2, 4), window sums of k**2 / 2 mod k**2 are exact ties: the
    float64 and the float32 paths both round them to even (rint), as the twin does."""
    rng = np.random.default_rng(k)
    g = rng.choice(np.array([0, 1, 2, 3, 5, 6], np.uint8), (50, 53))
    out = np.empty_like(g)
    box_filter_u8(g, out, k, 1.0 / (k * k), single, NT)
    ref = box_filter_ref(g, k)
    np.testing.assert_array_equal(out, ref)
