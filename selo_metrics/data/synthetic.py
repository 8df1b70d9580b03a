"""Deterministic synthetic correlation maps, drawn around polygon ground truth.

They stand in for a model's output where no model or scene image is at hand (the README's
first command, tests, benchmarks). A map is Gaussian attention blobs over low-frequency
background noise, rendered straight to uint8 by a numba kernel (no float copy of the map),
so a 10000 x 10000 map costs its 100 MB and no more.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._kernels import CACHE, run_chunks
from ..geometry import PolygonsLike, as_polygons

__all__ = ["SYNTHETIC_KINDS", "synthetic_map"]

#: what each kind of synthetic "model" does with the GT
SYNTHETIC_KINDS = {
    "focused": "one strong blob on every GT region (a good model)",
    "shifted": "blobs displaced by about one GT radius (a model that misses the centre)",
    "scattered": "weak blobs all over the scene plus noise (a model that does not localise)",
}


@numba.njit(cache=CACHE, nogil=True)
def _render_rows(h, w, blobs, noise, noise_amp, out, row0, row1):
    nb = blobs.shape[0]
    gh, gw = noise.shape
    gx = np.empty((nb, w), np.float32)
    for b in range(nb):
        cx, sig, amp = blobs[b, 0], blobs[b, 2], blobs[b, 3]
        for x in range(w):
            d = (x - cx) / sig
            gx[b, x] = amp * math.exp(-0.5 * d * d)
    sy = (gh - 1) / max(h - 1, 1)
    sx = (gw - 1) / max(w - 1, 1)
    for y in range(row0, row1):
        fy = y * sy
        y0 = min(int(fy), gh - 2)
        ty = fy - y0
        gy = np.empty(nb, np.float32)
        for b in range(nb):
            d = (y - blobs[b, 1]) / blobs[b, 2]
            gy[b] = math.exp(-0.5 * d * d)
        row = out[y]
        for x in range(w):
            fx = x * sx
            x0 = min(int(fx), gw - 2)
            tx = fx - x0
            n = ((1 - ty) * ((1 - tx) * noise[y0, x0] + tx * noise[y0, x0 + 1])
                 + ty * ((1 - tx) * noise[y0 + 1, x0] + tx * noise[y0 + 1, x0 + 1]))
            v = noise_amp * n
            for b in range(nb):
                v += gx[b, x] * gy[b]
            v = min(max(v, 0.0), 1.0)
            row[x] = np.uint8(255.0 * v)


def synthetic_map(
    shape: tuple[int, int], polygons: PolygonsLike, *, kind: str = "focused", seed: int = 0
) -> np.ndarray:
    """A deterministic uint8 correlation map of ``shape`` drawn around ``polygons``.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    polygons : list
        The GT, in any form :func:`selo_metrics.as_polygons` accepts.
    kind : {"focused", "shifted", "scattered"}, optional
        What the synthetic model does (see ``SYNTHETIC_KINDS``).
    seed : int, optional
        Same seed, same map, on every machine.

    Returns
    -------
    numpy.ndarray
        uint8 (H, W).

    Examples
    --------
    >>> m = synthetic_map((300, 400), [[(100, 80), (220, 90), (200, 200), (90, 180)]])
    >>> m.shape, m.dtype, int(m[140, 150]) > int(m[10, 390])
    ((300, 400), dtype('uint8'), True)
    """
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(SYNTHETIC_KINDS)}")
    h, w = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    polys = as_polygons(polygons)
    blobs = []
    for p in polys:
        cx, cy = p.mean(axis=0)
        size = float(np.mean(np.hypot(p[:, 0] - cx, p[:, 1] - cy)))
        if kind == "focused":
            jitter = rng.normal(0, 0.1 * size, 2)
            blobs.append((cx + jitter[0], cy + jitter[1], 0.6 * size, 0.95))
        elif kind == "shifted":
            ang = rng.uniform(0, 2 * np.pi)
            blobs.append((cx + 1.2 * size * np.cos(ang), cy + 1.2 * size * np.sin(ang),
                          0.6 * size, 0.9))
    if kind == "scattered":
        for _ in range(12):
            blobs.append((rng.uniform(0, w), rng.uniform(0, h),
                          rng.uniform(0.03, 0.08) * min(h, w), rng.uniform(0.45, 0.7)))
    else:
        for _ in range(2):  # weaker distractors
            blobs.append((rng.uniform(0, w), rng.uniform(0, h),
                          rng.uniform(0.02, 0.05) * min(h, w), rng.uniform(0.3, 0.55)))
    noise = rng.random((9, 9)).astype(np.float32)
    out = np.empty((h, w), np.uint8)
    run_chunks(_render_rows, h, h, w, np.asarray(blobs, np.float32).reshape(-1, 4), noise,
               np.float32(0.45 if kind == "scattered" else 0.3), out)
    return out
