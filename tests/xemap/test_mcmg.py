"""MCMG targets: hand-computed grids, orientation, range, errors, polygons == mask."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xemap.data import MCMGInputError, mcmg_target, rasterize
from xemap.data.mcmg import gaussian_blur


def test_one_cell_fully_covered():
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True
    t = mcmg_target(m, grid_sizes=(2,), sigma=0)
    expected = np.zeros((8, 8), np.uint8)
    expected[:4, :4] = 255
    np.testing.assert_array_equal(t, expected)


def test_half_covered_cell_is_half_of_full_cell():
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True  # top-left cell: fully covered
    m[:2, 4:] = True  # top-right cell: half covered
    t = mcmg_target(m, grid_sizes=(2,), sigma=0)
    assert t[0, 0] == 255 and t[3, 3] == 255
    assert t[0, 4] == 128 and t[3, 7] == 128  # round(127.5) half to even -> 128
    assert t[4:].max() == 0


def test_ratio_is_intersection_over_cell_area_not_upside_down():
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True  # full cell: ratio 1
    m[0, 4] = True  # 1 of 16 pixels of the top-right cell: 1/16
    t = mcmg_target(m, grid_sizes=(2,), sigma=0)
    assert t[0, 0] == 255
    assert t[2, 6] == round(255 / 16)  # the paper's printed ratio would make this cell 16x


def test_levels_are_averaged():
    m = np.zeros((8, 8), bool)
    m[:4, :4] = True
    # level 1 (one cell): 0.25 everywhere; level 2: 1 in the top-left cell -> mean 0.625 / 0.125
    t = mcmg_target(m, grid_sizes=(1, 2), sigma=0)
    assert t[0, 0] == 255
    assert t[7, 7] == round(255 * 0.125 / 0.625)


def test_uneven_cells_fraction():
    # 5 pixels in 2 cells: edges round(linspace(0, 5, 3)) = [0, 2, 5] (2.5 rounds to 2)
    m = np.zeros((1, 5), bool)
    m[0, 0] = True  # left cell (2 px) half covered
    m[0, 2:5] = True  # right cell (3 px) fully covered
    t = mcmg_target(m, grid_sizes=(2,), sigma=0)
    np.testing.assert_array_equal(t[0], [128, 128, 255, 255, 255])


# -- against a twin written from the description (module docstring), not from the code -----


def _levels_twin(mask: np.ndarray, grids) -> np.ndarray:
    """Mean over levels of each pixel's cell coverage: cells cut at round(linspace(0, side,
    n + 1)) (at most one cell per pixel), coverage = covered pixels / cell pixels."""
    h, w = mask.shape
    agg = np.zeros((h, w))
    for n in grids:
        rows = np.round(np.linspace(0, h, min(n, h) + 1)).astype(int)
        cols = np.round(np.linspace(0, w, min(n, w) + 1)).astype(int)
        level = np.zeros((h, w))
        for r0, r1 in itertools.pairwise(rows):
            for c0, c1 in itertools.pairwise(cols):
                cell = mask[r0:r1, c0:c1]
                level[r0:r1, c0:c1] = cell.sum() / cell.size
        agg += level
    return agg / len(grids)


def _blur_twin(img: np.ndarray, sigma: float) -> np.ndarray:
    """scipy's Gaussian, mirror borders (dcba|abcd), radius ceil(4 sigma) cut to side - 1."""
    ndi = pytest.importorskip("scipy.ndimage")
    out = img.astype(np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        if sigma > 0 and n > 1:
            radius = max(1, min(math.ceil(4 * sigma), n - 1))
            out = ndi.gaussian_filter1d(out, sigma, axis=axis, mode="reflect", radius=radius)
    return out


def _random_mask(h, w, seed):
    rng = np.random.default_rng(seed)
    m = rng.random((h, w)) < rng.uniform(0.01, 0.6)
    m[rng.integers(h), rng.integers(w)] = True
    return m


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 10_000),
       st.lists(st.integers(1, 50), min_size=1, max_size=4))
def test_levels_equal_the_twin(h, w, seed, grids):
    """Without smoothing the target is the levels divided by their maximum, times 255,
    rounded: exactly the twin's (grid edges, uneven cells, grids finer than the image, the
    level mean)."""
    m = _random_mask(h, w, seed)
    agg = _levels_twin(m, grids)
    want = np.rint(255.0 * (agg / agg.max())).astype(np.uint8)
    np.testing.assert_array_equal(mcmg_target(m, grid_sizes=grids, sigma=0), want)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.4, 7.9, 30.0])
