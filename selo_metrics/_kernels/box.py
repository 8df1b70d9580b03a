"""Numba kernel: the k x k mean filter on uint8 maps, bit-identical to OpenCV's ``boxFilter``.

Output pixel ``(y, x)`` averages rows ``y - k//2 .. y + k - k//2 - 1`` and the same columns,
borders reflected without repeating the edge pixel (``dcb|abcd|cba``, BORDER_REFLECT_101,
repeated for maps smaller than the kernel); the integer window sum ``S`` becomes
``rint(S * (1.0 / k**2))`` (ties to even), stored as uint8.

One pass streams the map once, horizontal first: each input row's window sums (at most
``255 k``, so 16-bit) come from chained sums of 2-5 shifted copies when ``k`` factors into
2..5 (``50 = 5 * 5 * 2``: three loops), else from log-step partial sums; a ring
of the last ``k + 1`` such rows feeds a running 32-bit column sum (vertical); one vectorised
loop rounds and writes the output row. Rows are split into one contiguous chunk per thread.
Every inner loop indexes pre-sliced views with the bare loop variable, which is what lets
LLVM vectorise them (an ``a[i + s]`` index defeats it).

The rounding runs in float32 when :func:`float32_rounding_is_exact` proves, over every
possible window sum, that it equals the float64 ``rint(S * (1.0 / k**2))``; float64 otherwise.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from . import CACHE, run_chunks
from .borders import extend_row, reflect101

__all__ = [
    "box_filter_passes",
    "box_filter_u8",
    "float32_rounding_is_exact",
    "small_factors",
]


@numba.njit(cache=CACHE, nogil=True, inline="always")
def _shifted_sum(o, a, s, f):
    # o[i] = sum of a[i + t*s] for t < f (f in 2..5), one vectorisable loop per arity
    n = o.shape[0]
    a0 = a[0:n]
    a1 = a[s:s + n]
    if f == 2:
        for i in range(n):
            o[i] = a0[i] + a1[i]
    elif f == 3:
        a2 = a[2 * s:2 * s + n]
        for i in range(n):
            o[i] = a0[i] + a1[i] + a2[i]
    elif f == 4:
        a2 = a[2 * s:2 * s + n]
        a3 = a[3 * s:3 * s + n]
        for i in range(n):
            o[i] = a0[i] + a1[i] + a2[i] + a3[i]
    else:
        a2 = a[2 * s:2 * s + n]
        a3 = a[3 * s:3 * s + n]
        a4 = a[4 * s:4 * s + n]
        for i in range(n):
            o[i] = a0[i] + a1[i] + a2[i] + a3[i] + a4[i]


@numba.njit(cache=CACHE, nogil=True)
def _hsum(row, xmap, before, k, factors, ext8, lev, out):
    # window sums of k along a row with reflect-101 borders. With k = f1 f2 ... (each f in
    # 2..5; 50 = 5 * 5 * 2) level j+1 sums f shifted copies of level j: three short loops
    # for k = 50. Otherwise log-step partial sums: lev[j][i] = sum of 2**j samples from i,
    # k's set bits picking the levels.
    w = row.shape[0]
    L = w + k - 1
    nf = factors.shape[0]
    if nf > 0:
        # level 0 stays uint8 (a plain copy); the first sums widen as they load
        extend_row(row, xmap, before, ext8[:L])
        f = factors[0]
        if nf == 1:
            _shifted_sum(out, ext8, 1, f)
            return
        _shifted_sum(lev[1][:L - f + 1], ext8, 1, f)
        span = f
        for j in range(1, nf):
            f = factors[j]
            n = L - span * f + 1
            if j == nf - 1:
                _shifted_sum(out, lev[j], span, f)
            else:
                _shifted_sum(lev[j + 1][:n], lev[j], span, f)
            span *= f
        return
    e0 = lev[0]
    extend_row(row, xmap, before, e0[:L])
    nlev = lev.shape[0]
    s = 1
    for j in range(1, nlev):
        n = L - 2 * s + 1
        a = lev[j - 1][:n]
        a2 = lev[j - 1][s:s + n]
        b = lev[j][:n]
        for i in range(n):
            b[i] = a[i] + a2[i]
        s *= 2
    first = True
    off = 0
    for j in range(nlev - 1, -1, -1):
        if (k >> j) & 1:
            a = lev[j][off:off + w]
            if first:
                for x in range(w):
                    out[x] = a[x]
                first = False
            else:
                for x in range(w):
                    out[x] = out[x] + a[x]
            off += 1 << j


@numba.njit(cache=CACHE, nogil=True)
def _round_f32(colsum, scale, out):
    for x in range(colsum.shape[0]):
        out[x] = np.uint8(np.int32(np.rint(np.float32(colsum[x]) * scale)))


@numba.njit(cache=CACHE, nogil=True)
def _round_f64(colsum, scale, out):
    for x in range(colsum.shape[0]):
        out[x] = np.uint8(np.int32(np.rint(np.float64(colsum[x]) * scale)))


@numba.njit(cache=CACHE, nogil=True)
def _box_rows(src, dst, k, factors, scale, single, row0, row1):
    h, w = src.shape
    before = k // 2
    after = k - before - 1
    L = w + k - 1
    nlev = factors.shape[0]
    if nlev == 0:
        while (1 << nlev) <= k:
            nlev += 1
    lev = np.empty((max(nlev, 1), L), np.uint16)
    ext8 = np.empty(L, np.uint8)
    xmap = np.empty(L, np.int64)
    for e in range(L):
        xmap[e] = reflect101(e - before, w)
    R = k + 1
    ring = np.empty((R, w), np.uint16)
    colsum = np.zeros(w, np.int32)
    # the ring holds window sums of extended rows t = row + before, at slot t % R
    for dy in range(-before, after + 1):
        t = row0 + dy + before
        hs = ring[t % R]
        _hsum(src[reflect101(row0 + dy, h)], xmap, before, k, factors, ext8, lev, hs)
        for x in range(w):
            colsum[x] += hs[x]
    for y in range(row0, row1):
        if y > row0:
            t_add = y + after + before
            hs = ring[t_add % R]
            _hsum(src[reflect101(y + after, h)], xmap, before, k, factors, ext8, lev, hs)
            old = ring[(t_add - k) % R]
            for x in range(w):
                colsum[x] += np.int32(hs[x]) - np.int32(old[x])
        if single:
            _round_f32(colsum, np.float32(scale), dst[y])
        else:
            _round_f64(colsum, scale, dst[y])


def box_filter_u8(src, dst, k, factors, scale, single, nthreads):
    """One k x k mean-filter pass ``src -> dst`` (uint8, same shape, distinct arrays).

    ``factors`` is :func:`small_factors` of ``k`` (empty: log-step sums); ``scale`` is
    ``1 / k**2``; ``single`` rounds in float32 (only where
    :func:`float32_rounding_is_exact`), else float64. Rows are split into ``nthreads`` chunks
    run in parallel (:func:`selo_metrics._kernels.run_chunks`).
    """
    run_chunks(_box_rows, src.shape[0], src, dst, k, factors, scale, single, threads=nthreads)


def small_factors(k: int) -> np.ndarray:
    """``k`` as a product of factors in 2..5 (largest first), or empty when there is none.

    Examples
    --------
    >>> small_factors(50).tolist(), small_factors(49).tolist()
    ([5, 5, 2], [])
    """
    out = []
    rest = k
    for f in (5, 4, 3, 2):
        while rest % f == 0 and rest > 1:
            out.append(f)
            rest //= f
    return np.array(out if rest == 1 else [], dtype=np.int64)


@functools.cache
def float32_rounding_is_exact(k: int) -> bool:
    """True when float32 ``rint(S * (1/k**2))`` equals float64's for every ``0 <= S <= 255 k**2``.

    Examples
    --------
    >>> float32_rounding_is_exact(50)
    True
    """
    s = np.arange(255 * k * k + 1)
    ref = np.rint(s * (1.0 / (k * k)))
    fast = np.rint(s.astype(np.float32) * np.float32(1.0 / (k * k)))
    return bool(np.array_equal(ref, fast))


def box_filter_passes(
    gray: np.ndarray, k: int, passes: int, nthreads: int,
    buffers: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``passes`` box-filter passes to ``gray`` (left untouched).

    ``buffers``: two uint8 arrays of ``gray``'s shape to work in (new ones by default).
    Returns ``(result, spare)``: the filtered map and the other buffer, free for reuse.
    """
    if k > 257:
        raise ValueError(f"box size {k} too large: window sums must fit 16 bits (k <= 257)")
    scale = 1.0 / (k * k)
    single = float32_rounding_is_exact(k)
    factors = small_factors(k)
    a, b = buffers if buffers is not None else (np.empty_like(gray), np.empty_like(gray))
    if passes == 0:
        a[...] = gray
        return a, b
    box_filter_u8(gray, a, k, factors, scale, single, nthreads)
    for _ in range(passes - 1):
        box_filter_u8(a, b, k, factors, scale, single, nthreads)
        a, b = b, a
    return a, b
