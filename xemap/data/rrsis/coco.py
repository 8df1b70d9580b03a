"""COCO segmentations without pycocotools: RLE decoding and the COCO polygon rasteriser.

A COCO ``segmentation`` is a list of polygons (each a flat ``[x0, y0, x1, y1, ...]``), a
run-length encoding ``{"size": [h, w], "counts": ...}`` or a list of them. RLE runs
alternate background / foreground, starting with background, over the pixels in
column-major order. ``counts`` is a list of ints (uncompressed) or a string (compressed:
COCO's LEB128-like code, 5 bits a character offset by 48, runs from the fourth on stored
as the difference to the run two before), decoded here as ``maskApi.c``'s
``rleFrString`` does.

:func:`coco_polygon_mask` reproduces ``maskApi.c``'s ``rleFrPoly``, which pycocotools'
``frPyObjects`` uses (and so REFER's ``getMask``): the polygon is upsampled x5, its
boundary walked in integer steps, and the column crossings turned into runs; a pixel is in
roughly where its centre is inside (a 10 x 10 box covers exactly 100 pixels).

:func:`segmentation_mask` gives one 0/1 mask per annotation, with two ways of combining
its parts (``overlap``): ``"union"`` (a pixel is in when any part covers it) or
``"refer"``: REFER's ``getMask`` followed by the loaders of LAVT / RMSIN, which sum the
part masks and keep only the pixels equal to 1, so where two parts overlap the pixel
becomes background. ``"refer"`` also keeps pycocotools' reading of a list whose first
element has 4 numbers as ``[x, y, w, h]`` boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .common import DatasetError

__all__ = [
    "OVERLAP_RULES",
    "coco_polygon_mask",
    "rle_counts",
    "rle_mask",
    "segmentation_mask",
]

OVERLAP_RULES = ("union", "refer")


def rle_counts(counts: str | bytes) -> list[int]:
    """Decode COCO's compressed RLE string into the list of run lengths.

    Examples
    --------
    >>> rle_counts("0X12iN")  # runs 0, 40, 2, 1: the 4th stored as 1 - 40
    [0, 40, 2, 1]
    """
    s = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    out: list[int] = []
    p = 0
    while p < len(s):
        x = 0
        k = 0
        more = True
        while more:
            if p >= len(s):
                raise DatasetError("compressed RLE counts end inside a number")
            c = s[p] - 48
            if not 0 <= c < 64:
                raise DatasetError(f"compressed RLE counts hold an invalid character {s[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x -= 1 << (5 * k)  # sign-extend
        if len(out) > 2:
            x += out[-2]
        if x < 0:
            raise DatasetError("compressed RLE counts decode to a negative run")
        out.append(x)
    return out


def _runs_to_mask(runs: Sequence[int], h: int, w: int) -> np.ndarray:
    runs = np.asarray(runs, dtype=np.int64)
    if runs.size and runs.min() < 0:
        raise DatasetError("RLE counts hold a negative run")
    if int(runs.sum()) != h * w:
        raise DatasetError(f"RLE runs cover {int(runs.sum())} pixels, the mask {h} x {w} = {h * w}")
    values = np.arange(runs.size) % 2 == 1  # background first
    flat = np.repeat(values, runs)
    return np.ascontiguousarray(flat.reshape(w, h).T)  # column-major


def rle_mask(rle: dict[str, Any], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a COCO RLE (compressed or uncompressed) into a bool ``(h, w)`` mask.

    Parameters
    ----------
    rle : dict
        ``{"size": [h, w], "counts": str | list of int}``.
    shape : tuple of int, optional
        The image's ``(h, w)``; a different ``size`` is an error.

    Examples
    --------
    >>> rle_mask({"size": [2, 3], "counts": [1, 2, 3]}).astype(int).tolist()
    [[0, 1, 0], [1, 0, 0]]
    """
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise DatasetError("an RLE segmentation needs 'size': [h, w] and 'counts'") from None
    if shape is not None and (h, w) != tuple(shape):
        raise DatasetError(f"RLE size {h} x {w} differs from the image's {shape[0]} x {shape[1]}")
    if isinstance(counts, str | bytes):
        runs = rle_counts(counts)
    elif isinstance(counts, list) and all(isinstance(c, int) for c in counts):
        runs = counts
    else:
        raise DatasetError("RLE 'counts' must be a string or a list of ints")
    return _runs_to_mask(runs, h, w)


def _c_int(v: np.ndarray) -> np.ndarray:
    """C's ``(int)`` of a double: truncation toward zero."""
    return np.trunc(v).astype(np.int64)