@pytest.mark.parametrize("shape", [(1, 9), (5, 7), (23, 40), (64, 48)])
def test_gaussian_blur_equals_scipys(sigma, shape):
    """Sigma, the kernel's extent (4 sigma, cut at the side) and the border mode, against
    scipy.ndimage on a random image."""
    img = np.random.default_rng(shape[0]).random(shape)
    np.testing.assert_allclose(gaussian_blur(img, sigma), _blur_twin(img, sigma), rtol=0,
                               atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(st.integers(8, 48), st.integers(8, 48), st.integers(0, 10_000),
       st.lists(st.integers(1, 16), min_size=1, max_size=4))
def test_default_target_equals_the_twin(h, w, seed, grids):
    """The whole target with the default sigma, max(H, W) / (2 max(grids)): the twin's to the
    last unit (floating sums in another order can move a value across .5 only rarely)."""
    m = _random_mask(h, w, seed)
    smooth = _blur_twin(_levels_twin(m, grids), max(h, w) / (2.0 * max(grids)))
    want = np.rint(255.0 * (smooth / smooth.max()))
    diff = np.abs(mcmg_target(m, grid_sizes=grids).astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_target_peaks_inside_the_object_and_decays():
    m = np.zeros((128, 128), bool)
    m[40:60, 70:90] = True
    t = mcmg_target(m)
    assert t[50, 80] >= 250 and np.unravel_index(t.argmax(), t.shape)[0] in range(40, 60)
    assert t[50, 80] > t[50, 100] > t[50, 127]
    assert t[120, 5] == 0


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), bool), np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.float32)],
)
def test_empty_mask_is_an_error(bad):
    with pytest.raises(MCMGInputError, match="empty target mask"):
        mcmg_target(bad, sample_id="s7")
    with pytest.raises(ValueError, match="'s7'"):
        mcmg_target(bad, sample_id="s7")


def test_polygon_wholly_outside_is_an_empty_target():
    with pytest.raises(MCMGInputError, match="empty"):
        mcmg_target([[[100, 100], [120, 100], [120, 120]]], shape=(32, 32))


@pytest.mark.parametrize(
    ("mask", "kwargs", "match"),
    [
        (np.ones((2, 3, 3), bool), {}, "2-D"),
        (np.full((4, 4), 1.5), {}, r"\[0, 1\]"),
        (np.full((4, 4), np.nan), {}, "NaN"),
        (np.full((4, 4), -1), {}, "negative"),
        (np.ones((4, 4), bool), {"grid_sizes": ()}, "grid_sizes"),
        (np.ones((4, 4), bool), {"grid_sizes": (0,)}, "grid_sizes"),
        (np.ones((4, 4), bool), {"sigma": -1.0}, "sigma"),
        (np.ones((4, 4), bool), {"shape": (5, 4)}, "differs"),
        ([[[0, 0], [3, 0], [3, 3]]], {}, "2-D"),
        ([[[0, 0], [3, 0]]], {"shape": (8, 8)}, "bad polygons"),
    ],
)
def test_bad_input(mask, kwargs, match):
    with pytest.raises(MCMGInputError, match=match):
        mcmg_target(mask, **kwargs)


def test_polygons_and_equivalent_mask_give_the_same_target():
    polys = [[[2, 2], [5, 2], [5, 5], [2, 5]], [[10, 3], [14, 12], [7, 12]]]
    mask = np.zeros((16, 20), bool)
    mask[2:6, 2:6] = True  # boundary inclusive: x, y in 2..5
    np.testing.assert_array_equal(rasterize(polys[:1], (16, 20)), mask)
    full = rasterize(polys, (16, 20)).astype(bool)
    a = mcmg_target(polys, shape=(16, 20), grid_sizes=(2, 4, 8))
    b = mcmg_target(full, grid_sizes=(2, 4, 8))
    c = mcmg_target(full.astype(np.uint8) * 255, grid_sizes=(2, 4, 8))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_gaussian_blur_symmetric_and_mass_preserving_inside():
    img = np.zeros((41, 41))
    img[20, 20] = 1.0
    out = gaussian_blur(img, 3.0)
    np.testing.assert_allclose(out, out.T, atol=1e-12)
    np.testing.assert_allclose(out, out[::-1, ::-1], atol=1e-12)
    assert out.sum() == pytest.approx(1.0, abs=1e-9)
    assert out[20, 20] == out.max()
