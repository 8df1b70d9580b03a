"""Numba kernels: the RRSIS intersection and union counts, one streaming pass, no copy.

The prediction is read in its own dtype (a 0/1 byte view of a bool mask, a uint8 map, a
float32 or float64 probability map); the foreground test is made in the loop, so no
thresholded or float copy of the map is ever made. Both arrays are C-contiguous and read
flat (the counts do not depend on rows), in contiguous chunks on the kernel threads.

Bytes, eight at a time (SWAR): a uint8 map's foreground, ``value / 255 > 0.5``, is exactly
``value >= 128``, i.e. the byte's top bit; a bool mask's is its bit 0. So for a 64-bit
word ``P`` of the map and ``G`` of the 0/1 GT, ``F = (P >> shift) & 0x0101..01`` holds one
0/1 lane per pixel, and the lanes of ``F & G`` and ``F | G`` are summed with one multiply
(``(x * 0x0101..01) >> 56``). The GT's 0/1 bytes are checked by OR-ing its words (any
other bit set is refused by the caller), the map's words are OR-ed for the caller's
"0/1 uint8 map" check. Floats are tested one by one (``> 0.5``), counting NaN and values
off [0, 1]. Twin: :func:`selo_metrics._reference.rrsis.counts_ref`.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["iou_counts_float", "iou_counts_u8"]

_LOW = 0x0101010101010101


@numba.njit(cache=CACHE, nogil=True)
def _words_u8(pw, gw, shift, w0, w1):
    """Counts over 64-bit words ``w0:w1``: ``(I, U, OR of map words, OR of GT words)``."""
    low = np.uint64(_LOW)
    sh = np.uint64(shift)
    top = np.uint64(56)
    inter = np.uint64(0)
    union = np.uint64(0)
    or_p = np.uint64(0)
    or_g = np.uint64(0)
    for k in range(w0, w1):
        pv = pw[k]
        gv = gw[k]
        f = (pv >> sh) & low
        inter += ((f & gv) * low) >> top
        union += ((f | gv) * low) >> top
        or_p |= pv
        or_g |= gv
    return inter, union, or_p, or_g


@numba.njit(cache=CACHE, nogil=True)
def _bytes_u8(p, g, first_fg, i0, i1):
    """The same counts pixel by pixel (the tail that does not fill a word)."""
    inter = 0
    union = 0
    or_p = 0
    or_g = 0
    for k in range(i0, i1):
        f = np.int64(p[k] >= first_fg)
        t = np.int64(g[k] != 0)
        inter += f & t
        union += f | t
        or_p |= p[k]
        or_g |= g[k]
    return inter, union, or_p, or_g


@numba.njit(cache=CACHE, nogil=True)
def _floats(p, g, i0, i1):
    """Float map: foreground where ``p > 0.5``; ``bad`` counts NaN and values off [0, 1]."""
    inter = 0
    union = 0
    bad = 0
    or_g = 0
    for k in range(i0, i1):
        pv = p[k]
        gv = g[k]
        f = np.int64(pv > 0.5)
        t = np.int64(gv != 0)
        inter += f & t
        union += f | t
        bad += np.int64(not (pv >= 0.0 and pv <= 1.0))  # NaN fails both comparisons
        or_g |= gv
    return inter, union, bad, or_g


def _fold_bytes(word: int) -> int:
    """OR of the 8 bytes of a 64-bit word."""
    for s in (32, 16, 8):
        word |= word >> s
    return word & 0xFF


def iou_counts_u8(
    pred: np.ndarray, gt: np.ndarray, first_fg: int
) -> tuple[int, int, int, int, int]:
    """``(I, U, 0, OR of pred, OR of gt)`` for C-contiguous uint8 ``pred`` and ``gt``.

    ``first_fg`` is 128 for a uint8 map (foreground ``value >= 128``, i.e.
    ``value / 255 > 0.5``) or 1 for a bool mask viewed as bytes. The counts are right
    when ``gt`` holds only 0 and 1, which the caller checks on the returned OR.

    Examples
    --------
    >>> p = np.array([[0, 127, 128, 255]], np.uint8)
    >>> g = np.array([[1, 1, 0, 1]], np.uint8)
    >>> iou_counts_u8(p, g, 128)
    (1, 4, 0, 255, 1)
    """
    if first_fg not in (1, 128):
        raise ValueError("first_fg must be 1 (a bool mask) or 128 (a uint8 map)")
    p = pred.reshape(-1)
    g = gt.reshape(-1)
    n_words = p.size // 8
    inter = union = or_p = or_g = 0
    if n_words:
        pw = p[: 8 * n_words].view(np.uint64)
        gw = g[: 8 * n_words].view(np.uint64)
        shift = 7 if first_fg == 128 else 0
        for i, u, op, og in run_chunks(_words_u8, n_words, pw, gw, shift, min_chunk=1 << 16):
            inter += int(i)
            union += int(u)
            or_p |= int(op)
            or_g |= int(og)
        or_p, or_g = _fold_bytes(or_p), _fold_bytes(or_g)
    i, u, op, og = _bytes_u8(p, g, np.uint8(first_fg), 8 * n_words, p.size)
    return inter + int(i), union + int(u), 0, or_p | int(op), or_g | int(og)


def iou_counts_float(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int, int, int]:
    """``(I, U, bad, 0, OR of gt)`` for a C-contiguous float32 / float64 ``pred``.

    Foreground where ``pred > 0.5``; ``bad`` counts NaN and values outside [0, 1].

    Examples
    --------
    >>> p = np.array([[0.5, 0.51, np.nan, 1.0]])
    >>> iou_counts_float(p, np.array([[1, 0, 0, 1]], np.uint8))
    (1, 3, 1, 0, 1)
    """
    p = pred.reshape(-1)
    g = gt.reshape(-1)
    inter = union = bad = or_g = 0
    for i, u, b, og in run_chunks(_floats, p.size, p, g, min_chunk=1 << 16):
        inter += int(i)
        union += int(u)
        bad += int(b)
        or_g |= int(og)
    return inter, union, bad, 0, or_g
