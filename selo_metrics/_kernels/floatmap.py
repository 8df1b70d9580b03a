"""Numba kernel: a float map's uint8 view, ``uint8(float64(p) * 255.0)``, in one pass.

The numpy twin is ``(prob.astype(np.float64) * 255.0).astype(np.uint8)`` (``tests/
selo_metrics/test_maps.py`` compares them), which costs two float64 copies of the map: 16
bytes a pixel for a float32 map, where this kernel writes the 1-byte view and nothing else.
"""

from __future__ import annotations

import numba
import numpy as np

from . import CACHE, run_chunks

__all__ = ["float_map_to_gray"]


@numba.njit(cache=CACHE, nogil=True)
def _float_rows(prob, out, row0, row1):
    """Write the uint8 view of rows ``row0:row1``; return how many values are not in [0, 1].

    A value outside [0, 1] (or NaN) writes 0: the caller refuses the map then.
    """
    w = out.shape[1]
    bad = 0
    for y in range(row0, row1):
        p = prob[y]
        o = out[y]
        for x in range(w):
            v = np.float64(p[x])
            ok = v >= 0.0 and v <= 1.0  # False for NaN
            bad += not ok
            o[x] = np.uint8(v * 255.0 if ok else 0.0)
    return bad


def float_map_to_gray(prob: np.ndarray) -> tuple[np.ndarray, int]:
    """``(uint8(prob * 255.0), number of values outside [0, 1] or NaN)`` for float32 / float64.

    Examples
    --------
    >>> gray, bad = float_map_to_gray(np.array([[0.0, 0.5, 1.0], [0.999, 0.004, 0.25]]))
    >>> gray, bad
    (array([[  0, 127, 255],
           [254,   1,  63]], dtype=uint8), 0)
    >>> float_map_to_gray(np.array([[0.5, np.nan, 1.5]], np.float32))[1]
    2
    """
    out = np.empty(prob.shape, np.uint8)
    bad = run_chunks(_float_rows, prob.shape[0], prob, out)
    return out, int(sum(bad))