def coco_polygon_mask(poly: Sequence[float], h: int, w: int) -> np.ndarray:
    """Rasterise one COCO polygon exactly as pycocotools' ``rleFrPoly``; bool ``(h, w)``.

    Examples
    --------
    >>> m = coco_polygon_mask([1, 1, 4, 1, 4, 3, 1, 3], 5, 6)  # a 3 x 2 box
    >>> m.astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 0, 0, 0, 0, 0],
           [0, 0, 0, 0, 0, 0]])
    """
    xy = np.asarray(poly, dtype=np.float64).reshape(-1)
    if xy.size % 2 or not np.isfinite(xy).all():
        raise DatasetError("a polygon must be a flat list of finite x, y pairs")
    scale = 5.0
    x = _c_int(scale * xy[0::2] + 0.5)
    y = _c_int(scale * xy[1::2] + 0.5)
    x = np.append(x, x[:1])
    y = np.append(y, y[:1])
    us, vs = [], []
    for j in range(x.size - 1):  # dense integer points along each edge
        xs, xe, ys, ye = int(x[j]), int(x[j + 1]), int(y[j]), int(y[j + 1])
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            d = np.arange(dx + 1)
            t = dx - d if flip else d
            s = (ye - ys) / dx if dx else 0.0  # dx == dy == 0: one point, v unused below
            us.append(t + xs)
            vs.append(_c_int(ys + s * t + 0.5))
        else:
            d = np.arange(dy + 1)
            t = dy - d if flip else d
            s = (xe - xs) / dy
            vs.append(t + ys)
            us.append(_c_int(xs + s * t + 0.5))
    u = np.concatenate(us) if us else np.zeros(0, np.int64)
    v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
    # y-boundary points where the column changes, downsampled
    j = np.flatnonzero(u[1:] != u[:-1]) + 1
    xd = np.where(u[j] < u[j - 1], u[j], u[j] - 1).astype(np.float64)
    xd = (xd + 0.5) / scale - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= w - 1)
    j, xd = j[keep], xd[keep]
    yd = np.minimum(v[j], v[j - 1]).astype(np.float64)
    yd = (yd + 0.5) / scale - 0.5
    yd = np.ceil(np.clip(yd, 0, h))
    a = np.sort(np.append(xd.astype(np.int64) * h + yd.astype(np.int64), h * w))
    a = np.diff(a, prepend=0)
    runs = [int(a[0])]
    k = 1
    while k < a.size:  # a zero-length run merges its neighbours
        if a[k] > 0:
            runs.append(int(a[k]))
            k += 1
        else:
            k += 1
            if k < a.size:
                runs[-1] += int(a[k])
                k += 1
    return _runs_to_mask(runs, h, w)


def _is_rle(obj: Any) -> bool:
    return isinstance(obj, dict) and "counts" in obj


def segmentation_mask(
    segmentation: Any, shape: tuple[int, int], *, overlap: str = "union"
) -> np.ndarray:
    """The uint8 0/1 ``(h, w)`` mask of one COCO annotation's ``segmentation``.

    Parameters
    ----------
    segmentation : list or dict
        Polygons (flat coordinate lists), one RLE dict, or a list of RLE dicts.
    shape : tuple of int
        The image's ``(h, w)`` from ``instances.json``.
    overlap : {"union", "refer"}
        ``"union"``: a pixel is in when any part covers it. ``"refer"``: REFER + LAVT /
        RMSIN: parts summed, only pixels equal to 1 kept (overlaps become background).

    Examples
    --------
    >>> a = [0, 0, 4, 0, 4, 4, 0, 4]; b = [2, 0, 6, 0, 6, 4, 2, 4]
    >>> int(segmentation_mask([a, b], (4, 6)).sum()), int(segmentation_mask([a, b], (4, 6),
    ...     overlap="refer").sum())
    (24, 16)
    """
    if overlap not in OVERLAP_RULES:
        raise DatasetError(f"unknown overlap rule {overlap!r}; expected one of {OVERLAP_RULES}")
    h, w = shape
    if _is_rle(segmentation):
        parts = [rle_mask(segmentation, shape)]
    elif isinstance(segmentation, list) and segmentation and all(map(_is_rle, segmentation)):
        parts = [rle_mask(r, shape) for r in segmentation]
    elif (
        isinstance(segmentation, list)
        and segmentation
        and all(isinstance(p, list | tuple) for p in segmentation)
    ):
        polys = [list(p) for p in segmentation]
        if overlap == "union" and min(len(p) for p in polys) < 6:
            raise DatasetError("a polygon needs at least 3 points (6 numbers)")
        if overlap == "refer" and len(polys[0]) == 4:  # pycocotools: [x, y, w, h] boxes
            polys = [
                [bx, by, bx, by + bh, bx + bw, by + bh, bx + bw, by] for bx, by, bw, bh in polys
            ]
        parts = [coco_polygon_mask(p, h, w) for p in polys]
    else:
        raise DatasetError("a segmentation must be polygons, an RLE dict or a list of RLE dicts")
    if overlap == "union":
        return np.logical_or.reduce(parts).astype(np.uint8)
    total = np.sum(parts, axis=0, dtype=np.int64)
    return ((total % 256) == 1).astype(np.uint8)  # REFER casts the sum to uint8
