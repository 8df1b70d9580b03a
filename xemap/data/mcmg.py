"""MCMG: the multiscale correlation map generation that makes XeMap training targets.

The XeMap paper turns the polygon (or mask) of the region a query refers to into a soft
target map:

1. for each level, a grid of ``n x n`` cells is laid over the image; each cell takes the
   fraction of its area covered by the target, ``|cell ∩ target| / |cell|`` (the paper's
   eq. 5 prints this ratio upside down, ``|cell| / |cell ∩ target|``, which is infinite on
   empty cells; the intersection over the cell area is what makes a 0..1 coverage map);
2. the levels are aggregated (their mean, so a pixel deep inside the target scores 1 at
   every level and a pixel near it gets the coarse levels' partial coverage);
3. the aggregate is smoothed with a Gaussian (it removes the cell edges);
4. it is divided by its maximum and written as ``uint8`` 0..255 (``round(255 * v / max)``).

Everything is plain numpy (no torch, no scipy), so ``import xemap.data`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_GRID_SIZES", "MCMGInputError", "gaussian_blur", "mcmg_target", "rasterize"]

#: default grid levels: cells per image side (at 512 x 512, cells of 128, 64, 32 and 16 px)
DEFAULT_GRID_SIZES: tuple[int, ...] = (4, 8, 16, 32)


class MCMGInputError(ValueError):
    """A target that cannot be made: empty mask, bad shape, bad grid or sigma."""

    def __init__(self, message: str, *, sample_id: Any = None) -> None:
        self.sample_id = sample_id
        prefix = f"sample {sample_id!r}: " if sample_id is not None else ""
        super().__init__(prefix + message)


def rasterize(polygons: Any, shape: tuple[int, int], *, sample_id: Any = None) -> np.ndarray:
    """Rasterize polygons into a 0/1 ``uint8`` mask: the union of the polygons.

    Parameters
    ----------
    polygons : list
        AIR-SLT ``points``: a list of polygons, each a list of ``[x, y]`` (x = column,
        y = row, pixel coordinates of an image of ``shape``); shapely geometries and
        GeoJSON-like dicts are accepted too (see :func:`selo_metrics.as_polygons`).
    shape : tuple of int
        ``(H, W)`` of the mask.
    sample_id : object, optional
        Named in errors.

    Returns
    -------
    numpy.ndarray
        ``uint8`` (H, W), 1 where the pixel point ``(x, y)`` is inside or on the boundary of
        a polygon (``selo_metrics.gt_mask(..., convention="paper")``).

    Examples
    --------
    >>> rasterize([[[1, 1], [3, 1], [3, 2], [1, 2]]], (4, 5))
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]], dtype=uint8)
    """
    import selo_metrics

    try:
        polys = selo_metrics.as_polygons(polygons, sample_id=sample_id)
    except ValueError as exc:
        raise MCMGInputError(f"bad polygons: {exc}", sample_id=sample_id) from exc
    h, w = _check_shape(shape, sample_id)
    return selo_metrics.gt_mask(polys, (h, w), convention="paper")


def _check_shape(shape: Any, sample_id: Any) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise MCMGInputError(f"shape must be (H, W), got {shape!r}", sample_id=sample_id) from exc
    if h < 1 or w < 1:
        raise MCMGInputError(f"shape must be positive, got {(h, w)}", sample_id=sample_id)
    return h, w


def _gaussian_kernel(sigma: float, size: int) -> np.ndarray:
    radius = max(1, min(math.ceil(4.0 * sigma), size - 1)) if size > 1 else 0
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float array, mirror ("symmetric") borders.

    The kernel is truncated at ``4 sigma`` (or at the image side) and renormalised, so a
    constant image stays constant.

    Examples
    --------
    >>> out = gaussian_blur(np.ones((5, 7)), 2.0)
    >>> bool(np.allclose(out, 1.0))
    True
    """
    out = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return out.copy()
    for axis in (0, 1):
        n = out.shape[axis]
        k = _gaussian_kernel(sigma, n)
        r = len(k) // 2
        if r == 0:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="symmetric")
        acc = np.zeros_like(out)
        for t, wt in enumerate(k):
            sl = [slice(None), slice(None)]
            sl[axis] = slice(t, t + n)
            acc += wt * padded[tuple(sl)]
        out = acc
    return out


def _cell_edges(n_pixels: int, n_cells: int) -> np.ndarray:
    n_cells = min(n_cells, n_pixels)
    return np.round(np.linspace(0, n_pixels, n_cells + 1)).astype(np.int64)


def _level(integral: np.ndarray, h: int, w: int, n: int) -> np.ndarray:
    """Per-pixel coverage fraction of the pixel's cell in an ``n x n`` grid."""
    re, ce = _cell_edges(h, n), _cell_edges(w, n)
    s = integral[np.ix_(re, ce)]
    sums = s[1:, 1:] - s[:-1, 1:] - s[1:, :-1] + s[:-1, :-1]
    area = np.diff(re)[:, None] * np.diff(ce)[None, :]
    frac = sums / area  # intersection / cell area (the paper's eq. 5, right way up)
    return np.repeat(np.repeat(frac, np.diff(re), axis=0), np.diff(ce), axis=1)


