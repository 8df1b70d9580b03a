"""The horizontal window sums of the box filter (prefix sums scanned in SIMD registers)
against numpy: ``cumsum`` modulo 2**16 and the plain sum of every window."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from selo_metrics._kernels.scan import LANES, prefix_sums_u16, window_sums


def _room(n: int) -> int:
    """What the kernels may touch for ``n`` values: whole registers, and one more in ``p``."""
    return -(-n // LANES) * LANES + 1


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_prefix_sums_wrap_like_numpy(n, seed):
    """Full-range 16-bit values, so the sums wrap many times: every lane, every chunk."""
    a = np.zeros(_room(n), np.uint16)
    a[:n] = np.random.default_rng(seed).integers(0, 2**16, n)
    p = np.full(_room(n), 7, np.uint16)
    prefix_sums_u16(a, p, n)
    want = np.concatenate([[0], np.cumsum(a[:n].astype(np.int64)) % 2**16])
    np.testing.assert_array_equal(p[: n + 1], want)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 200), k=st.integers(1, 257), seed=st.integers(0, 2**32 - 1),
       loud=st.booleans())
def test_window_sums_of_bytes_are_exact(n, k, seed, loud):
    """Bytes and ``k <= 257``: every window sum is exact (``loud``: values 250-255, so the
    sums reach the top of the 16-bit range, 65535 for 257 values of 255)."""
    rng = np.random.default_rng(seed)
    m = n + k - 1
    e = np.zeros(_room(m), np.uint16)
    e[:m] = rng.integers(250 if loud else 0, 256, m)
    p = np.empty(_room(m), np.uint16)
    out = np.empty(n, np.uint16)
    window_sums(e, p, k, out)
    want = np.convolve(e[:m].astype(np.int64), np.ones(k, np.int64), "valid")
    np.testing.assert_array_equal(out, want)


def test_window_sums_reach_the_top_of_the_range():
    e = np.full(_room(257 + 40), 255, np.uint16)
    p = np.empty_like(e)
    out = np.empty(41, np.uint16)
    window_sums(e, p, 257, out)
    assert (out == 65535).all()