def mcmg_target(
    mask: Any,
    *,
    shape: tuple[int, int] | None = None,
    grid_sizes: Sequence[int] = DEFAULT_GRID_SIZES,
    sigma: float | None = None,
    sample_id: Any = None,
) -> np.ndarray:
    """Multiscale correlation map generation: the XeMap training target of one query.

    Parameters
    ----------
    mask : array_like or list of polygons
        Either a 2-D mask (bool, integer 0/1 or 0/255, or float coverage in [0, 1]) or,
        with ``shape``, the target polygons in AIR-SLT ``points`` format (a list of
        polygons, each a list of ``[x, y]`` in pixels; rasterized by :func:`rasterize`).
    shape : tuple of int, optional
        ``(H, W)`` of the target; required for polygons, must match a mask if given.
    grid_sizes : sequence of int, default (4, 8, 16, 32)
        Cells per image side, one grid per level (a side shorter than ``n`` pixels gets one
        cell per pixel). Cell edges are ``round(linspace(0, side, n + 1))``.
    sigma : float, optional
        Gaussian standard deviation in pixels; default ``max(H, W) / (2 * max(grid_sizes))``,
        half the finest cell (8 px at 512 x 512 with the default grids). 0 disables it.
    sample_id : object, optional
        Named in every error.

    Returns
    -------
    numpy.ndarray
        ``uint8`` (H, W): the mean over levels of the cell coverage fractions, smoothed,
        divided by its maximum, ``round(255 * v)``; its maximum is always 255.

    Raises
    ------
    MCMGInputError
        (a ``ValueError``) An empty mask (nothing to refer to), a mask that is not 2-D,
        has NaNs or values outside [0, 1] (0/255 masks are accepted), polygons without
        ``shape``, an empty grid list or a grid size < 1, a negative sigma.

    Examples
    --------
    >>> m = np.zeros((8, 8), bool)
    >>> m[:4, :4] = True                       # the top-left quarter
    >>> t = mcmg_target(m, grid_sizes=(2,), sigma=0)
    >>> int(t[0, 0]), int(t[7, 7]), t.dtype
    (255, 0, dtype('uint8'))
    >>> t = mcmg_target([[[0, 0], [3, 0], [3, 3], [0, 3]]], shape=(8, 8), grid_sizes=(2,),
    ...                 sigma=0)
    >>> int(t.max()), int(t[0, 0]), int(t[4, 4])
    (255, 255, 0)
    """
    if isinstance(mask, np.ndarray) and mask.ndim == 2:
        arr = mask
    elif shape is not None and not isinstance(mask, np.ndarray):
        h, w = _check_shape(shape, sample_id)
        arr = rasterize(mask, (h, w), sample_id=sample_id)
    else:
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise MCMGInputError(
                f"mask must be 2-D (H, W), got shape {arr.shape}; pass polygons with shape=",
                sample_id=sample_id,
            )
    if shape is not None and tuple(arr.shape) != _check_shape(shape, sample_id):
        raise MCMGInputError(
            f"mask shape {arr.shape} differs from shape={tuple(shape)}", sample_id=sample_id
        )
    cover = _as_coverage(arr, sample_id)
    h, w = cover.shape
    if h < 1 or w < 1:
        raise MCMGInputError(f"empty mask array of shape {cover.shape}", sample_id=sample_id)
    grids = [int(n) for n in grid_sizes]
    if not grids or min(grids) < 1:
        raise MCMGInputError(
            f"grid_sizes must be a non-empty list of ints >= 1, got {grid_sizes!r}",
            sample_id=sample_id,
        )
    if not cover.any():
        raise MCMGInputError(
            "empty target mask: no pixel is covered, so there is nothing to refer to",
            sample_id=sample_id,
        )
    if sigma is None:
        sigma = max(h, w) / (2.0 * max(grids))
    if not math.isfinite(sigma) or sigma < 0:
        raise MCMGInputError(f"sigma must be finite and >= 0, got {sigma}", sample_id=sample_id)
    integral = np.zeros((h + 1, w + 1), dtype=np.float64)
    integral[1:, 1:] = cover.cumsum(0).cumsum(1)
    agg = np.zeros((h, w), dtype=np.float64)
    for n in grids:
        agg += _level(integral, h, w, n)
    agg /= len(grids)
    agg = gaussian_blur(agg, sigma)
    peak = agg.max()
    if not peak > 0:  # pragma: no cover - a nonempty mask always has a positive cell
        raise MCMGInputError("target vanished after smoothing", sample_id=sample_id)
    return np.rint(255.0 * np.clip(agg / peak, 0.0, 1.0)).astype(np.uint8)


def _as_coverage(arr: np.ndarray, sample_id: Any) -> np.ndarray:
    """A mask as float64 coverage in [0, 1]."""
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise MCMGInputError(f"mask dtype {arr.dtype} is not numeric", sample_id=sample_id)
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise MCMGInputError("mask has NaN or infinite values", sample_id=sample_id)
    lo, hi = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
    if lo < 0:
        raise MCMGInputError(f"mask has negative values (min {lo})", sample_id=sample_id)
    if hi > 1:
        if np.issubdtype(arr.dtype, np.integer) and hi <= 255:
            out /= 255.0  # 0/255 (or 8-bit soft) masks
        else:
            raise MCMGInputError(
                f"mask values must be in [0, 1] (or 0..255 integers), max is {hi}",
                sample_id=sample_id,
            )
    return out
